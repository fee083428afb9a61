/*
 * npy.h: reading and writing NumPy .npy files, the tensor format of the
 * ledge CLI (`ledge run --input x=FILE.npy --output-dir DIR`) and of the
 * tests that compare ledge with other runtimes.
 *
 * Format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 * A file is the magic "\x93NUMPY", a version (1.0, 2.0 or 3.0), a header
 * length, a header that is a Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 224, 224), }
 * and then the raw elements.
 *
 * Supported element types: float32 ('f4'), float64 ('f8'), float16 ('f2'),
 * int8/16/32/64 ('i1'..'i8'), uint8/16/32/64 ('u1'..'u8') and bool ('b1').
 * Files of either byte order are read (big-endian ones are converted);
 * files are always written little-endian, version 1.0 when the header fits
 * (2.0 otherwise), C order. Fortran-order files are read and transposed into
 * C order, so the tensor always holds the array numpy would show.
 *
 * Bad input never crashes: a truncated file, a header that does not parse or
 * lies about the data size, a negative or overflowing shape, or more than
 * LEDGE_MAX_RANK dimensions give LEDGE_ERR_FORMAT; a well-formed file of a
 * type ledge has no dtype for (complex, strings, objects, structured arrays)
 * gives LEDGE_ERR_UNSUPPORTED. Either way ledge_last_error() says what is
 * wrong in one line, and *out is left NULL.
 */
#ifndef LEDGE_NPY_H
#define LEDGE_NPY_H

#include <stddef.h>

#include "ledge/ledge.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads the .npy file at path into a new tensor that owns its data; free it
 * with ledge_tensor_destroy. The data is read straight into the tensor (no
 * second copy of the file). Errors: LEDGE_ERR_IO if the file cannot be
 * opened or read, LEDGE_ERR_FORMAT / LEDGE_ERR_UNSUPPORTED as above,
 * LEDGE_ERR_NO_MEMORY, LEDGE_ERR_INVALID_ARGUMENT for NULL arguments. */
ledge_status ledge_npy_load(const char *path, ledge_tensor **out);

/* Parses a complete .npy file held in memory (size bytes at data) into a new
 * tensor that owns a copy of the elements; the buffer may be freed as soon as
 * this returns. Bytes after the elements are ignored. Errors as for
 * ledge_npy_load, without LEDGE_ERR_IO. */
ledge_status ledge_npy_parse(const void *data, size_t size, ledge_tensor **out);

/* Writes tensor t to path as a .npy file (replacing any file there), so that
 * numpy.load returns an array of the same dtype, shape and values. Errors:
 * LEDGE_ERR_IO if the file cannot be written (a partial file may be left),
 * LEDGE_ERR_UNSUPPORTED for dtypes .npy cannot hold (string, undefined),
 * LEDGE_ERR_INVALID_ARGUMENT for NULL arguments or a tensor without data. */
ledge_status ledge_npy_save(const char *path, const ledge_tensor *t);

/* Encodes tensor t as the bytes of a .npy file into a buffer allocated with
 * malloc: *out receives it (the caller frees it with free) and *size its
 * length. Errors as for ledge_npy_save, without LEDGE_ERR_IO, plus
 * LEDGE_ERR_NO_MEMORY. */
ledge_status ledge_npy_encode(const ledge_tensor *t, void **out, size_t *size);

#ifdef __cplusplus
}
#endif

#endif /* LEDGE_NPY_H */

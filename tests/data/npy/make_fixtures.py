#!/usr/bin/python3
"""Writes the small .npy files that tests/unit/test_npy.c reads, with numpy's
own writer, so the C reader is checked against files it did not produce.

Every array holds arange(count) (cast to its dtype; bools alternate), so the
test can check values without a table. Run from anywhere:
    /usr/bin/python3 tests/data/npy/make_fixtures.py
"""
import os

import numpy as np
from numpy.lib import format as npformat

HERE = os.path.dirname(os.path.abspath(__file__))


def arange(shape, dtype):
    count = int(np.prod(shape)) if shape else 1
    if np.dtype(dtype).kind == "b":
        return (np.arange(count) % 2 == 1).reshape(shape)
    return np.arange(count).astype(dtype).reshape(shape)


def save(name, array, version=None):
    path = os.path.join(HERE, name)
    with open(path, "wb") as f:
        npformat.write_array(f, array, version=version, allow_pickle=False)


def main():
    for dtype in ["f4", "f8", "f2", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1"]:
        save("arange_%s_2x3.npy" % dtype, arange((2, 3), "<" + dtype))
    save("scalar_i8.npy", np.array(42, dtype="<i8"))
    save("vector_f8_5.npy", arange((5,), "<f8"))
    save("empty_f4_0x3.npy", np.zeros((0, 3), dtype="<f4"))
    save("bigendian_i4_2x3.npy", arange((2, 3), ">i4"))
    save("bigendian_f4_2x3.npy", arange((2, 3), ">f4"))
    # Fortran order: numpy writes the transpose's memory; the C reader must
    # give back the same logical array arange(12).reshape(2, 3, 2).
    save("fortran_f4_2x3x2.npy", np.asfortranarray(arange((2, 3, 2), "<f4")))
    save("v2_f4_2x3.npy", arange((2, 3), "<f4"), version=(2, 0))
    save("v3_f4_2x3.npy", arange((2, 3), "<f4"), version=(3, 0))
    save("rank8_u1.npy", arange((1, 2, 1, 2, 1, 2, 1, 2), "|u1"))
    save("complex_c8_2.npy", np.zeros(2, dtype="<c8"))  # unsupported dtype


if __name__ == "__main__":
    main()

/*
 * train/data_internal.h: what dataset.c shares with the per-format readers
 * (data_idx.c, data_folder.c, data_lst.c, data_manifest.c).
 *
 * A format reader fills a data_source: every sample's label, and either the
 * pixels (IDX, held in memory) or the path of the file to decode. A dataset
 * handle is then a view: a list of indices into one shared source.
 */
#ifndef LEDGE_TRAIN_DATA_INTERNAL_H
#define LEDGE_TRAIN_DATA_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "train/dataset.h"

typedef struct data_source {
  atomic_int refs;
  train_dataset_format format;
  char *path;                  /* what was opened */
  long count;                  /* samples */
  int32_t *labels;             /* count labels */
  char **files;                /* count paths (image-file formats), else NULL */
  uint8_t *pixels;             /* IDX: count * height * width * channels bytes, HWC per sample */
  int channels, height, width; /* fixed sample shape (IDX), else 0 */
  int num_classes;
  char **class_names; /* num_classes names */
  long skipped;       /* listed samples left out at open */
} data_source;

/* Formats a one-line error into err and returns st. */
ledge_status data_fail(char *err, size_t err_size, ledge_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Readers: fill src (already zeroed, path set) or fail with a message. */
ledge_status data_idx_open(data_source *src, const train_dataset_options *options, char *err,
                           size_t err_size);
ledge_status data_folder_open(data_source *src, const train_dataset_options *options, char *err,
                              size_t err_size);
ledge_status data_lst_open(data_source *src, const train_dataset_options *options, char *err,
                           size_t err_size);
ledge_status data_manifest_open(data_source *src, const train_dataset_options *options, char *err,
                                size_t err_size);

/* Parses IDX bytes (already decompressed) of an images file or a labels
 * file; for the fuzzer and data_idx_open. Exposed for tests. */
ledge_status data_idx_parse_header(const uint8_t *data, size_t size, int *ndims, int64_t dims[4],
                                   size_t *header_bytes, char *err, size_t err_size);

/* Parses one .lst line ("index<TAB>label<TAB>path"); *path points into line
 * (which is modified). Returns 0 on success, else writes the reason. */
int data_lst_parse_line(char *line, long *label, char **path, char *why, size_t why_size);

/* Parses one manifest line; *path and *class_name are malloc'd (class_name
 * may be NULL). Returns 0 on success, else writes the reason. */
int data_manifest_parse_line(const char *line, const char *label_attribute, long *label,
                             char **path, char **class_name, char *why, size_t why_size);

/* Reads a whole file (at most max_bytes) into a malloc'd buffer. */
ledge_status data_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *size,
                            char *err, size_t err_size);

/* Joins a folder and a relative path (absolute paths are kept); malloc'd. */
char *data_join_path(const char *dir, const char *rel);
/* The folder of path ("." if none); malloc'd. */
char *data_dirname(const char *path);

/* Sets num_classes from options/labels, checks labels against it, sets
 * default class names (classes.txt, Fashion-MNIST's, or "0".."N-1") where
 * the data gave none. */
ledge_status data_finish_labels(data_source *src, const train_dataset_options *options, char *err,
                                size_t err_size);

#endif /* LEDGE_TRAIN_DATA_INTERNAL_H */

/*
 * train/dataset.h: labelled image datasets for training and evaluation.
 *
 * One call opens a dataset from a path; the format is chosen by the path:
 *
 *   path                               format
 *   ---------------------------------  ------------------------------------------------
 *   a directory                        one subfolder per class holding JPEG/PNG files;
 *                                      classes are the subfolder names, sorted
 *   *.lst                              `index<TAB>label<TAB>relative/path` per line,
 *                                      labels from 0 (MXNet's "3.000000" accepted),
 *                                      paths relative to the .lst file's folder
 *   *.manifest, *.jsonl, *.json        augmented manifest, JSON Lines:
 *                                      {"source-ref": path, "class": label}; class
 *                                      names from "class-metadata"."class-name"
 *   anything else whose bytes are an   IDX images (idx3-ubyte), gzipped or not; the
 *   IDX ubyte file (gzipped or not)    labels file is found beside it by the standard
 *                                      naming (train-images-idx3-ubyte[.gz] ->
 *                                      train-labels-idx1-ubyte[.gz], also the
 *                                      "images.idx3" dotted spelling)
 *
 * A dataset is a list of (sample, label) pairs. Samples are decoded on demand
 * (train_dataset_read), so a folder of 100k JPEGs opens in the time it takes
 * to list it; IDX files are read into memory once (a 60k Fashion-MNIST set is
 * 47 MB). Views (train_dataset_split, train_dataset_subset) share the
 * underlying data and may outlive the dataset they came from.
 *
 * Class names: folder names; manifest class-metadata; else a `classes.txt`
 * (one name per line, in label order) beside the data if there is one; else
 * the ten Fashion-MNIST names for an IDX file in a folder named like
 * "fashion-mnist"; else "0", "1", ...
 *
 * Bad data never crashes: a file that is not one of the formats, a labels
 * file whose count differs from the images', a label that is negative, not
 * an integer or not below options.num_classes, an empty class folder, a
 * malformed line: each is a clear one-line error in err naming the file and
 * line. Listed images that do not exist are skipped at open and counted
 * (train_dataset_skipped); images that fail to decode are reported by
 * train_dataset_read and counted by the loader.
 *
 * Thread safety: a dataset is immutable after open; train_dataset_read may be
 * called from any number of threads at once.
 */
#ifndef LEDGE_TRAIN_DATASET_H
#define LEDGE_TRAIN_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "ledge/ledge.h"
#include "media/image.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct train_dataset train_dataset;

typedef enum train_dataset_format {
  TRAIN_DATA_IDX = 0,
  TRAIN_DATA_FOLDER = 1,
  TRAIN_DATA_LST = 2,
  TRAIN_DATA_MANIFEST = 3
} train_dataset_format;

typedef struct train_dataset_options {
  long limit;                   /* use only the first `limit` samples: file order, or for a
                                   folder the classes in turn (balanced); 0 = all */
  int num_classes;              /* > 0: labels must be below it (and the dataset has that many
                                   classes even if some are absent); 0 = max label + 1 */
  const char *labels_path;      /* IDX: the labels file, if not found by the standard naming */
  const char *image_root;       /* .lst/manifest: folder relative paths start from (NULL: the
                                   list file's folder) */
  const char *label_attribute;  /* manifest: the label's key (NULL: "class") */
  const char *class_names_path; /* a file with one class name per line (NULL: see above) */
  const char *const *classes;   /* align to these classes (e.g. the training set's, for a
                                   validation set): labels of data that names its classes
                                   (folders, manifests with class-metadata) are mapped by name,
                                   and a class not in the list is an error; other data keeps
                                   its labels, which must be below num_classes_aligned */
  int num_classes_aligned;      /* entries in classes */
} train_dataset_options;

/* Fills options with the defaults (everything 0/NULL). */
void train_dataset_options_init(train_dataset_options *options);

/* Opens the dataset at path (format chosen as the table above says).
 * options may be NULL. On failure *out is NULL and err holds one line. */
ledge_status train_dataset_open(const char *path, const train_dataset_options *options,
                                train_dataset **out, char *err, size_t err_size);

/* Releases a dataset or view (NULL is a no-op); shared data is freed with
 * the last view. */
void train_dataset_destroy(train_dataset *dataset);

train_dataset_format train_dataset_get_format(const train_dataset *dataset);
/* "idx", "folder", "lst" or "manifest". */
const char *train_dataset_format_name(train_dataset_format format);

/* Number of samples in this dataset or view. */
long train_dataset_count(const train_dataset *dataset);
/* Number of classes (labels run from 0 to num_classes - 1). */
int train_dataset_num_classes(const train_dataset *dataset);
/* The name of class `label` (never NULL for 0 <= label < num_classes). */
const char *train_dataset_class_name(const train_dataset *dataset, int label);
/* The label of sample i (0 <= i < count). */
int train_dataset_label(const train_dataset *dataset, long i);
/* Samples listed but skipped at open (missing files). */
long train_dataset_skipped(const train_dataset *dataset);

/* The size every sample has, when the format fixes it (IDX: e.g. 1x28x28);
 * 0s when samples differ (image files: decode one to see). */
void train_dataset_sample_shape(const train_dataset *dataset, int *channels, int *height,
                                int *width);

/* Decodes sample i into out (allocated; free with media_image_free): 1
 * channel for IDX gray images, 3 (RGB) for JPEG/PNG files. On failure out is
 * empty and err names the file. */
ledge_status train_dataset_read(const train_dataset *dataset, long i, media_image *out, char *err,
                                size_t err_size);

/* A readable identifier of sample i for messages: the file path, or
 * "train-images-idx3-ubyte.gz#123". Written into buf; returns buf. */
const char *train_dataset_sample_name(const train_dataset *dataset, long i, char *buf, size_t size);

/* A view over samples indices[0..n-1] of dataset (indices are copied). */
ledge_status train_dataset_subset(const train_dataset *dataset, const long *indices, long n,
                                  train_dataset **out, char *err, size_t err_size);

/* Splits dataset into a training view and a validation view holding
 * round(fraction * count) samples, chosen per class (stratified) by a
 * shuffle under seed, so that every class keeps its share. Deterministic. */
ledge_status train_dataset_split(const train_dataset *dataset, double fraction, uint64_t seed,
                                 train_dataset **train, train_dataset **validation, char *err,
                                 size_t err_size);

/* Splits by subject instead of by sample: every sample's name (its path;
 * train_dataset_sample_name) is matched against the POSIX extended regular
 * expression `group_pattern`, and the match (its first parenthesized group
 * when it has one) names the sample's group, e.g. the driver in
 * "c3/p021_img_1234.jpg" with "p[0-9]+". Whole groups, shuffled under seed,
 * go to validation until it holds at least fraction of the samples, so no
 * subject is in both views (a random split of video frames puts near-copies
 * of each frame on both sides and overstates accuracy). A sample whose name
 * does not match is an error naming it; fewer than two groups is an error. */
ledge_status train_dataset_split_by_group(const train_dataset *dataset, double fraction,
                                          uint64_t seed, const char *group_pattern,
                                          train_dataset **train, train_dataset **validation,
                                          char *err, size_t err_size);

/* The class names as an array (num_classes entries, owned by the dataset):
 * what train_dataset_options.classes takes to align another dataset. */
const char *const *train_dataset_class_names(const train_dataset *dataset);

/* Writes the class names, one per line, to path (the labels file that goes
 * beside an exported model). */
ledge_status train_dataset_write_class_names(const train_dataset *dataset, const char *path,
                                             char *err, size_t err_size);

#ifdef __cplusplus
}
#endif

#endif /* LEDGE_TRAIN_DATASET_H */

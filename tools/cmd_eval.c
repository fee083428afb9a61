/* cmd_eval.c: `ledge eval MODEL DATA` measures a classifier on a labelled
 * dataset (any format ledge train reads): accuracy, top-k accuracy,
 * per-class precision/recall/F1 and the confusion matrix; --json prints one
 * object, --plot draws the confusion matrix. The model runs through the
 * public ledge API, on inputs prepared as `ledge train` prepares its
 * validation data (resize or resize + center crop, then normalization). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "media/transform.h"
#include "train/dataset.h"
#include "train/loader.h"

static void help(FILE *f) {
  fprintf(f,
          "usage: ledge eval MODEL DATA [--json] [--plot confusion.png] [--limit N] [options]\n"
          "Evaluates a classifier on labelled data: accuracy, top-k accuracy, per-class\n"
          "precision and recall, and the confusion matrix (rows: true class, columns:\n"
          "predicted). DATA is what `ledge train --train` takes: an IDX images file\n"
          "(labels found beside it), a folder with one subfolder per class, a .lst file\n"
          "or a .manifest. Class names come from MODEL's labels file (MODEL.labels.txt,\n"
          "written by ledge train) or else from the data; a folder's classes are matched\n"
          "to the model's by name.\n\n"
          "  --json                   print one JSON object (accuracy, per_class, confusion, ...)\n"
          "  --plot FILE.png          draw the confusion matrix (needs gnuplot)\n"
          "  --limit N                use only the first N samples\n"
          "  --image-shape C,H,W      the input shape when the model does not fix it\n"
          "  --resize N               resize the shorter side to N, then center crop\n"
          "  --imagenet-normalization inputs normalized with ImageNet's mean/std (as trained)\n"
          "  --mean a[,b,c] --std a[,b,c]  per-channel normalization of [0, 1] pixels\n"
          "  --labels FILE            the model's class names, one per line\n"
          "  --preprocess FILE        input preparation (default MODEL.preprocess.json when it\n"
          "                           exists, written by ledge train; flags above override it)\n"
          "  --layout nchw|nhwc       the model's input layout (default: from its shape, e.g.\n"
          "                           NHWC for TF.js models taking [N,224,224,3])\n"
          "  --batch N                images per run (default 32)\n"
          "  --top-k K                also report top-K accuracy (default 5)\n"
          "  --threads N              threads (default: one per core)\n");
}

static int parse_floats(const char *name, const char *text, float *out, int max, int *count) {
  int n = 0;
  const char *p = text;
  while (*p && n < max) {
    char *end;
    errno = 0;
    double v = strtod(p, &end);
    if (end == p || errno || !isfinite(v)) break;
    out[n++] = (float)v;
    p = end;
    if (*p == ',')
      p++;
    else if (*p)
      break;
  }
  if (*p || n == 0)
    return cli_fail("eval: %s must be 1 to %d numbers separated by commas", name, max);
  *count = n;
  return 0;
}

static int parse_shape(const char *text, int shape[3]) {
  if (sscanf(text, "%d,%d,%d", &shape[0], &shape[1], &shape[2]) != 3 ||
      (shape[0] != 1 && shape[0] != 3) || shape[1] <= 0 || shape[2] <= 0 || shape[1] > 8192 ||
      shape[2] > 8192)
    return cli_fail("eval: --image-shape must be C,H,W with C 1 or 3 (e.g. 3,224,224), not '%s'",
                    text);
  return 0;
}

/* Reads a labels file (one name per line) or returns 0 names. */
static int read_labels(const char *path, char ***names_out) {
  *names_out = NULL;
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  int n = 0, cap = 0;
  char **names = NULL;
  char line[1024];
  while (fgets(line, sizeof line, f)) {
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      char **grown = realloc(names, sizeof *grown * (size_t)cap);
      if (!grown) break;
      names = grown;
    }
    names[n++] = strdup(line);
  }
  fclose(f);
  while (n && names[n - 1] && !names[n - 1][0]) free(names[--n]);
  *names_out = names;
  return n;
}

/* MODEL.onnx -> MODEL.labels.txt (ledge train's naming). */
static void default_labels_path(const char *model, char *out, size_t size) {
  snprintf(out, size, "%s", model);
  char *slash = strrchr(out, '/'), *dot = strrchr(out, '.');
  if (dot && (!slash || dot > slash)) *dot = 0;
  strncat(out, ".labels.txt", size - strlen(out) - 1);
}

typedef struct eval_result {
  int classes;
  long samples, correct, correct_top_k, skipped;
  long *confusion; /* classes x classes */
  double seconds;
} eval_result;

static int plot_confusion(const char *path, const eval_result *r, char **names) {
  char tmp[] = "/tmp/ledge-eval-XXXXXX";
  int fd = mkstemp(tmp);
  if (fd < 0) return cli_fail("eval: cannot create a temporary file for --plot");
  FILE *d = fdopen(fd, "w");
  int k = r->classes;
  /* rows normalized by the true class's count, so colors compare classes */
  for (int t = 0; t < k; t++) {
    long row = 0;
    for (int p = 0; p < k; p++) row += r->confusion[t * k + p];
    for (int p = 0; p < k; p++)
      fprintf(d, "%d %d %.6f %ld\n", p, t, row ? (double)r->confusion[t * k + p] / row : 0.0,
              r->confusion[t * k + p]);
    fprintf(d, "\n");
  }
  fclose(d);
  FILE *g = popen("gnuplot 2>/dev/null", "w");
  if (!g) {
    unlink(tmp);
    return cli_fail("eval: cannot run gnuplot for --plot");
  }
  int side = 160 + 48 * (k < 40 ? k : 40);
  fprintf(
      g,
      "set terminal pngcairo size %d,%d font 'sans,10' noenhanced\nset output '%s'\n"
      "set title 'Confusion matrix: %ld samples, accuracy %.2f%%'\n"
      "set xlabel 'predicted'\nset ylabel 'true'\nset yrange [%d.5:-0.5]\nset xrange [-0.5:%d.5]\n"
      "set cbrange [0:1]\nset cblabel 'fraction of the true class'\n"
      "set palette defined (0 'white', 1 '#1f5fa8')\nset xtics rotate by 45 right\n",
      side + 120, side, path, r->samples, r->samples ? 100.0 * r->correct / r->samples : 0.0, k - 1,
      k - 1);
  fprintf(g, "set xtics (");
  for (int c = 0; c < k; c++) {
    fprintf(g, "%s\"", c ? ", " : "");
    for (const char *s = names[c]; *s; s++)
      if (*s != '"' && *s != '\\' && *s != '\'') fputc(*s, g);
    fprintf(g, "\" %d", c);
  }
  fprintf(g, ")\nset ytics (");
  for (int c = 0; c < k; c++) {
    fprintf(g, "%s\"", c ? ", " : "");
    for (const char *s = names[c]; *s; s++)
      if (*s != '"' && *s != '\\' && *s != '\'') fputc(*s, g);
    fprintf(g, "\" %d", c);
  }
  fprintf(g, ")\n");
  if (k <= 30)
    fprintf(g,
            "plot '%s' using 1:2:3 with image notitle, '' using 1:2:(sprintf('%%d', $4)) "
            "with labels notitle\n",
            tmp);
  else
    fprintf(g, "plot '%s' using 1:2:3 with image notitle\n", tmp);
  int rc = pclose(g);
  unlink(tmp);
  if (rc != 0) return cli_fail("eval: gnuplot failed drawing %s (is gnuplot installed?)", path);
  return 0;
}

static void print_json(const char *model, const char *data, const eval_result *r, char **names,
                       int top_k) {
  int k = r->classes;
  printf("{\"model\": ");
  cli_json_string(stdout, model);
  printf(", \"data\": ");
  cli_json_string(stdout, data);
  printf(", \"samples\": %ld, \"skipped\": %ld, \"accuracy\": %.6f", r->samples, r->skipped,
         r->samples ? (double)r->correct / r->samples : 0.0);
  printf(", \"top_k\": %d, \"top_k_accuracy\": %.6f", top_k,
         r->samples ? (double)r->correct_top_k / r->samples : 0.0);
  printf(", \"classes\": [");
  for (int c = 0; c < k; c++) {
    if (c) printf(", ");
    cli_json_string(stdout, names[c]);
  }
  printf("], \"per_class\": [");
  for (int c = 0; c < k; c++) {
    long tp = r->confusion[c * k + c], actual = 0, predicted = 0;
    for (int j = 0; j < k; j++) {
      actual += r->confusion[c * k + j];
      predicted += r->confusion[j * k + c];
    }
    double precision = predicted ? (double)tp / predicted : 0,
           recall = actual ? (double)tp / actual : 0;
    double f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0;
    printf("%s{\"class\": %d, \"name\": ", c ? ", " : "", c);
    cli_json_string(stdout, names[c]);
    printf(
        ", \"precision\": %.6f, \"recall\": %.6f, \"f1\": %.6f, \"support\": %ld, \"predicted\": "
        "%ld}",
        precision, recall, f1, actual, predicted);
  }
  printf("], \"confusion\": [");
  for (int t = 0; t < k; t++) {
    printf("%s[", t ? ", " : "");
    for (int p = 0; p < k; p++) printf("%s%ld", p ? ", " : "", r->confusion[t * k + p]);
    printf("]");
  }
  printf("], \"seconds\": %.3f, \"images_per_second\": %.1f}\n", r->seconds,
         r->seconds > 0 ? r->samples / r->seconds : 0.0);
}

static void print_text(const eval_result *r, char **names, int top_k) {
  int k = r->classes;
  printf("samples   %ld", r->samples);
  if (r->skipped) printf(" (%ld unreadable skipped)", r->skipped);
  printf("\naccuracy  %.4f (%ld/%ld)\n", r->samples ? (double)r->correct / r->samples : 0.0,
         r->correct, r->samples);
  if (top_k > 1)
    printf("top-%d     %.4f\n", top_k, r->samples ? (double)r->correct_top_k / r->samples : 0.0);
  printf("\n%-4s %-24s %9s %9s %9s %8s\n", "", "class", "precision", "recall", "f1", "support");
  for (int c = 0; c < k; c++) {
    long tp = r->confusion[c * k + c], actual = 0, predicted = 0;
    for (int j = 0; j < k; j++) {
      actual += r->confusion[c * k + j];
      predicted += r->confusion[j * k + c];
    }
    double precision = predicted ? (double)tp / predicted : 0,
           recall = actual ? (double)tp / actual : 0;
    double f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0;
    printf("%-4d %-24.24s %9.4f %9.4f %9.4f %8ld\n", c, names[c], precision, recall, f1, actual);
  }
  printf("\nconfusion (rows: true, columns: predicted)\n     ");
  for (int p = 0; p < k; p++) printf(" %6d", p);
  printf("\n");
  for (int t = 0; t < k; t++) {
    printf("%4d ", t);
    for (int p = 0; p < k; p++) printf(" %6ld", r->confusion[t * k + p]);
    printf("\n");
  }
}

int cmd_eval(int argc, char **argv) {
  const char *model_path = NULL, *data_path = NULL, *plot_path = NULL, *labels_path = NULL;
  const char *preprocess_path = NULL;
  bool json = false, imagenet = false;
  const char *layout = "auto";
  long limit = 0, batch = 32, top_k = 5, threads = 0, resize = 0;
  int shape[3] = {0, 0, 0}, n_mean = 0, n_std = 0;
  float mean[3] = {0, 0, 0}, stdv[3] = {1, 1, 1};
  for (int i = 1; i < argc; i++) {
    const char *v;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      help(stdout);
      return 0;
    } else if (!strcmp(argv[i], "--json")) {
      json = true;
    } else if (!strcmp(argv[i], "--imagenet-normalization")) {
      imagenet = true;
    } else if (cli_option(argc, argv, &i, "--plot", &v)) {
      plot_path = v;
    } else if (cli_option(argc, argv, &i, "--labels", &v)) {
      labels_path = v;
    } else if (cli_option(argc, argv, &i, "--layout", &v)) {
      if (strcmp(v, "nchw") && strcmp(v, "nhwc") && strcmp(v, "auto"))
        return cli_fail("eval: --layout is nchw, nhwc or auto, not '%s'", v);
      layout = v;
    } else if (cli_option(argc, argv, &i, "--preprocess", &v)) {
      preprocess_path = v;
    } else if (cli_option(argc, argv, &i, "--limit", &v)) {
      if (!cli_parse_int("--limit", v, 1, 1L << 40, &limit)) return 1;
    } else if (cli_option(argc, argv, &i, "--batch", &v)) {
      if (!cli_parse_int("--batch", v, 1, 4096, &batch)) return 1;
    } else if (cli_option(argc, argv, &i, "--top-k", &v)) {
      if (!cli_parse_int("--top-k", v, 1, 1000, &top_k)) return 1;
    } else if (cli_option(argc, argv, &i, "--threads", &v)) {
      if (!cli_parse_int("--threads", v, 0, 1024, &threads)) return 1;
    } else if (cli_option(argc, argv, &i, "--resize", &v)) {
      if (!cli_parse_int("--resize", v, 1, 8192, &resize)) return 1;
    } else if (cli_option(argc, argv, &i, "--image-shape", &v)) {
      if (parse_shape(v, shape)) return 1;
    } else if (cli_option(argc, argv, &i, "--mean", &v)) {
      if (parse_floats("--mean", v, mean, 3, &n_mean)) return 1;
    } else if (cli_option(argc, argv, &i, "--std", &v)) {
      if (parse_floats("--std", v, stdv, 3, &n_std)) return 1;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      return cli_fail("eval: unknown option '%s' (see ledge eval --help)", argv[i]);
    } else if (!model_path) {
      model_path = argv[i];
    } else if (!data_path) {
      data_path = argv[i];
    } else {
      return cli_fail("eval: unexpected argument '%s'", argv[i]);
    }
  }
  if (!model_path || !data_path) {
    help(stderr);
    return 1;
  }

  ledge_model *model = NULL;
  ledge_session *session = NULL;
  train_dataset *ds = NULL;
  train_loader *ld = NULL;
  ledge_tensor *input = NULL;
  char **names = NULL, **model_names = NULL;
  int n_model_names = 0;
  eval_result r = {0};
  float *padded = NULL, *transposed = NULL;
  int rc = 1;
  char err[1024];

  double load_seconds;
  if (cli_load_model(model_path, &model, &load_seconds)) return 1;
  if (ledge_model_input_count(model) != 1 || ledge_model_output_count(model) < 1) {
    rc = cli_fail("eval: %s has %d inputs; a classifier with one image input is expected",
                  model_path, ledge_model_input_count(model));
    goto out;
  }
  ledge_tensor_info in_info;
  ledge_model_input_info(model, 0, &in_info);
  if (in_info.rank != 4 || in_info.dtype != LEDGE_FLOAT32) {
    rc = cli_fail("eval: %s takes a %d-D %s input; an NCHW or NHWC float32 image batch is expected",
                  model_path, in_info.rank, ledge_dtype_name(in_info.dtype));
    goto out;
  }
  /* NCHW (ONNX, ledge train) or NHWC (TF.js): the model's C, H, W */
  bool nhwc = !strcmp(layout, "nhwc");
  if (!strcmp(layout, "auto"))
    nhwc = (in_info.dims[3] == 1 || in_info.dims[3] == 3) &&
           !(in_info.dims[1] == 1 || in_info.dims[1] == 3);
  const int64_t model_chw[3] = {nhwc ? in_info.dims[3] : in_info.dims[1],
                                nhwc ? in_info.dims[1] : in_info.dims[2],
                                nhwc ? in_info.dims[2] : in_info.dims[3]};
  /* how the model wants its input: MODEL.preprocess.json (or --preprocess) */
  train_augment_config pre;
  train_augment_defaults(&pre, 3, 1, 1, TRAIN_AUG_NONE);
  pre.channels = 0;
  char default_pre[4096];
  train_augment_preprocess_path(model_path, default_pre, sizeof default_pre);
  if (!preprocess_path && access(default_pre, R_OK) == 0) preprocess_path = default_pre;
  if (preprocess_path) {
    int channels = shape[0]                                 ? shape[0]
                   : model_chw[0] == 1 || model_chw[0] == 3 ? (int)model_chw[0]
                                                            : 3;
    /* 0x0 marks "no image_shape in the file" (the check wants a size) */
    train_augment_defaults(&pre, channels, 1, 1, TRAIN_AUG_NONE);
    if (train_augment_load_preprocess(&pre, preprocess_path, err, sizeof err)) {
      rc = cli_fail("eval: %s", err);
      goto out;
    }
    if (!shape[0] && (pre.height > 1 || pre.width > 1)) {
      shape[0] = pre.channels;
      shape[1] = pre.height;
      shape[2] = pre.width;
    }
  }
  /* the model's C, H, W where it fixes them; --image-shape must agree */
  for (int d = 0; d < 3; d++) {
    int64_t m = model_chw[d];
    if (m > 0 && shape[d] > 0 && m != shape[d]) {
      rc = cli_fail(
          "eval: image shape %d,%d,%d (--image-shape or the preprocess file) does not "
          "match the model's input (C,H,W) %lld,%lld,%lld",
          shape[0], shape[1], shape[2], (long long)model_chw[0], (long long)model_chw[1],
          (long long)model_chw[2]);
      goto out;
    }
    if (m > 0) shape[d] = (int)m;
  }
  if (shape[0] <= 0 || shape[1] <= 0 || shape[2] <= 0) {
    rc = cli_fail("eval: the model does not fix its input size; give --image-shape C,H,W");
    goto out;
  }
  if (shape[0] != 1 && shape[0] != 3) {
    rc = cli_fail("eval: the model takes %d channels; 1 or 3 are supported", shape[0]);
    goto out;
  }
  if ((n_mean && n_mean != 1 && n_mean != shape[0]) || (n_std && n_std != 1 && n_std != shape[0])) {
    rc = cli_fail("eval: --mean and --std need 1 or %d values", shape[0]);
    goto out;
  }

  /* class names: the model's labels file, else the data's */
  char default_labels[4096];
  default_labels_path(model_path, default_labels, sizeof default_labels);
  if (labels_path) {
    n_model_names = read_labels(labels_path, &model_names);
    if (n_model_names == 0) {
      rc = cli_fail("eval: cannot read class names from %s", labels_path);
      goto out;
    }
  } else {
    n_model_names = read_labels(default_labels, &model_names);
  }

  /* data that names its classes (folders, manifests with class names) is
   * matched to the model's classes by name, so a folder that lacks a class
   * or sorts differently still lines up; other data keeps its labels */
  train_dataset_options dopt;
  train_dataset_options_init(&dopt);
  dopt.limit = limit;
  if (n_model_names > 0) {
    dopt.classes = (const char *const *)model_names;
    dopt.num_classes_aligned = n_model_names;
  }
  if (train_dataset_open(data_path, &dopt, &ds, err, sizeof err)) {
    rc = cli_fail("eval: %s", err);
    goto out;
  }

  if (cli_create_session(model, (int)threads, false, &session)) goto out;
  /* a model exported with a fixed batch (often 1) is fed that many images
   * at a time; a short last batch is padded with zeros */
  int fixed_batch = in_info.dims[0] > 0 ? (int)in_info.dims[0] : 0;
  if (fixed_batch) batch = fixed_batch;
  size_t sample_floats = (size_t)shape[0] * shape[1] * shape[2];
  int data_classes = train_dataset_num_classes(ds);

  train_loader_options lo;
  train_loader_options_init(&lo, shape[0], shape[1], shape[2]);
  lo.batch_size = (int)batch;
  lo.shuffle = 0;
  lo.augment = 0;
  lo.drop_last = 0;
  if (preprocess_path) {
    if (pre.channels != shape[0]) {
      rc = cli_fail("eval: %s is for %d-channel input but the model takes %d", preprocess_path,
                    pre.channels, shape[0]);
      goto out;
    }
    lo.transform.resize = pre.resize;
    lo.transform.scale = pre.scale;
    memcpy(lo.transform.mean, pre.mean, sizeof pre.mean);
    memcpy(lo.transform.std, pre.std, sizeof pre.std);
  }
  if (resize) lo.transform.resize = (int)resize;
  if (imagenet) train_augment_imagenet_normalization(&lo.transform);
  for (int c = 0; c < shape[0]; c++) {
    if (n_mean) lo.transform.mean[c] = mean[n_mean == 1 ? 0 : c];
    if (n_std) lo.transform.std[c] = stdv[n_std == 1 ? 0 : c];
  }
  if (train_loader_create(ds, &lo, &ld, err, sizeof err)) {
    rc = cli_fail("eval: %s", err);
    goto out;
  }

  double t0 = cli_now();
  train_loader_start(ld, 0, 0);
  train_batch b;
  int got;
  long total = train_dataset_count(ds);
  int classes = 0;
  while ((got = train_loader_next(ld, &b)) == 1) {
    int rows = b.count;
    const float *images = b.images;
    if (fixed_batch && b.count < fixed_batch) {
      if (!padded && !(padded = calloc((size_t)fixed_batch * sample_floats, sizeof *padded))) {
        rc = cli_fail("eval: out of memory");
        goto out;
      }
      memset(padded, 0, sizeof *padded * (size_t)fixed_batch * sample_floats);
      memcpy(padded, b.images, sizeof *padded * (size_t)b.count * sample_floats);
      images = padded;
      rows = fixed_batch;
    }
    int64_t dims[4] = {rows, shape[0], shape[1], shape[2]};
    if (nhwc) {
      if (!transposed &&
          !(transposed = malloc(sizeof *transposed * (size_t)(fixed_batch ? fixed_batch : batch) *
                                sample_floats))) {
        rc = cli_fail("eval: out of memory");
        goto out;
      }
      for (int j = 0; j < rows; j++)
        media_chw_to_hwc_f32(images + (size_t)j * sample_floats, shape[0], shape[1], shape[2],
                             transposed + (size_t)j * sample_floats);
      images = transposed;
      dims[1] = shape[1];
      dims[2] = shape[2];
      dims[3] = shape[0];
    }
    size_t bytes = sizeof(float) * (size_t)rows * sample_floats;
    if (ledge_tensor_wrap(LEDGE_FLOAT32, 4, dims, (void *)images, bytes, &input) != LEDGE_OK) {
      rc = cli_fail_status("eval");
      goto out;
    }
    if (ledge_session_run(session, &input, 1, NULL, 0) != LEDGE_OK) {
      rc = cli_fail_status("eval: running the model");
      goto out;
    }
    ledge_tensor_destroy(input);
    input = NULL;
    const ledge_tensor *out;
    ledge_session_output(session, 0, &out);
    int64_t n_out = ledge_tensor_count(out);
    if (ledge_tensor_dtype(out) != LEDGE_FLOAT32 || rows == 0 || n_out % rows) {
      rc = cli_fail("eval: the model's first output is not float scores per image");
      goto out;
    }
    int k = (int)(n_out / rows);
    if (!classes) {
      classes = k;
      if (k < 2) {
        rc = cli_fail("eval: the model outputs %d score(s) per image; a classifier has 2 or more",
                      k);
        goto out;
      }
      for (long i = 0; i < train_dataset_count(ds); i++)
        if (train_dataset_label(ds, i) >= k) {
          rc = cli_fail("eval: the data has labels up to %d but the model scores %d classes",
                        data_classes - 1, k);
          goto out;
        }
      r.classes = k;
      r.confusion = calloc((size_t)k * k, sizeof *r.confusion);
      if (!r.confusion) {
        rc = cli_fail("eval: out of memory");
        goto out;
      }
    }
    const float *scores = ledge_tensor_data(out);
    for (int j = 0; j < b.count; j++) {
      const float *s = scores + (size_t)j * k;
      int truth = b.labels[j], best = 0, above = 0;
      for (int c = 1; c < k; c++)
        if (s[c] > s[best]) best = c;
      for (int c = 0; c < k; c++) above += s[c] > s[truth];
      r.confusion[truth * k + best]++;
      r.correct += best == truth;
      r.correct_top_k += above < top_k;
      r.samples++;
    }
    if (!json) cli_progress("eval", r.samples, total);
  }
  if (got < 0) {
    rc = cli_fail("eval: %s", train_loader_error(ld));
    goto out;
  }
  r.seconds = cli_now() - t0;
  train_loader_stats stats;
  train_loader_get_stats(ld, &stats);
  r.skipped = stats.skipped;
  if (r.samples == 0) {
    rc = cli_fail("eval: no sample could be read (%s)", train_loader_error(ld));
    goto out;
  }
  if (stats.skipped)
    fprintf(stderr, "ledge eval: %ld unreadable sample(s) skipped; first: %s\n", stats.skipped,
            train_loader_error(ld));

  /* names for the model's classes */
  names = calloc((size_t)r.classes, sizeof *names);
  for (int c = 0; names && c < r.classes; c++) {
    char buf[32];
    const char *name = NULL;
    if (c < n_model_names)
      name = model_names[c];
    else if (c < data_classes)
      name = train_dataset_class_name(ds, c);
    if (!name) {
      snprintf(buf, sizeof buf, "%d", c);
      name = buf;
    }
    names[c] = strdup(name);
  }
  if (!names) {
    rc = cli_fail("eval: out of memory");
    goto out;
  }
  int k_report = (int)(top_k < r.classes ? top_k : r.classes);
  if (json)
    print_json(model_path, data_path, &r, names, k_report);
  else
    print_text(&r, names, k_report);
  rc = 0;
  if (plot_path) rc = plot_confusion(plot_path, &r, names);

out:
  free(padded);
  free(transposed);
  ledge_tensor_destroy(input);
  train_loader_destroy(ld);
  train_dataset_destroy(ds);
  ledge_session_destroy(session);
  ledge_model_destroy(model);
  if (names)
    for (int c = 0; c < r.classes; c++) free(names[c]);
  free(names);
  for (int c = 0; c < n_model_names; c++) free(model_names[c]);
  free(model_names);
  free(r.confusion);
  return rc;
}

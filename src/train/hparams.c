/* train/hparams.c: hyperparameters from flags and hyperparameters.json, one
 * table of {name, type, field, range, help} drives parsing, validation of
 * single values, printing and help. See hparams.h. */
#include "train/hparams.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

typedef enum hp_type {
  HP_INT,
  HP_LONG,
  HP_U64,
  HP_DOUBLE,
  HP_BOOL,   /* True/False/true/false/1/0 */
  HP_CHOICE, /* a string from a '|'-separated list */
  HP_SHAPE,  /* "C,H,W" */
  HP_STEPS,  /* "10,20" */
  HP_AUG     /* augmentation_type */
} hp_type;

typedef struct hp_entry {
  const char *name;
  hp_type type;
  size_t offset;
  double min, max;
  const char *choices; /* HP_CHOICE */
  const char *help;
} hp_entry;

#define F(field) offsetof(train_hparams, field)
static const hp_entry hp_table[] = {
    {"num_classes", HP_INT, F(num_classes), 2, 100000, NULL, "number of classes (required)"},
    {"num_training_samples", HP_LONG, F(num_training_samples), 1, 1e12, NULL,
     "number of training samples (required)"},
    {"num_layers", HP_INT, F(num_layers), 1, 1000, NULL,
     "ResNet depth: 18 34 50 101 152 200, or CIFAR-style 20 32 44 56 110"},
    {"image_shape", HP_SHAPE, F(image_shape), 1, 8192, NULL, "C,H,W of the network input"},
    {"mini_batch_size", HP_INT, F(mini_batch_size), 1, 1 << 20, NULL, "samples per step"},
    {"epochs", HP_INT, F(epochs), 1, 1000000, NULL, "passes over the training data"},
    {"learning_rate", HP_DOUBLE, F(learning_rate), 1e-12, 1e3, NULL, "initial learning rate"},
    {"lr_scheduler_factor", HP_DOUBLE, F(lr_scheduler_factor), 1e-9, 1, NULL,
     "learning rate multiplier at each step epoch"},
    {"lr_scheduler_step", HP_STEPS, F(lr_scheduler_step), 1, 1000000, NULL,
     "epochs at which the rate is multiplied, comma list (e.g. 10,20)"},
    {"optimizer", HP_CHOICE, F(optimizer), 0, 0, "sgd|adam|rmsprop|nag",
     "sgd, adam, rmsprop or nag"},
    {"momentum", HP_DOUBLE, F(momentum), 0, 0.999999, NULL, "momentum (sgd, nag)"},
    {"weight_decay", HP_DOUBLE, F(weight_decay), 0, 1, NULL, "L2 weight decay"},
    {"beta_1", HP_DOUBLE, F(beta_1), 0, 0.999999, NULL, "adam first-moment decay"},
    {"beta_2", HP_DOUBLE, F(beta_2), 0, 0.999999999, NULL, "adam second-moment decay"},
    {"eps", HP_DOUBLE, F(eps), 1e-20, 1, NULL, "adam/rmsprop epsilon"},
    {"gamma", HP_DOUBLE, F(gamma), 0, 0.999999, NULL, "rmsprop decay"},
    {"augmentation_type", HP_AUG, F(augmentation_type), 0, 0, NULL,
     "crop, crop_color or crop_color_transform (default: none)"},
    {"use_pretrained_model", HP_INT, F(use_pretrained_model), 0, 1, NULL,
     "1: start from pretrained weights"},
    {"resize", HP_INT, F(resize), 1, 8192, NULL, "resize the shorter side to this before cropping"},
    {"top_k", HP_INT, F(top_k), 1, 1000, NULL, "report top-k accuracy"},
    {"checkpoint_frequency", HP_INT, F(checkpoint_frequency), 1, 1000000, NULL,
     "epochs between checkpoints"},
    {"early_stopping", HP_BOOL, F(early_stopping), 0, 1, NULL, "stop when validation stalls"},
    {"early_stopping_min_epochs", HP_INT, F(early_stopping_min_epochs), 0, 1000000, NULL,
     "epochs before early stopping may stop"},
    {"early_stopping_patience", HP_INT, F(early_stopping_patience), 1, 1000000, NULL,
     "epochs without improvement before stopping"},
    {"early_stopping_tolerance", HP_DOUBLE, F(early_stopping_tolerance), 0, 1, NULL,
     "relative improvement that counts"},
    {"multi_label", HP_INT, F(multi_label), 0, 1, NULL, "multi-label training (only 0)"},
    {"use_weighted_loss", HP_INT, F(use_weighted_loss), 0, 1, NULL,
     "1: weight the loss by inverse class frequency"},
    {"precision_dtype", HP_CHOICE, F(precision_dtype), 0, 0, "float32|float16",
     "float32 (float16 is not supported)"},
    {"kv_store", HP_CHOICE, F(kv_store), 0, 0, "|local|device|dist_sync|dist_async",
     "accepted for compatibility; dist_sync = MPI data parallelism"},
    {"seed", HP_U64, F(seed), 0, 0, NULL, "random seed (shuffle, augmentation, initialization)"},
    {"label_smoothing", HP_DOUBLE, F(label_smoothing), 0, 0.999, NULL, "label smoothing epsilon"},
    {"lr_scheduler", HP_CHOICE, F(lr_scheduler), 0, 0, "step|cosine", "step or cosine"},
    {"warmup_epochs", HP_INT, F(warmup_epochs), 0, 1000000, NULL, "linear learning-rate warmup"},
    {"clip_gradient", HP_DOUBLE, F(clip_gradient), 0, 1e9, NULL,
     "clip gradients to this global norm (0: off)"},
    {"validation_fraction", HP_DOUBLE, F(validation_fraction), 0, 0.9, NULL,
     "hold out this share of --train for validation"},
};
#undef F
#define HP_COUNT ((int)(sizeof hp_table / sizeof hp_table[0]))

static ledge_status hp_fail(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static ledge_status hp_fail(char *err, size_t err_size, const char *fmt, ...) {
  if (err && err_size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
  }
  return LEDGE_ERR_INVALID_ARGUMENT;
}

void train_hparams_defaults(train_hparams *hp) {
  memset(hp, 0, sizeof *hp);
  hp->num_layers = 152;
  hp->image_shape[0] = 3;
  hp->image_shape[1] = hp->image_shape[2] = 224;
  hp->mini_batch_size = 32;
  hp->epochs = 30;
  hp->learning_rate = 0.1;
  hp->lr_scheduler_factor = 0.1;
  strcpy(hp->optimizer, "sgd");
  hp->momentum = 0.9;
  hp->weight_decay = 0.0001;
  hp->beta_1 = 0.9;
  hp->beta_2 = 0.999;
  hp->eps = 1e-8;
  hp->gamma = 0.9;
  hp->augmentation_type = TRAIN_AUG_NONE;
  hp->top_k = 5;
  hp->checkpoint_frequency = 1;
  hp->early_stopping_min_epochs = 10;
  hp->early_stopping_patience = 5;
  strcpy(hp->precision_dtype, "float32");
  strcpy(hp->lr_scheduler, "step");
}

/* "mini-batch-size", "--mini_batch_size" -> index of mini_batch_size. */
static int find_entry(const char *name, size_t len) {
  while (len >= 1 && name[0] == '-') name++, len--;
  for (int k = 0; k < HP_COUNT; k++) {
    const char *t = hp_table[k].name;
    if (strlen(t) != len) continue;
    size_t j = 0;
    while (j < len && (name[j] == t[j] || (name[j] == '-' && t[j] == '_'))) j++;
    if (j == len) return k;
  }
  return -1;
}

static int parse_double(const char *text, double *out) {
  char *end;
  errno = 0;
  while (isspace((unsigned char)*text)) text++;
  double v = strtod(text, &end);
  while (isspace((unsigned char)*end)) end++;
  if (end == text || *end || errno == ERANGE || !isfinite(v)) return -1;
  *out = v;
  return 0;
}

/* Integers may be written "64" or "64.0" (some job launchers stringify floats). */
static int parse_integer(const char *text, double min, double max, double *out) {
  double v;
  if (parse_double(text, &v) || v != floor(v)) return -1;
  if (v < min || v > max) return -2;
  *out = v;
  return 0;
}

static int parse_int_list(const char *text, int *values, int cap, int *count, double min,
                          double max) {
  int n = 0;
  const char *p = text;
  while (isspace((unsigned char)*p)) p++;
  if (!*p) return -1;
  for (;;) {
    char item[64];
    size_t len = strcspn(p, ",");
    if (len == 0 || len >= sizeof item || n == cap) return -1;
    memcpy(item, p, len);
    item[len] = '\0';
    double v;
    int bad = parse_integer(item, min, max, &v);
    if (bad) return bad;
    values[n++] = (int)v;
    p += len;
    if (!*p) break;
    p++; /* the comma */
  }
  *count = n;
  return 0;
}

static ledge_status set_entry(train_hparams *hp, int k, const char *value, char *err,
                              size_t err_size) {
  const hp_entry *e = &hp_table[k];
  char *field = (char *)hp + e->offset;
  double v;
  int bad;
  if (!value) return hp_fail(err, err_size, "%s: a value is required", e->name);
  switch (e->type) {
    case HP_INT:
    case HP_LONG:
      bad = parse_integer(value, e->min, e->max, &v);
      if (bad == -1) return hp_fail(err, err_size, "%s: '%.60s' is not an integer", e->name, value);
      if (bad)
        return hp_fail(err, err_size, "%s: '%.60s' is out of range (%.0f to %.0f)", e->name, value,
                       e->min, e->max);
      if (e->type == HP_INT)
        *(int *)field = (int)v;
      else
        *(long *)field = (long)v;
      break;
    case HP_U64: {
      char *end;
      errno = 0;
      unsigned long long u = strtoull(value, &end, 10);
      if (end == value || *end || errno || value[0] == '-')
        return hp_fail(err, err_size, "%s: '%.60s' is not a non-negative integer", e->name, value);
      *(uint64_t *)field = (uint64_t)u;
      break;
    }
    case HP_DOUBLE:
      if (parse_double(value, &v))
        return hp_fail(err, err_size, "%s: '%.60s' is not a number", e->name, value);
      if (v < e->min || v > e->max)
        return hp_fail(err, err_size, "%s: %g is out of range (%g to %g)", e->name, v, e->min,
                       e->max);
      *(double *)field = v;
      break;
    case HP_BOOL:
      if (!strcmp(value, "True") || !strcmp(value, "true") || !strcmp(value, "1"))
        *(int *)field = 1;
      else if (!strcmp(value, "False") || !strcmp(value, "false") || !strcmp(value, "0"))
        *(int *)field = 0;
      else
        return hp_fail(err, err_size, "%s: '%.60s' is not True or False", e->name, value);
      break;
    case HP_CHOICE: {
      const char *c = e->choices;
      size_t len = strlen(value);
      int found = 0;
      while (c) {
        const char *bar = strchr(c, '|');
        size_t clen = bar ? (size_t)(bar - c) : strlen(c);
        if (clen == len && !strncmp(c, value, len)) found = 1;
        c = bar ? bar + 1 : NULL;
      }
      if (!found || len >= 16)
        return hp_fail(err, err_size, "%s: '%.60s' is not one of %s", e->name, value, e->choices);
      strcpy(field, value);
      break;
    }
    case HP_SHAPE: {
      int dims[3], n;
      bad = parse_int_list(value, dims, 3, &n, e->min, e->max);
      if (bad || n != 3)
        return hp_fail(err, err_size,
                       "%s: '%.60s' is not C,H,W with positive sizes (e.g. 3,224,224)", e->name,
                       value);
      if (dims[0] != 1 && dims[0] != 3)
        return hp_fail(err, err_size, "%s: %d channels; 1 (gray) or 3 (RGB) are supported", e->name,
                       dims[0]);
      memcpy(field, dims, sizeof dims);
      break;
    }
    case HP_STEPS: {
      int steps[TRAIN_MAX_LR_STEPS], n;
      bad = parse_int_list(value, steps, TRAIN_MAX_LR_STEPS, &n, e->min, e->max);
      if (bad)
        return hp_fail(err, err_size, "%s: '%.60s' is not a comma list of up to %d positive epochs",
                       e->name, value, TRAIN_MAX_LR_STEPS);
      for (int j = 1; j < n; j++)
        if (steps[j] <= steps[j - 1])
          return hp_fail(err, err_size, "%s: epochs must increase ('%.60s')", e->name, value);
      memcpy(hp->lr_scheduler_step, steps, sizeof(int) * (size_t)n);
      hp->lr_scheduler_step_count = n;
      break;
    }
    case HP_AUG: {
      train_augmentation a;
      if (!train_augmentation_parse(value, &a))
        return hp_fail(err, err_size,
                       "%s: '%.60s' is not one of crop, crop_color, crop_color_transform", e->name,
                       value);
      *(train_augmentation *)field = a;
      break;
    }
  }
  hp->set_mask |= (uint64_t)1 << k;
  return LEDGE_OK;
}

ledge_status train_hparams_set(train_hparams *hp, const char *name, const char *value, char *err,
                               size_t err_size) {
  int k = find_entry(name, strlen(name));
  if (k < 0) return hp_fail(err, err_size, "unknown hyperparameter '%.80s'", name);
  return set_entry(hp, k, value, err, err_size);
}

ledge_status train_hparams_parse_flag(train_hparams *hp, int argc, char **argv, int *i,
                                      int *matched, char *err, size_t err_size) {
  *matched = 0;
  const char *arg = argv[*i];
  if (strncmp(arg, "--", 2)) return LEDGE_OK;
  const char *eq = strchr(arg, '=');
  int k = find_entry(arg, eq ? (size_t)(eq - arg) : strlen(arg));
  if (k < 0) return LEDGE_OK;
  *matched = 1;
  if (eq) {
    (*i)++;
    return set_entry(hp, k, eq + 1, err, err_size);
  }
  if (*i + 1 >= argc) return hp_fail(err, err_size, "%s needs a value", arg);
  ledge_status st = set_entry(hp, k, argv[*i + 1], err, err_size);
  *i += 2;
  return st;
}

ledge_status train_hparams_load_json(train_hparams *hp, const char *path, char *err,
                                     size_t err_size) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    if (err) snprintf(err, err_size, "cannot open %s: %s", path, strerror(errno));
    return LEDGE_ERR_IO;
  }
  char *text = malloc(1 << 20);
  size_t n = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
  int too_big = text && n == (1 << 20) - 1 && fgetc(f) != EOF;
  fclose(f);
  if (!text) return hp_fail(err, err_size, "out of memory");
  text[n] = '\0';
  if (too_big) {
    free(text);
    return hp_fail(err, err_size, "%s is larger than 1 MiB", path);
  }
  cJSON *root = cJSON_Parse(text);
  free(text);
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    if (err) snprintf(err, err_size, "%s is not a JSON object", path);
    return LEDGE_ERR_FORMAT;
  }
  /* apply to a copy: a bad file leaves hp as it was */
  train_hparams next = *hp;
  ledge_status st = LEDGE_OK;
  const cJSON *item;
  cJSON_ArrayForEach(item, root) {
    const char *key = item->string;
    if (!strncmp(key, "sagemaker_", 10) || key[0] == '_') continue;
    int k = find_entry(key, strlen(key));
    if (k < 0) {
      st = hp_fail(err, err_size, "%s: unknown hyperparameter '%.80s'", path, key);
      break;
    }
    char buf[64];
    const char *value;
    if (cJSON_IsString(item)) {
      value = item->valuestring;
    } else if (cJSON_IsNumber(item)) {
      snprintf(buf, sizeof buf, "%.17g", item->valuedouble);
      value = buf;
    } else if (cJSON_IsBool(item)) {
      value = cJSON_IsTrue(item) ? "True" : "False";
    } else {
      st = hp_fail(err, err_size, "%s: '%s' must be a string", path, key);
      break;
    }
    char why[256];
    st = set_entry(&next, k, value, why, sizeof why);
    if (st) {
      hp_fail(err, err_size, "%s: %s", path, why);
      break;
    }
  }
  cJSON_Delete(root);
  if (st == LEDGE_OK) *hp = next;
  return st;
}

int train_hparams_is_set(const train_hparams *hp, const char *name) {
  int k = find_entry(name, strlen(name));
  return k >= 0 && (hp->set_mask >> k & 1);
}

ledge_status train_hparams_validate(const train_hparams *hp, int require_counts, char *err,
                                    size_t err_size) {
  if (require_counts && !train_hparams_is_set(hp, "num_classes"))
    return hp_fail(err, err_size, "num_classes is required (--num-classes N)");
  if (require_counts && !train_hparams_is_set(hp, "num_training_samples"))
    return hp_fail(err, err_size, "num_training_samples is required (--num-training-samples N)");
  static const int depths[] = {18, 34, 50, 101, 152, 200, 20, 32, 44, 56, 110};
  int depth_ok = 0;
  for (size_t j = 0; j < sizeof depths / sizeof depths[0]; j++)
    depth_ok |= hp->num_layers == depths[j];
  if (!depth_ok)
    return hp_fail(err, err_size,
                   "num_layers: %d is not one of 18, 34, 50, 101, 152, 200 or the CIFAR-style 20, "
                   "32, 44, 56, 110",
                   hp->num_layers);
  for (int j = 0; j < hp->lr_scheduler_step_count; j++)
    if (hp->lr_scheduler_step[j] >= hp->epochs)
      return hp_fail(
          err, err_size,
          "lr_scheduler_step: epoch %d is not below epochs (%d), so it would never apply",
          hp->lr_scheduler_step[j], hp->epochs);
  if (hp->warmup_epochs >= hp->epochs && hp->warmup_epochs > 0)
    return hp_fail(err, err_size, "warmup_epochs (%d) must be below epochs (%d)", hp->warmup_epochs,
                   hp->epochs);
  if (hp->multi_label)
    return hp_fail(err, err_size, "multi_label: only single-label classification (0) is supported");
  if (strcmp(hp->precision_dtype, "float32"))
    return hp_fail(err, err_size, "precision_dtype: only float32 is supported");
  if (hp->num_classes > 0 && hp->top_k > hp->num_classes && train_hparams_is_set(hp, "top_k"))
    return hp_fail(err, err_size, "top_k (%d) is larger than num_classes (%d)", hp->top_k,
                   hp->num_classes);
  if (hp->resize > 0 && (hp->resize < hp->image_shape[1] || hp->resize < hp->image_shape[2]))
    return hp_fail(err, err_size,
                   "resize (%d) is smaller than the image_shape %dx%d it is cropped to", hp->resize,
                   hp->image_shape[1], hp->image_shape[2]);
  return LEDGE_OK;
}

double train_hparams_learning_rate(const train_hparams *hp, double epoch) {
  double lr = hp->learning_rate;
  if (hp->warmup_epochs > 0 && epoch < hp->warmup_epochs)
    return lr * (epoch + 1.0) / (hp->warmup_epochs + 1.0); /* from lr/(w+1) up to lr */
  if (!strcmp(hp->lr_scheduler, "cosine")) {
    double span = hp->epochs - hp->warmup_epochs;
    double t = span > 0 ? (epoch - hp->warmup_epochs) / span : 1;
    if (t > 1) t = 1;
    return lr * 0.5 * (1 + cos(M_PI * t));
  }
  for (int j = 0; j < hp->lr_scheduler_step_count; j++)
    if (epoch >= hp->lr_scheduler_step[j]) lr *= hp->lr_scheduler_factor;
  return lr;
}

/* The value of entry k as hyperparameters.json would write it. */
static void format_value(const train_hparams *hp, int k, char *buf, size_t size) {
  const hp_entry *e = &hp_table[k];
  const char *field = (const char *)hp + e->offset;
  switch (e->type) {
    case HP_INT: snprintf(buf, size, "%d", *(const int *)field); break;
    case HP_LONG: snprintf(buf, size, "%ld", *(const long *)field); break;
    case HP_U64: snprintf(buf, size, "%llu", (unsigned long long)*(const uint64_t *)field); break;
    case HP_DOUBLE: snprintf(buf, size, "%.17g", *(const double *)field); break;
    case HP_BOOL: snprintf(buf, size, "%s", *(const int *)field ? "True" : "False"); break;
    case HP_CHOICE: snprintf(buf, size, "%s", field); break;
    case HP_SHAPE: {
      const int *d = (const int *)field;
      snprintf(buf, size, "%d,%d,%d", d[0], d[1], d[2]);
      break;
    }
    case HP_STEPS: {
      size_t used = 0;
      buf[0] = '\0';
      for (int j = 0; j < hp->lr_scheduler_step_count && used < size; j++)
        used += (size_t)snprintf(buf + used, size - used, "%s%d", j ? "," : "",
                                 hp->lr_scheduler_step[j]);
      break;
    }
    case HP_AUG:
      snprintf(buf, size, "%s", train_augmentation_name(*(const train_augmentation *)field));
      break;
  }
}

void train_hparams_write_json(const train_hparams *hp, FILE *f) {
  fputc('{', f);
  int first = 1;
  for (int k = 0; k < HP_COUNT; k++) {
    char value[512];
    format_value(hp, k, value, sizeof value);
    /* values that mean "not given" are left out, so that reading the file
     * back does not turn them into given ones */
    if (!(hp->set_mask >> k & 1) && !value[0]) continue;
    if (hp_table[k].type == HP_STEPS && hp->lr_scheduler_step_count == 0) continue;
    if ((hp_table[k].type == HP_INT || hp_table[k].type == HP_LONG) && !(hp->set_mask >> k & 1) &&
        (!strcmp(hp_table[k].name, "num_classes") ||
         !strcmp(hp_table[k].name, "num_training_samples") || !strcmp(hp_table[k].name, "resize")))
      continue;
    fprintf(f, "%s\"%s\": \"%s\"", first ? "" : ", ", hp_table[k].name, value);
    first = 0;
  }
  fputs("}\n", f);
}

void train_hparams_print_help(FILE *f) {
  train_hparams d;
  train_hparams_defaults(&d);
  fprintf(f,
          "Hyperparameters (flags with dashes or underscores, or keys of hyperparameters.json):\n");
  for (int k = 0; k < HP_COUNT; k++) {
    char flag[64], value[64];
    snprintf(flag, sizeof flag, "--%s", hp_table[k].name);
    for (char *p = flag + 2; *p; p++)
      if (*p == '_') *p = '-';
    format_value(&d, k, value, sizeof value);
    const char *name = hp_table[k].name;
    if (!strcmp(name, "num_classes") || !strcmp(name, "num_training_samples") ||
        !strcmp(name, "resize") || !strcmp(name, "lr_scheduler_step") || !value[0])
      snprintf(value, sizeof value, "-");
    fprintf(f, "  %-30s %-12s %s\n", flag, value, hp_table[k].help);
  }
}

/*
 * ledge-conformance: runs ONNX's backend test suite (Debian's
 * libonnx-testdata) against libledge.
 *
 * Every case runs in a child process with a time limit, so that a crash,
 * a sanitizer report or a hang in one case is counted as such and cannot
 * hide the others. Results are printed per directory and overall; with
 * --expected FILE the run fails if any case listed there does not pass, and
 * always fails if any case crashed or hung.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "formats/onnx.h"
#include "ledge/ledge.h"

enum { RESULT_PASS = 0, RESULT_FAIL = 10, RESULT_UNSUPPORTED = 11, RESULT_ERROR = 12 };
enum { OUTCOME_PASS, OUTCOME_FAIL, OUTCOME_UNSUPPORTED, OUTCOME_ERROR, OUTCOME_CRASH, OUTCOME_HANG, OUTCOME_COUNT };
static const char *const outcome_names[] = {"pass", "fail", "unsupported", "error", "crash", "hang"};

static char message[1024];

static int report(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int report(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  return code;
}

static int status_result(ledge_status st) {
  return st == LEDGE_ERR_UNSUPPORTED ? RESULT_UNSUPPORTED : RESULT_ERROR;
}

static bool read_file(const char *path, void **data, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return false;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  *data = malloc(n > 0 ? (size_t)n : 1);
  *size = n > 0 ? (size_t)n : 0;
  bool ok = *data && fread(*data, 1, *size, f) == *size;
  fclose(f);
  return ok;
}

/* Loads a TensorProto .pb into a new tensor (and its name, malloc'd). */
static int load_pb(const char *path, ledge_tensor **out, char **name) {
  void *data;
  size_t size;
  if (!read_file(path, &data, &size)) return report(RESULT_ERROR, "cannot read %s", path);
  lg_tensor t;
  void *owned;
  ledge_status st = lg_onnx_parse_tensor_copy(data, size, &t, &owned, name);
  free(data);
  if (st != LEDGE_OK) return report(status_result(st), "%s: %s", path, ledge_last_error());
  st = ledge_tensor_create(t.dtype, t.rank, t.dims, out);
  if (st == LEDGE_OK) memcpy(ledge_tensor_data(*out), t.data, ledge_tensor_bytes(*out));
  lg_aligned_free(owned);
  if (st != LEDGE_OK) return report(status_result(st), "%s: %s", path, ledge_last_error());
  return RESULT_PASS;
}

static bool close_enough(double got, double want, double rtol, double atol) {
  if (isnan(want)) return isnan(got);
  if (isinf(want)) return got == want;
  return fabs(got - want) <= atol + rtol * fabs(want);
}

static double element(const ledge_tensor *t, int64_t i) {
  const void *p = ledge_tensor_data(t);
  switch (ledge_tensor_dtype(t)) {
    case LEDGE_FLOAT32: return ((const float *)p)[i];
    case LEDGE_FLOAT64: return ((const double *)p)[i];
    case LEDGE_FLOAT16: return lg_half_to_float(((const uint16_t *)p)[i]);
    case LEDGE_INT8: return ((const int8_t *)p)[i];
    case LEDGE_UINT8: case LEDGE_BOOL: return ((const uint8_t *)p)[i];
    case LEDGE_INT16: return ((const int16_t *)p)[i];
    case LEDGE_UINT16: return ((const uint16_t *)p)[i];
    case LEDGE_INT32: return ((const int32_t *)p)[i];
    case LEDGE_UINT32: return ((const uint32_t *)p)[i];
    case LEDGE_INT64: return (double)((const int64_t *)p)[i];
    case LEDGE_UINT64: return (double)((const uint64_t *)p)[i];
    default: return 0;
  }
}

static int compare(const char *what, const ledge_tensor *got, const ledge_tensor *want) {
  char a[128], b[128];
  if (ledge_tensor_dtype(got) != ledge_tensor_dtype(want))
    return report(RESULT_FAIL, "%s: dtype %s, expected %s", what, ledge_dtype_name(ledge_tensor_dtype(got)),
                  ledge_dtype_name(ledge_tensor_dtype(want)));
  if (!lg_shape_equal(ledge_tensor_rank(got), ledge_tensor_dims(got), ledge_tensor_rank(want), ledge_tensor_dims(want)))
    return report(RESULT_FAIL, "%s: shape %s, expected %s", what,
                  lg_shape_str(ledge_tensor_rank(got), ledge_tensor_dims(got), a, sizeof a),
                  lg_shape_str(ledge_tensor_rank(want), ledge_tensor_dims(want), b, sizeof b));
  ledge_dtype dt = ledge_tensor_dtype(got);
  bool is_float = dt == LEDGE_FLOAT32 || dt == LEDGE_FLOAT64 || dt == LEDGE_FLOAT16;
  /* The ONNX backend tests' own defaults: rtol 1e-3, atol 1e-7. */
  double rtol = is_float ? 1e-3 : 0, atol = is_float ? 1e-7 : 0;
  if (dt == LEDGE_FLOAT16) rtol = 1e-2, atol = 1e-3;
  int64_t n = ledge_tensor_count(got);
  for (int64_t i = 0; i < n; i++) {
    double x = element(got, i), y = element(want, i);
    if (!close_enough(x, y, rtol, atol))
      return report(RESULT_FAIL, "%s: element %lld is %.9g, expected %.9g", what, (long long)i, x, y);
  }
  return RESULT_PASS;
}

static int numbered_files(const char *dir, const char *prefix, char paths[][1024], int max) {
  int n = 0;
  for (; n < max; n++) {
    snprintf(paths[n], 1024, "%s/%s_%d.pb", dir, prefix, n);
    if (access(paths[n], R_OK) != 0) break;
  }
  return n;
}

/* Runs one case; returns a RESULT_ code with `message` set. */
static int run_case(const char *case_dir) {
  char path[1024];
  snprintf(path, sizeof path, "%s/model.onnx", case_dir);
  ledge_model *model;
  ledge_status st = ledge_model_load(path, &model);
  if (st != LEDGE_OK) return report(status_result(st), "%s", ledge_last_error());
  ledge_session_options opt;
  ledge_session_options_init(&opt);
  opt.num_threads = 1;
  ledge_session *session;
  st = ledge_session_create(model, &opt, &session);
  if (st != LEDGE_OK) return report(status_result(st), "%s", ledge_last_error());
  int result = RESULT_PASS, datasets = 0;
  for (int set = 0; result == RESULT_PASS; set++) {
    char set_dir[1024];
    snprintf(set_dir, sizeof set_dir, "%s/test_data_set_%d", case_dir, set);
    struct stat sb;
    if (stat(set_dir, &sb) != 0) break;
    datasets++;
    static char in_paths[64][1024], out_paths[64][1024];
    int n_in = numbered_files(set_dir, "input", in_paths, 64);
    int n_out = numbered_files(set_dir, "output", out_paths, 64);
    int model_in = ledge_session_input_count(session), model_out = ledge_session_output_count(session);
    if (n_in != model_in) {
      result = report(RESULT_UNSUPPORTED, "the case gives %d inputs; the model takes %d", n_in, model_in);
      break;
    }
    ledge_tensor *inputs[64] = {0}, *expected[64] = {0};
    for (int i = 0; i < n_in && result == RESULT_PASS; i++) {
      ledge_tensor *t;
      char *name = NULL;
      result = load_pb(in_paths[i], &t, &name);
      if (result != RESULT_PASS) break;
      int slot = name && *name ? ledge_session_input_index(session, name) : -1;
      if (slot < 0 || inputs[slot]) slot = i;
      inputs[slot] = t;
      free(name);
    }
    for (int i = 0; i < n_out && result == RESULT_PASS; i++) result = load_pb(out_paths[i], &expected[i], NULL);
    if (result == RESULT_PASS && n_out != model_out)
      result = report(RESULT_FAIL, "the model has %d outputs; the case expects %d", model_out, n_out);
    if (result == RESULT_PASS) {
      st = ledge_session_run(session, inputs, n_in, NULL, 0);
      if (st != LEDGE_OK) result = report(status_result(st), "%s", ledge_last_error());
    }
    for (int i = 0; i < n_out && result == RESULT_PASS; i++) {
      const ledge_tensor *got;
      ledge_tensor_info info;
      ledge_session_output(session, i, &got);
      ledge_session_output_info(session, i, &info);
      char what[256];
      snprintf(what, sizeof what, "output '%s'", info.name);
      result = compare(what, got, expected[i]);
    }
    for (int i = 0; i < 64; i++) {
      ledge_tensor_destroy(inputs[i]);
      ledge_tensor_destroy(expected[i]);
    }
  }
  if (result == RESULT_PASS && datasets == 0) result = report(RESULT_UNSUPPORTED, "no test_data_set found");
  ledge_session_destroy(session);
  ledge_model_destroy(model);
  return result;
}

/* Forks, runs the case in the child with a time limit, and classifies. */
static int run_isolated(const char *case_dir, int timeout_s, char *msg, size_t msg_size) {
  int fds[2];
  if (pipe(fds) != 0) {
    snprintf(msg, msg_size, "pipe: %s", strerror(errno));
    return OUTCOME_ERROR;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    alarm((unsigned)timeout_s);
    int r = run_case(case_dir);
    ssize_t w = write(fds[1], message, strlen(message));
    (void)w;
    close(fds[1]);
    _exit(r);
  }
  close(fds[1]);
  size_t got = 0;
  ssize_t k;
  while (got + 1 < msg_size && (k = read(fds[0], msg + got, msg_size - 1 - got)) > 0) got += (size_t)k;
  msg[got] = 0;
  close(fds[0]);
  int status;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) {
    if (WTERMSIG(status) == SIGALRM) {
      snprintf(msg, msg_size, "did not finish within %d s", timeout_s);
      return OUTCOME_HANG;
    }
    snprintf(msg, msg_size, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    return OUTCOME_CRASH;
  }
  switch (WEXITSTATUS(status)) {
    case RESULT_PASS: return OUTCOME_PASS;
    case RESULT_FAIL: return OUTCOME_FAIL;
    case RESULT_UNSUPPORTED: return OUTCOME_UNSUPPORTED;
    case RESULT_ERROR: return OUTCOME_ERROR;
    default:
      snprintf(msg + strlen(msg), msg_size - strlen(msg), " (exit status %d: sanitizer report or abort)", WEXITSTATUS(status));
      return OUTCOME_CRASH;
  }
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void usage(FILE *f) {
  fprintf(f,
          "usage: ledge-conformance [options] DATA_DIR\n"
          "Runs ONNX's backend conformance cases found under DATA_DIR\n"
          "(e.g. /usr/share/libonnx-testdata/data) and prints per-directory counts.\n\n"
          "  --filter TEXT        only cases whose name contains TEXT\n"
          "  --verbose            one line per case, with the reason when it does not pass\n"
          "  --expected FILE      fail if a case listed in FILE (dir/case per line) does not pass\n"
          "  --write-passing FILE write the names of the passing cases to FILE\n"
          "  --timeout SECONDS    time limit per case (default 60)\n"
          "  --json               print the summary as JSON\n");
}

int main(int argc, char **argv) {
  const char *data_dir = NULL, *filter = NULL, *expected_path = NULL, *write_path = NULL;
  bool verbose = false, json = false;
  int timeout_s = 60;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v")) verbose = true;
    else if (!strcmp(argv[i], "--json")) json = true;
    else if (!strcmp(argv[i], "--filter") && i + 1 < argc) filter = argv[++i];
    else if (!strcmp(argv[i], "--expected") && i + 1 < argc) expected_path = argv[++i];
    else if (!strcmp(argv[i], "--write-passing") && i + 1 < argc) write_path = argv[++i];
    else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) timeout_s = atoi(argv[++i]);
    else if (argv[i][0] != '-' && !data_dir) data_dir = argv[i];
    else {
      fprintf(stderr, "ledge-conformance: unknown argument '%s' (see --help)\n", argv[i]);
      return 2;
    }
  }
  if (!data_dir) {
    usage(stderr);
    return 2;
  }
  static const char *const groups[] = {"node", "pytorch-converted", "pytorch-operator", "simple"};
  enum { N_GROUPS = 4, MAX_CASES = 4096 };
  int counts[N_GROUPS + 1][OUTCOME_COUNT] = {{0}};
  char **passing = calloc(MAX_CASES, sizeof(char *));
  int n_passing = 0, total = 0;
  FILE *pass_file = write_path ? fopen(write_path, "w") : NULL;
  if (write_path && !pass_file) {
    fprintf(stderr, "ledge-conformance: cannot write %s\n", write_path);
    return 2;
  }
  for (int gi = 0; gi < N_GROUPS; gi++) {
    char group_dir[1024];
    snprintf(group_dir, sizeof group_dir, "%s/%s", data_dir, groups[gi]);
    DIR *d = opendir(group_dir);
    if (!d) continue;
    char **names = calloc(MAX_CASES, sizeof(char *));
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < MAX_CASES) {
      if (e->d_name[0] == '.') continue;
      if (filter && !strstr(e->d_name, filter)) continue;
      names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
      char case_dir[2048], model[2100], msg[1024];
      snprintf(case_dir, sizeof case_dir, "%s/%s", group_dir, names[i]);
      snprintf(model, sizeof model, "%s/model.onnx", case_dir);
      if (access(model, R_OK) != 0) continue;
      int outcome = run_isolated(case_dir, timeout_s, msg, sizeof msg);
      counts[gi][outcome]++;
      counts[N_GROUPS][outcome]++;
      total++;
      if (outcome == OUTCOME_PASS) {
        char full[512];
        snprintf(full, sizeof full, "%s/%s", groups[gi], names[i]);
        if (n_passing < MAX_CASES) passing[n_passing++] = strdup(full);
        if (pass_file) fprintf(pass_file, "%s\n", full);
      }
      if (verbose || outcome == OUTCOME_CRASH || outcome == OUTCOME_HANG)
        printf("%-12s %s/%s%s%s\n", outcome_names[outcome], groups[gi], names[i], outcome == OUTCOME_PASS ? "" : ": ",
               outcome == OUTCOME_PASS ? "" : msg);
      free(names[i]);
    }
    free(names);
  }
  if (pass_file) fclose(pass_file);

  if (json) {
    printf("{\"total\": %d, \"groups\": {", total);
    for (int gi = 0; gi <= N_GROUPS; gi++) {
      printf("%s\"%s\": {", gi ? ", " : "", gi < N_GROUPS ? groups[gi] : "all");
      for (int o = 0; o < OUTCOME_COUNT; o++) printf("%s\"%s\": %d", o ? ", " : "", outcome_names[o], counts[gi][o]);
      printf("}");
    }
    printf("}}\n");
  } else {
    printf("\n%-20s %6s %6s %6s %11s %6s %6s %6s\n", "directory", "total", "pass", "fail", "unsupported", "error", "crash", "hang");
    for (int gi = 0; gi <= N_GROUPS; gi++) {
      int sum = 0;
      for (int o = 0; o < OUTCOME_COUNT; o++) sum += counts[gi][o];
      printf("%-20s %6d %6d %6d %11d %6d %6d %6d\n", gi < N_GROUPS ? groups[gi] : "all", sum, counts[gi][0],
             counts[gi][1], counts[gi][2], counts[gi][3], counts[gi][4], counts[gi][5]);
    }
  }

  int exit_code = 0;
  if (counts[N_GROUPS][OUTCOME_CRASH] || counts[N_GROUPS][OUTCOME_HANG]) {
    fprintf(stderr, "ledge-conformance: %d case(s) crashed and %d hung\n", counts[N_GROUPS][OUTCOME_CRASH],
            counts[N_GROUPS][OUTCOME_HANG]);
    exit_code = 1;
  }
  if (expected_path) {
    FILE *f = fopen(expected_path, "r");
    if (!f) {
      fprintf(stderr, "ledge-conformance: cannot read %s\n", expected_path);
      return 2;
    }
    char line[512];
    int regressions = 0, listed = 0;
    qsort(passing, (size_t)n_passing, sizeof *passing, cmp_str);
    while (fgets(line, sizeof line, f)) {
      line[strcspn(line, "\r\n")] = 0;
      if (!line[0] || line[0] == '#') continue;
      if (filter && !strstr(line, filter)) continue;
      listed++;
      char *key = line;
      if (!bsearch(&key, passing, (size_t)n_passing, sizeof *passing, cmp_str)) {
        fprintf(stderr, "regression: %s no longer passes\n", line);
        regressions++;
      }
    }
    fclose(f);
    printf("expected-pass list: %d cases, %d regressions\n", listed, regressions);
    if (regressions) exit_code = 1;
  }
  for (int i = 0; i < n_passing; i++) free(passing[i]);
  free(passing);
  return exit_code;
}

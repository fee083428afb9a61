/* cli.c: helpers shared by the subcommands. */
#include "cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

int cli_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("ledge: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return 1;
}

int cli_fail_status(const char *what) { return cli_fail("%s: %s", what, ledge_last_error()); }

double cli_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

long cli_peak_rss_kb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

long cli_current_rss_kb(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    fclose(f);
  }
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

bool cli_option(int argc, char **argv, int *i, const char *name, const char **value) {
  size_t n = strlen(name);
  if (!strncmp(argv[*i], name, n) && argv[*i][n] == '=') { /* --name=value */
    *value = argv[*i] + n + 1;
    return true;
  }
  if (strcmp(argv[*i], name) != 0) return false;
  if (*i + 1 >= argc) {
    cli_fail("option %s needs a value", name);
    exit(2);
  }
  *value = argv[++*i];
  return true;
}

bool cli_parse_int(const char *name, const char *text, long min, long max, long *out) {
  char *end;
  long v = strtol(text, &end, 10);
  if (!*text || *end || v < min || v > max) {
    cli_fail("%s must be an integer from %ld to %ld, not '%s'", name, min, max, text);
    return false;
  }
  *out = v;
  return true;
}

int cli_load_model(const char *path, ledge_model **model, double *seconds) {
  double t0 = cli_now();
  if (ledge_model_load(path, model) != LEDGE_OK) return cli_fail("%s", ledge_last_error());
  if (seconds) *seconds = cli_now() - t0;
  return 0;
}

int cli_create_session(ledge_model *model, int threads, bool profile, ledge_session **session) {
  ledge_session_options opt;
  ledge_session_options_init(&opt);
  opt.num_threads = threads;
  opt.profile = profile;
  if (ledge_session_create(model, &opt, session) != LEDGE_OK) return cli_fail_status("cannot create a session");
  for (int i = 0; i < ledge_session_input_count(*session); i++) {
    ledge_tensor_info info;
    ledge_session_input_info(*session, i, &info);
    bool unknown = info.rank < 0;
    for (int d = 0; d < info.rank; d++) unknown |= info.dims[d] < 0;
    if (!unknown) continue;
    if (info.rank < 0) return cli_fail("input '%s' has no known rank; pass it with --input", info.name);
    for (int d = 0; d < info.rank; d++)
      if (info.dims[d] < 0) info.dims[d] = 1;
    if (ledge_session_set_input_shape(*session, i, info.rank, info.dims) != LEDGE_OK)
      return cli_fail_status("cannot plan the session");
  }
  return 0;
}

int cli_random_input(ledge_session *session, int index, unsigned seed, ledge_tensor **out) {
  ledge_tensor_info info;
  ledge_session_input_info(session, index, &info);
  if (info.rank < 0) return cli_fail("input '%s' has an unknown shape", info.name);
  int64_t dims[LEDGE_MAX_RANK];
  for (int d = 0; d < info.rank; d++) dims[d] = info.dims[d] < 0 ? 1 : info.dims[d];
  if (ledge_tensor_create(info.dtype, info.rank, dims, out) != LEDGE_OK) return cli_fail_status("input");
  uint64_t state = 0x9E3779B97F4A7C15ull ^ ((uint64_t)seed << 17) ^ (uint64_t)index;
  int64_t n = ledge_tensor_count(*out);
  void *p = ledge_tensor_data(*out);
  for (int64_t i = 0; i < n; i++) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17; /* xorshift64 */
    double u = (double)(state >> 11) / 9007199254740992.0;     /* [0, 1) */
    switch (info.dtype) {
      case LEDGE_FLOAT32: ((float *)p)[i] = (float)(u * 2 - 1); break;
      case LEDGE_FLOAT64: ((double *)p)[i] = u * 2 - 1; break;
      case LEDGE_INT64: ((int64_t *)p)[i] = (int64_t)(u * 10); break;
      case LEDGE_INT32: ((int32_t *)p)[i] = (int32_t)(u * 10); break;
      case LEDGE_UINT8: ((uint8_t *)p)[i] = (uint8_t)(u * 256); break;
      case LEDGE_BOOL: ((uint8_t *)p)[i] = u < 0.5; break;
      default: break; /* zeros */
    }
  }
  return 0;
}

void cli_progress(const char *label, long done, long total) {
  static int tty = -1;
  if (tty < 0) tty = isatty(2);
  if (!tty || total <= 0) return;
  int width = 30, filled = (int)(width * done / total);
  fprintf(stderr, "\r%s [", label);
  for (int i = 0; i < width; i++) fputc(i < filled ? '#' : ' ', stderr);
  fprintf(stderr, "] %ld/%ld", done, total);
  if (done >= total) fputs("\r\033[K", stderr);
  fflush(stderr);
}

void cli_json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c < 0x20) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

const char *cli_dims(const ledge_tensor_info *info, char *buf, size_t size) {
  size_t k = 0;
  buf[0] = 0;
  if (info->rank < 0) {
    snprintf(buf, size, "?");
    return buf;
  }
  if (info->rank == 0) snprintf(buf, size, "scalar");
  for (int d = 0; d < info->rank && k < size; d++) {
    if (info->dims[d] < 0) k += (size_t)snprintf(buf + k, size - k, d ? "x?" : "?");
    else k += (size_t)snprintf(buf + k, size - k, d ? "x%lld" : "%lld", (long long)info->dims[d]);
  }
  return buf;
}

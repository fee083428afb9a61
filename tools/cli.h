/* cli.h: what the ledge subcommands share: errors, timing, memory, inputs. */
#ifndef LEDGE_CLI_H
#define LEDGE_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "ledge/ledge.h"

/* Prints "ledge: message" to stderr and returns 1 (the exit code). */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same for a failed ledge call: appends ledge_last_error(). */
int cli_fail_status(const char *what);

double cli_now(void);         /* monotonic seconds */
long cli_peak_rss_kb(void);   /* peak resident set size of this process */
long cli_current_rss_kb(void);

/* True if argv[*i] is `name` and a value follows; then *value is it and *i advances. */
bool cli_option(int argc, char **argv, int *i, const char *name, const char **value);
/* Parses a non-negative integer option value; false (with a message) if not one. */
bool cli_parse_int(const char *name, const char *text, long min, long max, long *out);

/* Loads a model, reporting the time it took. */
int cli_load_model(const char *path, ledge_model **model, double *seconds);
/* Creates a session (profiling if asked); dims still unknown after planning
 * are set to 1. */
int cli_create_session(ledge_model *model, int threads, bool profile, ledge_session **session);
/* Makes a deterministic pseudo-random tensor for input `index`. */
int cli_random_input(ledge_session *session, int index, unsigned seed, ledge_tensor **out);

/* A progress bar on stderr, drawn only when stderr is a terminal. */
void cli_progress(const char *label, long done, long total);

/* Writes a JSON string literal (with quotes and escapes). */
void cli_json_string(FILE *f, const char *s);
/* Formats dims as 1x3x224x224. */
const char *cli_dims(const ledge_tensor_info *info, char *buf, size_t size);

/* Runs both models on the same deterministic inputs: the largest output
 * error relative to the output's scale, the output SQNR in dB, and whether
 * the first output's arg-max agrees. 0, or 1 after printing the error. */
int cli_compare_models(ledge_model *a, ledge_model *b, double *rel, double *sqnr, int *top1_same);
/* Median latency of each model over `runs` interleaved runs. */
int cli_compare_latency(ledge_model *a, ledge_model *b, int threads, int runs, double *ms_a, double *ms_b);

int cmd_info(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_frames(int argc, char **argv);
int cmd_ops(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_compress(int argc, char **argv);
int cmd_detect(int argc, char **argv);
int cmd_interpret(int argc, char **argv);
int cmd_pipeline(int argc, char **argv);
int cmd_fleet(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_optimize(int argc, char **argv);

#endif

/* cmd_ops.c: `ledge ops` lists the operators this build implements. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int by_name(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

int cmd_ops(int argc, char **argv) {
  bool json = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: ledge ops [--json]\nLists the operators this build of ledge implements (ONNX names),\n"
             "so you can tell whether a model's operators are covered (see `ledge info`).\n");
      return 0;
    } else if (!strcmp(argv[i], "--json")) json = true;
    else return cli_fail("ops: unexpected argument '%s' (see ledge ops --help)", argv[i]);
  }
  int n = ledge_operator_count();
  const char **names = malloc(sizeof *names * (size_t)(n ? n : 1));
  if (!names) return cli_fail("ops: out of memory");
  for (int i = 0; i < n; i++) names[i] = ledge_operator_name(i);
  qsort(names, (size_t)n, sizeof *names, by_name);
  if (json) {
    printf("{\"count\": %d, \"operators\": [", n);
    for (int i = 0; i < n; i++) {
      printf(i ? ", " : "");
      cli_json_string(stdout, names[i]);
    }
    printf("]}\n");
  } else {
    for (int i = 0; i < n; i++) printf("%-28s%s", names[i], (i + 1) % 3 == 0 || i + 1 == n ? "\n" : "");
    printf("%d operators\n", n);
  }
  free(names);
  return 0;
}

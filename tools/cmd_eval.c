/* cmd_eval.c: ledge eval (placeholder until its part lands). */
#include "cli.h"

int cmd_eval(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return cli_fail("'ledge eval' is not built yet");
}

/* cmd_train.c: ledge train (placeholder until its part lands). */
#include "cli.h"

int cmd_train(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return cli_fail("'ledge train' is not built yet");
}

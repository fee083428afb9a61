/* cmd_interpret.c: ledge interpret (placeholder until its part lands). */
#include "cli.h"

int cmd_interpret(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return cli_fail("'ledge interpret' is not built yet");
}

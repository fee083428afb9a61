/* cmd_quantize.c: ledge quantize (placeholder until its part lands). */
#include "cli.h"

int cmd_quantize(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return cli_fail("'ledge quantize' is not built yet");
}

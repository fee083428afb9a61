/* cmd_detect.c: ledge detect (placeholder until its part lands). */
#include "cli.h"

int cmd_detect(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return cli_fail("'ledge detect' is not built yet");
}

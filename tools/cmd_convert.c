/* cmd_convert.c: ledge convert (placeholder until its part lands). */
#include "cli.h"

int cmd_convert(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return cli_fail("'ledge convert' is not built yet");
}

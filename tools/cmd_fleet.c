/* cmd_fleet.c: ledge fleet (placeholder until its part lands). */
#include "cli.h"

int cmd_fleet(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return cli_fail("'ledge fleet' is not built yet");
}

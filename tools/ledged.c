/* ledged: the ledge edge agent (src/agent). */
#include "agent/agent.h"

int main(int argc, char **argv) { return ledged_main(argc, argv); }

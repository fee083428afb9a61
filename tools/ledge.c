#include <stdio.h>
#include "ledge/ledge.h"
int main(void) { printf("ledge %s\n", ledge_version()); return 0; }

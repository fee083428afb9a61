/* pad.c: reference kernels (to be filled). */
#include "ops/op.h"

const lg_op_def lg_ops_pad[] = {
    {0},
};

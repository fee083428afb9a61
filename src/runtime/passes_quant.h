/* passes_quant.h: the graph passes of quantized models (passes_quant.c). */
#ifndef LEDGE_PASSES_QUANT_H
#define LEDGE_PASSES_QUANT_H

#include "runtime/graph.h"

/* Folds QDQ patterns into integer nodes that run on the int8 kernels:
 *   Q(act?(Conv(DQ(x), DQ(w), DQ(b) | b)))  ->  QLinearConv(x, w, b) with act
 *   Q(act?(MatMul(DQ(a), DQ(b))))            ->  QLinearMatMul(a, b) with act
 * where w, b and every scale and zero point are constants and act is an
 * optional Relu or Clip (folded into the output clamp). Runs before shape
 * inference, so the new nodes plan (and pack their weights) like any other. */
lg_status lg_pass_fold_qdq(lg_graph *g);

#endif

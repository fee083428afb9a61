/*
 * registry.c: the one list of operator families. A family file exports a
 * table of lg_op_def ending with an entry whose name is NULL.
 */
#include <string.h>

#include "ops/op.h"

extern const lg_op_def lg_ops_conv[];
extern const lg_op_def lg_ops_pool[];
extern const lg_op_def lg_ops_norm[];
extern const lg_op_def lg_ops_matmul[];
extern const lg_op_def lg_ops_softmax[];
extern const lg_op_def lg_ops_unary[];
extern const lg_op_def lg_ops_binary[];
extern const lg_op_def lg_ops_reduce[];
extern const lg_op_def lg_ops_cast[];
extern const lg_op_def lg_ops_shape[];
extern const lg_op_def lg_ops_layout[];
extern const lg_op_def lg_ops_gather[];
extern const lg_op_def lg_ops_pad[];
extern const lg_op_def lg_ops_resize[];
extern const lg_op_def lg_ops_tf_extra[];
extern const lg_op_def lg_ops_loss[];
extern const lg_op_def lg_ops_quant[];
extern const lg_op_def lg_ops_rnn[];
extern const lg_op_def lg_ops_signal[];
extern const lg_op_def lg_ops_einsum[];
extern const lg_op_def lg_ops_gridsample[];

static const lg_op_def *const families[] = {
    lg_ops_conv,
    lg_ops_pool,
    lg_ops_norm,
    lg_ops_matmul,
    lg_ops_softmax,
    lg_ops_unary,
    lg_ops_binary,
    lg_ops_reduce,
    lg_ops_cast,
    lg_ops_shape,
    lg_ops_layout,
    lg_ops_gather,
    lg_ops_pad,
    lg_ops_resize,
    lg_ops_tf_extra,
    lg_ops_loss,
    lg_ops_quant,
    lg_ops_rnn,
    lg_ops_signal,
    lg_ops_einsum,
    lg_ops_gridsample,
};

static bool domain_matches(const char *want, const char *have) {
  /* ONNX spells the default domain "" or "ai.onnx". */
  if (!want || !*want || !strcmp(want, "ai.onnx")) want = "";
  if (!have || !strcmp(have, "ai.onnx")) have = "";
  return strcmp(want, have) == 0;
}

const lg_op_def *lg_op_find(const char *domain, const char *op_type) {
  for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
    for (const lg_op_def *d = families[f]; d->name; d++)
      if (!strcmp(d->name, op_type) && domain_matches(domain, d->domain)) return d;
  return NULL;
}

void lg_op_foreach(void (*fn)(void *ctx, const lg_op_def *def), void *ctx) {
  for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
    for (const lg_op_def *d = families[f]; d->name; d++) fn(ctx, d);
}

/* The public listing: a flat index over the family tables. */
int ledge_operator_count(void) {
  int n = 0;
  for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
    for (const lg_op_def *d = families[f]; d->name; d++) n++;
  return n;
}

const char *ledge_operator_name(int index) {
  for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
    for (const lg_op_def *d = families[f]; d->name; d++)
      if (index-- == 0) return d->name; /* custom domains are listed by op name */
  return NULL;
}

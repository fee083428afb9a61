/*
 * tfjs_internal.h: what the TF.js graph-model (tfjs.c) and layers-model
 * (tfjs_layers.c) importers share: the import state, NHWC/NCHW tensor
 * references, weight lookup and the helpers that emit ONNX nodes.
 */
#ifndef LEDGE_TFJS_INTERNAL_H
#define LEDGE_TFJS_INTERNAL_H

#include "formats/json.h"
#include "formats/name_map.h"
#include "formats/tfjs.h"

/* One TF tensor in the IR: its value in NHWC (TF's own) layout and/or in
 * NCHW; -1 where that layout has not been made. rank is -1 if unknown. */
typedef struct tf_ref {
  int nhwc, nchw;
  int rank;
} tf_ref;


typedef struct tfjs_im {
  lg_graph *g;
  const char *base_dir;
  lg_name_map weights; /* weight name -> constant value index */
  lg_name_map tensors; /* TF tensor name -> index in refs */
  tf_ref *refs;
  int n_refs, cap_refs;
  int uniq; /* counter for generated names */
} tfjs_im;

#define TF_FORMAT(...) lg_error(LEDGE_ERR_FORMAT, __VA_ARGS__)
#define TF_NOMEM() lg_error(LEDGE_ERR_NO_MEMORY, "out of memory")


/* ---- tensors and layouts ---- */
/* Registers a TF tensor name; returns its ref index (or -1, error set). */
int tf_ref_add(tfjs_im *im, const char *name, int nhwc, int nchw, int rank);
tf_ref *tf_ref_get(tfjs_im *im, const char *name);
/* The value of r in NHWC / NCHW layout, inserting a Transpose if needed
 * (only rank-4 tensors have an NCHW form). -1 with an error on failure. */
int tf_nhwc(tfjs_im *im, tf_ref *r);
int tf_nchw(tfjs_im *im, tf_ref *r);

/* ---- constants ---- */
/* The value's constant data, or NULL if it is not a constant. */
const lg_tensor *tf_const(const tfjs_im *im, int v);
/* New constant values (owned heap data). -1 with an error on failure. */
int tf_const_new(tfjs_im *im, const char *hint, ledge_dtype dt, int rank, const int64_t *dims,
                 const void *data);
int tf_const_i64(tfjs_im *im, int n, const int64_t *vals);
int tf_const_f32_scalar(tfjs_im *im, float v);
/* A copy of constant v with axes permuted (rank <= 4 padded on the left to
 * 4 first when to4 is set). */
int tf_const_permute(tfjs_im *im, int v, const int *perm, bool to4);
/* Reads a small integer constant into vals (at most max); count or -1. */
int tf_const_ints(const tfjs_im *im, int v, int64_t *vals, int max);

/* ---- nodes ---- */
/* Adds an ONNX node op_type with inputs ins[n_in] (-1: omitted) and n_out
 * new activation outputs (named from hint), written to outs. Returns the
 * node index or -1 (error set: an operator we lack is named). */
int tf_node(tfjs_im *im, const char *op_type, const char *hint, int n_in, const int *ins, int n_out,
            int *outs);
lg_status tf_attr_int(tfjs_im *im, int node, const char *name, int64_t v);
lg_status tf_attr_float(tfjs_im *im, int node, const char *name, float v);
lg_status tf_attr_str(tfjs_im *im, int node, const char *name, const char *v);
lg_status tf_attr_ints(tfjs_im *im, int node, const char *name, int n, const int64_t *v);
/* One-output helper: returns the output value or -1. */
int tf_op1(tfjs_im *im, const char *op_type, const char *hint, int n_in, const int *ins);

/* Activation kinds shared by both formats. */
typedef enum tf_act { TF_ACT_NONE, TF_ACT_RELU, TF_ACT_RELU6, TF_ACT_SIGMOID, TF_ACT_TANH, TF_ACT_ELU,
                      TF_ACT_LEAKY, TF_ACT_SOFTMAX, TF_ACT_SWISH, TF_ACT_HARD_SIGMOID, TF_ACT_CLIP } tf_act;
/* Applies an activation to value x (alpha: LeakyRelu slope, clip max for CLIP). */
int tf_apply_act(tfjs_im *im, int x, tf_act act, float alpha, const char *hint);

/* Conv in NCHW from an NHWC-layout TF filter. kind 0: HWIO filter (Conv2D);
 * 1: HWCM depthwise filter. pads: NULL for auto_pad (same: SAME_UPPER /
 * VALID), else {top, left, bottom, right}. bias may be -1. Returns the
 * NCHW output value. */
int tf_conv(tfjs_im *im, int x_nchw, int filter, int bias, int kind, const int64_t strides[2],
            const int64_t dil[2], bool same, const int64_t *pads, const char *hint);

/* Layers-model import (tfjs_layers.c). */
lg_status tf_import_layers(tfjs_im *im, const lg_json *topology);

#endif

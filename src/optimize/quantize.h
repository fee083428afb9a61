/*
 * optimize/quantize.h: post-training int8 quantization with calibration.
 *
 * lg_quantize_qdq turns a float model into a QDQ model, the standard ONNX
 * form of a quantized network that every ONNX runtime understands: each
 * convolution (and MatMul with constant weights) gets
 *   - its weights as DequantizeLinear(int8 constant), symmetric, per output
 *     channel (axis 0) or per tensor, in [-127, 127];
 *   - its bias as DequantizeLinear(int32 constant) at scale x_scale * w_scale;
 *   - its input and its output (after a following Relu/Clip) passed through
 *     QuantizeLinear -> DequantizeLinear, uint8, per tensor, asymmetric,
 *     with the range the calibration found.
 * ledge's runtime folds these patterns into its int8 kernels
 * (runtime/passes_quant.c); other runtimes do the same.
 *
 * Calibration runs the float model on the samples and records, for every
 * tensor to quantize, its range (minmax), a percentile of |x| (percentile),
 * or the threshold minimizing the KL divergence between the clipped and the
 * quantized histograms of |x| (entropy).
 */
#ifndef LEDGE_OPTIMIZE_QUANTIZE_H
#define LEDGE_OPTIMIZE_QUANTIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "ledge/ledge.h"
#include "runtime/graph.h"

typedef enum lg_calib_method {
  LG_CALIB_MINMAX = 0,
  LG_CALIB_PERCENTILE,
  LG_CALIB_ENTROPY,
} lg_calib_method;

/* Where calibration samples come from: sample i of count, written as the
 * model input's n float values (already preprocessed). */
typedef struct lg_calib_source {
  int64_t count;
  lg_status (*get)(void *ctx, int64_t i, float *dst, int64_t n);
  void *ctx;
} lg_calib_source;

typedef struct lg_quantize_options {
  lg_calib_method method;
  double percentile; /* of |x|, for LG_CALIB_PERCENTILE (default 99.999) */
  bool per_channel;  /* weights per output channel (default per tensor) */
  int n_keep_float;  /* nodes (by node name or output name) left in float */
  const char *const *keep_float;
  int threads; /* 0: one per core */
  /* Called as calibration advances (may be NULL). */
  void (*progress)(const char *label, long done, long total);
} lg_quantize_options;

void lg_quantize_options_init(lg_quantize_options *options);

/* One convolution or matrix product of the model. */
typedef struct lg_quant_layer {
  char name[128];
  char op_type[32];
  bool quantized;   /* false: kept in float (asked, or not quantizable) */
  int output_value; /* in the float graph: the quantized output (after Relu/Clip) */
  char output_name[128];
  float x_min, x_max; /* calibrated range of the output */
  /* Filled by lg_quant_report: */
  double sqnr_db; /* output int8 vs float, over the report's samples */
  double fp32_ms, int8_ms;
} lg_quant_layer;

typedef struct lg_quant_result {
  lg_graph graph;       /* the QDQ graph */
  lg_graph float_graph; /* the float graph it came from (batch norms folded) */
  int opset;
  int n_layers;
  lg_quant_layer *layers;
  int n_quantized, n_kept;
  int64_t samples;
  /* Filled by lg_quant_report: model output 0, int8 against float. */
  double output_sqnr_db;
  int64_t top1_agree, report_samples; /* argmax equal on this many of report_samples */
} lg_quant_result;

/* Quantizes model; on success the caller frees out with lg_quant_result_free. */
lg_status lg_quantize_qdq(const ledge_model *model, const lg_calib_source *source,
                          const lg_quantize_options *options, lg_quant_result *out);
void lg_quant_result_free(lg_quant_result *r);

/* Writes the QDQ graph as an ONNX model. */
lg_status lg_quant_write_onnx(const ledge_model *model, const lg_quant_result *r, const char *path);
/* Writes it as a .ledge model (int8 weights stored as int8: 4x smaller). */
lg_status lg_quant_write_ledge(const ledge_model *model, const lg_quant_result *r,
                               const char *path);

/* Per-layer accuracy and speed (quantize_report.c): output SQNR of every
 * quantized layer against float over `samples` samples of source, and the
 * time each layer takes in float and in int8 (profiled sessions, `runs`
 * timed runs after a warm-up, 1 thread). */
lg_status lg_quant_report(const ledge_model *model, lg_quant_result *r,
                          const lg_calib_source *source, int64_t samples, int runs,
                          double *fp32_total_ms, double *int8_total_ms);

/* A session over a graph that is not a loaded model (calibration, reports):
 * the model's metadata with graph g (borrowed; it must outlive the model,
 * which is freed with lg_graph_model_free, never ledge_model_destroy). */
ledge_model *lg_graph_model(const ledge_model *like, const lg_graph *g);
void lg_graph_model_free(ledge_model *m);

#endif

/*
 * export.h: the trained network as a model the runtime serves: batch
 * normalization folded into the convolutions before it (running
 * statistics), Dropout removed, the batch dimension left symbolic, written
 * as ONNX (formats/onnx_write.h).
 */
#ifndef LEDGE_TRAIN_EXPORT_H
#define LEDGE_TRAIN_EXPORT_H

#include "train/engine.h"

/* Builds the inference graph of net into g (shares the parameter data of
 * net; free g before net). */
lg_status tr_export_graph(const tr_net *net, lg_graph *g);
lg_status tr_export_onnx(const tr_net *net, const char *path);

#endif

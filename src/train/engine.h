/* engine.h: the training engine. */
#ifndef LEDGE_TRAIN_ENGINE_H
#define LEDGE_TRAIN_ENGINE_H
#include "runtime/graph.h"
#endif

/* engine.c: the training engine (placeholder until it lands). */
#include "train/engine.h"

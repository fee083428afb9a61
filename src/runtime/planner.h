/* planner.h: static memory planning. Every intermediate tensor gets an
 * offset in one arena; tensors whose lifetimes do not overlap share bytes. */
#ifndef LEDGE_PLANNER_H
#define LEDGE_PLANNER_H

#include "runtime/graph.h"

typedef struct lg_memory_plan {
  int64_t arena_bytes;        /* intermediates + workspace */
  int64_t intermediate_bytes; /* what the intermediates would take unshared */
  int64_t workspace_offset, workspace_bytes;
  int aliased_nodes; /* views and concats made free by aliasing */
} lg_memory_plan;

/* Places the outputs of the nodes in `order` (activations only) by setting
 * each value's arena_offset. With alias, views and concats share their
 * inputs' memory where they can, and skip[k] is set for each such node k
 * (an index into order), which then must not run. */
lg_status lg_plan_memory(lg_graph *g, const int *order, int n_order, bool alias, uint8_t *skip,
                         lg_memory_plan *plan);

#endif

/*
 * ledge.h: the public C API of libledge, the ledge inference runtime.
 *
 * The API follows one pattern throughout: opaque handles with create/destroy
 * pairs, a ledge_status on every call that can fail, and a per-thread message
 * that says what went wrong (ledge_last_error).
 *
 *   ledge_model   a loaded, immutable model (may be shared by many sessions)
 *   ledge_session a planned, runnable instance of a model: owns its arena
 *   ledge_tensor  a typed n-dimensional array, owned or wrapping caller memory
 *
 * Typical use:
 *
 *   ledge_model *m; ledge_session *s;
 *   ledge_model_load("resnet50.onnx", &m);
 *   ledge_session_create(m, NULL, &s);
 *   ledge_session_run(s, inputs, 1, NULL, 0);
 *   ledge_session_output(s, 0, &out);     // borrowed until the next run
 *
 * A session reused for many runs with inputs of the same shape never
 * allocates inside ledge_session_run.
 */
#ifndef LEDGE_H
#define LEDGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LEDGE_VERSION_MAJOR 0
#define LEDGE_VERSION_MINOR 1
#define LEDGE_VERSION_PATCH 0

/* The most dimensions a tensor may have. */
#define LEDGE_MAX_RANK 8

/* Status codes. Every fallible function returns one; LEDGE_OK is zero. */
typedef enum ledge_status {
  LEDGE_OK = 0,
  LEDGE_ERR_INVALID_ARGUMENT = 1, /* a caller passed something wrong */
  LEDGE_ERR_IO = 2,               /* a file could not be opened or read */
  LEDGE_ERR_FORMAT = 3,           /* a file is malformed, truncated or lies */
  LEDGE_ERR_UNSUPPORTED = 4,      /* valid input we do not implement (op, dtype) */
  LEDGE_ERR_SHAPE = 5,            /* shapes are inconsistent or unknowable */
  LEDGE_ERR_NO_MEMORY = 6,        /* an allocation failed */
  LEDGE_ERR_INTERNAL = 7          /* a bug in ledge: please report it */
} ledge_status;

/* Element types. The numbers match ONNX's TensorProto.DataType, so that
 * formats and tools agree without translation tables. */
typedef enum ledge_dtype {
  LEDGE_DTYPE_UNDEFINED = 0,
  LEDGE_FLOAT32 = 1,
  LEDGE_UINT8 = 2,
  LEDGE_INT8 = 3,
  LEDGE_UINT16 = 4,
  LEDGE_INT16 = 5,
  LEDGE_INT32 = 6,
  LEDGE_INT64 = 7,
  LEDGE_STRING = 8, /* representable in files only; no kernel computes on it */
  LEDGE_BOOL = 9,   /* one byte per element, 0 or 1 */
  LEDGE_FLOAT16 = 10,
  LEDGE_FLOAT64 = 11,
  LEDGE_UINT32 = 12,
  LEDGE_UINT64 = 13
} ledge_dtype;

typedef struct ledge_model ledge_model;
typedef struct ledge_session ledge_session;
typedef struct ledge_tensor ledge_tensor;

/* ---- Errors and library information ------------------------------------ */

/* The message of the last error raised on the calling thread, or "" if none.
 * The pointer stays valid until the next ledge call on this thread. */
const char *ledge_last_error(void);

/* A constant name for a status code, e.g. "LEDGE_ERR_FORMAT". */
const char *ledge_status_name(ledge_status status);

/* The library version as "major.minor.patch". */
const char *ledge_version(void);

/* The operators this build implements, as "domain.OpType" ("" domain: just
 * "OpType"). index runs from 0 to ledge_operator_count() - 1; NULL when out
 * of range. The strings are static. */
int ledge_operator_count(void);
const char *ledge_operator_name(int index);

/* ---- Element types ---------------------------------------------------- */

/* Bytes per element (0 for UNDEFINED and STRING). */
size_t ledge_dtype_size(ledge_dtype dtype);

/* A short lower-case name such as "float32", or "undefined". */
const char *ledge_dtype_name(ledge_dtype dtype);

/* ---- Tensors ---------------------------------------------------------- */

/* Creates a tensor that owns a zero-filled, 64-byte aligned buffer. */
ledge_status ledge_tensor_create(ledge_dtype dtype, int rank, const int64_t *dims,
                                 ledge_tensor **out);

/* Creates a tensor over caller memory (not copied, not freed). data_bytes must
 * be at least the tensor's size in bytes. The memory must outlive the tensor. */
ledge_status ledge_tensor_wrap(ledge_dtype dtype, int rank, const int64_t *dims, void *data,
                               size_t data_bytes, ledge_tensor **out);

/* Frees a tensor handle (and its buffer if it owns one). NULL is a no-op. */
void ledge_tensor_destroy(ledge_tensor *tensor);

/* The element type of a tensor. */
ledge_dtype ledge_tensor_dtype(const ledge_tensor *tensor);
/* The number of dimensions (0 for a scalar). */
int ledge_tensor_rank(const ledge_tensor *tensor);
/* The dimensions (rank entries), valid as long as the tensor is. */
const int64_t *ledge_tensor_dims(const ledge_tensor *tensor);
/* Number of elements (1 for a scalar). */
int64_t ledge_tensor_count(const ledge_tensor *tensor);
/* Size in bytes of the elements. */
size_t ledge_tensor_bytes(const ledge_tensor *tensor);
/* The element buffer. */
void *ledge_tensor_data(const ledge_tensor *tensor);

/* ---- Models ------------------------------------------------------------ */

/* What a model or a session says about one of its inputs or outputs.
 * A dimension of -1 is not known until the session sees real inputs. */
typedef struct ledge_tensor_info {
  const char *name; /* owned by the model, valid while it lives */
  ledge_dtype dtype;
  int rank;
  int64_t dims[LEDGE_MAX_RANK];
} ledge_tensor_info;

/* Loads a model file: ONNX, a TensorFlow.js model.json, or the native
 * .ledge format (told apart by their first bytes). The file is
 * memory-mapped and ONNX and .ledge weights are used in place: loading does
 * not copy them to the heap. */
ledge_status ledge_model_load(const char *path, ledge_model **out);

/* Loads a model from a buffer. The buffer is not copied and must outlive the
 * model and all its sessions. */
ledge_status ledge_model_load_memory(const void *data, size_t size, ledge_model **out);

/* Frees a model (NULL is a no-op). All its sessions must have been
 * destroyed first. */
void ledge_model_destroy(ledge_model *model);

/* The number of inputs the caller supplies (initializers excluded) and of outputs. */
int ledge_model_input_count(const ledge_model *model);
int ledge_model_output_count(const ledge_model *model);
/* Describes input or output `index` (0-based, in model order) as declared
 * by the model file; INVALID_ARGUMENT if index is out of range. */
ledge_status ledge_model_input_info(const ledge_model *model, int index, ledge_tensor_info *info);
ledge_status ledge_model_output_info(const ledge_model *model, int index,
                                     ledge_tensor_info *info);

/* Model statistics, as `ledge info` shows them (ledge_model_stats_get). */
typedef struct ledge_model_stats {
  int64_t node_count;      /* operators after the model-level passes */
  int64_t parameter_count; /* elements of all floating-point weight tensors */
  int64_t weight_bytes;    /* bytes of all constant tensors */
} ledge_model_stats;
ledge_status ledge_model_stats_get(const ledge_model *model, ledge_model_stats *stats);

/* The operator histogram: how many distinct operator types the model uses,
 * and for each (index 0..count-1, most frequent first) its name and number
 * of nodes. The name is owned by the model. */
int ledge_model_op_type_count(const ledge_model *model);
ledge_status ledge_model_op_type(const ledge_model *model, int index, const char **op_type,
                                 int64_t *count);

/* Where the model came from: "onnx", "tfjs" or "ledge", the producer (e.g. "pytorch") and the
 * default-domain opset. Strings are owned by the model. */
typedef struct ledge_model_source {
  const char *format;
  const char *producer;
  const char *graph_name;
  int opset;
} ledge_model_source;
ledge_status ledge_model_source_get(const ledge_model *model, ledge_model_source *source);

/* ---- Sessions ---------------------------------------------------------- */

typedef struct ledge_session_options {
  int num_threads;        /* threads for the operators; 0 = one per core */
  int optimization_level; /* 0 = run the graph as written; 1 = all passes (default) */
  int64_t memory_limit;   /* bytes the plan may use (arena + folded constants); 0 = no limit */
  int profile;            /* 1 = time every operator of every run (see ledge_session_profile_get) */
} ledge_session_options;

/* Fills options with the defaults. */
void ledge_session_options_init(ledge_session_options *options);

/* Creates a session. If every input shape is known, the session is planned
 * now (shape inference, constant folding, memory plan); otherwise planning
 * waits for the first run. options may be NULL for the defaults. */
ledge_status ledge_session_create(const ledge_model *model, const ledge_session_options *options,
                                  ledge_session **out);

/* Frees a session, its arena and its threads (NULL is a no-op). */
void ledge_session_destroy(ledge_session *session);

/* Index of the input or output with this name, or -1. */
int ledge_session_input_index(const ledge_session *session, const char *name);
int ledge_session_output_index(const ledge_session *session, const char *name);

/* Input and output descriptions; after planning, output shapes are concrete.
 * A session is used by one thread at a time; sessions of one model may run
 * concurrently on different threads. */
int ledge_session_input_count(const ledge_session *session);
int ledge_session_output_count(const ledge_session *session);
ledge_status ledge_session_input_info(const ledge_session *session, int index,
                                      ledge_tensor_info *info);
ledge_status ledge_session_output_info(const ledge_session *session, int index,
                                       ledge_tensor_info *info);

/* Fixes the shape of an input whose model shape has unknown dimensions, and
 * plans the session for it. Optional: run does the same from its inputs. */
ledge_status ledge_session_set_input_shape(ledge_session *session, int index, int rank,
                                           const int64_t *dims);

/* Runs the model. inputs holds one tensor per model input, in model order.
 * outputs may be NULL (n_outputs 0): results stay in the session and are read
 * with ledge_session_output. Otherwise outputs holds n_outputs entries in
 * model output order; a non-NULL entry is a caller tensor of the right dtype
 * and element count that receives the result. Inputs of a new shape replan
 * the session (which allocates); the same shapes never allocate. */
ledge_status ledge_session_run(ledge_session *session, ledge_tensor *const *inputs, int n_inputs,
                               ledge_tensor *const *outputs, int n_outputs);

/* The index-th output of the last run, owned by the session and valid until
 * the next run or the session's destruction. */
ledge_status ledge_session_output(const ledge_session *session, int index,
                                  const ledge_tensor **out);

/* What planning decided: the arena that holds every intermediate tensor, and
 * what the intermediates would take if each had its own buffer. */
typedef struct ledge_session_stats {
  int64_t arena_bytes;
  int64_t intermediate_bytes;
  int64_t workspace_bytes; /* scratch shared by operators, inside the arena */
  int64_t node_count;      /* operators left to run after folding */
  int64_t macs;            /* multiply-accumulates of one run (conv, gemm) */
} ledge_session_stats;
ledge_status ledge_session_stats_get(const ledge_session *session, ledge_session_stats *stats);

/* Per-operator timing, collected when the session was created with
 * options.profile = 1. Entries follow the execution order of the plan. */
typedef struct ledge_node_profile {
  const char *name;    /* the node's name (may be "") */
  const char *op_type; /* e.g. "Conv" */
  const char *kernel;  /* the implementation chosen, e.g. "im2col+sgemm/avx2", or op_type */
  int64_t runs;        /* runs timed since the last reset */
  double total_ms;     /* time spent in this node over those runs */
  int64_t macs;        /* multiply-accumulates per run (0 if not counted) */
} ledge_node_profile;
int ledge_session_profile_count(const ledge_session *session);
ledge_status ledge_session_profile_get(const ledge_session *session, int index,
                                       ledge_node_profile *out);
/* Clears the accumulated timings (e.g. after warm-up runs). */
void ledge_session_profile_reset(ledge_session *session);

#ifdef __cplusplus
}
#endif

#endif /* LEDGE_H */

/*
 * cpu.h: CPU feature detection and the kernel dispatch table.
 *
 * The instruction-set level is decided once per process: the best the CPU
 * (and the OS, which must save the wider registers) supports, lowered by the
 * environment variable LEDGE_ISA=reference|generic|avx2|avx512. Tests force
 * a level with lg_isa_force. A level above what the CPU supports is clamped.
 *
 *   reference  the plain C reference kernels of src/ops (the oracle)
 *   generic    the optimized algorithms (packed GEMM, depthwise, Winograd)
 *              with portable C microkernels: built and tested everywhere
 *   avx2       the same with AVX2/FMA intrinsics microkernels
 *   avx512     the same with AVX-512F microkernels
 *
 * Every ISA-specific function is compiled with a per-function target
 * attribute, so the library runs on any x86-64 (or other) CPU.
 */
#ifndef LEDGE_KERNELS_CPU_H
#define LEDGE_KERNELS_CPU_H

#include <stdbool.h>
#include <stdint.h>

typedef enum lg_isa {
  LG_ISA_REFERENCE = 0,
  LG_ISA_GENERIC = 1,
  LG_ISA_AVX2 = 2,
  LG_ISA_AVX512 = 3,
  LG_ISA_COUNT
} lg_isa;

typedef struct lg_cpu_features {
  bool avx2, fma, avx512f, avx512bw, avx512vl, avx512vnni, neon, dotprod;
} lg_cpu_features;

/* What the CPU and OS support (detected once). */
const lg_cpu_features *lg_cpu_features_get(void);
/* The best level the CPU supports. */
lg_isa lg_isa_supported(void);
/* The level in use: supported, lowered by LEDGE_ISA, or the forced one. */
lg_isa lg_isa_active(void);
/* Forces a level (clamped to what is supported); returns the level set.
 * LG_ISA_COUNT restores the default. Not for use while sessions plan. */
lg_isa lg_isa_force(lg_isa isa);
const char *lg_isa_name(lg_isa isa);
/* Parses "reference", "generic", "avx2", "avx512"; LG_ISA_COUNT if unknown. */
lg_isa lg_isa_parse(const char *name);

#endif

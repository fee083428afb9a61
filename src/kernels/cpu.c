/* cpu.c: CPU feature detection and the LEDGE_ISA level (see cpu.h). */
#include "kernels/cpu.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static lg_cpu_features features;
static lg_isa supported_isa = LG_ISA_GENERIC, env_isa = LG_ISA_GENERIC;
static pthread_once_t detect_once = PTHREAD_ONCE_INIT;
static volatile int forced_isa = -1; /* -1: none */

static void detect(void) {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
  /* __builtin_cpu_supports also checks that the OS saves the registers (XCR0). */
  __builtin_cpu_init();
  features.avx2 = __builtin_cpu_supports("avx2");
  features.fma = __builtin_cpu_supports("fma");
  features.avx512f = __builtin_cpu_supports("avx512f");
  features.avx512bw = __builtin_cpu_supports("avx512bw");
  features.avx512vl = __builtin_cpu_supports("avx512vl");
  features.avx512vnni = __builtin_cpu_supports("avx512vnni");
#elif defined(__aarch64__)
  features.neon = true; /* mandatory on AArch64 */
#endif
  supported_isa = LG_ISA_GENERIC;
  if (features.avx2 && features.fma) supported_isa = LG_ISA_AVX2;
  if (supported_isa == LG_ISA_AVX2 && features.avx512f && features.avx512bw && features.avx512vl)
    supported_isa = LG_ISA_AVX512;
  env_isa = supported_isa;
  const char *env = getenv("LEDGE_ISA");
  if (env && *env) {
    lg_isa want = lg_isa_parse(env);
    if (want == LG_ISA_COUNT)
      fprintf(stderr,
              "ledge: LEDGE_ISA=%s is not one of reference, generic, avx2, avx512; using %s\n", env,
              lg_isa_name(supported_isa));
    else if (want < supported_isa)
      env_isa = want;
  }
}

const lg_cpu_features *lg_cpu_features_get(void) {
  pthread_once(&detect_once, detect);
  return &features;
}

lg_isa lg_isa_supported(void) {
  pthread_once(&detect_once, detect);
  return supported_isa;
}

lg_isa lg_isa_active(void) {
  pthread_once(&detect_once, detect);
  int f = forced_isa;
  return f >= 0 ? (lg_isa)f : env_isa;
}

lg_isa lg_isa_force(lg_isa isa) {
  pthread_once(&detect_once, detect);
  if (isa >= LG_ISA_COUNT) {
    forced_isa = -1;
    return env_isa;
  }
  if (isa > supported_isa) isa = supported_isa;
  forced_isa = (int)isa;
  return isa;
}

static const char *const isa_names[LG_ISA_COUNT] = {"reference", "generic", "avx2", "avx512"};

const char *lg_isa_name(lg_isa isa) { return isa < LG_ISA_COUNT ? isa_names[isa] : "?"; }

lg_isa lg_isa_parse(const char *name) {
  for (int i = 0; i < LG_ISA_COUNT; i++)
    if (!strcmp(name, isa_names[i])) return (lg_isa)i;
  return LG_ISA_COUNT;
}

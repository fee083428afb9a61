/*
 * fma_peak.c: the machine's single-precision FMA throughput, per core, for
 * each vector ISA the CPU has (AVX2+FMA 256-bit, AVX-512F 512-bit).
 *
 * Each thread runs 12 independent chains of vfmadd (enough to hide the FMA
 * latency on every x86 core we know of: 4 cycles x 2 pipes = 8 needed), so
 * the loop is bound by FMA throughput alone. Reported: GFLOP/s (an FMA is 2
 * flops) on one core, and per core with N threads running at once (a shared
 * or throttled core shows up as a lower figure there). The best of several
 * repetitions is kept: the peak is what the core can do, not what it did
 * while the host was busy.
 *
 * Usage: fma_peak [--threads N] [--ms M] [--json]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#endif

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Each kernel runs `iters` iterations of 12 FMAs of `lanes` floats and
 * returns a value that depends on all of them (so nothing is optimized
 * away). */
typedef float (*fma_kernel)(long iters);

static float fma_scalar(long iters) {
  float a[12], b = 1.0000001f, c = 1e-7f;
  for (int k = 0; k < 12; k++) a[k] = (float)k;
  for (long i = 0; i < iters; i++)
    for (int k = 0; k < 12; k++) a[k] = a[k] * b + c;
  float s = 0;
  for (int k = 0; k < 12; k++) s += a[k];
  return s;
}

#ifdef HAVE_X86
#define FMA12(T, fmadd)                                                                            \
  a0 = fmadd(a0, b, c), a1 = fmadd(a1, b, c), a2 = fmadd(a2, b, c), a3 = fmadd(a3, b, c);          \
  a4 = fmadd(a4, b, c), a5 = fmadd(a5, b, c), a6 = fmadd(a6, b, c), a7 = fmadd(a7, b, c);          \
  a8 = fmadd(a8, b, c), a9 = fmadd(a9, b, c), a10 = fmadd(a10, b, c), a11 = fmadd(a11, b, c)

__attribute__((target("avx2,fma"))) static float fma_avx2(long iters) {
  __m256 b = _mm256_set1_ps(1.0000001f), c = _mm256_set1_ps(1e-7f);
  __m256 a0 = _mm256_set1_ps(0), a1 = _mm256_set1_ps(1), a2 = _mm256_set1_ps(2), a3 = _mm256_set1_ps(3);
  __m256 a4 = _mm256_set1_ps(4), a5 = _mm256_set1_ps(5), a6 = _mm256_set1_ps(6), a7 = _mm256_set1_ps(7);
  __m256 a8 = _mm256_set1_ps(8), a9 = _mm256_set1_ps(9), a10 = _mm256_set1_ps(10), a11 = _mm256_set1_ps(11);
  for (long i = 0; i < iters; i++) {
    FMA12(__m256, _mm256_fmadd_ps);
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                           _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
  s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0] + out[7];
}

__attribute__((target("avx512f"))) static float fma_avx512(long iters) {
  __m512 b = _mm512_set1_ps(1.0000001f), c = _mm512_set1_ps(1e-7f);
  __m512 a0 = _mm512_set1_ps(0), a1 = _mm512_set1_ps(1), a2 = _mm512_set1_ps(2), a3 = _mm512_set1_ps(3);
  __m512 a4 = _mm512_set1_ps(4), a5 = _mm512_set1_ps(5), a6 = _mm512_set1_ps(6), a7 = _mm512_set1_ps(7);
  __m512 a8 = _mm512_set1_ps(8), a9 = _mm512_set1_ps(9), a10 = _mm512_set1_ps(10), a11 = _mm512_set1_ps(11);
  for (long i = 0; i < iters; i++) {
    FMA12(__m512, _mm512_fmadd_ps);
  }
  __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                           _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
  s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
  return _mm512_reduce_add_ps(s);
}
#endif

typedef struct {
  const char *name;
  fma_kernel fn;
  int lanes;
  int supported;
} isa_entry;

typedef struct {
  fma_kernel fn;
  long iters;
  double seconds;
  float sink;
  pthread_barrier_t *barrier;
} job;

static void *run_job(void *arg) {
  job *j = arg;
  if (j->barrier) pthread_barrier_wait(j->barrier);
  double t = now_s();
  j->sink = j->fn(j->iters);
  j->seconds = now_s() - t;
  return NULL;
}

static volatile float g_sink;

/* GFLOP/s per thread with n threads at once (best of reps). */
static double measure(const isa_entry *e, int n, double target_s, int reps) {
  /* Calibrate the iteration count for target_s on one thread. */
  long iters = 1000;
  for (;;) {
    job j = {e->fn, iters, 0, 0, NULL};
    run_job(&j);
    g_sink = j.sink;
    if (j.seconds > target_s / 8 || iters > (1L << 40)) {
      iters = (long)((double)iters * target_s / (j.seconds > 0 ? j.seconds : 1e-9)) + 1;
      break;
    }
    iters *= 4;
  }
  double flops_per_iter = 12.0 * e->lanes * 2;
  double best = 0;
  for (int r = 0; r < reps; r++) {
    pthread_t th[256];
    job jobs[256];
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, (unsigned)n);
    for (int t = 0; t < n; t++) jobs[t] = (job){e->fn, iters, 0, 0, n > 1 ? &barrier : NULL};
    for (int t = 1; t < n; t++) pthread_create(&th[t], NULL, run_job, &jobs[t]);
    run_job(&jobs[0]);
    double worst = jobs[0].seconds;
    for (int t = 1; t < n; t++) {
      pthread_join(th[t], NULL);
      if (jobs[t].seconds > worst) worst = jobs[t].seconds;
    }
    pthread_barrier_destroy(&barrier);
    for (int t = 0; t < n; t++) g_sink += jobs[t].sink;
    double g = flops_per_iter * (double)iters / worst / 1e9;
    if (g > best) best = g;
  }
  return best;
}

int main(int argc, char **argv) {
  int threads = (int)sysconf(_SC_NPROCESSORS_ONLN), json = 0;
  double ms = 200;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--ms") && i + 1 < argc) ms = atof(argv[++i]);
    else if (!strcmp(argv[i], "--json")) json = 1;
    else {
      fprintf(stderr, "usage: fma_peak [--threads N] [--ms M] [--json]\n"
                      "Measures single-precision FMA throughput (GFLOP/s) on one core and per core\n"
                      "with N threads at once, for every vector ISA the CPU supports.\n");
      return strcmp(argv[i], "--help") ? 2 : 0;
    }
  }
  if (threads < 1) threads = 1;
  if (threads > 256) threads = 256;
  isa_entry isas[] = {
      {"scalar", fma_scalar, 1, 1},
#ifdef HAVE_X86
      {"avx2", fma_avx2, 8, __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")},
      {"avx512", fma_avx512, 16, __builtin_cpu_supports("avx512f")},
#endif
  };
  int n_isa = (int)(sizeof isas / sizeof *isas);
  double one[8] = {0}, many[8] = {0}, peak = 0;
  const char *peak_isa = "scalar";
  for (int i = 0; i < n_isa; i++) {
    if (!isas[i].supported) continue;
    one[i] = measure(&isas[i], 1, ms / 1e3, 5);
    if (threads > 1) many[i] = measure(&isas[i], threads, ms / 1e3, 5);
    if (one[i] > peak) peak = one[i], peak_isa = isas[i].name;
  }
  if (json) {
    printf("{\"threads\": %d, \"peak_gflops_per_core\": %.2f, \"peak_isa\": \"%s\"", threads, peak, peak_isa);
    for (int i = 0; i < n_isa; i++)
      if (isas[i].supported)
        printf(", \"%s\": {\"gflops_1_core\": %.2f, \"gflops_per_core_%d_threads\": %.2f}", isas[i].name, one[i],
               threads, threads > 1 ? many[i] : one[i]);
    printf("}\n");
  } else {
    printf("%-8s %16s %24s\n", "isa", "GFLOP/s 1 core", "GFLOP/s/core, threads");
    for (int i = 0; i < n_isa; i++) {
      if (!isas[i].supported) {
        printf("%-8s %16s\n", isas[i].name, "not supported");
        continue;
      }
      printf("%-8s %16.2f %21.2f x%d\n", isas[i].name, one[i], threads > 1 ? many[i] : one[i], threads);
    }
    printf("peak     %.2f GFLOP/s per core (%s)\n", peak, peak_isa);
  }
  return 0;
}

/*
 * qgemm.c: the int8 GEMM driver, packing, the portable microkernel and
 * epilogue, and the depthwise int8 plane (see qgemm.h).
 *
 * Blocking: C is cut into tasks of MC rows x NC columns, run in parallel.
 * K is not blocked: int8 panels are a quarter of fp32's, so a whole K x NR
 * panel of B (4608 x 32 bytes for resnet50's widest layer) stays in L2 and
 * each tile's sums stay in registers until the epilogue, which then runs
 * once per output instead of once per K block.
 */
#include "kernels/qgemm.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

enum { MC_MAX = 512, NR_MAX = 32, KR_MAX = 4 };

static int64_t round_up(int64_t v, int64_t to) { return (v + to - 1) / to * to; }

/* ---- Portable microkernel: a 4x8 tile over the k2 (int16) layout ---- */

enum { GEN_MR = 4, GEN_NR = 8 };

static void ukernel_generic(int64_t kp, const void *a, const void *b, int32_t *acc) {
  const int16_t *ap = a, *bp = b;
  int32_t t[GEN_MR][GEN_NR];
  memset(t, 0, sizeof t);
  for (int64_t g = 0; g < kp / 2; g++) {
    for (int r = 0; r < GEN_MR; r++) {
      int32_t a0 = ap[2 * r], a1 = ap[2 * r + 1];
      for (int j = 0; j < GEN_NR; j++) t[r][j] += a0 * bp[2 * j] + a1 * bp[2 * j + 1];
    }
    ap += 2 * GEN_MR;
    bp += 2 * GEN_NR;
  }
  memcpy(acc, t, sizeof t);
}

void lg_qgemm_store_generic(const lg_qgemm_epilogue *e, const int32_t *acc, int64_t ld_acc,
                            int rows, int cols, int64_t row0, void *c, int64_t rs, int64_t cs) {
  for (int r = 0; r < rows; r++) {
    int64_t i = row0 + r;
    uint32_t b = e->bias ? (uint32_t)e->bias[i] : 0;
    double s = e->out == LG_QOUT_S32 ? 0 : e->scale[i];
    for (int col = 0; col < cols; col++) {
      int32_t v = (int32_t)((uint32_t)acc[r * ld_acc + col] + b); /* int32 sums wrap */
      int64_t off = r * rs + col * cs;
      if (e->out == LG_QOUT_S32) {
        ((int32_t *)c)[off] = v;
      } else if (e->out == LG_QOUT_F32) {
        ((float *)c)[off] = lg_act_scalar(&e->act, (float)((double)v * s));
      } else {
        double t = nearbyint((double)v * s);
        if (!(t >= -1e9)) t = -1e9; /* also NaN */
        if (t > 1e9) t = 1e9;
        int32_t q = (int32_t)t + e->zero_point;
        q = q < e->qmin ? e->qmin : q > e->qmax ? e->qmax : q;
        if (e->out == LG_QOUT_U8)
          ((uint8_t *)c)[off] = (uint8_t)q;
        else
          ((int8_t *)c)[off] = (int8_t)q;
      }
    }
  }
}

/* ---- The kernel table ---- */

static const lg_qgemm_kernel kern_generic = {
    LG_ISA_GENERIC, GEN_MR, GEN_NR, 2, ukernel_generic, lg_qgemm_store_generic, "generic"};
#ifdef LG_HAVE_X86_QKERNELS
static const lg_qgemm_kernel kern_avx2 = {
    LG_ISA_AVX2, 6, 16, 2, lg_qgemm_ukernel_6x16_avx2, lg_qgemm_store_avx2, "avx2"};
static const lg_qgemm_kernel kern_avx512_k2 = {
    LG_ISA_AVX512, 6, 16, 2, lg_qgemm_ukernel_6x16_avx2, lg_qgemm_store_avx512, "avx2"};
static const lg_qgemm_kernel kern_vnni = {
    LG_ISA_AVX512, 8, 32, 4, lg_qgemm_ukernel_8x32_vnni, lg_qgemm_store_avx512, "vnni"};
#endif

const lg_qgemm_kernel *lg_qgemm_kernel_for(lg_isa isa, bool a_fits_s8) {
#ifdef LG_HAVE_X86_QKERNELS
  if (isa == LG_ISA_AVX512)
    return a_fits_s8 && lg_cpu_features_get()->avx512vnni ? &kern_vnni : &kern_avx512_k2;
  if (isa == LG_ISA_AVX2) return &kern_avx2;
#else
  (void)isa;
#endif
  (void)a_fits_s8;
  return &kern_generic;
}

/* ---- Packing ---- */

static size_t elem_bytes(const lg_qgemm_kernel *kern) { return kern->kr == 4 ? 1 : 2; }

size_t lg_qgemm_packed_a_bytes(const lg_qgemm_kernel *kern, int64_t m, int64_t k) {
  int64_t panels = (m + kern->mr - 1) / kern->mr;
  return (size_t)(panels * kern->mr * round_up(k > 0 ? k : 1, kern->kr)) * elem_bytes(kern);
}

void lg_qgemm_pack_a(const lg_qgemm_kernel *kern, int64_t m, int64_t k, const int16_t *a,
                     int64_t row_stride, void *packed) {
  int mr = kern->mr, kr = kern->kr;
  int64_t kp = round_up(k > 0 ? k : 1, kr);
  for (int64_t q = 0; q * mr < m; q++)
    for (int64_t g = 0; g < kp / kr; g++)
      for (int r = 0; r < mr; r++)
        for (int t = 0; t < kr; t++) {
          int64_t i = q * mr + r, p = g * kr + t;
          int16_t v = i < m && p < k ? a[i * row_stride + p] : 0;
          size_t idx = (size_t)((q * kp + g * kr) * mr + r * kr + t);
          if (kr == 4)
            ((int8_t *)packed)[idx] = (int8_t)v;
          else
            ((int16_t *)packed)[idx] = v;
        }
}

/* Interleaves kr rows of nr bytes (flipped) into one k-group of a B panel:
 * k4: dst[4 j + t] = row t [j]; k2: dst16[2 j + t] = row t [j]. */
static void interleave(int kr, int nr, const uint8_t *const *row, const uint8_t *fl,
                       uint8_t *panel_group) {
#if defined(__SSE2__)
  if (kr == 4 && nr % 16 == 0) {
    for (int j = 0; j < nr; j += 16) {
      __m128i r0 =
          _mm_xor_si128(_mm_loadu_si128((const __m128i *)(row[0] + j)), _mm_set1_epi8((char)fl[0]));
      __m128i r1 =
          _mm_xor_si128(_mm_loadu_si128((const __m128i *)(row[1] + j)), _mm_set1_epi8((char)fl[1]));
      __m128i r2 =
          _mm_xor_si128(_mm_loadu_si128((const __m128i *)(row[2] + j)), _mm_set1_epi8((char)fl[2]));
      __m128i r3 =
          _mm_xor_si128(_mm_loadu_si128((const __m128i *)(row[3] + j)), _mm_set1_epi8((char)fl[3]));
      __m128i a0 = _mm_unpacklo_epi8(r0, r1), a1 = _mm_unpackhi_epi8(r0, r1);
      __m128i b0 = _mm_unpacklo_epi8(r2, r3), b1 = _mm_unpackhi_epi8(r2, r3);
      uint8_t *d = panel_group + 4 * j;
      _mm_storeu_si128((__m128i *)d, _mm_unpacklo_epi16(a0, b0));
      _mm_storeu_si128((__m128i *)(d + 16), _mm_unpackhi_epi16(a0, b0));
      _mm_storeu_si128((__m128i *)(d + 32), _mm_unpacklo_epi16(a1, b1));
      _mm_storeu_si128((__m128i *)(d + 48), _mm_unpackhi_epi16(a1, b1));
    }
    return;
  }
  if (kr == 2 && nr % 8 == 0) {
    __m128i zero = _mm_setzero_si128();
    for (int j = 0; j < nr; j += 8) {
      __m128i r0 =
          _mm_xor_si128(_mm_loadl_epi64((const __m128i *)(row[0] + j)), _mm_set1_epi8((char)fl[0]));
      __m128i r1 =
          _mm_xor_si128(_mm_loadl_epi64((const __m128i *)(row[1] + j)), _mm_set1_epi8((char)fl[1]));
      __m128i w0 = _mm_unpacklo_epi8(r0, zero), w1 = _mm_unpacklo_epi8(r1, zero);
      uint8_t *d = panel_group + 4 * j;
      _mm_storeu_si128((__m128i *)d, _mm_unpacklo_epi16(w0, w1));
      _mm_storeu_si128((__m128i *)(d + 16), _mm_unpackhi_epi16(w0, w1));
    }
    return;
  }
#endif
  if (kr == 4) {
    for (int j = 0; j < nr; j++)
      for (int t = 0; t < 4; t++) panel_group[4 * j + t] = row[t][j] ^ fl[t];
  } else {
    int16_t *d = (int16_t *)panel_group;
    for (int j = 0; j < nr; j++)
      for (int t = 0; t < 2; t++) d[2 * j + t] = (int16_t)(row[t][j] ^ fl[t]);
  }
}

/* Packs B rows [0, kp) x columns [j0, j0 + cols) into ceil(cols / nr)
 * panels of nr columns each (zero past cols and past k), panel q at
 * panels + q * panel_bytes. Rows are fetched once for the whole block, so
 * an im2col row function runs once per row, not once per panel. */
static void pack_b_block(const lg_qgemm_desc *d, int64_t j0, int64_t cols, uint8_t *panels,
                         size_t panel_bytes, uint8_t *rows_tmp, int64_t row_cap,
                         const uint8_t *zeros) {
  const lg_qgemm_kernel *kern = d->kern;
  int kr = kern->kr, nr = kern->nr;
  int64_t kp = round_up(d->k, kr), n_panels = (cols + nr - 1) / nr;
  uint8_t flip = d->b_flip;
  size_t group_bytes = (size_t)(nr * kr) * elem_bytes(kern);
  uint8_t pad[KR_MAX][NR_MAX];
  for (int64_t g = 0; g < kp / kr; g++) {
    const uint8_t *row[KR_MAX];
    uint8_t fl[KR_MAX];
    for (int t = 0; t < kr; t++) {
      int64_t p = g * kr + t;
      fl[t] = p < d->k ? flip : 0;
      if (p >= d->k)
        row[t] = zeros;
      else if (d->b_row)
        row[t] = d->b_row(d->b_ctx, p, j0, cols, rows_tmp + t * row_cap);
      else
        row[t] = d->b + p * d->ldb + j0;
    }
    for (int64_t q = 0; q < n_panels; q++) {
      int64_t c = cols - q * nr < nr ? cols - q * nr : nr;
      const uint8_t *prow[KR_MAX];
      for (int t = 0; t < kr; t++) {
        prow[t] = row[t] + q * nr;
        if (c < nr) {
          /* a partial panel: pad the row with zeros (the outputs are not stored) */
          memcpy(pad[t], prow[t], (size_t)c);
          memset(pad[t] + c, 0, (size_t)(nr - c));
          prow[t] = pad[t];
        }
      }
      interleave(kr, nr, prow, fl, panels + (size_t)q * panel_bytes + (size_t)g * group_bytes);
    }
  }
}

/* ---- Per-thread scratch ----
 * The packed B block and the row buffers of a task (up to about 0.5 MB,
 * bounded by the blocking below) live in a buffer that each thread keeps for
 * its life and grows when a larger GEMM needs more: after the first run at a
 * shape, runs allocate nothing (the session's promise, checked by
 * test_no_alloc on int8 models). A pool thread's buffer is freed when the
 * thread exits. */
typedef struct qgemm_scratch {
  uint8_t *data;
  size_t size;
} qgemm_scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static bool scratch_key_ok;

static void scratch_release(void *p) {
  qgemm_scratch *s = p;
  lg_aligned_free(s->data);
  free(s);
}
static void scratch_key_create(void) {
  scratch_key_ok = pthread_key_create(&scratch_key, scratch_release) == 0;
}

/* size bytes of this thread's scratch, 64-byte aligned; NULL if out of memory. */
static uint8_t *thread_scratch(size_t size) {
  pthread_once(&scratch_once, scratch_key_create);
  if (!scratch_key_ok) return NULL;
  qgemm_scratch *s = pthread_getspecific(scratch_key);
  if (!s) {
    s = calloc(1, sizeof *s);
    if (!s || pthread_setspecific(scratch_key, s) != 0) {
      free(s);
      return NULL;
    }
  }
  if (s->size < size) {
    lg_aligned_free(s->data);
    s->size = 0;
    s->data = lg_aligned_alloc(size);
    if (!s->data) return NULL;
    s->size = size;
  }
  return s->data;
}

/* ---- Driver ---- */

typedef struct qgemm_plan {
  const lg_qgemm_desc *d;
  int64_t mc, nc, m_blocks, n_blocks, kp;
  lg_threadpool *pool; /* holds every thread's scratch when set */
  /* a task's scratch: the packed B block, then KR_MAX row buffers at rows_at,
   * then a row of row_cap zeros at zeros_at */
  size_t scratch_size, rows_at, zeros_at;
  int64_t row_cap;
} qgemm_plan;

/* Lays out a task's scratch (qgemm_plan) once the blocking is known. */
static void qgemm_scratch_layout(qgemm_plan *pl) {
  const lg_qgemm_kernel *kern = pl->d->kern;
  int64_t nr = kern->nr, max_panels = (pl->nc + nr - 1) / nr;
  size_t panel_bytes = (size_t)(pl->kp * nr) * elem_bytes(kern);
  pl->row_cap = max_panels * nr;
  pl->rows_at = lg_align_up(panel_bytes * (size_t)max_panels, 64);
  pl->zeros_at = pl->rows_at + lg_align_up((size_t)(KR_MAX * pl->row_cap), 64);
  pl->scratch_size = pl->zeros_at + (size_t)pl->row_cap;
}

static void qgemm_tasks(void *ctx, int thread, int64_t begin, int64_t end) {
  const qgemm_plan *pl = ctx;
  const lg_qgemm_desc *d = pl->d;
  const lg_qgemm_kernel *kern = d->kern;
  int mr = kern->mr, nr = kern->nr;
  size_t panel_bytes = (size_t)(pl->kp * nr) * elem_bytes(kern);
  int64_t row_cap = pl->row_cap;
  uint8_t *panels =
      pl->pool ? lg_threadpool_scratch(pl->pool, thread) : thread_scratch(pl->scratch_size);
  if (!panels) return; /* the caller bounded the sizes (a few MB at most) */
  uint8_t *rows_tmp = panels + pl->rows_at, *zeros = panels + pl->zeros_at;
  memset(zeros, 0, (size_t)row_cap);
  int32_t acc[16 * NR_MAX] __attribute__((aligned(64)));
  size_t a_panel_bytes = (size_t)(mr * pl->kp) * elem_bytes(kern);
  size_t out_bytes = d->epi.out == LG_QOUT_U8 || d->epi.out == LG_QOUT_S8 ? 1 : 4;
  for (int64_t task = begin; task < end; task++) {
    int64_t mb = task % pl->m_blocks, nb = task / pl->m_blocks;
    int64_t i0 = mb * pl->mc, i1 = i0 + pl->mc < d->m ? i0 + pl->mc : d->m;
    int64_t j0 = nb * pl->nc, j1 = j0 + pl->nc < d->n ? j0 + pl->nc : d->n;
    pack_b_block(d, j0, j1 - j0, panels, panel_bytes, rows_tmp, row_cap, zeros);
    for (int64_t j = j0; j < j1; j += nr) {
      int cols = j1 - j < nr ? (int)(j1 - j) : nr;
      const uint8_t *panel = panels + (size_t)((j - j0) / nr) * panel_bytes;
      for (int64_t i = i0; i < i1; i += mr) {
        int rows = i1 - i < mr ? (int)(i1 - i) : mr;
        kern->ukernel(pl->kp, (const uint8_t *)d->a_packed + (size_t)(i / mr) * a_panel_bytes,
                      panel, acc);
        kern->store(&d->epi, acc, nr, rows, cols, i,
                    (uint8_t *)d->c + (size_t)(i * d->c_rs + j * d->c_cs) * out_bytes, d->c_rs,
                    d->c_cs);
      }
    }
  }
}

void lg_qgemm(const lg_qgemm_desc *d, lg_threadpool *pool) {
  if (d->m <= 0 || d->n <= 0) return;
  const lg_qgemm_kernel *kern = d->kern;
  int mr = kern->mr, nr = kern->nr;
  if (d->k <= 0) {
    /* An empty sum: C gets the epilogue alone. */
    int32_t zero = 0;
    for (int64_t i = 0; i < d->m; i++)
      for (int64_t j = 0; j < d->n; j++) {
        size_t out_bytes = d->epi.out == LG_QOUT_U8 || d->epi.out == LG_QOUT_S8 ? 1 : 4;
        lg_qgemm_store_generic(&d->epi, &zero, 1, 1, 1, i,
                               (uint8_t *)d->c + (size_t)(i * d->c_rs + j * d->c_cs) * out_bytes,
                               d->c_rs, d->c_cs);
      }
    return;
  }
  qgemm_plan pl = {.d = d, .kp = round_up(d->k, kern->kr)};
  int threads = lg_threadpool_size(pool);
  if (d->m * d->n * d->k < 65536) threads = 1;
  pl.mc = round_up(d->m < MC_MAX ? d->m : MC_MAX, mr);
  /* Column blocks of up to 8 panels, fewer when K is long: the packed
   * block (kp x nc bytes) should stay within L2. */
  int64_t max_nc = 8 * nr;
  while (max_nc > nr && pl.kp * max_nc * (int64_t)elem_bytes(kern) > (512 << 10)) max_nc -= nr;
  pl.nc = round_up(d->n < max_nc ? d->n : max_nc, nr);
  for (;;) {
    pl.m_blocks = (d->m + pl.mc - 1) / pl.mc;
    pl.n_blocks = (d->n + pl.nc - 1) / pl.nc;
    if (threads <= 1 || pl.m_blocks * pl.n_blocks >= 4 * threads) break;
    if (pl.nc > 2 * nr)
      pl.nc = round_up(pl.nc / 2, nr);
    else if (pl.mc > 4 * mr)
      pl.mc = round_up(pl.mc / 2, mr);
    else if (pl.nc > nr)
      pl.nc = nr;
    else if (pl.mc > mr)
      pl.mc = round_up(pl.mc / 2, mr);
    else
      break;
  }
  /* Every thread's packing scratch, reserved here for all of them at once
   * (a pool's buffers; on one thread, or nested in a loop of the pool, this
   * thread's own). */
  qgemm_scratch_layout(&pl);
  lg_threadpool *run_pool = threads > 1 ? pool : NULL;
  if (run_pool && lg_threadpool_reserve_scratch(run_pool, pl.scratch_size)) pl.pool = run_pool;
  lg_parallel_for_indexed(run_pool, pl.m_blocks * pl.n_blocks, qgemm_tasks, &pl);
}

/* ---- Depthwise ---- */

void lg_qdw_plane(const lg_qdw_args *a) {
  int32_t *row = a->row;
  uint8_t flip = a->flip;
  int32_t zx = a->zx;
  for (int64_t oh = 0; oh < a->oh; oh++) {
    memset(row, 0, (size_t)a->ow * sizeof(int32_t));
    for (int64_t kh = 0; kh < a->kh; kh++) {
      int64_t ih = oh * a->sh - a->pad_t + kh * a->dh;
      if (ih < 0 || ih >= a->h) continue;
      const uint8_t *xr = a->x + ih * a->w;
      for (int64_t kw = 0; kw < a->kw; kw++) {
        int32_t wv = a->wk[kh * a->kw + kw];
        int64_t off = kw * a->dw - a->pad_l;
        /* Valid outputs: 0 <= o * sw + off < w. */
        int64_t lo = off >= 0 ? 0 : (-off + a->sw - 1) / a->sw;
        int64_t hi = a->w - off <= 0 ? 0 : (a->w - off - 1) / a->sw + 1;
        if (hi > a->ow) hi = a->ow;
        if (wv == 0 || lo >= hi) continue;
        const uint8_t *src = xr + off;
        if (a->sw == 1) {
          for (int64_t o = lo; o < hi; o++) row[o] += wv * ((int32_t)(src[o] ^ flip) - zx);
        } else {
          for (int64_t o = lo; o < hi; o++) row[o] += wv * ((int32_t)(src[o * a->sw] ^ flip) - zx);
        }
      }
    }
    size_t out_bytes = a->epi->out == LG_QOUT_U8 || a->epi->out == LG_QOUT_S8 ? 1 : 4;
    a->store(a->epi, row, a->ow, 1, (int)a->ow, a->channel,
             (uint8_t *)a->y + (size_t)(oh * a->ow) * out_bytes, 0, 1);
  }
}

/* ---- QuantizeLinear ---- */

void lg_quantize_f32(lg_isa isa, const float *x, int64_t n, float scale, float zp, float lo,
                     float hi, bool u8, void *y) {
#ifdef LG_HAVE_X86_QKERNELS
  if (isa == LG_ISA_AVX512) {
    lg_quantize_f32_avx512(x, n, scale, zp, lo, hi, u8, y);
    return;
  }
#endif
  (void)isa;
  /* Adding and subtracting 1.5 * 2^23 rounds a float below 2^22 in
   * magnitude to the nearest integer, ties to even, as nearbyint does. */
  const float magic = 12582912.0f, limit = 4194304.0f;
  for (int64_t i = 0; i < n; i++) {
    float v = x[i] / scale;
    v = v < -limit ? -limit : v > limit ? limit : v;
    float q = (v + magic) - magic + zp;
    q = q < lo ? lo : q > hi ? hi : q;
    if (q != q) q = 0; /* NaN, as the reference */
    if (u8)
      ((uint8_t *)y)[i] = (uint8_t)(int32_t)q;
    else
      ((int8_t *)y)[i] = (int8_t)(int32_t)q;
  }
}

lg_qdw_fn lg_qdw_kernel(lg_isa isa) {
#ifdef LG_HAVE_X86_QKERNELS
  if (isa == LG_ISA_AVX512) return lg_qdw_plane_avx512;
#endif
  (void)isa;
  return lg_qdw_plane;
}

void lg_dequantize_8(lg_isa isa, const void *q, int64_t n, bool u8, int32_t zp, float scale,
                     float *y) {
#ifdef LG_HAVE_X86_QKERNELS
  if (isa == LG_ISA_AVX512) {
    lg_dequantize_u8_avx512(q, n, u8, zp, scale, y);
    return;
  }
#endif
  (void)isa;
  if (u8)
    for (int64_t i = 0; i < n; i++) y[i] = (float)(((const uint8_t *)q)[i] - zp) * scale;
  else
    for (int64_t i = 0; i < n; i++) y[i] = (float)(((const int8_t *)q)[i] - zp) * scale;
}

/*
 * compress.c: per-tensor weight sharing by 1-D k-means and Huffman coding
 * of the cluster indices (see compress.h; blob layout in
 * src/formats/ledge_format_cluster.c and docs/format.md).
 */
#include "optimize/compress.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_CODE_BITS = 15, FIT_SAMPLES = 1 << 18 };

/* Index of the centroid nearest x, given the midpoints between sorted
 * centroids (k - 1 of them). */
static inline int nearest(const float *mid, int k, float x) {
  int lo = 0, hi = k - 1; /* answer in [lo, hi] */
  while (lo < hi) {
    int m = (lo + hi) / 2;
    if (x > mid[m])
      lo = m + 1;
    else
      hi = m;
  }
  return lo;
}

static void midpoints(const float *c, int k, float *mid) {
  for (int j = 0; j + 1 < k; j++) mid[j] = 0.5f * (c[j] + c[j + 1]);
}

/* Lloyd's algorithm in one dimension on a strided sample of w: centroids
 * start evenly spaced between min and max and stay sorted. */
static int kmeans(const float *w, int64_t n, int k, int iterations, float *c) {
  float lo = INFINITY, hi = -INFINITY;
  for (int64_t i = 0; i < n; i++) {
    if (w[i] < lo) lo = w[i];
    if (w[i] > hi) hi = w[i];
  }
  if (!(hi > lo)) { /* constant (or all equal): one centroid */
    c[0] = n ? lo : 0;
    return 1;
  }
  for (int j = 0; j < k; j++) c[j] = lo + (hi - lo) * (float)j / (float)(k - 1);
  int64_t step = n > FIT_SAMPLES ? n / FIT_SAMPLES : 1;
  double sum[256];
  int64_t cnt[256];
  float mid[256];
  for (int it = 0; it < iterations; it++) {
    memset(sum, 0, sizeof sum);
    memset(cnt, 0, sizeof cnt);
    midpoints(c, k, mid);
    for (int64_t i = 0; i < n; i += step) {
      int j = nearest(mid, k, w[i]);
      sum[j] += w[i];
      cnt[j]++;
    }
    float moved = 0;
    for (int j = 0; j < k; j++) {
      if (!cnt[j]) continue; /* an empty cluster keeps its place */
      float nc = (float)(sum[j] / (double)cnt[j]);
      moved = fmaxf(moved, fabsf(nc - c[j]));
      c[j] = nc;
    }
    if (moved <= (hi - lo) * 1e-6f) break;
  }
  /* Means of sorted clusters stay sorted, but keep the invariant exact. */
  for (int j = 1; j < k; j++)
    if (c[j] < c[j - 1]) c[j] = c[j - 1];
  return k;
}

/* Huffman code lengths for freq[k] (a symbol of frequency 0 gets none),
 * limited to MAX_CODE_BITS by flattening the frequencies until they fit. */
static void code_lengths(const int64_t *freq_in, int k, uint8_t *len) {
  int64_t freq[256];
  memcpy(freq, freq_in, sizeof(int64_t) * (size_t)k);
  for (;;) {
    /* O(k^2) merging is plenty for k <= 256. */
    int64_t weight[512];
    int parent[512], n = 0, live[512], n_live = 0;
    int leaf_of[256];
    for (int s = 0; s < k; s++) {
      leaf_of[s] = -1;
      if (!freq[s]) continue;
      leaf_of[s] = n;
      weight[n] = freq[s];
      parent[n] = -1;
      live[n_live++] = n++;
    }
    memset(len, 0, (size_t)k);
    if (n_live == 1) { /* one symbol still needs one bit */
      for (int s = 0; s < k; s++)
        if (leaf_of[s] >= 0) len[s] = 1;
      return;
    }
    while (n_live > 1) {
      int a = 0, b = 1;
      if (weight[live[b]] < weight[live[a]]) a = 1, b = 0;
      for (int i = 2; i < n_live; i++) {
        if (weight[live[i]] < weight[live[a]])
          b = a, a = i;
        else if (weight[live[i]] < weight[live[b]])
          b = i;
      }
      int na = live[a], nb = live[b];
      weight[n] = weight[na] + weight[nb];
      parent[n] = -1;
      parent[na] = parent[nb] = n;
      /* remove a and b (higher index first), add the new node */
      int hi = a > b ? a : b, lo = a > b ? b : a;
      live[hi] = live[--n_live];
      live[lo] = live[--n_live];
      live[n_live++] = n++;
    }
    int longest = 0;
    for (int s = 0; s < k; s++) {
      if (leaf_of[s] < 0) continue;
      int d = 0;
      for (int x = leaf_of[s]; parent[x] >= 0; x = parent[x]) d++;
      len[s] = (uint8_t)(d > 255 ? 255 : d);
      if (d > longest) longest = d;
    }
    if (longest <= MAX_CODE_BITS) return;
    for (int s = 0; s < k; s++)
      if (freq[s]) freq[s] = (freq[s] >> 1) | 1;
  }
}

typedef struct bit_writer {
  uint8_t *p;
  size_t at;
  uint64_t acc;
  int n;
} bit_writer;

static inline void put_bits(bit_writer *w, uint32_t code, int len) {
  w->acc = (w->acc << len) | code;
  w->n += len;
  while (w->n >= 8) {
    w->p[w->at++] = (uint8_t)(w->acc >> (w->n - 8));
    w->n -= 8;
  }
}

static inline void flush_bits(bit_writer *w) {
  if (w->n > 0) w->p[w->at++] = (uint8_t)(w->acc << (8 - w->n));
  w->n = 0;
}

lg_status lg_compress_tensor(const float *w, int64_t n, const lg_compress_options *o,
                             uint8_t **blob, size_t *size, double *sqnr_db) {
  *blob = NULL;
  *size = 0;
  int bits = o->bits;
  if (bits < 2 || bits > 8)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "--bits must be 2..8, not %d", bits);
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(w[i]))
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "weights hold NaN or infinity");
  float c[256], mid[256];
  int k = kmeans(w, n, 1 << bits, o->iterations > 0 ? o->iterations : 30, c);
  midpoints(c, k, mid);
  uint8_t *idx = malloc((size_t)n + 1);
  if (!idx) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  int64_t freq[256] = {0};
  double signal = 0, noise = 0;
  for (int64_t i = 0; i < n; i++) {
    int j = nearest(mid, k, w[i]);
    idx[i] = (uint8_t)j;
    freq[j]++;
    double e = (double)w[i] - c[j];
    signal += (double)w[i] * w[i];
    noise += e * e;
  }
  if (sqnr_db) *sqnr_db = noise > 0 ? 10 * log10(signal / noise) : INFINITY;
  uint8_t len[256] = {0};
  uint32_t codes[256] = {0};
  bool huffman = !o->no_huffman;
  uint64_t payload_bits = 0;
  if (huffman) {
    code_lengths(freq, k, len);
    /* canonical codes: by length, then symbol */
    uint32_t code = 0;
    for (int l = 1; l <= MAX_CODE_BITS; l++) {
      for (int s = 0; s < k; s++)
        if (len[s] == l) codes[s] = code++;
      code <<= 1;
    }
    for (int s = 0; s < k; s++) payload_bits += (uint64_t)freq[s] * len[s];
  } else {
    payload_bits = (uint64_t)n * (uint64_t)bits;
  }
  uint64_t payload = (payload_bits + 7) / 8;
  size_t total = 16 + 4 * (size_t)k + (huffman ? (size_t)k : 0) + 8 + (size_t)payload;
  uint8_t *b = calloc(total, 1);
  if (!b) {
    free(idx);
    return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  }
  uint16_t k16 = (uint16_t)k;
  b[0] = 1;
  b[1] = (uint8_t)bits;
  b[2] = huffman ? 1 : 0;
  memcpy(b + 4, &k16, 2);
  memcpy(b + 8, &n, 8);
  size_t at = 16;
  memcpy(b + at, c, 4 * (size_t)k);
  at += 4 * (size_t)k;
  if (huffman) {
    memcpy(b + at, len, (size_t)k);
    at += (size_t)k;
  }
  memcpy(b + at, &payload, 8);
  at += 8;
  bit_writer bw = {b + at, 0, 0, 0};
  for (int64_t i = 0; i < n; i++) {
    if (huffman)
      put_bits(&bw, codes[idx[i]], len[idx[i]]);
    else
      put_bits(&bw, idx[i], bits);
  }
  flush_bits(&bw);
  free(idx);
  *blob = b;
  *size = total;
  return LEDGE_OK;
}

bool lg_compress_encode(void *ctx, const lg_value *v, uint8_t **blob, size_t *size) {
  lg_compress_ctx *cc = ctx;
  int64_t min = cc->options.min_elements > 0 ? cc->options.min_elements : 1024;
  int64_t n = lg_tensor_count(&v->t);
  if (cc->stats.error || v->t.dtype != LEDGE_FLOAT32 || n < min || !v->t.data) return false;
  double sqnr = 0;
  lg_status st = lg_compress_tensor(v->t.data, n, &cc->options, blob, size, &sqnr);
  if (st != LEDGE_OK) {
    if (st != LEDGE_ERR_INVALID_ARGUMENT) cc->stats.error = st;
    return false; /* NaN weights and the like stay raw */
  }
  if (*size >= (size_t)n * 4) { /* no gain: keep it raw */
    free(*blob);
    *blob = NULL;
    return false;
  }
  cc->stats.tensors++;
  cc->stats.weights += n;
  cc->stats.raw_bytes += n * 4;
  cc->stats.encoded_bytes += (int64_t)*size;
  if (cc->stats.tensors == 1 || sqnr < cc->stats.worst_sqnr_db) {
    cc->stats.worst_sqnr_db = sqnr;
    snprintf(cc->stats.worst_tensor, sizeof cc->stats.worst_tensor, "%s", v->name);
  }
  return true;
}

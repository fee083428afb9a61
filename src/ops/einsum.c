/*
 * einsum.c: Einsum, the Einstein-summation operator that transformer and
 * attention exports use ("bhqd,bhkd->bhqk"). The reference kernel walks the
 * output positions and, for each, the space of summed labels: simple and
 * general (diagonals, broadcasting "...", implicit outputs). Optimized
 * paths would map common equations onto MatMul.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ops/op.h"

#define MAX_LABELS 64 /* broadcast dims (up to LEDGE_MAX_RANK) + 52 letters */
#define MAX_INPUTS 8

typedef struct einsum_plan {
  int n_in;
  int in_rank[MAX_INPUTS];
  int in_label[MAX_INPUTS][LEDGE_MAX_RANK]; /* label id of each input axis */
  int n_out, out_label[LEDGE_MAX_RANK];
  int n_sum, sum_label[MAX_LABELS];
  int64_t size[MAX_LABELS];
} einsum_plan;

static int letter_id(char c) { return isupper((unsigned char)c) ? c - 'A' + 26 : c - 'a'; }

/* Parses one term ("ij", "...ij", "b...") into axis labels. Broadcast (ellipsis)
 * dims take ids 0..n_ell-1, right-aligned across inputs; letters take
 * LEDGE_MAX_RANK + letter_id. Returns the number of ellipsis dims, or -1. */
static int parse_term(const char *s, size_t len, int rank, int n_ell_total, int *labels, bool *has_ell) {
  int letters = 0;
  *has_ell = false;
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '.') {
      if (*has_ell || i + 2 >= len + 0 || s[i + 1] != '.' || s[i + 2] != '.') return -1;
      *has_ell = true;
      i += 2;
    } else if (isalpha((unsigned char)s[i])) {
      letters++;
    } else if (s[i] != ' ') {
      return -1;
    }
  }
  int n_ell = rank - letters;
  if (n_ell < 0 || (!*has_ell && n_ell != 0) || (n_ell_total >= 0 && n_ell > n_ell_total)) return -1;
  int k = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '.') {
      for (int e = 0; e < n_ell; e++) labels[k++] = (n_ell_total - n_ell) + e;
      i += 2;
    } else if (isalpha((unsigned char)s[i])) {
      labels[k++] = LEDGE_MAX_RANK + letter_id(s[i]);
    }
  }
  return n_ell;
}

static lg_status einsum_infer(lg_node *node, lg_tensor *const *in, lg_tensor *const *out) {
  LG_TRY(lg_check_io(node, out, 1, MAX_INPUTS));
  const char *eq = lg_attr_string(node, "equation", NULL);
  if (!eq) return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': no equation", node->op_type, node->name);
  einsum_plan p;
  memset(&p, 0, sizeof p);
  p.n_in = node->n_in;
  const char *arrow = strstr(eq, "->");
  size_t lhs_len = arrow ? (size_t)(arrow - eq) : strlen(eq);
  /* Split the left side into terms; count broadcast dims first. */
  const char *terms[MAX_INPUTS];
  size_t term_len[MAX_INPUTS];
  int n_terms = 0;
  for (const char *t = eq; t < eq + lhs_len && n_terms < MAX_INPUTS;) {
    const char *comma = memchr(t, ',', (size_t)(eq + lhs_len - t));
    size_t len = comma ? (size_t)(comma - t) : (size_t)(eq + lhs_len - t);
    terms[n_terms] = t;
    term_len[n_terms++] = len;
    if (!comma) break;
    t = comma + 1;
  }
  if (n_terms != p.n_in)
    return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': equation '%s' has %d terms for %d inputs",
                    node->op_type, node->name, eq, n_terms, p.n_in);
  int n_ell = 0;
  for (int k = 0; k < p.n_in; k++) {
    if (!in[k] || (in[k]->dtype != LEDGE_FLOAT32 && in[k]->dtype != LEDGE_FLOAT64 && in[k]->dtype != LEDGE_INT32 &&
                   in[k]->dtype != LEDGE_INT64) || in[k]->dtype != in[0]->dtype)
      return lg_error(LEDGE_ERR_UNSUPPORTED, "%s node '%s': inputs must share one of float32/64, int32/64",
                      node->op_type, node->name);
    bool has;
    int e = parse_term(terms[k], term_len[k], in[k]->rank, LEDGE_MAX_RANK, p.in_label[k], &has);
    if (e < 0)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': term %d of '%s' does not fit an input of rank %d",
                      node->op_type, node->name, k, eq, in[k]->rank);
    if (e > n_ell) n_ell = e;
  }
  /* Parse again with the common broadcast count so ellipsis ids right-align. */
  bool used[MAX_LABELS] = {false};
  int count[MAX_LABELS] = {0};
  for (int l = 0; l < MAX_LABELS; l++) p.size[l] = -1;
  for (int k = 0; k < p.n_in; k++) {
    bool has;
    parse_term(terms[k], term_len[k], in[k]->rank, n_ell, p.in_label[k], &has);
    p.in_rank[k] = in[k]->rank;
    for (int a = 0; a < in[k]->rank; a++) {
      int l = p.in_label[k][a];
      int64_t d = in[k]->dims[a];
      used[l] = true;
      count[l]++;
      if (p.size[l] < 0 || p.size[l] == 1) p.size[l] = d;
      else if (d != p.size[l] && !(l < n_ell && d == 1))
        return lg_error(LEDGE_ERR_SHAPE, "%s node '%s': a label has sizes %lld and %lld", node->op_type, node->name,
                        (long long)p.size[l], (long long)d);
    }
  }
  bool in_out[MAX_LABELS] = {false};
  if (arrow) {
    bool has;
    int labels[LEDGE_MAX_RANK + 1];
    const char *rhs = arrow + 2;
    size_t rlen = strlen(rhs), letters = 0;
    for (size_t i = 0; i < rlen; i++) letters += isalpha((unsigned char)rhs[i]) != 0;
    bool rhs_ell = strstr(rhs, "...") != NULL;
    int rank = (int)letters + (rhs_ell ? n_ell : 0);
    if (rank > LEDGE_MAX_RANK || parse_term(rhs, rlen, rank, n_ell, labels, &has) < 0)
      return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': bad output term in '%s'", node->op_type, node->name, eq);
    for (int a = 0; a < rank; a++) {
      if (!used[labels[a]] || in_out[labels[a]])
        return lg_error(LEDGE_ERR_INVALID_ARGUMENT, "%s node '%s': output label not in the inputs or repeated in '%s'",
                        node->op_type, node->name, eq);
      p.out_label[p.n_out++] = labels[a];
      in_out[labels[a]] = true;
    }
  } else { /* implicit: broadcast dims, then letters used once, alphabetically */
    for (int l = 0; l < n_ell; l++) p.out_label[p.n_out++] = l, in_out[l] = true;
    for (int l = LEDGE_MAX_RANK; l < MAX_LABELS && p.n_out < LEDGE_MAX_RANK; l++)
      if (count[l] == 1) p.out_label[p.n_out++] = l, in_out[l] = true;
  }
  for (int l = 0; l < MAX_LABELS; l++)
    if (used[l] && !in_out[l]) p.sum_label[p.n_sum++] = l;
  int64_t dims[LEDGE_MAX_RANK];
  for (int a = 0; a < p.n_out; a++) dims[a] = p.size[p.out_label[a]];
  out[0]->dtype = in[0]->dtype;
  lg_tensor_set_shape(out[0], p.n_out, dims);
  int64_t sum_space = 1;
  for (int s = 0; s < p.n_sum; s++) sum_space *= p.size[p.sum_label[s]];
  node->macs = lg_tensor_count(out[0]) * sum_space;
  node->state = malloc(sizeof p);
  if (!node->state) return lg_error(LEDGE_ERR_NO_MEMORY, "out of memory");
  memcpy(node->state, &p, sizeof p);
  return LEDGE_OK;
}

static lg_status einsum_run(const lg_node *node, lg_tensor *const *in, lg_tensor *const *out, const lg_exec *exec) {
  const einsum_plan *p = node->state;
  int64_t idx[MAX_LABELS] = {0};
  int64_t n_out = lg_tensor_count(out[0]);
  for (int64_t o = 0; o < n_out; o++) {
    int64_t rem = o;
    for (int a = p->n_out - 1; a >= 0; a--) {
      int64_t d = p->size[p->out_label[a]];
      idx[p->out_label[a]] = d ? rem % d : 0;
      rem = d ? rem / d : 0;
    }
    for (int s = 0; s < p->n_sum; s++) idx[p->sum_label[s]] = 0;
    double acc = 0;
    bool empty = false;
    for (int s = 0; s < p->n_sum; s++) empty |= p->size[p->sum_label[s]] == 0;
    while (!empty) {
      double prod = 1;
      for (int k = 0; k < p->n_in; k++) {
        int64_t flat = 0;
        for (int a = 0; a < p->in_rank[k]; a++) {
          int64_t d = in[k]->dims[a];
          flat = flat * d + (d == 1 ? 0 : idx[p->in_label[k][a]]);
        }
        prod *= lg_tensor_get_double(in[k], flat);
      }
      acc += prod;
      int s = p->n_sum - 1; /* odometer over the summed labels */
      for (; s >= 0; s--) {
        int l = p->sum_label[s];
        if (++idx[l] < p->size[l]) break;
        idx[l] = 0;
      }
      if (s < 0) break;
    }
    switch (out[0]->dtype) {
      case LEDGE_FLOAT64: ((double *)out[0]->data)[o] = acc; break;
      /* clamp: converting an out-of-range double is undefined */
      case LEDGE_INT32: ((int32_t *)out[0]->data)[o] = (int32_t)(acc < -2147483648.0 ? -2147483648.0 : acc > 2147483647.0 ? 2147483647.0 : acc); break;
      case LEDGE_INT64: ((int64_t *)out[0]->data)[o] = (int64_t)(acc < -9.2e18 ? -9.2e18 : acc > 9.2e18 ? 9.2e18 : acc); break;
      default: ((float *)out[0]->data)[o] = (float)acc;
    }
  }
  return LEDGE_OK;
}

const lg_op_def lg_ops_einsum[] = {
    {.name = "Einsum", .domain = "", .infer = einsum_infer, .run = einsum_run},
    {0},
};

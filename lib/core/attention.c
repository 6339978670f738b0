/* attention.c — scaled dot-product attention, sliced over queries.
 *
 * For each slice of queries and each head: S = scale·Q_h K_hᵀ (GEMM, head h
 * addressed in place through the row strides), mask + causal + exp(s - max)
 * on the pool, then O_h = P V_h (GEMM) written straight into out and divided
 * by the row sums there (dim values per row instead of tk). Scratch is one
 * [slice, tk] matrix reused for every head, so memory does not grow with the
 * head count or with tq. Both products are dif_kgemm: float32 (exact) or
 * bf16 (the fast path: the scores S and V rounded to bf16, as PyTorch's bf16
 * attention; the softmax stays float32).
 */
#include <math.h>

#include "core/kern_simd.h"
#include "core/ops.h"
#include "core/ops_internal.h"

/* Scratch bound used when q_slice is 0. */
#define ATTN_SCRATCH_MAX ((size_t)16 << 20)

typedef struct probs_job {
  float *S;   /* [rows, tk] scores of this slice, row stride tk */
  float *inv; /* [rows]: 1 / the row's sum of exponentials */
  int64_t tk, i0;
  const float *mask; /* NULL or the mask row of query 0 */
  int64_t mask_ld;
  bool causal;
} probs_job;

/* Turns score rows into probabilities: additive mask, causal cut, softmax. */
static void probs_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const probs_job *j = arg;
  const int64_t tk = j->tk;
  for (int64_t r = begin; r < end; r++) {
    float *restrict s = j->S + r * tk;
    const int64_t i = j->i0 + r; /* global query index */
    if (j->mask) {
      const float *restrict m = j->mask + i * j->mask_ld;
      for (int64_t c = 0; c < tk; c++) s[c] += m[c];
    }
    if (j->causal)
      for (int64_t c = i + 1; c < tk; c++) s[c] = -INFINITY;
    j->inv[r] = dif_k_softmax_row_unnormalised(s, tk);
  }
}

static dif_status check_params(const dif_kctx *k, const dif_attention_params *p, const float *q,
                               const float *kk, const float *v, const float *out, dif_error *err) {
  if (!k || !k->arena || !p || !q || !kk || !v || !out)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "attention: NULL argument");
  if (p->tq < 0 || p->tk < 1 || p->heads < 1 || p->dim < 1 || p->q_slice < 0 ||
      (p->mask && p->mask_ld != 0 && p->mask_ld < p->tk))
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT,
                    "attention: bad shape (tq %lld, tk %lld, heads %lld, dim %lld, q_slice %lld, "
                    "mask_ld %lld)",
                    (long long)p->tq, (long long)p->tk, (long long)p->heads, (long long)p->dim,
                    (long long)p->q_slice, (long long)p->mask_ld);
  if (p->heads > DIF_GEMM_DIM_MAX / p->dim)
    return dif_fail(err, DIF_ERR_LIMIT, "attention: heads·dim exceeds the BLAS limit");
  const int64_t width = p->heads * p->dim;
  if (p->ld_q < width || p->ld_k < width || p->ld_v < width || p->ld_o < width)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT,
                    "attention: row strides (q %lld, k %lld, v %lld, out %lld) are below "
                    "heads·dim = %lld",
                    (long long)p->ld_q, (long long)p->ld_k, (long long)p->ld_v, (long long)p->ld_o,
                    (long long)width);
  if (p->tk > DIF_GEMM_DIM_MAX || p->tq > DIF_GEMM_DIM_MAX || p->ld_q > DIF_GEMM_DIM_MAX ||
      p->ld_k > DIF_GEMM_DIM_MAX || p->ld_v > DIF_GEMM_DIM_MAX || p->ld_o > DIF_GEMM_DIM_MAX)
    return dif_fail(err, DIF_ERR_LIMIT, "attention: sizes exceed the BLAS limit of %d",
                    DIF_GEMM_DIM_MAX);
  return DIF_OK;
}

dif_status dif_attention(const dif_kctx *k, const dif_attention_params *p, const float *q,
                         const float *kk, const float *v, float *out, dif_error *err) {
  dif_status st = check_params(k, p, q, kk, v, out, err);
  if (st != DIF_OK) return st;
  const int64_t tq = p->tq, tk = p->tk, dim = p->dim;
  if (tq == 0) return DIF_OK;

  int64_t slice = p->q_slice;
  if (slice == 0) slice = (int64_t)(ATTN_SCRATCH_MAX / ((size_t)tk * sizeof(float)));
  if (slice < 1) slice = 1;
  if (slice > tq) slice = tq;

  dif_arena_mark mark = dif_arena_get_mark(k->arena);
  float *S = dif_arena_floats(k->arena, (size_t)slice * (size_t)tk, err);
  float *inv = dif_arena_floats(k->arena, (size_t)slice, err);
  if (!S || !inv) {
    dif_arena_release(k->arena, mark);
    dif_error_prefix(err, "attention scores");
    return DIF_ERR_OUT_OF_MEMORY;
  }
  const int64_t grain = tk >= 2048 ? 1 : 2048 / tk;
  dif_prof_record_shape(DIF_PROF_ATTN_GEMM, false, true, tq, tk, dim, p->heads);
  dif_prof_record_shape(DIF_PROF_ATTN_GEMM, false, false, tq, dim, tk, p->heads);
  for (int64_t i0 = 0; i0 < tq && !st; i0 += slice) {
    const int64_t rows = tq - i0 < slice ? tq - i0 : slice;
    for (int64_t h = 0; h < p->heads; h++) {
      st = dif_kgemm(k, DIF_PROF_ATTN_GEMM, false, true, rows, tk, dim, p->scale,
                     q + i0 * p->ld_q + h * dim, p->ld_q, kk + h * dim, p->ld_k, 0.0f, S, tk, err);
      if (st) break;
      probs_job j = {S, inv, tk, i0, p->mask, p->mask_ld, p->causal};
      double t0 = DIF_PROF_START();
      dif_pool_for(k->pool, rows, grain, probs_task, &j);
      DIF_PROF_END(DIF_PROF_ATTN_SOFTMAX, t0, 0);
      float *o = out + i0 * p->ld_o + h * dim;
      st = dif_kgemm(k, DIF_PROF_ATTN_GEMM, false, false, rows, dim, tk, 1.0f, S, tk, v + h * dim,
                     p->ld_v, 0.0f, o, p->ld_o, err);
      if (st) break;
      /* The softmax's division, on [rows, dim] instead of [rows, tk]. */
      t0 = DIF_PROF_START();
      for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < dim; c++) o[r * p->ld_o + c] *= inv[r];
      DIF_PROF_END(DIF_PROF_ATTN_SOFTMAX, t0, 0);
    }
  }
  dif_arena_release(k->arena, mark);
  return st;
}

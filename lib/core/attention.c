/* attention.c — scaled dot-product attention, sliced over queries.
 *
 * For each slice of queries and each head: S = scale·Q_h K_hᵀ (GEMM, head h
 * addressed in place through the row strides), mask + causal + exp(s - max)
 * on the pool, then O_h = P V_h (GEMM) written straight into out and divided
 * by the row sums there (dim values per row instead of tk). Scratch is one
 * [slice, tk] matrix reused for every head, so memory does not grow with the
 * head count or with tq.
 *
 * With a key block (k_block) shorter than the keys, they go block by block
 * instead (the UNet's finest levels have 4096 tokens at 512², 9216 at 768²),
 * with an
 * online softmax (Milakov & Gimelshein 2018; flash attention): for each key
 * block b, S_b = scale·Q_h K_bᵀ; per row the running maximum m grows to
 * m' = max(m, max S_b), the partial output A and sum l are rescaled by
 * exp(m - m'), P_b = exp(S_b - m'), l += Σ P_b and A += P_b V_b (a GEMM
 * accumulating into A); at the end O_h = A / l. The scores of a slice then
 * never exist beyond one [slice, k_block] block, which stays in cache for
 * the softmax pass instead of streaming 16 MiB through memory. One block is
 * exactly the first scheme (bit for bit).
 *
 * Both products are dif__kgemm: float32 (exact) or bf16 (the fast path: the
 * scores S and V rounded to bf16, as PyTorch's bf16 attention; the softmax
 * stays float32). The fast path's attentions without mask or causal cut go
 * to the fused kernel instead where the CPU has AVX512-BF16
 * (core/attn_fused.h), which computes the same roundings in one pass; the
 * exact path's go to the fused float32 kernel where the CPU's best is AVX2
 * or its AVX-512 runs in 256-bit halves (core/attn_f32.h). Fast products
 * of at most DIF__KGEMM_SMALL_MACS multiplies run on OpenBLAS with
 * bf16-rounded operands (dif__kgemm).
 */
#include <math.h>

#include "core/attn_f32.h"
#include "core/attn_fused.h"
#include "core/kern_simd.h"
#include "core/ops.h"
#include "core/ops_internal.h"

/* Scratch bound used when q_slice is 0. */
#define ATTN_SCRATCH_MAX ((size_t)16 << 20)
/* Blockwise: queries per slice when q_slice is 0 (a [256, 1024] score block
 * is 1 MiB). */
#define ATTN_BLOCK_ROWS 256

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
    j->inv[r] = dif__k_softmax_row_unnormalised(s, tk);
  }
}

static dif_status check_params(const dif__kctx *k, const dif__attention_params *p, const float *q,
                               const float *kk, const float *v, const float *out, dif__error *err) {
  if (!k || !k->arena || !p || !q || !kk || !v || !out)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "attention: NULL argument");
  if (p->tq < 0 || p->tk < 1 || p->heads < 1 || p->dim < 1 || p->q_slice < 0 || p->k_block < 0 ||
      (p->mask && p->mask_ld != 0 && p->mask_ld < p->tk))
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "attention: bad shape (tq %lld, tk %lld, heads %lld, dim %lld, q_slice %lld, "
                     "k_block %lld, mask_ld %lld)",
                     (long long)p->tq, (long long)p->tk, (long long)p->heads, (long long)p->dim,
                     (long long)p->q_slice, (long long)p->k_block, (long long)p->mask_ld);
  if (p->heads > DIF__GEMM_DIM_MAX / p->dim)
    return dif__fail(err, DIF_ERR_LIMIT, "attention: heads·dim exceeds the BLAS limit");
  const int64_t width = p->heads * p->dim;
  if (p->ld_q < width || p->ld_k < width || p->ld_v < width || p->ld_o < width)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "attention: row strides (q %lld, k %lld, v %lld, out %lld) are below "
                     "heads·dim = %lld",
                     (long long)p->ld_q, (long long)p->ld_k, (long long)p->ld_v, (long long)p->ld_o,
                     (long long)width);
  if (p->tk > DIF__GEMM_DIM_MAX || p->tq > DIF__GEMM_DIM_MAX || p->ld_q > DIF__GEMM_DIM_MAX ||
      p->ld_k > DIF__GEMM_DIM_MAX || p->ld_v > DIF__GEMM_DIM_MAX || p->ld_o > DIF__GEMM_DIM_MAX)
    return dif__fail(err, DIF_ERR_LIMIT, "attention: sizes exceed the BLAS limit of %d",
                     DIF__GEMM_DIM_MAX);
  return DIF_OK;
}

typedef struct online_job {
  float *S;          /* [rows, kb] scores of this key block, row stride kb */
  float *acc;        /* [rows, dim]: Σ exp(s - m) v so far */
  float *m, *l;      /* [rows]: running maximum and Σ exp(s - m) */
  int64_t kb, dim;   /* keys in this block, head dimension */
  int64_t i0, j0;    /* global index of the slice's first query, block's first key */
  const float *mask; /* NULL or the mask row of query 0 */
  int64_t mask_ld;
  bool causal, first;
} online_job;

/* One key block of the online softmax: S_b to P_b (in place), m, l and the
 * partial output rows updated (acc is untouched on the first block, which
 * the caller's GEMM overwrites). */
static void online_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const online_job *j = arg;
  const int64_t kb = j->kb;
  for (int64_t r = begin; r < end; r++) {
    float *restrict s = j->S + r * kb;
    const int64_t i = j->i0 + r;
    if (j->mask) {
      const float *restrict mr = j->mask + i * j->mask_ld + j->j0;
      for (int64_t c = 0; c < kb; c++) s[c] += mr[c];
    }
    if (j->causal)
      for (int64_t c = i + 1 - j->j0 > 0 ? i + 1 - j->j0 : 0; c < kb; c++) s[c] = -INFINITY;
    float mb = -INFINITY;
    for (int64_t c = 0; c < kb; c++) mb = s[c] > mb ? s[c] : mb;
    const float inv = dif__k_softmax_row_unnormalised(s, kb); /* exp(s - mb); 0 when all -inf */
    const float mo = j->first ? -INFINITY : j->m[r];
    const float mn = mb > mo ? mb : mo;
    const float ca = mo == -INFINITY ? 0.0f : expf(mo - mn); /* the old terms' factor */
    const float cb = mb == -INFINITY ? 0.0f : expf(mb - mn); /* this block's factor */
    if (cb != 1.0f)
      for (int64_t c = 0; c < kb; c++) s[c] *= cb;
    const float lb = inv > 0.0f ? cb / inv : 0.0f;
    j->l[r] = j->first ? lb : j->l[r] * ca + lb;
    j->m[r] = mn;
    if (!j->first && ca != 1.0f) {
      float *restrict a = j->acc + r * j->dim;
      for (int64_t c = 0; c < j->dim; c++) a[c] *= ca;
    }
  }
}

/* Blockwise attention of one head over query rows [i0, i0 + rows): the
 * online softmax over key blocks of kb, the result divided by the row sums
 * into o (row stride ld_o). Scratch S [rows, kb], acc [rows, dim], m, l. */
static dif_status online_head(const dif__kctx *k, const dif__attention_params *p, const float *q,
                              const float *kk, const float *v, float *o, int64_t i0, int64_t rows,
                              int64_t kb, float *S, float *acc, float *m, float *l,
                              dif__error *err) {
  const int64_t tk = p->tk, dim = p->dim;
  dif_status st = DIF_OK;
  for (int64_t j0 = 0; j0 < tk && !st; j0 += kb) {
    const int64_t n = tk - j0 < kb ? tk - j0 : kb;
    st = dif__kgemm(k, DIF__PROF_ATTN_GEMM, false, true, rows, n, dim, p->scale, q, p->ld_q,
                    kk + j0 * p->ld_k, p->ld_k, 0.0f, S, n, err);
    if (st) break;
    online_job job = {S, acc, m, l, n, dim, i0, j0, p->mask, p->mask_ld, p->causal, j0 == 0};
    const double t0 = DIF__PROF_START();
    dif__pool_for(k->pool, rows, n >= 2048 ? 1 : 2048 / n, online_task, &job);
    DIF__PROF_END(DIF__PROF_ATTN_SOFTMAX, t0, 0);
    st = dif__kgemm(k, DIF__PROF_ATTN_GEMM, false, false, rows, dim, n, 1.0f, S, n,
                    v + j0 * p->ld_v, p->ld_v, j0 == 0 ? 0.0f : 1.0f, acc, dim, err);
  }
  if (st) return st;
  const double t0 = DIF__PROF_START();
  for (int64_t r = 0; r < rows; r++) {
    const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
    for (int64_t c = 0; c < dim; c++) o[r * p->ld_o + c] = acc[r * dim + c] * inv;
  }
  DIF__PROF_END(DIF__PROF_ATTN_SOFTMAX, t0, 0);
  return DIF_OK;
}

/* Long key sequences: slices of queries, each head blockwise. acc holds a
 * head's output until its last block, so out may still be q. */
static dif_status attention_blockwise(const dif__kctx *k, const dif__attention_params *p,
                                      const float *q, const float *kk, const float *v, float *out,
                                      int64_t kb, dif__error *err) {
  int64_t slice = p->q_slice ? p->q_slice : ATTN_BLOCK_ROWS;
  if (slice > p->tq) slice = p->tq;
  dif__arena_mark mark = dif__arena_get_mark(k->arena);
  float *S = dif__arena_floats(k->arena, (size_t)slice * (size_t)kb, err);
  float *acc = S ? dif__arena_floats(k->arena, (size_t)slice * (size_t)p->dim, err) : NULL;
  float *m = acc ? dif__arena_floats(k->arena, (size_t)slice, err) : NULL;
  float *l = m ? dif__arena_floats(k->arena, (size_t)slice, err) : NULL;
  dif_status st = DIF_OK;
  if (!l) {
    dif__error_prefix(err, "attention scores");
    st = DIF_ERR_OUT_OF_MEMORY;
  }
  dif__prof_record_shape(DIF__PROF_ATTN_GEMM, false, true, p->tq, p->tk, p->dim, p->heads);
  dif__prof_record_shape(DIF__PROF_ATTN_GEMM, false, false, p->tq, p->dim, p->tk, p->heads);
  for (int64_t i0 = 0; i0 < p->tq && !st; i0 += slice) {
    const int64_t rows = p->tq - i0 < slice ? p->tq - i0 : slice;
    for (int64_t h = 0; h < p->heads && !st; h++)
      st = online_head(k, p, q + i0 * p->ld_q + h * p->dim, kk + h * p->dim, v + h * p->dim,
                       out + i0 * p->ld_o + h * p->dim, i0, rows, kb, S, acc, m, l, err);
  }
  dif__arena_release(k->arena, mark);
  return st;
}

dif_status dif__attention(const dif__kctx *k, const dif__attention_params *p, const float *q,
                          const float *kk, const float *v, float *out, dif__error *err) {
  dif_status st = check_params(k, p, q, kk, v, out, err);
  if (st != DIF_OK) return st;
  const int64_t tq = p->tq, tk = p->tk, dim = p->dim;
  if (tq == 0) return DIF_OK;
  /* The fast path's attention without mask or causal cut, where the CPU has
   * AVX512-BF16 or AMX: one fused kernel instead of two products and a
   * softmax through memory (core/attn_fused.h; the same roundings). */
  if (k->fast && dif__attn_fused_fits(p)) {
    const dif__attn_fused_isa isa = dif__attn_fused_best();
    if (isa != DIF__ATTN_FUSED_PORTABLE) return dif__attn_fused(k, p, q, kk, v, out, isa, err);
  }
  /* exact's with short heads, where the CPU's best is AVX2 or its AVX-512
   * is split into 256-bit halves (Zen 4): the fused float32 kernel
   * (core/attn_f32.h), float32 like the products below. */
  if (!k->fast && dif__attn_f32_fits(p) && p->dim <= DIF__ATTN_F32_TAKEN_DIM_MAX &&
      dif__attn_f32_taken())
    return dif__attn_f32(k, p, q, kk, v, out, dif__attn_f32_native(), err);
  if (p->k_block && tk > p->k_block)
    return attention_blockwise(k, p, q, kk, v, out, p->k_block, err);

  int64_t slice = p->q_slice;
  if (slice == 0) slice = (int64_t)(ATTN_SCRATCH_MAX / ((size_t)tk * sizeof(float)));
  if (slice < 1) slice = 1;
  if (slice > tq) slice = tq;

  dif__arena_mark mark = dif__arena_get_mark(k->arena);
  float *S = dif__arena_floats(k->arena, (size_t)slice * (size_t)tk, err);
  float *inv = dif__arena_floats(k->arena, (size_t)slice, err);
  if (!S || !inv) {
    dif__arena_release(k->arena, mark);
    dif__error_prefix(err, "attention scores");
    return DIF_ERR_OUT_OF_MEMORY;
  }
  const int64_t grain = tk >= 2048 ? 1 : 2048 / tk;
  dif__prof_record_shape(DIF__PROF_ATTN_GEMM, false, true, tq, tk, dim, p->heads);
  dif__prof_record_shape(DIF__PROF_ATTN_GEMM, false, false, tq, dim, tk, p->heads);
  for (int64_t i0 = 0; i0 < tq && !st; i0 += slice) {
    const int64_t rows = tq - i0 < slice ? tq - i0 : slice;
    for (int64_t h = 0; h < p->heads; h++) {
      st = dif__kgemm(k, DIF__PROF_ATTN_GEMM, false, true, rows, tk, dim, p->scale,
                      q + i0 * p->ld_q + h * dim, p->ld_q, kk + h * dim, p->ld_k, 0.0f, S, tk, err);
      if (st) break;
      probs_job j = {S, inv, tk, i0, p->mask, p->mask_ld, p->causal};
      double t0 = DIF__PROF_START();
      dif__pool_for(k->pool, rows, grain, probs_task, &j);
      DIF__PROF_END(DIF__PROF_ATTN_SOFTMAX, t0, 0);
      float *o = out + i0 * p->ld_o + h * dim;
      st = dif__kgemm(k, DIF__PROF_ATTN_GEMM, false, false, rows, dim, tk, 1.0f, S, tk, v + h * dim,
                      p->ld_v, 0.0f, o, p->ld_o, err);
      if (st) break;
      /* The softmax's division, on [rows, dim] instead of [rows, tk]. */
      t0 = DIF__PROF_START();
      for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < dim; c++) o[r * p->ld_o + c] *= inv[r];
      DIF__PROF_END(DIF__PROF_ATTN_SOFTMAX, t0, 0);
    }
  }
  dif__arena_release(k->arena, mark);
  return st;
}

/* attn_f32_impl.h — the exact path's fused float32 attention (attn_f32.h),
 * written once over vmath.h's dif__vf (W = DIF__VW float lanes) and included
 * by attn_f32.c (the baseline build, W = 4), attn_f32_avx2.c (AVX2 + FMA,
 * W = 8), attn_f32_avx512.c (AVX-512F, W = 16) and attn_f32_wide.c (W = 16
 * on the baseline target) with DIF__K(name) naming the build's functions.
 *
 * Per task (one head, AF32_BQ queries) and key block of AF32_BK keys:
 *   S = scale · (Q Kᵀ)   micro-tiles of AF32_MR rows × 2W keys in registers
 *   online softmax       per row: the running maximum m and sum l (double),
 *                        O rescaled by exp(m_old − m_new) when m grows,
 *                        S turned into P = exp(S − m) in place (dif__vexp_v)
 *   O += P V             micro-tiles of AF32_MR rows × 2W columns
 * and at the end out = O / l. S, O and the task's queries stay in the
 * thread's scratch (L2); no score matrix goes through memory. Layouts:
 *   KP per head [tkpad/W][dim][W]: key group of W, the head dimension, the
 *      key — one vector per (group, d), so Q·Kᵀ broadcasts a query value
 *   VP per head [tkpad][dpad]: V's rows with the columns padded to W
 *   QB per task [BQ][dim]: the block's query rows (zero past tq)
 * tkpad = tk rounded up to AF32_PAD (2W), dpad = dim rounded up to W;
 * the padding is zero, and padded keys are never part of a softmax or of
 * P·V (only S's micro-tiles compute them).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/arena.h"
#include "core/attn_f32.h"
#include "core/ops_internal.h"
#include "core/threadpool.h"
#include "core/vmath.h"

#if !defined(DIF__K)
#error "attn_f32_impl.h: the including build defines DIF__K(name) first"
#endif

#if defined(DIF__VMATH_W) && DIF__VW != DIF__VMATH_W
#error "attn_f32_impl.h: vmath.h was included before the build set DIF__VMATH_W"
#endif

enum { AF32_W = DIF__VW };

/* Query rows per micro-tile: 6 rows × 2 accumulators + 2 operands + 1 of
 * AVX2's 16 registers. The 16-lane builds keep 6 rows: 12 (24 of AVX-512's
 * 32 registers, half the loads per FMA) measured no faster on Zen 4
 * (0.127 / 0.641 s against 0.123 / 0.623 s at 4096 / 9216 tokens × 5 heads
 * of 64, best of 6 alternated runs), and a tile's 6 rows pad less. Keys are
 * padded to a tile's width, 2W, V's columns to one vector, W (the last half
 * tile runs as af32_pv_tile1). */
#define AF32_MR 6
#define AF32_PAD (2 * AF32_W)
#define AF32_BQ 48  /* queries per task (a multiple of AF32_MR) */
#define AF32_BK 256 /* keys per online-softmax block: S of a task is 48 KiB */

/* *x in every lane, as a load-and-broadcast (dif__vf_splat adds +0, which
 * the compiler must keep for -0: an add and a shuffle on the FMA ports). */
static inline dif__vf DIF__K(af32_bcast)(const float *x) {
  const float v = *x;
#if DIF__VW == 16
  return (dif__vf){v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v};
#elif DIF__VW == 8
  return (dif__vf){v, v, v, v, v, v, v, v};
#else
  return (dif__vf){v, v, v, v};
#endif
}

typedef struct DIF__K(af32_job) {
  const dif__attention_params *p;
  const float *q, *k, *v;
  float *out;
  float *kp, *vp;           /* packed K and V of every head */
  int64_t tkpad, dpad, nqb; /* keys and columns padded, query blocks per head */
  unsigned char *tls;       /* per-thread scratch, tls_bytes each */
  size_t tls_bytes;
} DIF__K(af32_job);

/* KP and VP for keys [2W·begin, 2W·end) of every head; task index = head ·
 * (tkpad/2W) + chunk. */
static void DIF__K(af32_pack)(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const DIF__K(af32_job) *j = arg;
  const dif__attention_params *p = j->p;
  const int64_t chunks = j->tkpad / AF32_PAD, dim = p->dim, dpad = j->dpad;
  for (int64_t t = begin; t < end; t++) {
    const int64_t h = t / chunks, key0 = (t % chunks) * AF32_PAD;
    float *kp = j->kp + h * j->tkpad * dim, *vp = j->vp + h * j->tkpad * dpad;
    for (int64_t key = key0; key < key0 + AF32_PAD; key++) {
      const float *kr = key < p->tk ? j->k + key * p->ld_k + h * dim : NULL;
      const float *vr = key < p->tk ? j->v + key * p->ld_v + h * dim : NULL;
      float *kd = kp + (key / AF32_W) * dim * AF32_W + key % AF32_W, *vd = vp + key * dpad;
      for (int64_t d = 0; d < dim; d++) kd[d * AF32_W] = kr ? kr[d] : 0.0f;
      for (int64_t c = 0; c < dpad; c++) vd[c] = vr && c < dim ? vr[c] : 0.0f;
    }
  }
}

/* S[r][0, 2W) = scale · Σ_d QB[r][d] · K[key][d] for AF32_MR rows and the
 * 2W keys of the key groups at k0 and k0 + dim·W (S's row stride AF32_BK). */
static inline void DIF__K(af32_qk_tile)(const float *qb, int64_t dim, const float *k0, float *S,
                                        float scale) {
  dif__vf acc[AF32_MR][2];
  for (int r = 0; r < AF32_MR; r++) acc[r][0] = acc[r][1] = dif__vf_splat(0.0f);
  const float *k1 = k0 + dim * AF32_W;
  for (int64_t d = 0; d < dim; d++) {
    const dif__vf b0 = dif__vf_load(k0 + d * AF32_W), b1 = dif__vf_load(k1 + d * AF32_W);
#pragma GCC unroll 6
    for (int r = 0; r < AF32_MR; r++) {
      const dif__vf a = DIF__K(af32_bcast)(qb + r * dim + d);
      acc[r][0] += a * b0;
      acc[r][1] += a * b1;
    }
  }
  for (int r = 0; r < AF32_MR; r++) {
    dif__vf_store(S + r * AF32_BK, acc[r][0] * scale);
    dif__vf_store(S + r * AF32_BK + AF32_W, acc[r][1] * scale);
  }
}

/* O[r][0, 2W) += Σ_{j<n} P[r][j] · VP[j][0, 2W) for AF32_MR rows (P's row
 * stride AF32_BK, VP's and O's dpad). */
static inline void DIF__K(af32_pv_tile)(const float *P, const float *vp, int64_t dpad, int64_t n,
                                        float *O) {
  dif__vf acc[AF32_MR][2];
  for (int r = 0; r < AF32_MR; r++) {
    acc[r][0] = dif__vf_load(O + r * dpad);
    acc[r][1] = dif__vf_load(O + r * dpad + AF32_W);
  }
  for (int64_t jk = 0; jk < n; jk++) {
    const dif__vf b0 = dif__vf_load(vp + jk * dpad), b1 = dif__vf_load(vp + jk * dpad + AF32_W);
#pragma GCC unroll 6
    for (int r = 0; r < AF32_MR; r++) {
      const dif__vf a = DIF__K(af32_bcast)(P + r * AF32_BK + jk);
      acc[r][0] += a * b0;
      acc[r][1] += a * b1;
    }
  }
  for (int r = 0; r < AF32_MR; r++) {
    dif__vf_store(O + r * dpad, acc[r][0]);
    dif__vf_store(O + r * dpad + AF32_W, acc[r][1]);
  }
}

/* The same for the columns [0, W) alone: the last W of a dpad that is an
 * odd number of vectors (head dim 40: 40 columns with 8 lanes, 48 with 16,
 * where two-vector tiles alone would pad to 48 and 64). Each column's sum
 * is the same as in af32_pv_tile. */
static inline void DIF__K(af32_pv_tile1)(const float *P, const float *vp, int64_t dpad, int64_t n,
                                         float *O) {
  dif__vf acc[AF32_MR];
  for (int r = 0; r < AF32_MR; r++) acc[r] = dif__vf_load(O + r * dpad);
  for (int64_t jk = 0; jk < n; jk++) {
    const dif__vf b0 = dif__vf_load(vp + jk * dpad);
#pragma GCC unroll 6
    for (int r = 0; r < AF32_MR; r++) acc[r] += DIF__K(af32_bcast)(P + r * AF32_BK + jk) * b0;
  }
  for (int r = 0; r < AF32_MR; r++) dif__vf_store(O + r * dpad, acc[r]);
}

/* One row of a key block's n scores: P = exp(s − m') in place, m' the new
 * running maximum; l = l·exp(m − m') + Σ P. Returns exp(m − m'), the factor
 * of the row's partial output (0 on its first block, 1 when nothing changes;
 * an all -inf block adds nothing). */
static inline float DIF__K(af32_softmax_row)(float *s, int64_t n, float *m, double *l) {
  const float mb = dif__vmax(s, n), mo = *m;
  /* NaN scores (a NaN in q or k): the row's maximum, sum and output NaN,
   * as the unfused softmax gives */
  const float mn = isnan(mb) ? mb : mb > mo ? mb : mo;
  if (mn == -INFINITY) { /* nothing yet: P = 0 */
    memset(s, 0, (size_t)n * sizeof *s);
    return 1.0f;
  }
  const dif__vf vm = dif__vf_splat(mn);
  dif__vf vsum = dif__vf_splat(0.0f);
  int64_t i = 0;
  for (; i + AF32_W <= n; i += AF32_W) {
    const dif__vf e = dif__vexp_v(dif__vf_load(s + i) - vm);
    dif__vf_store(s + i, e);
    vsum += e;
  }
  double sum = dif__vf_hsum_d(vsum);
  if (i < n) { /* the tail, padded with -inf (exp 0) */
    float t[AF32_W];
    for (int c = 0; c < AF32_W; c++) t[c] = i + c < n ? s[i + c] : -INFINITY;
    const dif__vf e = dif__vexp_v(dif__vf_load(t) - vm);
    dif__vf_store(t, e);
    for (int64_t c = i; c < n; c++) {
      s[c] = t[c - i];
      sum += (double)t[c - i];
    }
  }
  const float ca = mo == -INFINITY ? 0.0f : expf(mo - mn);
  *l = *l * (double)ca + sum;
  *m = mn;
  return ca;
}

/* Tasks: head · nqb + query block. */
static void DIF__K(af32_task)(void *arg, int64_t begin, int64_t end, int thread) {
  const DIF__K(af32_job) *j = arg;
  const dif__attention_params *p = j->p;
  const int64_t dim = p->dim, dpad = j->dpad;
  unsigned char *t = j->tls + (size_t)thread * j->tls_bytes;
  double *l = (double *)(void *)t;
  float *m = (float *)(void *)(l + AF32_BQ);
  float *qb = m + AF32_BQ, *S = qb + AF32_BQ * dim, *O = S + AF32_BQ * AF32_BK;
  for (int64_t task = begin; task < end; task++) {
    const int64_t h = task / j->nqb, i0 = (task % j->nqb) * AF32_BQ;
    const int64_t rows = p->tq - i0 < AF32_BQ ? p->tq - i0 : AF32_BQ;
    const int64_t rows_pad = (rows + AF32_MR - 1) / AF32_MR * AF32_MR;
    for (int64_t r = 0; r < rows_pad; r++) {
      if (r < rows)
        memcpy(qb + r * dim, j->q + (i0 + r) * p->ld_q + h * dim, (size_t)dim * sizeof *qb);
      else
        memset(qb + r * dim, 0, (size_t)dim * sizeof *qb);
      m[r] = -INFINITY;
      l[r] = 0.0;
    }
    memset(O, 0, (size_t)(rows_pad * dpad) * sizeof *O);
    const float *kp = j->kp + h * j->tkpad * dim, *vp = j->vp + h * j->tkpad * dpad;
    for (int64_t j0 = 0; j0 < p->tk; j0 += AF32_BK) {
      const int64_t n = p->tk - j0 < AF32_BK ? p->tk - j0 : AF32_BK;
      const int64_t npad = (n + 2 * AF32_W - 1) / (2 * AF32_W) * (2 * AF32_W);
      for (int64_t c = 0; c < npad; c += 2 * AF32_W) { /* the key tile stays in L1 */
        const float *kt = kp + (j0 + c) * dim;
        for (int64_t r0 = 0; r0 < rows_pad; r0 += AF32_MR)
          DIF__K(af32_qk_tile)(qb + r0 * dim, dim, kt, S + r0 * AF32_BK + c, p->scale);
      }
      for (int64_t r = 0; r < rows_pad; r++) {
        const float ca = DIF__K(af32_softmax_row)(S + r * AF32_BK, n, m + r, l + r);
        if (ca != 1.0f)
          for (int64_t c = 0; c < dpad; c++) O[r * dpad + c] *= ca;
      }
      for (int64_t c = 0; c < dpad; c += 2 * AF32_W) /* V's columns stay in L1 */
        for (int64_t r0 = 0; r0 < rows_pad; r0 += AF32_MR)
          if (c + 2 * AF32_W <= dpad)
            DIF__K(af32_pv_tile)(S + r0 * AF32_BK, vp + j0 * dpad + c, dpad, n, O + r0 * dpad + c);
          else
            DIF__K(af32_pv_tile1)(S + r0 * AF32_BK, vp + j0 * dpad + c, dpad, n, O + r0 * dpad + c);
    }
    for (int64_t r = 0; r < rows; r++) {
      const float inv = l[r] > 0.0 ? (float)(1.0 / l[r]) : 0.0f;
      float *o = j->out + (i0 + r) * p->ld_o + h * dim;
      for (int64_t c = 0; c < dim; c++) o[c] = O[r * dpad + c] * inv;
    }
  }
}

dif_status DIF__K(dif__attn_f32_run)(const dif__kctx *k, const dif__attention_params *p,
                                     const float *q, const float *kk, const float *v, float *out,
                                     dif__error *err) {
  DIF__K(af32_job) j = {.p = p, .q = q, .k = kk, .v = v, .out = out};
  j.dpad = (p->dim + AF32_W - 1) / AF32_W * AF32_W;
  j.tkpad = (p->tk + AF32_PAD - 1) / AF32_PAD * AF32_PAD;
  j.nqb = (p->tq + AF32_BQ - 1) / AF32_BQ;
  const int threads = dif__pool_threads(k->pool) > 0 ? dif__pool_threads(k->pool) : 1;
  /* l (double), m, qb, S, O; 64-byte multiples keep every thread's apart */
  j.tls_bytes =
      ((size_t)AF32_BQ * (8 + 4 * (size_t)(1 + p->dim + AF32_BK + j.dpad)) + 63) / 64 * 64;
  const size_t per_key = (size_t)p->heads * (size_t)(p->dim + j.dpad) * sizeof(float);
  if ((size_t)j.tkpad > (SIZE_MAX / 2 - j.tls_bytes * (size_t)threads) / per_key)
    return dif__fail(err, DIF_ERR_OUT_OF_MEMORY,
                     "fused float32 attention's packed keys and values: %lld keys of %lld heads "
                     "do not fit in memory",
                     (long long)p->tk, (long long)p->heads);
  const size_t packed = per_key * (size_t)j.tkpad;
  dif__arena_mark mark = dif__arena_get_mark(k->arena);
  unsigned char *mem = dif__arena_alloc(k->arena, packed + 64 + j.tls_bytes * (size_t)threads, err);
  if (!mem) {
    dif__arena_release(k->arena, mark);
    dif__error_prefix(err, "fused float32 attention's packed keys and values");
    return DIF_ERR_OUT_OF_MEMORY;
  }
  j.kp = (float *)(void *)mem;
  j.vp = j.kp + p->heads * j.tkpad * p->dim;
  j.tls = mem + (packed + 63) / 64 * 64;
  const double t0 = DIF__PROF_START();
  dif__pool_for(k->pool, p->heads * (j.tkpad / AF32_PAD), 4, DIF__K(af32_pack), &j);
  dif__pool_for(k->pool, p->heads * j.nqb, 1, DIF__K(af32_task), &j);
  DIF__PROF_END(DIF__PROF_ATTN_FUSED, t0,
                4.0 * (double)p->tq * (double)p->tk * (double)p->dim * (double)p->heads);
  dif__arena_release(k->arena, mark);
  return DIF_OK;
}

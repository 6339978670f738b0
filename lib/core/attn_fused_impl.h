/* attn_fused_impl.h — the fused bf16 attention (attn_fused.h), written once
 * and included by each build after it defines:
 *   AF(name)         the build's name for a function (name##_avx512bf16, ...)
 *   af_v             16 float32 lanes; af_zero(), af_loadv(p), af_storev(p, v)
 *   af_w             16 lanes of bf16 pairs (32 bf16, lane i = elements 2i,
 *                    2i+1 in its low and high half); af_loadw(p) reads 16
 *                    uint32_t, af_bcastw(x) repeats one pair in every lane
 *   af_dp(acc, a, b) acc[i] + a.hi[i]·b.hi[i] + a.lo[i]·b.lo[i] in float32
 *                    (VDPBF16PS: the high product added first, each sum
 *                    rounded, each product exact)
 *   af_cvt16(d, v)   the 16 float32 lanes of v (a dif__vf16) to bf16 bits
 *                    d, round to nearest even (VCVTNEPS2BF16)
 *
 * Layouts (u32 = one bf16 pair, low half first):
 *   KP  per head [tkpad/16][dp2][16]: key group of 16, then the pair index
 *       p of the head dimension, then the key — one af_w per (group, p)
 *   VP  per head [tkpad/2][dpad][1]: key pair, then the output column c
 *       (keys 2j and 2j+1 of column c in one u32) — af_w per 16 columns
 *   QB  per task [BQ][dp2]: the query block's rows as pairs
 *   PB  per task [BQ][BK] bf16: the probabilities, read as key pairs
 * with dp2 = ceil(dim/2), dpad = dim rounded up to 16, tkpad = tk rounded up
 * to 32; the padding is zero (zero keys give score 0, masked out by the
 * softmax pass; zero columns of V give nothing).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/arena.h"
#include "core/attn_fused.h"
#include "core/dtype.h"
#include "core/ops_internal.h"
#include "core/threadpool.h"
/* vmath.h with DIF__VMATH_16, which the build defines before its own include */
#include "core/vmath.h"

#if !defined(DIF__VMATH_16)
#error "attn_fused_impl.h needs the 16-lane exp of vmath.h: a build defines DIF__VMATH_16 first"
#endif

#define AF_BQ 64  /* queries per task */
#define AF_BK 256 /* keys per online-softmax block */
#define AF_MR 8   /* query rows per micro-tile */

typedef struct AF(job) {
  const dif__attention_params *p;
  const float *q, *k, *v;
  float *out;
  uint32_t *kp, *vp;  /* packed K and V of every head */
  int64_t dp2, dpad;  /* pairs of the head dimension, columns of V rounded up to 16 */
  int64_t tkpad, nqb; /* keys rounded up to 32, query blocks per head */
  unsigned char *tls; /* per-thread tiles, tls_bytes each */
  size_t tls_bytes;
} AF(job);

static inline uint32_t AF(pair)(float lo, float hi) {
  return (uint32_t)dif__bf16_rne(lo) | (uint32_t)dif__bf16_rne(hi) << 16;
}

/* KP and VP for keys [32·begin, 32·end) of every head; task index = head ·
 * (tkpad/32) + chunk. */
static void AF(pack_task)(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const AF(job) *j = arg;
  const dif__attention_params *p = j->p;
  const int64_t chunks = j->tkpad / 32, dim = p->dim;
  for (int64_t t = begin; t < end; t++) {
    const int64_t h = t / chunks, key0 = (t % chunks) * 32;
    uint32_t *kp = j->kp + h * j->tkpad * j->dp2;
    uint32_t *vp = j->vp + h * (j->tkpad / 2) * j->dpad;
    for (int64_t key = key0; key < key0 + 32; key++) {
      const float *kr = key < p->tk ? j->k + key * p->ld_k + h * dim : NULL;
      uint32_t *dst = kp + (key / 16) * j->dp2 * 16 + key % 16;
      for (int64_t i = 0; i < j->dp2; i++)
        dst[i * 16] = kr ? AF(pair)(kr[2 * i], 2 * i + 1 < dim ? kr[2 * i + 1] : 0.0f) : 0u;
    }
    for (int64_t key = key0; key < key0 + 32; key += 2) {
      const float *v0 = key < p->tk ? j->v + key * p->ld_v + h * dim : NULL;
      const float *v1 = key + 1 < p->tk ? j->v + (key + 1) * p->ld_v + h * dim : NULL;
      uint32_t *dst = vp + (key / 2) * j->dpad;
      for (int64_t c = 0; c < j->dpad; c++)
        dst[c] = c < dim ? AF(pair)(v0 ? v0[c] : 0.0f, v1 ? v1[c] : 0.0f) : 0u;
    }
  }
}

/* S[r][0, 32) = Σ_i QB[r][i] · KP[i][keys] for AF_MR rows and the 32 keys of
 * the key groups at k0 and k0 + dp2·16 (row stride lds). */
static inline void AF(qk_tile)(const uint32_t *qb, int64_t dp2, const uint32_t *k0, float *S,
                               int64_t lds) {
  af_v acc[AF_MR][2];
  for (int r = 0; r < AF_MR; r++) acc[r][0] = acc[r][1] = af_zero();
  const uint32_t *k1 = k0 + dp2 * 16;
  for (int64_t i = 0; i < dp2; i++) {
    const af_w b0 = af_loadw(k0 + i * 16), b1 = af_loadw(k1 + i * 16);
#pragma GCC unroll 8
    for (int r = 0; r < AF_MR; r++) {
      const af_w a = af_bcastw(qb[r * dp2 + i]);
      acc[r][0] = af_dp(acc[r][0], a, b0);
      acc[r][1] = af_dp(acc[r][1], a, b1);
    }
  }
  for (int r = 0; r < AF_MR; r++) {
    af_storev(S + r * lds, acc[r][0]);
    af_storev(S + r * lds + 16, acc[r][1]);
  }
}

/* O[r][0, 16·C) += Σ_j PB[r][pair j] · VP[j][cols] over npairs key pairs
 * for AF_MR rows (C = 1 or 2 column groups of 16; ldp, ldv, ldo the row
 * strides of pb in bf16, of vp in pairs, of O in floats). */
static inline __attribute__((always_inline)) void AF(pv_tile)(const uint16_t *pb, int64_t ldp,
                                                              const uint32_t *vp, int64_t ldv,
                                                              int64_t npairs, float *O, int64_t ldo,
                                                              const int C) {
  af_v acc[AF_MR][2];
  for (int r = 0; r < AF_MR; r++)
    for (int c = 0; c < C; c++) acc[r][c] = af_loadv(O + r * ldo + 16 * c);
  for (int64_t jp = 0; jp < npairs; jp++) {
    af_w b[2];
    for (int c = 0; c < C; c++) b[c] = af_loadw(vp + jp * ldv + 16 * c);
#pragma GCC unroll 8
    for (int r = 0; r < AF_MR; r++) {
      uint32_t pair; /* keys 2jp, 2jp + 1 of row r (memcpy: pb holds uint16_t) */
      memcpy(&pair, pb + r * ldp + 2 * jp, sizeof pair);
      const af_w a = af_bcastw(pair);
      for (int c = 0; c < C; c++) acc[r][c] = af_dp(acc[r][c], a, b[c]);
    }
  }
  for (int r = 0; r < AF_MR; r++)
    for (int c = 0; c < C; c++) af_storev(O + r * ldo + 16 * c, acc[r][c]);
}

static inline dif__vf16 AF(ld16)(const float *p) {
  dif__vf16 v;
  memcpy(&v, p, sizeof v);
  return v;
}

/* The softmax pass over one row of a key block: the running maximum *m and
 * sum *l updated with the scores scale·s[0, n) (scale > 0, so the largest
 * score is scale times the largest s), P = exp(scale·s - m) rounded into
 * pb[0, npad) (zero past n); returns the factor the row's partial output is
 * rescaled by. Two passes of 16 lanes over the row (npad is a multiple of
 * 32), in cache; s past n is overwritten. */
static float AF(softmax_row)(float *s, int64_t n, int64_t npad, float scale, float *m, float *l,
                             uint16_t *pb) {
  for (int64_t c = n; c < npad; c++) s[c] = -INFINITY; /* exp gives 0 there */
  dif__vf16 vmax = (dif__vf16){0} - INFINITY;
  for (int64_t c = 0; c < npad; c += 16) {
    const dif__vf16 x = AF(ld16)(s + c);
    const dif__vi16 gt = x > vmax;
    vmax = (dif__vf16)((gt & (dif__vi16)x) | (~gt & (dif__vi16)vmax));
  }
  float mb = -INFINITY;
  for (int i = 0; i < 16; i++) mb = vmax[i] > mb ? vmax[i] : mb;
  mb *= scale;
  const float mo = *m, mn = mb > mo ? mb : mo;
  if (mn == -INFINITY) { /* every score so far is -inf (only with infinite inputs) */
    memset(pb, 0, (size_t)npad * sizeof *pb);
    return 1.0f;
  }
  dif__vf16 vsum = {0};
  for (int64_t c = 0; c < npad; c += 16) {
    const dif__vf16 e = dif__vexp16(AF(ld16)(s + c) * scale - mn);
    vsum += e;
    af_cvt16(pb + c, e);
  }
  float sum = 0.0f;
  for (int i = 0; i < 16; i++) sum += vsum[i];
  const float ca = mo == -INFINITY ? 0.0f : expf(mo - mn);
  *l = *l * ca + sum;
  *m = mn;
  return ca;
}

/* One key block for a task's rows_pad rows: S, the softmax pass, O += P·V. */
static void AF(key_block)(const AF(job) * j, const uint32_t *kp, const uint32_t *vp, int64_t j0,
                          int64_t rows_pad, const uint32_t *qb, float *S, uint16_t *pb, float *O,
                          float *m, float *l) {
  const dif__attention_params *p = j->p;
  const int64_t n = p->tk - j0 < AF_BK ? p->tk - j0 : AF_BK;
  const int64_t npad = (n + 31) / 32 * 32, dp2 = j->dp2, dpad = j->dpad;
  for (int64_t r0 = 0; r0 < rows_pad; r0 += AF_MR)
    for (int64_t g = 0; g < npad; g += 32)
      AF(qk_tile)(qb + r0 * dp2, dp2, kp + (j0 + g) * dp2, S + r0 * AF_BK + g, AF_BK);
  for (int64_t r = 0; r < rows_pad; r++) {
    const float ca =
        AF(softmax_row)(S + r * AF_BK, n, npad, p->scale, m + r, l + r, pb + r * AF_BK);
    if (ca != 1.0f)
      for (int64_t c = 0; c < dpad; c++) O[r * dpad + c] *= ca;
  }
  const uint32_t *vb = vp + (j0 / 2) * dpad;
  for (int64_t r0 = 0; r0 < rows_pad; r0 += AF_MR)
    for (int64_t c0 = 0; c0 < dpad; c0 += 32) {
      const uint16_t *pr = pb + r0 * AF_BK;
      float *o = O + r0 * dpad + c0;
      if (dpad - c0 >= 32)
        AF(pv_tile)(pr, AF_BK, vb + c0, dpad, npad / 2, o, dpad, 2);
      else
        AF(pv_tile)(pr, AF_BK, vb + c0, dpad, npad / 2, o, dpad, 1);
    }
}

/* Tasks: head · nqb + query block. */
static void AF(attn_task)(void *arg, int64_t begin, int64_t end, int thread) {
  const AF(job) *j = arg;
  const dif__attention_params *p = j->p;
  const int64_t dp2 = j->dp2, dpad = j->dpad, dim = p->dim;
  unsigned char *t = j->tls + (size_t)thread * j->tls_bytes;
  uint32_t *qb = (uint32_t *)(void *)t;
  float *S = (float *)(void *)(qb + AF_BQ * dp2);
  float *O = S + AF_BQ * AF_BK;
  float *m = O + AF_BQ * dpad, *l = m + AF_BQ;
  uint16_t *pb = (uint16_t *)(void *)(l + AF_BQ);
  for (int64_t task = begin; task < end; task++) {
    const int64_t h = task / j->nqb, i0 = (task % j->nqb) * AF_BQ;
    const int64_t rows = p->tq - i0 < AF_BQ ? p->tq - i0 : AF_BQ;
    const int64_t rows_pad = (rows + AF_MR - 1) / AF_MR * AF_MR;
    for (int64_t r = 0; r < rows_pad; r++) {
      const float *qr = r < rows ? j->q + (i0 + r) * p->ld_q + h * dim : NULL;
      for (int64_t i = 0; i < dp2; i++)
        qb[r * dp2 + i] = qr ? AF(pair)(qr[2 * i], 2 * i + 1 < dim ? qr[2 * i + 1] : 0.0f) : 0u;
      m[r] = -INFINITY;
      l[r] = 0.0f;
    }
    memset(O, 0, (size_t)(rows_pad * dpad) * sizeof *O);
    const uint32_t *kp = j->kp + h * j->tkpad * dp2;
    const uint32_t *vp = j->vp + h * (j->tkpad / 2) * dpad;
    for (int64_t j0 = 0; j0 < p->tk; j0 += AF_BK)
      AF(key_block)(j, kp, vp, j0, rows_pad, qb, S, pb, O, m, l);
    for (int64_t r = 0; r < rows; r++) {
      const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
      float *o = j->out + (i0 + r) * p->ld_o + h * dim;
      for (int64_t c = 0; c < dim; c++) o[c] = O[r * dpad + c] * inv;
    }
  }
}

dif_status AF(dif__attn_fused)(const dif__kctx *k, const dif__attention_params *p, const float *q,
                               const float *kk, const float *v, float *out, dif__error *err) {
  AF(job) j = {.p = p, .q = q, .k = kk, .v = v, .out = out};
  j.dp2 = (p->dim + 1) / 2;
  j.dpad = (p->dim + 15) / 16 * 16;
  j.tkpad = (p->tk + 31) / 32 * 32;
  j.nqb = (p->tq + AF_BQ - 1) / AF_BQ;
  const int threads = dif__pool_threads(k->pool) > 0 ? dif__pool_threads(k->pool) : 1;
  /* qb, S, O, m, l, pb; 64-byte multiples keep every tile aligned */
  j.tls_bytes =
      ((size_t)AF_BQ * (size_t)(j.dp2 + AF_BK + j.dpad + 2) * 4 + (size_t)AF_BQ * AF_BK * 2 + 63) /
      64 * 64;
  /* packed K and V: heads · tkpad · (dp2 + dpad/2) pairs of 4 bytes */
  const size_t per_key = (size_t)p->heads * (size_t)(j.dp2 + j.dpad / 2) * 4;
  if ((size_t)j.tkpad > (SIZE_MAX / 2 - j.tls_bytes * (size_t)threads) / per_key)
    return dif__fail(err, DIF_ERR_OUT_OF_MEMORY,
                     "fused attention's packed keys and values: %lld keys of %lld heads do not "
                     "fit in memory",
                     (long long)p->tk, (long long)p->heads);
  const size_t packed = per_key * (size_t)j.tkpad;
  dif__arena_mark mark = dif__arena_get_mark(k->arena);
  unsigned char *mem = dif__arena_alloc(k->arena, packed + 64 + j.tls_bytes * (size_t)threads, err);
  if (!mem) {
    dif__arena_release(k->arena, mark);
    dif__error_prefix(err, "fused attention's packed keys and values");
    return DIF_ERR_OUT_OF_MEMORY;
  }
  j.kp = (uint32_t *)(void *)mem;
  j.vp = j.kp + p->heads * j.tkpad * j.dp2;
  j.tls = mem + (packed + 63) / 64 * 64;
  const double t0 = DIF__PROF_START();
  dif__pool_for(k->pool, p->heads * (j.tkpad / 32), 4, AF(pack_task), &j);
  dif__pool_for(k->pool, p->heads * j.nqb, 1, AF(attn_task), &j);
  DIF__PROF_END(DIF__PROF_ATTN_FUSED, t0,
                4.0 * (double)p->tq * (double)p->tk * (double)p->dim * (double)p->heads);
  dif__arena_release(k->arena, mark);
  return DIF_OK;
}

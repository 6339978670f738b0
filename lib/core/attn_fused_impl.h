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
 *   af_exp2(t)       2^t of every lane of a dif__vf16, for t ≤ 1: 0 for
 *                    -inf, NaN for NaN, ~2 ulp (vmath.h's DIF__EXP2_*)
 *   af_max16(x, m)   lane by lane x where x > m, else m (a NaN x leaves m)
 *   af_hmax16(v), af_hsum16(v)  the largest lane (of lanes without NaN), the
 *                    sum of the lanes (in any order: a native build's tree)
 * and, for a build whose two products run in AMX tiles, AF_TILES and:
 *   at_config(cfg)   LDTILECFG of a 64-byte palette-1 configuration
 *   at_release()     TILERELEASE
 *   at_zero(t)       TILEZERO tmm t
 *   at_load(t, p, s) TILELOADD tmm t from p, row stride s bytes
 *   at_store(t, p, s) TILESTORED tmm t to p, row stride s bytes
 *   at_dp(c, a, b)   TDPBF16PS: tmm c (float32 M × N) += tmm a (M rows of K
 *                    bf16 pairs) · tmm b (K rows of N bf16 pairs)
 * (t, c, a, b literal tile numbers: the instructions encode them).
 *
 * Layouts (u32 = one bf16 pair, low half first):
 *   KP  per head [tkpad/16][dp2][16]: key group of 16, then the pair index
 *       p of the head dimension, then the key — one af_w per (group, p)
 *   VP  per head [tkpad/2][dpad][1]: key pair, then the output column c
 *       (keys 2j and 2j+1 of column c in one u32) — af_w per 16 columns
 *   QB  per task [BQ][dp2]: the query block's rows as pairs
 *   PB  per task [BQ][BK] bf16: the probabilities, read as key pairs
 * with dp2 = ceil(dim/2) (rounded up to 16 in a tile build: one tile's
 * depth), dpad = dim rounded up to 16, tkpad = tk rounded up to 32; the
 * padding is zero (zero keys give score 0, masked out by the softmax pass;
 * zero columns of V give nothing). These are the tiles' layouts as they are:
 * a tile of KP (16 pairs × 16 keys, stride 64 bytes), of VP (16 key pairs ×
 * 16 columns, stride 4·dpad) and of QB or PB (16 rows × 32 bf16) is what
 * TDPBF16PS multiplies.
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
#error "attn_fused_impl.h needs the 16-lane vectors of vmath.h: a build defines DIF__VMATH_16 first"
#endif

#define AF_BQ 64 /* queries per task */
/* keys per online-softmax block: 512 measured 2-5 % faster than 256 on Zen 4
 * (dif-bench-attention, 4096 and 9216 tokens: the per-block reductions and
 * rescaling amortised over twice the keys); S and P of a task then take
 * 192 KiB, in L2 on every CPU with AVX512-BF16 */
#define AF_BK 512
#if defined(AF_TILES)
#define AF_MR 16        /* query rows per tile */
#define AF_DP2_ALIGN 16 /* pairs of the head dimension per tile */
#else
/* A micro-tile: 4 query rows × 4 groups of 16 keys (Q·Kᵀ) or of 16 columns
 * of V (P·V), 16 float32 accumulators, 4 broadcasts and 4 loads per 16
 * VDPBF16PS. Measured on Zen 4 against 8 rows × 2 groups (10 loads per 16;
 * dif-bench-attention, alternated, best of 8): 4096 and 9216 tokens × 5
 * heads of 64 about 6 % faster, SD-1.5's heads of 40, 80, 160 and the VAE's
 * one of 512 4–10 %; the 768² UNet step's attention 4.05–4.11 -> 3.78–3.82
 * s (docs/performance.md). 6 × 4 (24 accumulators) measured no better. */
#define AF_MR 4 /* query rows per micro-tile */
#define AF_NG 4 /* groups of 16 keys or columns per micro-tile */
#define AF_DP2_ALIGN 1
#endif

typedef struct AF(job) {
  const dif__attention_params *p;
  const float *q, *k, *v;
  float *out;
  uint32_t *kp, *vp;  /* packed K and V of every head */
  int64_t dp2, dpad;  /* pairs of the head dimension (padded), columns of V rounded up to 16 */
  int64_t tkpad, nqb; /* keys rounded up to 32, query blocks per head */
  unsigned char *tls; /* per-thread tiles, tls_bytes each */
  size_t tls_bytes;
} AF(job);

static inline uint32_t AF(pair)(float lo, float hi) {
  return (uint32_t)dif__bf16_rne(lo) | (uint32_t)dif__bf16_rne(hi) << 16;
}

/* Pair i of a row of dim values (zero past dim). */
static inline uint32_t AF(row_pair)(const float *r, int64_t i, int64_t dim) {
  return AF(pair)(2 * i < dim ? r[2 * i] : 0.0f, 2 * i + 1 < dim ? r[2 * i + 1] : 0.0f);
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
      for (int64_t i = 0; i < j->dp2; i++) dst[i * 16] = kr ? AF(row_pair)(kr, i, dim) : 0u;
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

#if !defined(AF_TILES)

/* S[r][0, 16·G) = Σ_i QB[r][i] · KP[i][keys] for AF_MR rows and the 16·G
 * keys of the G key groups from k0 (each dp2·16 pairs after the last; row
 * stride lds of S). */
static inline __attribute__((always_inline)) void AF(qk_tile)(const uint32_t *qb, int64_t dp2,
                                                              const uint32_t *k0, float *S,
                                                              int64_t lds, const int G) {
  af_v acc[AF_MR][AF_NG];
  for (int r = 0; r < AF_MR; r++)
    for (int g = 0; g < G; g++) acc[r][g] = af_zero();
  for (int64_t i = 0; i < dp2; i++) {
    af_w b[AF_NG];
    for (int g = 0; g < G; g++) b[g] = af_loadw(k0 + g * dp2 * 16 + i * 16);
#pragma GCC unroll 8
    for (int r = 0; r < AF_MR; r++) {
      const af_w a = af_bcastw(qb[r * dp2 + i]);
      for (int g = 0; g < G; g++) acc[r][g] = af_dp(acc[r][g], a, b[g]);
    }
  }
  for (int r = 0; r < AF_MR; r++)
    for (int g = 0; g < G; g++) af_storev(S + r * lds + 16 * g, acc[r][g]);
}

/* O[r][0, 16·C) += Σ_j PB[r][pair j] · VP[j][cols] over npairs key pairs
 * for AF_MR rows (C ≤ AF_NG column groups of 16; ldp, ldv, ldo the row
 * strides of pb in bf16, of vp in pairs, of O in floats). */
static inline __attribute__((always_inline)) void AF(pv_tile)(const uint16_t *pb, int64_t ldp,
                                                              const uint32_t *vp, int64_t ldv,
                                                              int64_t npairs, float *O, int64_t ldo,
                                                              const int C) {
  af_v acc[AF_MR][AF_NG];
  for (int r = 0; r < AF_MR; r++)
    for (int c = 0; c < C; c++) acc[r][c] = af_loadv(O + r * ldo + 16 * c);
  for (int64_t jp = 0; jp < npairs; jp++) {
    af_w b[AF_NG];
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

/* S[r][g] = Σ_i QB[r][i] · KP[i][key j0 + g] for rows [0, rows_pad) and keys
 * g in [0, npad) of a key block (kp at its first key group; S's row stride
 * AF_BK; npad a multiple of 32). */
static void AF(qk_block)(const uint32_t *qb, int64_t dp2, const uint32_t *kp, int64_t rows_pad,
                         int64_t npad, float *S) {
  for (int64_t r0 = 0; r0 < rows_pad; r0 += AF_MR) {
    int64_t g = 0;
    for (; g + 16 * AF_NG <= npad; g += 16 * AF_NG)
      AF(qk_tile)(qb + r0 * dp2, dp2, kp + g * dp2, S + r0 * AF_BK + g, AF_BK, AF_NG);
    for (; g < npad; g += 32)
      AF(qk_tile)(qb + r0 * dp2, dp2, kp + g * dp2, S + r0 * AF_BK + g, AF_BK, 2);
  }
}

/* O[r][c] += Σ_j PB[r][j] · V[j][c] over the block's npad keys for rows [0,
 * rows_pad) and columns [0, dpad) (vb at the block's first key pair). */
static void AF(pv_block)(const uint16_t *pb, const uint32_t *vb, int64_t dpad, int64_t rows_pad,
                         int64_t npad, float *O) {
  for (int64_t r0 = 0; r0 < rows_pad; r0 += AF_MR) {
    const uint16_t *pr = pb + r0 * AF_BK;
    int64_t c0 = 0;
    for (; c0 + 16 * AF_NG <= dpad; c0 += 16 * AF_NG)
      AF(pv_tile)(pr, AF_BK, vb + c0, dpad, npad / 2, O + r0 * dpad + c0, dpad, AF_NG);
    for (; c0 + 32 <= dpad; c0 += 32)
      AF(pv_tile)(pr, AF_BK, vb + c0, dpad, npad / 2, O + r0 * dpad + c0, dpad, 2);
    if (c0 < dpad) AF(pv_tile)(pr, AF_BK, vb + c0, dpad, npad / 2, O + r0 * dpad + c0, dpad, 1);
  }
}

#define AF_TILES_BEGIN() ((void)0)
#define AF_TILES_END() ((void)0)

#else /* AF_TILES: the two products in AMX tiles */

/* Palette 1, every tile 16 rows of 64 bytes: tmm0-3 the float32 results of
 * 2 row strips × 2 column (or key) groups, tmm4-5 the strips of QB or PB,
 * tmm6-7 the groups of KP or VP. */
typedef struct AF(tilecfg) {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} AF(tilecfg);

/* Static data: GCC's LDTILECFG statement names only the first 8 bytes of
 * its operand, so stores into a local configuration could be dropped. */
static const _Alignas(64) AF(tilecfg) AF(tiles) = {
    .palette = 1,
    .colsb = {64, 64, 64, 64, 64, 64, 64, 64},
    .rows = {16, 16, 16, 16, 16, 16, 16, 16},
};

static inline void AF(tiles_begin)(void) { at_config(&AF(tiles)); }
#define AF_TILES_BEGIN() AF(tiles_begin)()
#define AF_TILES_END() at_release()

/* 16·R rows × 32 keys of S (row stride AF_BK) from R strips of QB (at row
 * r0; dp2 pairs a row) and the two key groups at kg (16 keys each, dp2 · 16
 * pairs apart). R = 1 or 2. */
static inline __attribute__((always_inline)) void
AF(qk_tiles)(const uint32_t *qb, int64_t dp2, const uint32_t *kg, float *S, const int R) {
  const int64_t lda = dp2 * 4, ldc = AF_BK * 4;
  at_zero(0);
  at_zero(1);
  if (R == 2) {
    at_zero(2);
    at_zero(3);
  }
  for (int64_t i0 = 0; i0 < dp2; i0 += 16) {
    at_load(4, qb + i0, lda);
    if (R == 2) at_load(5, qb + 16 * dp2 + i0, lda);
    at_load(6, kg + i0 * 16, 64);
    at_load(7, kg + dp2 * 16 + i0 * 16, 64);
    at_dp(0, 4, 6);
    at_dp(1, 4, 7);
    if (R == 2) {
      at_dp(2, 5, 6);
      at_dp(3, 5, 7);
    }
  }
  at_store(0, S, ldc);
  at_store(1, S + 16, ldc);
  if (R == 2) {
    at_store(2, S + 16 * AF_BK, ldc);
    at_store(3, S + 16 * AF_BK + 16, ldc);
  }
}

static void AF(qk_block)(const uint32_t *qb, int64_t dp2, const uint32_t *kp, int64_t rows_pad,
                         int64_t npad, float *S) {
  for (int64_t g = 0; g < npad; g += 32)
    for (int64_t r0 = 0; r0 < rows_pad; r0 += 32) {
      if (rows_pad - r0 >= 32)
        AF(qk_tiles)(qb + r0 * dp2, dp2, kp + g * dp2, S + r0 * AF_BK + g, 2);
      else
        AF(qk_tiles)(qb + r0 * dp2, dp2, kp + g * dp2, S + r0 * AF_BK + g, 1);
    }
}

/* O (16·R rows × 16·C columns at o, row stride dpad) += R strips of PB (at
 * pb, row stride AF_BK) · C column groups of VP (at vb, row stride dpad
 * pairs) over npairs key pairs (a multiple of 16). */
static inline __attribute__((always_inline)) void AF(pv_tiles)(const uint16_t *pb,
                                                               const uint32_t *vb, int64_t dpad,
                                                               int64_t npairs, float *o,
                                                               const int R, const int C) {
  const int64_t ldo = dpad * 4, ldp = AF_BK * 2, ldv = dpad * 4;
  at_load(0, o, ldo);
  if (C == 2) at_load(1, o + 16, ldo);
  if (R == 2) at_load(2, o + 16 * dpad, ldo);
  if (R == 2 && C == 2) at_load(3, o + 16 * dpad + 16, ldo);
  for (int64_t jp = 0; jp < npairs; jp += 16) {
    at_load(4, pb + 2 * jp, ldp);
    if (R == 2) at_load(5, pb + 16 * AF_BK + 2 * jp, ldp);
    at_load(6, vb + jp * dpad, ldv);
    if (C == 2) at_load(7, vb + jp * dpad + 16, ldv);
    at_dp(0, 4, 6);
    if (C == 2) at_dp(1, 4, 7);
    if (R == 2) at_dp(2, 5, 6);
    if (R == 2 && C == 2) at_dp(3, 5, 7);
  }
  at_store(0, o, ldo);
  if (C == 2) at_store(1, o + 16, ldo);
  if (R == 2) at_store(2, o + 16 * dpad, ldo);
  if (R == 2 && C == 2) at_store(3, o + 16 * dpad + 16, ldo);
}

static void AF(pv_block)(const uint16_t *pb, const uint32_t *vb, int64_t dpad, int64_t rows_pad,
                         int64_t npad, float *O) {
  for (int64_t r0 = 0; r0 < rows_pad; r0 += 32)
    for (int64_t c0 = 0; c0 < dpad; c0 += 32) {
      const uint16_t *pr = pb + r0 * AF_BK;
      float *o = O + r0 * dpad + c0;
      const bool r2 = rows_pad - r0 >= 32, c2 = dpad - c0 >= 32;
      if (r2 && c2)
        AF(pv_tiles)(pr, vb + c0, dpad, npad / 2, o, 2, 2);
      else if (r2)
        AF(pv_tiles)(pr, vb + c0, dpad, npad / 2, o, 2, 1);
      else if (c2)
        AF(pv_tiles)(pr, vb + c0, dpad, npad / 2, o, 1, 2);
      else
        AF(pv_tiles)(pr, vb + c0, dpad, npad / 2, o, 1, 1);
    }
}

#endif

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
  for (int64_t c = 0; c < npad; c += 16) vmax = af_max16(AF(ld16)(s + c), vmax);
  const float mb = af_hmax16(vmax) * scale;
  const float mo = *m, mn = mb > mo ? mb : mo;
  if (mn == -INFINITY) { /* every score so far is -inf (only with infinite inputs) */
    memset(pb, 0, (size_t)npad * sizeof *pb);
    return 1.0f;
  }
  /* exp(x) = 2^(x·log2 e) for x = scale·s - mn ≤ 0 (-inf at the padding):
   * x first, then the product, so that the scores near the maximum, the
   * ones that count, keep x's accuracy. */
  dif__vf16 vsum = {0};
  for (int64_t c = 0; c < npad; c += 16) {
    const dif__vf16 e = af_exp2((AF(ld16)(s + c) * scale - mn) * 1.44269504088896341f);
    vsum += e;
    af_cvt16(pb + c, e);
  }
  const float sum = af_hsum16(vsum);
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
  const int64_t npad = (n + 31) / 32 * 32, dpad = j->dpad;
  AF(qk_block)(qb, j->dp2, kp + j0 * j->dp2, rows_pad, npad, S);
  for (int64_t r = 0; r < rows_pad; r++) {
    const float ca =
        AF(softmax_row)(S + r * AF_BK, n, npad, p->scale, m + r, l + r, pb + r * AF_BK);
    if (ca != 1.0f)
      for (int64_t c = 0; c < dpad; c++) O[r * dpad + c] *= ca;
  }
  AF(pv_block)(pb, vp + (j0 / 2) * dpad, dpad, rows_pad, npad, O);
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
  AF_TILES_BEGIN();
  for (int64_t task = begin; task < end; task++) {
    const int64_t h = task / j->nqb, i0 = (task % j->nqb) * AF_BQ;
    const int64_t rows = p->tq - i0 < AF_BQ ? p->tq - i0 : AF_BQ;
    const int64_t rows_pad = (rows + AF_MR - 1) / AF_MR * AF_MR;
    for (int64_t r = 0; r < rows_pad; r++) {
      const float *qr = r < rows ? j->q + (i0 + r) * p->ld_q + h * dim : NULL;
      for (int64_t i = 0; i < dp2; i++) qb[r * dp2 + i] = qr ? AF(row_pair)(qr, i, dim) : 0u;
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
  AF_TILES_END();
}

dif_status AF(dif__attn_fused)(const dif__kctx *k, const dif__attention_params *p, const float *q,
                               const float *kk, const float *v, float *out, dif__error *err) {
  AF(job) j = {.p = p, .q = q, .k = kk, .v = v, .out = out};
  j.dp2 = ((p->dim + 1) / 2 + AF_DP2_ALIGN - 1) / AF_DP2_ALIGN * AF_DP2_ALIGN;
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

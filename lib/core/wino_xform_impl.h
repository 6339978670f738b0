/* wino_xform_impl.h — the Winograd transforms of the openblas backend's
 * float32 3×3 convolutions (core/backend_openblas_wino.c), on tiles of
 * BLK = 16 channels: v = Bᵀ d B (n × n inputs) and y = Aᵀ M A (n × n into
 * m × m outputs), n = 6 for F(4,3) (points 0, ±5/8, ±3/2, ∞: a = 5/8,
 * b = 3/2), n = 4 for F(2,3) (0, ±1, ∞). Every constant is a short binary
 * fraction, exact in float32.
 *
 * Included twice: by backend_openblas_wino.c for the baseline target and by
 * wino_xform_avx2.c for AVX2 + FMA, with DIF__WX(name) naming the copy and
 * DIF__WX_LINKAGE its two entry points' linkage. */
#include <stdint.h>

#define WX_BLK 16
#define WX_PA 0.625f /* 5/8 */
#define WX_PB 1.5f   /* 3/2 */

/* Bᵀ d over 6 vectors of WX_BLK lanes, d[i] at in + i·is, into out + i·os
 * (a = 5/8, b = 3/2: the rows of Π (x − p) over all finite points but one). */
static inline void DIF__WX(bt6)(const float *restrict in, int64_t is, float *restrict out,
                                int64_t os) {
  const float a2 = WX_PA * WX_PA, b2 = WX_PB * WX_PB, a2b2 = a2 * b2, s2 = a2 + b2;
  for (int l = 0; l < WX_BLK; l++) {
    const float d0 = in[l], d1 = in[is + l], d2 = in[2 * is + l], d3 = in[3 * is + l];
    const float d4 = in[4 * is + l], d5 = in[5 * is + l];
    const float p = d4 - b2 * d2, q = WX_PA * (d3 - b2 * d1);
    const float r = d4 - a2 * d2, t = WX_PB * (d3 - a2 * d1);
    out[l] = a2b2 * d0 - s2 * d2 + d4;
    out[os + l] = p + q;
    out[2 * os + l] = p - q;
    out[3 * os + l] = r + t;
    out[4 * os + l] = r - t;
    out[5 * os + l] = a2b2 * d1 - s2 * d3 + d5;
  }
}

/* Aᵀ m over 6 vectors of WX_BLK lanes into 4: rows p^i (i = 0..3), ∞ in the last. */
static inline void DIF__WX(at4)(const float *restrict in, int64_t is, float *restrict out,
                                int64_t os) {
  const float a2 = WX_PA * WX_PA, b2 = WX_PB * WX_PB, a3 = a2 * WX_PA, b3 = b2 * WX_PB;
  for (int l = 0; l < WX_BLK; l++) {
    const float m0 = in[l], m1 = in[is + l], m2 = in[2 * is + l], m3 = in[3 * is + l];
    const float m4 = in[4 * is + l], m5 = in[5 * is + l];
    const float sa = m1 + m2, da = m1 - m2, sb = m3 + m4, db = m3 - m4;
    out[l] = m0 + sa + sb;
    out[os + l] = WX_PA * da + WX_PB * db;
    out[2 * os + l] = a2 * sa + b2 * sb;
    out[3 * os + l] = a3 * da + b3 * db + m5;
  }
}

/* F(2,3)'s Bᵀ (4 → 4) and Aᵀ (4 → 2), points 0, ±1, ∞. */
static inline void DIF__WX(bt4)(const float *restrict in, int64_t is, float *restrict out,
                                int64_t os) {
  for (int l = 0; l < WX_BLK; l++) {
    const float d0 = in[l], d1 = in[is + l], d2 = in[2 * is + l], d3 = in[3 * is + l];
    out[l] = d2 - d0;
    out[os + l] = d1 + d2;
    out[2 * os + l] = d2 - d1;
    out[3 * os + l] = d3 - d1;
  }
}

static inline void DIF__WX(at2)(const float *restrict in, int64_t is, float *restrict out,
                                int64_t os) {
  for (int l = 0; l < WX_BLK; l++) {
    const float m1 = in[is + l], m2 = in[2 * is + l];
    out[l] = in[l] + m1 + m2;
    out[os + l] = m1 - m2 + in[3 * is + l];
  }
}

/* v = Bᵀ d B for n × n vectors of WX_BLK lanes (d: row-major [n][n][WX_BLK]). */
DIF__WX_LINKAGE void DIF__WX(in_xform)(int n, const float *restrict d, float *restrict v) {
  float t[36 * WX_BLK];
  if (n == 6) {
    for (int j = 0; j < 6; j++)
      DIF__WX(bt6)(d + j * WX_BLK, 6 * WX_BLK, t + j * WX_BLK, 6 * WX_BLK);
    for (int i = 0; i < 6; i++)
      DIF__WX(bt6)(t + i * 6 * WX_BLK, WX_BLK, v + i * 6 * WX_BLK, WX_BLK);
  } else {
    for (int j = 0; j < 4; j++)
      DIF__WX(bt4)(d + j * WX_BLK, 4 * WX_BLK, t + j * WX_BLK, 4 * WX_BLK);
    for (int i = 0; i < 4; i++)
      DIF__WX(bt4)(t + i * 4 * WX_BLK, WX_BLK, v + i * 4 * WX_BLK, WX_BLK);
  }
}

/* y = Aᵀ M A: n × n vectors into (n − 2) × (n − 2). */
DIF__WX_LINKAGE void DIF__WX(out_xform)(int n, const float *restrict mv, float *restrict y) {
  float t[36 * WX_BLK];
  if (n == 6) {
    for (int j = 0; j < 6; j++)
      DIF__WX(at4)(mv + j * WX_BLK, 6 * WX_BLK, t + j * WX_BLK, 6 * WX_BLK);
    for (int i = 0; i < 4; i++)
      DIF__WX(at4)(t + i * 6 * WX_BLK, WX_BLK, y + i * 4 * WX_BLK, WX_BLK);
  } else {
    for (int j = 0; j < 4; j++)
      DIF__WX(at2)(mv + j * WX_BLK, 4 * WX_BLK, t + j * WX_BLK, 4 * WX_BLK);
    for (int i = 0; i < 2; i++)
      DIF__WX(at2)(t + i * 4 * WX_BLK, WX_BLK, y + i * 2 * WX_BLK, WX_BLK);
  }
}

#undef WX_BLK
#undef WX_PA
#undef WX_PB

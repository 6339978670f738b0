/* backend_openblas.c — the `openblas` backend: float32 products through
 * cblas_sgemm, exactly as the models run them today.
 *
 * It is a table over core/gemm.c, not a second implementation: linear is
 * dif__linear / dif__linear_acc and matmul is dif__gemm, so a product through
 * this backend gives the same bits as the direct call (tested). A packed F32
 * weight is the caller's array itself (no copy: the weights stay where the
 * model file is mapped); F16 and BF16 weights are widened to float32 once
 * (exactly) into memory the packed weight owns. bf16 products are not
 * offered: OpenBLAS 0.3.21's sbgemm has no pre-packed form and rounds its
 * inputs itself; the onednn backend is the bf16 one. Its float32 3×3
 * Winograd convolutions are core/backend_openblas_wino.c's.
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/backend.h"
#include "core/backend_openblas_wino.h"
#include "core/blas.h"
#include "core/ops_internal.h"

typedef struct ob_packed {
  dif__packed base;
  const float *w; /* [n, k] float32: the source, or owned */
  float *owned;
} ob_packed;

static bool ob_supports(dif__dtype math, char *why, size_t size) {
  if (math == DIF__DTYPE_F32) return true;
  snprintf(why, size, "OpenBLAS computes in float32 only (use the onednn backend for %s)",
           dif__dtype_name(math));
  return false;
}

static const char *ob_isa(void) { return dif__blas_corename(); }

static dif_status ob_pack(const dif__kctx *kx, dif__dtype math, dif__dtype src, const void *w,
                          int64_t n, int64_t k, int64_t m_hint, dif__packed **out,
                          dif__error *err) {
  (void)m_hint;
  ob_packed *p = calloc(1, sizeof *p);
  if (!p) return dif__fail_oom(err, "a packed weight", sizeof *p);
  const size_t count = (size_t)n * (size_t)k;
  if (src == DIF__DTYPE_F32) {
    p->w = w;
  } else {
    p->owned = malloc(count * sizeof *p->owned);
    if (!p->owned) {
      free(p);
      return dif__fail_oom(err, "a weight widened to float32", count * sizeof(float));
    }
    const dif__weight wt = {w, src, (int64_t)count, false};
    dif__weight_tile_f32(dif__kpool(kx), wt, k, 0, n, 0, k, p->owned);
    p->w = p->owned;
  }
  p->base =
      (dif__packed){&dif__backend_openblas, math, src, n, k, p->owned ? count * sizeof(float) : 0};
  *out = &p->base;
  return DIF_OK;
}

static bool ob_native(dif__dtype math) { return math == DIF__DTYPE_F32; }

/* The layouts core/gemm.c has a function for are that function (the same
 * bits); the others are one dif__gemm after the bias is preloaded, as there. */
static dif_status ob_linear(const dif__kctx *k, const dif__packed *w, const float *x, bool x_cf,
                            int64_t m, const float *b, bool acc, float *y, bool y_cf,
                            dif__error *err) {
  (void)err;
  const ob_packed *p = (const ob_packed *)w;
  /* float32 whatever the caller's precision: this is the exact backend */
  const dif__kctx exact = {k ? k->pool : NULL, k ? k->arena : NULL, NULL, NULL, 0, 0, false, 0, 0};
  const int64_t n = w->n, kk = w->k;
  const dif__weight wf = dif__weight_f32(p->w, n * kk);
  if (!x_cf && !y_cf) {
    if (acc)
      dif__linear_acc(&exact, x, m, kk, wf, b, n, y);
    else
      dif__linear(&exact, x, m, kk, wf, b, n, y);
  } else if (x_cf && !y_cf && !acc) {
    dif__linear_cf_in(&exact, x, m, kk, wf, b, n, y);
  } else if (!x_cf && y_cf) {
    dif__linear_cf_out(&exact, x, m, kk, wf, b, n, y, acc);
  } else if (!y_cf) { /* x channels-first, y += */
    if (b) dif__add_cols(exact.pool, y, m, n, n, b);
    dif__gemm(true, true, m, n, kk, 1.0f, x, m, p->w, kk, 1.0f, y, n);
  } else { /* both channels-first: y[n, m] (+)= W · x[k, m] + b */
    if (b && acc)
      dif__add_rows(exact.pool, y, n, m, m, b);
    else if (b)
      dif__fill_rows(exact.pool, y, n, m, m, b);
    dif__gemm(false, false, n, m, kk, 1.0f, p->w, kk, x, m, b || acc ? 1.0f : 0.0f, y, m);
  }
  return DIF_OK;
}

static dif_status ob_matmul(const dif__kctx *k, dif__dtype math, bool trans_a, bool trans_b,
                            int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                            int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                            int64_t ldc, dif__error *err) {
  (void)k, (void)math, (void)err;
  dif__gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  return DIF_OK;
}

static void ob_packed_free(dif__packed *w) {
  ob_packed *p = (ob_packed *)w;
  free(p->owned);
  free(p);
}

const dif__backend dif__backend_openblas = {
    .name = "openblas",
    .what = "OpenBLAS cblas_sgemm, float32 (the exact path)",
    .supports = ob_supports,
    .isa = ob_isa,
    .native = ob_native,
    .pack = ob_pack,
    .linear = ob_linear,
    .matmul = ob_matmul,
    .packed_free = ob_packed_free,
    /* float32 Winograd F(4,3): our transforms, cblas_sgemm's products */
    .conv3x3_f32_pack = dif__ob_conv3x3_pack,
    .conv3x3_f32_run = dif__ob_conv3x3_run,
    .conv3x3_f32_slow = dif__ob_conv3x3_slow,
    .conv_bf16_pack = NULL, /* float32 only */
    .conv_free = dif__ob_conv_free,
};

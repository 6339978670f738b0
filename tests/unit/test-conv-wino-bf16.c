/* dif__conv2d by bf16 Winograd F(2×2, 3×3) (kctx.wino_bf16_max_cc:
 * core/conv2d_wino_bf16.c, fast's UNet where its bf16 is not on AMX tiles)
 * on channels-last maps, against a double-precision convolution of the
 * transformed input, with every input transform (nearest resize 2× and
 * odd, GroupNorm affine, SiLU), bias and accumulate, odd sizes, channel
 * counts off the transforms' blocks of 64, F32 / F16 / BF16 weights, and
 * chunks of tile rows that end inside an image and span several; the
 * fallbacks (a backend without linear_bf16, a weight above the limit: the
 * direct bf16 convolution, bit for bit).
 *
 * The bound: Winograd's error may be at most WINO_VS_DIRECT times the
 * direct bf16 convolution's (conv2d_fast.c, the same inputs and roundings
 * per product) in relative L2, and at most 2^-6 relative L2 outright. The
 * analysis (the header of conv2d_wino_bf16.c) gives about 2×: each
 * transformed input and weight is one bf16 rounding of a value about twice
 * an input's or a weight's size. A mistake in a tap, a transform or a
 * layout gives errors of order 1.
 *
 * Needs a backend with bf16 products (oneDNN on an AVX-512 CPU): elsewhere
 * it says why and exits 77, which ctest reports as skipped. */
#include "conv_test_util.h"
#include "core/backend.h"
#include "core/dtype.h"
#include "core/ops_internal.h"
#include "ops_test_util.h"

#define WINO_VS_DIRECT 3.0
#define REL_L2_MAX (1.0 / 64)

static const dif__backend *backend; /* the fast backend, or NULL */
static double worst_vs_direct, worst_rel;

typedef struct shape {
  int64_t N, cin, cout, H, W, in_h, in_w; /* in_h, in_w: 0 or the resized input */
  bool norm, silu, bias, acc;
  dif__dtype wdt;
  int64_t chunk_rows; /* dif__wino_bf16_test_chunk (0: as max_scratch allows) */
} shape;

/* y [N, OH, OW, cout] in double. */
static void ref_conv(const dif__conv2d_params *p, const float *x, int64_t N, int64_t H, int64_t W,
                     const float *w, const float *b, const float *y0, double *y) {
  const int64_t OH = p->in_h ? p->in_h : H, OW = p->in_w ? p->in_w : W;
  double *xt = dbuf((size_t)(p->cin * OH * OW));
  for (int64_t n = 0; n < N; n++) {
    for (int64_t i = 0; i < OH; i++)
      for (int64_t j = 0; j < OW; j++)
        for (int64_t c = 0; c < p->cin; c++)
          xt[(i * OW + j) * p->cin + c] = conv_test_xin(p, x, n, c, H, W, i, j);
    for (int64_t oh = 0; oh < OH; oh++)
      for (int64_t ow = 0; ow < OW; ow++)
        for (int64_t o = 0; o < p->cout; o++) {
          const size_t at = (size_t)(((n * OH + oh) * OW + ow) * p->cout + o);
          double s = (b ? b[o] : 0) + (y0 ? y0[at] : 0);
          for (int64_t ki = 0; ki < 3; ki++)
            for (int64_t kj = 0; kj < 3; kj++) {
              const int64_t ih = oh - 1 + ki, iw = ow - 1 + kj;
              if (ih < 0 || ih >= OH || iw < 0 || iw >= OW) continue;
              for (int64_t c = 0; c < p->cin; c++)
                s += (double)w[((o * p->cin + c) * 3 + ki) * 3 + kj] *
                     xt[(ih * OW + iw) * p->cin + c];
            }
          y[at] = s;
        }
  }
  free(xt);
}

/* ‖y − ref‖ / ‖ref − y0‖ (the convolution's own part when accumulating). */
static double rel_l2(const float *y, const double *ref, const float *y0, size_t n) {
  double e = 0, r = 0;
  for (size_t i = 0; i < n; i++) {
    e += (y[i] - ref[i]) * (y[i] - ref[i]);
    const double c = ref[i] - (y0 ? y0[i] : 0);
    r += c * c;
  }
  return r > 0 ? sqrt(e / r) : sqrt(e);
}

static dif__conv2d_params params_of(const shape *s, const dif__norm_affine *norm) {
  return conv_test_3x3(s->cin, s->cout, s->acc, s->in_h, s->in_w, s->norm ? norm : NULL, s->silu,
                       true);
}

/* A kernel context of 2 threads in fast on channels-last maps, with a fresh
 * dif__fast (returned: the caller frees it). */
static dif__fast *fast_env(kenv *e) {
  kenv_init(e, 2);
  dif__error err;
  dif__error_clear(&err);
  dif__fast *fast = NULL;
  CHECK_STATUS(dif__fast_new(backend, &fast, &err), DIF_OK, err.msg, "");
  e->k.fast = fast;
  e->k.channels_last = true;
  return fast;
}

/* One shape by Winograd and by the direct bf16 convolution, against double. */
static void check_shape(const shape *s, uint64_t seed) {
  kenv e;
  dif__error err;
  dif__error_clear(&err);
  dif__fast *fast = fast_env(&e);
  dif__norm_affine *norm = conv_test_norms(s->N * s->cin, seed + 3);
  const dif__conv2d_params p = params_of(s, norm);
  const int64_t OH = s->in_h ? s->in_h : s->H, OW = s->in_w ? s->in_w : s->W;
  const size_t nx = (size_t)(s->N * s->cin * s->H * s->W), ny = (size_t)(s->N * s->cout * OH * OW);
  const size_t nw = (size_t)(s->cout * s->cin * 9);
  float *x = frand(nx, seed, -2, 2), *w = frand(nw, seed + 1, -0.3f, 0.3f);
  float *b = s->bias ? frand((size_t)s->cout, seed + 2, -1, 1) : NULL;
  float *y0 = s->acc ? frand(ny, seed + 4, -1, 1) : NULL;
  float *yw = frand(ny, seed + 5, -9, 9), *yd = frand(ny, seed + 6, -9, 9);
  uint16_t *w16 = malloc(nw * sizeof *w16);
  for (size_t i = 0; i < nw; i++) { /* a 16-bit weight: the reference uses its exact values */
    if (s->wdt == DIF__DTYPE_F16) {
      w16[i] = dif__f16_from_f32(w[i]);
      w[i] = dif__f16_to_float(w16[i]);
    } else if (s->wdt == DIF__DTYPE_BF16) {
      w16[i] = dif__bf16_rne(w[i]);
      w[i] = dif__bf16_to_float(w16[i]);
    }
  }
  double *r = dbuf(ny);
  ref_conv(&p, x, s->N, s->H, s->W, w, b, y0, r);
  const dif__weight wt = s->wdt != DIF__DTYPE_F32 ? (dif__weight){w16, s->wdt, (int64_t)nw, false}
                                                  : dif__weight_f32(w, (int64_t)nw);
  char what[200];
  snprintf(what, sizeof what, "%lld>%lld %lldx%lld (in %lldx%lld) N%lld %s, chunks of %lld rows",
           (long long)s->cin, (long long)s->cout, (long long)s->H, (long long)s->W, (long long)OH,
           (long long)OW, (long long)s->N, dif__dtype_name(s->wdt), (long long)s->chunk_rows);
  /* the direct bf16 convolution (no Winograd), then Winograd */
  if (y0) memcpy(yd, y0, ny * sizeof *yd), memcpy(yw, y0, ny * sizeof *yw);
  CHECK_STATUS(dif__conv2d(&e.k, &p, x, s->N, s->H, s->W, wt, b, yd, &err), DIF_OK, err.msg, "");
  dif__fast_stats before, after;
  dif__fast_get_stats(fast, &before);
  e.k.wino_bf16_max_cc = DIF__WINO_BF16_MAX_CC;
  dif__wino_bf16_test_chunk(s->chunk_rows);
  CHECK_STATUS(dif__conv2d(&e.k, &p, x, s->N, s->H, s->W, wt, b, yw, &err), DIF_OK, err.msg, "");
  dif__wino_bf16_test_chunk(0);
  dif__fast_get_stats(fast, &after);
  /* it ran by Winograd: one more weight held (its transformed form) */
  CHECK_MSG(after.weights == before.weights + 1 && after.refused == 0 && after.fallbacks == 0,
            "%s: not by Winograd (weights %lld -> %lld, refused %lld, fallbacks %lld)", what,
            (long long)before.weights, (long long)after.weights, (long long)after.refused,
            (long long)after.fallbacks);
  CHECK_MSG(e.arena.used_total == 0, "%s: scratch left in use", what);
  const double ew = rel_l2(yw, r, y0, ny), ed = rel_l2(yd, r, y0, ny);
  CHECK_MSG(ew <= REL_L2_MAX && ew <= WINO_VS_DIRECT * ed,
            "%s: relative L2 %.3g against double (direct bf16: %.3g; bounds %.3g and %.1fx direct)",
            what, ew, ed, REL_L2_MAX, WINO_VS_DIRECT);
  if (ed > 0 && ew / ed > worst_vs_direct) worst_vs_direct = ew / ed;
  if (ew > worst_rel) worst_rel = ew;
  /* the same bits again (the packed weight and the primitives reused) */
  float *y2 = fbuf(ny);
  if (y0) memcpy(y2, y0, ny * sizeof *y2);
  CHECK_STATUS(dif__conv2d(&e.k, &p, x, s->N, s->H, s->W, wt, b, y2, &err), DIF_OK, err.msg, "");
  if (!s->chunk_rows)
    CHECK_MSG(memcmp(y2, yw, ny * sizeof *y2) == 0, "%s: second call differs", what);
  free(y2);
  dif__fast_free(fast);
  free(norm), free(x), free(w), free(w16), free(b), free(y0), free(yw), free(yd), free(r);
  kenv_free(&e);
}

static const shape shapes[] = {
    {1, 16, 16, 8, 8, 0, 0, false, false, true, false, DIF__DTYPE_F32, 0},
    {1, 24, 40, 9, 11, 0, 0, true, true, true, false, DIF__DTYPE_F32, 0},   /* odd sizes */
    {2, 20, 7, 5, 6, 10, 12, true, true, false, true, DIF__DTYPE_BF16, 0},  /* 2x upsample, acc */
    {1, 12, 18, 5, 7, 11, 13, false, true, true, true, DIF__DTYPE_F16, 0},  /* odd resize */
    {2, 130, 70, 12, 10, 0, 0, true, true, true, false, DIF__DTYPE_F16, 0}, /* % 64 tails */
    {3, 17, 33, 13, 10, 0, 0, true, true, true, true, DIF__DTYPE_F32, 2},   /* chunks inside */
    {3, 32, 32, 4, 6, 0, 0, true, true, true, false, DIF__DTYPE_BF16, 3},   /* chunks across */
    {4, 64, 64, 8, 8, 16, 16, true, false, true, true, DIF__DTYPE_F32, 5},  /* upsampler */
    {1, 3, 5, 1, 1, 0, 0, false, false, true, false, DIF__DTYPE_F32, 0},    /* 1x1: padding only */
    {2, 96, 128, 16, 16, 0, 0, true, true, true, true, DIF__DTYPE_BF16, 0}, /* one chunk, N 2 */
};

TEST(against_double) {
  for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) check_shape(&shapes[i], 100 * i);
  printf("bf16 winograd: worst relative L2 %.3g against double, worst %.2fx the direct bf16 "
         "convolution's (bounds %.3g, %.1fx)\n",
         worst_rel, worst_vs_direct, REL_L2_MAX, WINO_VS_DIRECT);
}

/* Where it does not run, the direct bf16 convolution does, bit for bit:
 * a weight above the limit, a kctx without the limit or not channels-last
 * (no Winograd asked), and a backend without linear_bf16 (refused at make). */
TEST(falls_back) {
  const shape s = {2, 16, 24, 6, 8, 0, 0, true, true, true, false, DIF__DTYPE_F32, 0};
  kenv e;
  dif__error err;
  dif__error_clear(&err);
  dif__fast *fast = fast_env(&e);
  dif__norm_affine *norm = conv_test_norms(s.N * s.cin, 7);
  const dif__conv2d_params p = params_of(&s, norm);
  const size_t nx = (size_t)(s.N * s.cin * s.H * s.W), ny = (size_t)(s.N * s.cout * s.H * s.W);
  const size_t nw = (size_t)(s.cout * s.cin * 9);
  float *x = frand(nx, 1, -2, 2), *w = frand(nw, 2, -0.3f, 0.3f), *b = frand(24, 3, -1, 1);
  float *yd = fbuf(ny), *y = fbuf(ny);
  CHECK_STATUS(
      dif__conv2d(&e.k, &p, x, s.N, s.H, s.W, dif__weight_f32(w, (int64_t)nw), b, yd, &err), DIF_OK,
      err.msg, "");
  e.k.wino_bf16_max_cc = s.cin * s.cout - 1; /* just below this weight */
  CHECK_STATUS(dif__conv2d(&e.k, &p, x, s.N, s.H, s.W, dif__weight_f32(w, (int64_t)nw), b, y, &err),
               DIF_OK, err.msg, "");
  CHECK_MSG(memcmp(y, yd, ny * sizeof *y) == 0, "above the limit: not the direct convolution");
  dif__fast_stats st;
  dif__fast_get_stats(fast, &st);
  CHECK(st.weights == 1); /* the direct one's packed weight only */
  /* a backend without linear_bf16 refuses at make, with a message */
  dif__wino_bf16 *c = NULL;
  CHECK(dif__wino_bf16_make(&e.k, &dif__backend_openblas, dif__weight_f32(w, (int64_t)nw), s.cout,
                            s.cin, &c, &err) == DIF_ERR_UNSUPPORTED &&
        c == NULL && strstr(err.msg, "openblas") != NULL);
  /* a bad weight: an error naming it, nothing made */
  CHECK(dif__wino_bf16_make(&e.k, backend, dif__weight_f32(w, (int64_t)nw - 1), s.cout, s.cin, &c,
                            &err) == DIF_ERR_INVALID_ARGUMENT &&
        c == NULL && strstr(err.msg, "bad weight") != NULL);
  CHECK(e.arena.used_total == 0);
  dif__fast_free(fast);
  free(norm), free(x), free(w), free(b), free(yd), free(y);
  kenv_free(&e);
}

int main(void) {
  backend = dif__backend_fast_native(NULL, 0);
  char why[256] = "no bf16 backend in this build";
  for (int i = 0; !backend && i < dif__backend_count(); i++) {
    const dif__backend *b = dif__backend_row_at(i)->backend;
    if (b && b != &dif__backend_openblas && b->supports(DIF__DTYPE_BF16, why, sizeof why))
      backend = b; /* emulated bf16 (plain AVX-512): correct, slow */
  }
  if (!backend || !backend->linear_bf16) {
    printf("bf16 winograd: skipped, %s\n", backend ? "its backend has no linear_bf16" : why);
    return 77;
  }
  RUN(against_double);
  RUN(falls_back);
  return dif__test_finish();
}

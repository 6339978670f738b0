/* dif__conv2d by float32 Winograd (k->wino: core/conv2d_wino.c, the exact
 * path's VAE) against a double-precision convolution of the transformed
 * input, with every input transform (nearest resize 2× and odd, GroupNorm
 * affine, SiLU), bias and accumulate, on shapes with odd sizes and
 * channels that are not multiples of 16; and the fallback to im2col +
 * sgemm (bit for bit) where the backend refuses a weight or the
 * convolution is among the small ones an exact context keeps off Winograd
 * (kctx.wino_skip_small).
 *
 * The Winograd checks run on every backend row that has float32 Winograd
 * convolutions running here: openblas's (core/backend_openblas_wino.c)
 * everywhere, oneDNN's on AVX-512 (elsewhere it says why it is skipped);
 * openblas's also with chunks of a few tiles, so that chunks end inside
 * images and rows. */
#include "conv_test_util.h"
#include "core/backend.h"
#include "core/backend_openblas_wino.h"
#include "core/dtype.h"
#include "core/kern_simd.h"
#include "core/ops_internal.h"
#include "ops_test_util.h"

/* The bound, as normalised MSE against the double reference: 1e-10, i.e. a
 * relative L2 error of 1e-5. oneDNN's F(4,3) Winograd measured 8e-7..1e-6
 * relative L2 on the SD VAE's shapes (oneDNN's direct float32 convolution,
 * what PyTorch runs: 6e-7..9e-7; /work/notes/wino/report.md), so this is
 * about 10× the float32-class error and far below any mistake in a layout,
 * a transform or a tap (those give relative errors of order 1). It is also
 * the bound test-ops-conv holds im2col + sgemm to. */
#define WINO_NMSE_MAX 1e-10

typedef struct shape {
  int64_t N, cin, cout, H, W, in_h, in_w; /* in_h, in_w: 0 or the resized input */
  bool norm, silu, bias, acc, bf16;
} shape;

static void ref_conv(const dif__conv2d_params *p, const float *x, int64_t N, int64_t H, int64_t W,
                     const float *w, const float *b, const float *y0, double *y) {
  const int64_t OH = p->in_h ? p->in_h : H, OW = p->in_w ? p->in_w : W;
  double *xt = dbuf((size_t)(p->cin * OH * OW));
  for (int64_t n = 0; n < N; n++) {
    for (int64_t c = 0; c < p->cin; c++)
      for (int64_t i = 0; i < OH; i++)
        for (int64_t j = 0; j < OW; j++)
          xt[(c * OH + i) * OW + j] = conv_test_xin(p, x, n, c, H, W, i, j);
    for (int64_t o = 0; o < p->cout; o++)
      for (int64_t oh = 0; oh < OH; oh++)
        for (int64_t ow = 0; ow < OW; ow++) {
          const size_t at = (size_t)(((n * p->cout + o) * OH + oh) * OW + ow);
          double s = (b ? b[o] : 0) + (y0 ? y0[at] : 0);
          for (int64_t c = 0; c < p->cin; c++)
            for (int64_t ki = 0; ki < 3; ki++)
              for (int64_t kj = 0; kj < 3; kj++) {
                const int64_t ih = oh - 1 + ki, iw = ow - 1 + kj;
                if (ih < 0 || ih >= OH || iw < 0 || iw >= OW) continue;
                s += (double)w[((o * p->cin + c) * 3 + ki) * 3 + kj] * xt[(c * OH + ih) * OW + iw];
              }
          y[at] = s;
        }
  }
  free(xt);
}

static dif__conv2d_params params_of(const shape *s, const dif__norm_affine *norm) {
  return conv_test_3x3(s->cin, s->cout, s->acc, s->in_h, s->in_w, s->norm ? norm : NULL, s->silu,
                       false);
}

/* One shape through k (with its wino), against the double reference:
 * whole images (one band: dif__conv2d's bound) and in bands of 4 output
 * rows (max_scratch 1 byte: the least band), each band with its halo. */
static double check_shape(kenv *e, const shape *s, uint64_t seed) {
  dif__norm_affine *norm = conv_test_norms(s->N * s->cin, seed + 3);
  const dif__conv2d_params p = params_of(s, norm);
  const int64_t OH = s->in_h ? s->in_h : s->H, OW = s->in_w ? s->in_w : s->W;
  const size_t nx = (size_t)(s->N * s->cin * s->H * s->W), ny = (size_t)(s->N * s->cout * OH * OW);
  const size_t nw = (size_t)(s->cout * s->cin * 9);
  float *x = frand(nx, seed, -2, 2), *w = frand(nw, seed + 1, -0.3f, 0.3f);
  float *b = s->bias ? frand((size_t)s->cout, seed + 2, -1, 1) : NULL;
  float *y0 = s->acc ? frand(ny, seed + 4, -1, 1) : NULL, *y = frand(ny, seed + 5, -9, 9);
  uint16_t *w16 = malloc(nw * sizeof *w16);
  for (size_t i = 0; i < nw; i++) { /* a BF16 weight: the reference uses its exact values */
    w16[i] = dif__bf16_rne(w[i]);
    if (s->bf16) w[i] = dif__bf16_to_float(w16[i]);
  }
  double *r = dbuf(ny);
  ref_conv(&p, x, s->N, s->H, s->W, w, b, y0, r);
  const dif__weight wt = s->bf16 ? (dif__weight){w16, DIF__DTYPE_BF16, (int64_t)nw, false}
                                 : dif__weight_f32(w, (int64_t)nw);
  dif__error err;
  dif__error_clear(&err);
  const size_t bounds[2] = {DIF__CONV2D_SCRATCH_MAX, 1};
  double worst = 0;
  for (int i = 0; i < 2; i++) {
    if (y0) memcpy(y, y0, ny * sizeof *y);
    CHECK_MSG(dif__conv2d_bounded(&e->k, &p, x, s->N, s->H, s->W, wt, b, y, bounds[i], &err) ==
                  DIF_OK,
              "%s", err.msg);
    const double nmse = dif__test_nmse(y, r, ny);
    worst = nmse > worst ? nmse : worst;
    CHECK_MSG(nmse <= WINO_NMSE_MAX,
              "%lld>%lld %lldx%lld (in %lldx%lld) N%lld, %s: nmse %.3g > %.3g", (long long)s->cin,
              (long long)s->cout, (long long)s->H, (long long)s->W, (long long)OH, (long long)OW,
              (long long)s->N, i ? "4-row bands" : "whole", nmse, WINO_NMSE_MAX);
    CHECK(e->arena.used_total == 0); /* scratch released */
  }
  free(norm), free(x), free(w), free(w16), free(b), free(y0), free(y), free(r);
  return worst;
}

static const shape shapes[] = {
    {1, 16, 16, 8, 8, 0, 0, false, false, true, false, false},    /* small: oneDNN's 2x3 kernel */
    {1, 24, 40, 9, 11, 0, 0, true, true, true, false, false},     /* odd, channels % 16 != 0 */
    {2, 20, 7, 5, 6, 10, 12, true, true, false, true, false},     /* 2x upsample, batch, acc */
    {1, 12, 18, 5, 7, 11, 13, false, true, true, true, false},    /* odd nearest resize */
    {1, 64, 32, 33, 30, 0, 0, true, true, true, true, true},      /* 4x3 kernel, BF16 weight */
    {2, 48, 48, 16, 16, 32, 32, true, false, true, false, false}, /* upsampler, batch */
    {1, 3, 5, 1, 1, 0, 0, false, false, true, false, false},      /* 1x1 image: padding only */
    {3, 17, 33, 13, 10, 0, 0, true, true, true, true, false},     /* N 3, sizes % 4 != 0 */
    {2, 40, 24, 3, 21, 6, 42, false, true, true, false, true},    /* wide 2x upsample, BF16 */
    /* cin·cout ≥ 64·128: openblas's F(4,3) (above: its F(2,3)) */
    {2, 96, 90, 11, 10, 0, 0, true, true, true, false, false},    /* N 2, sizes % 4 != 0 */
    {1, 80, 112, 7, 9, 14, 18, true, true, true, true, true},     /* 2x upsample, acc, BF16 */
    {1, 128, 64, 13, 6, 13, 5, false, false, false, true, false}, /* odd resize, acc */
    /* openblas's transform of the weight split over the 2 threads (input
     * channels in tasks of >= 2^14 / cout), from BF16 */
    {1, 2000, 20, 5, 4, 0, 0, false, false, true, false, true},
};

/* The i-th backend row with float32 Winograd convolutions that run here,
 * else NULL (saying why one is skipped); *i moves past it. */
static const dif__backend *next_wino(int *i) {
  for (; *i < dif__backend_count(); (*i)++) {
    const dif__backend_row *r = dif__backend_row_at(*i);
    if (!r->backend || !r->backend->conv3x3_f32_pack) continue;
    char why[256];
    const dif__backend *b = dif__backend_wino_named(r->name, why, sizeof why);
    if (b) return (*i)++, b;
    printf("winograd: %s skipped, %s\n", r->name, why);
  }
  return NULL;
}

/* A kernel context of 2 threads with a Winograd state on backend b. */
static void wino_env(kenv *e, const dif__backend *b) {
  kenv_init(e, 2);
  dif__error err;
  dif__error_clear(&err);
  CHECK_MSG(dif__wino_new(b, &e->k.wino, &err) == DIF_OK, "%s", err.msg);
}

/* Every shape on backend b, against double. */
static void shapes_on(const dif__backend *b) {
  kenv e;
  wino_env(&e, b);
  double worst = 0;
  for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
    const double nmse = check_shape(&e, &shapes[i], 100 * i);
    worst = nmse > worst ? nmse : worst;
  }
  dif__wino_stats st;
  dif__wino_get_stats(e.k.wino, &st);
  /* every weight above went through the backend (none refused): else this
   * test would only have checked im2col + sgemm */
  CHECK_MSG(st.weights == (int64_t)(sizeof shapes / sizeof *shapes) && st.refused == 0,
            "%s: %lld weights transformed, %lld refused", b->name, (long long)st.weights,
            (long long)st.refused);
  CHECK(st.bytes > 0);
  printf("winograd: %lld weights, %.2f MiB, worst nmse %.3g (backend %s, ISA %s)\n",
         (long long)st.weights, (double)st.bytes / (1 << 20), worst, b->name, b->isa());
  dif__wino_free(e.k.wino);
  kenv_free(&e);
}

static int wino_backends; /* backends the Winograd tests ran on */

TEST(wino_against_double) {
  int i = 0;
  for (const dif__backend *b; (b = next_wino(&i));) {
    shapes_on(b);
    wino_backends++;
  }
  /* openblas's chunks of 7 and 1 tiles: chunk edges inside rows and images;
   * then its transforms' baseline build where the AVX2 one runs */
  const int64_t chunks[2] = {7, 1};
  for (int c = 0; c < 2; c++) {
    dif__ob_wino_test_chunk(chunks[c]);
    shapes_on(&dif__backend_openblas);
  }
  dif__ob_wino_test_chunk(0);
  if (dif__simd_level() > 0) { /* and openblas's transforms' baseline build */
    dif__simd_force(0);
    shapes_on(&dif__backend_openblas);
    dif__simd_force(-1);
  }
}

/* One weight at two sizes whose oneDNN layouts differ (2x3 kernel for a
 * small image, 4x3 for a larger one), then the first size again. */
static void sizes_of_one_weight(const dif__backend *b) {
  kenv e;
  wino_env(&e, b);
  dif__error err;
  dif__error_clear(&err);
  const int64_t cin = 32, cout = 32, nw = cout * cin * 9;
  float *w = frand((size_t)nw, 7, -0.3f, 0.3f);
  const int64_t sizes[3] = {6, 40, 6};
  for (int i = 0; i < 3; i++) {
    const int64_t H = sizes[i], n = cin * H * H;
    const shape s = {1, cin, cout, H, H, 0, 0, false, false, false, false, false};
    const dif__conv2d_params p = params_of(&s, NULL);
    float *x = frand((size_t)n, 8 + (uint64_t)i, -1, 1), *y = fbuf((size_t)(cout * H * H));
    double *r = dbuf((size_t)(cout * H * H));
    ref_conv(&p, x, 1, H, H, w, NULL, NULL, r);
    CHECK(dif__conv2d(&e.k, &p, x, 1, H, H, dif__weight_f32(w, nw), NULL, y, &err) == DIF_OK);
    CHECK_NMSE(y, r, (size_t)(cout * H * H), WINO_NMSE_MAX);
    free(x), free(y), free(r);
  }
  dif__wino_stats st;
  dif__wino_get_stats(e.k.wino, &st);
  CHECK(st.weights == 1 && st.refused == 0);
  free(w);
  dif__wino_free(e.k.wino);
  kenv_free(&e);
}

TEST(wino_sizes_of_one_weight) {
  int i = 0;
  for (const dif__backend *b; (b = next_wino(&i));) sizes_of_one_weight(b);
}

static const dif__backend other_table = {.name = "other"};

/* openblas's conv3x3_f32_* on bad arguments: a status and a message. */
TEST(openblas_wino_bad_input) {
  const dif__backend *b = &dif__backend_openblas;
  dif__error err;
  dif__error_clear(&err);
  float w[2 * 3 * 9] = {0}, src[3 * 16 * 4] = {0}, dst[16 * 4];
  dif__conv *c = NULL;
  CHECK_STATUS(b->conv3x3_f32_pack(NULL, (dif__weight){0}, 2, 3, 4, 4, &c, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "bad weight");
  CHECK_STATUS(b->conv3x3_f32_pack(NULL, dif__weight_f32(w, 9), 2, 3, 4, 4, &c, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "bad weight");
  CHECK_STATUS(b->conv3x3_f32_pack(NULL, dif__weight_f32(w, 54), 0, 3, 4, 4, &c, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "bad weight");
  CHECK(c == NULL);
  CHECK(b->conv3x3_f32_pack(NULL, dif__weight_f32(w, 54), 2, 3, 4, 4, &c, &err) == DIF_OK && c);
  CHECK(c->g.cout == 2 && c->g.cin == 3 && c->bytes == 16 * 16 * 16 * sizeof(float)); /* F(2,3) */
  CHECK(b->conv3x3_f32_run(NULL, c, 1, 1, 4, src, dst, &err) == DIF_OK); /* no kctx: heap */
  CHECK_STATUS(b->conv3x3_f32_run(NULL, c, 0, 1, 4, src, dst, &err), DIF_ERR_INVALID_ARGUMENT,
               err.msg, "bad arguments");
  CHECK_STATUS(b->conv3x3_f32_run(NULL, c, 1, 1, 4, NULL, dst, &err), DIF_ERR_INVALID_ARGUMENT,
               err.msg, "bad arguments");
  CHECK_STATUS(b->conv3x3_f32_run(NULL, c, INT32_MAX, INT32_MAX, 4, src, dst, &err), DIF_ERR_LIMIT,
               err.msg, "too large");
  const dif__conv other = {&other_table, DIF__DTYPE_F32, {2, 3, 3, 3, 1, 1, 1}, 0};
  CHECK_STATUS(b->conv3x3_f32_run(NULL, &other, 1, 1, 4, src, dst, &err), DIF_ERR_INVALID_ARGUMENT,
               err.msg, "bad arguments");
  b->conv_free(c);
}

/* ---- the fallback: a backend that refuses every weight ---- */

static int packs;

static dif_status refuse(const dif__kctx *kx, dif__weight w, int64_t cout, int64_t cin, int64_t H,
                         int64_t W, dif__conv **out, dif__error *err) {
  (void)kx, (void)w, (void)cout, (void)cin, (void)H, (void)W, (void)out;
  packs++;
  return dif__fail(err, DIF_ERR_UNSUPPORTED, "refused by the test");
}

/* the refuser's conv3x3_f32_slow: an output of 16 pixels or fewer */
static bool slow_to_16(int64_t cin, int64_t cout, int64_t OH, int64_t OW) {
  (void)cin, (void)cout;
  return OH * OW <= 16;
}

static const dif__backend refuser = {
    .name = "refuser", .conv3x3_f32_pack = refuse, .conv3x3_f32_slow = slow_to_16};
static const dif__backend plain_table = {.name = "plain"}; /* no Winograd */

/* Refused: conv2d.c's im2col + sgemm, bit for bit what a kctx without wino
 * gives, and the backend is asked once per weight; convolutions that are
 * not 3x3 / stride 1 / pad 1 never ask. */
TEST(refused_falls_back) {
  kenv e, plain;
  kenv_init(&e, 2);
  kenv_init(&plain, 2);
  dif__error err;
  dif__error_clear(&err);
  CHECK(dif__wino_new(&refuser, &e.k.wino, &err) == DIF_OK);
  dif__norm_affine *norm = conv_test_norms(24, 5);
  const shape s = {1, 24, 40, 9, 11, 18, 22, true, true, true, true, false};
  dif__conv2d_params p = params_of(&s, norm);
  const size_t nx = 24 * 9 * 11, ny = 40 * 18 * 22, nw = 40 * 24 * 9;
  float *x = frand(nx, 1, -1, 1), *w = frand(nw, 2, -1, 1), *b = frand(40, 3, -1, 1);
  float *y1 = frand(ny, 4, -1, 1), *y2 = fbuf(ny);
  memcpy(y2, y1, ny * sizeof *y2);
  for (int rep = 0; rep < 2; rep++) {
    CHECK(dif__conv2d(&e.k, &p, x, 1, 9, 11, dif__weight_f32(w, (int64_t)nw), b, y1, &err) == 0);
    CHECK(dif__conv2d(&plain.k, &p, x, 1, 9, 11, dif__weight_f32(w, (int64_t)nw), b, y2, &err) ==
          0);
    CHECK_SAME(y1, y2, ny);
  }
  CHECK(packs == 1);
  /* wino_max_cc: a weight with cin·cout above it is never asked for, one at
   * it is (the UNet's limit, core/ops.h) */
  float *w2 = frand(nw, 6, -1, 1);
  e.k.wino_max_cc = 24 * 40 - 1;
  CHECK(dif__conv2d(&e.k, &p, x, 1, 9, 11, dif__weight_f32(w2, (int64_t)nw), b, y1, &err) == 0);
  CHECK(packs == 1);
  e.k.wino_max_cc = 24 * 40;
  CHECK(dif__conv2d(&e.k, &p, x, 1, 9, 11, dif__weight_f32(w2, (int64_t)nw), b, y1, &err) == 0);
  CHECK(packs == 2);
  e.k.wino_max_cc = 0;
  p.stride = 2; /* not a Winograd shape: the backend is not asked */
  p.in_h = p.in_w = 0;
  CHECK(dif__conv2d(&e.k, &p, x, 1, 9, 11, dif__weight_f32(w, (int64_t)nw), b, y1, &err) == 0);
  CHECK(packs == 2);
  dif__wino_stats st;
  dif__wino_get_stats(e.k.wino, &st);
  CHECK(st.weights == 0 && st.refused == 2);
  /* wino_skip_small (exact contexts): a convolution the backend calls slow
   * (its conv3x3_f32_slow; the refuser's: an output of 16 pixels or fewer)
   * is not asked for and runs on im2col + sgemm, bit for bit; the size that
   * counts is the output's (after a resize), and without wino_skip_small
   * every size is asked */
  const struct {
    int64_t H, in; /* input H x H, resized to in x in (0: none) */
    bool skip, asked;
  } cases[] = {{4, 0, true, false},  /* 16 pixels: slow */
               {5, 0, true, true},   /* 25 */
               {2, 5, true, true},   /* 2x2 resized to 5x5 */
               {5, 4, true, false},  /* 5x5 resized to 4x4 */
               {4, 0, false, true}}; /* slow, but not skipped */
  enum { NCASES = sizeof cases / sizeof *cases };
  float *wc[NCASES]; /* a weight each, all alive: a refused weight is asked once per address */
  for (size_t i = 0; i < NCASES; i++) wc[i] = frand(nw, 20 + i, -1, 1);
  for (size_t i = 0; i < NCASES; i++) {
    const int64_t H = cases[i].H, OH = cases[i].in ? cases[i].in : H;
    float *xi = frand((size_t)(24 * H * H), 10 + i, -1, 1);
    float *ya = fbuf((size_t)(40 * OH * OH)), *yb = fbuf((size_t)(40 * OH * OH));
    const shape si = {1, 24, 40, H, H, cases[i].in, cases[i].in, false, false, false, false, false};
    const dif__conv2d_params pi = params_of(&si, NULL);
    const int before = packs;
    e.k.wino_skip_small = cases[i].skip;
    const dif__weight wi = dif__weight_f32(wc[i], (int64_t)nw);
    CHECK(dif__conv2d(&e.k, &pi, xi, 1, H, H, wi, NULL, ya, &err) == 0);
    CHECK(dif__conv2d(&plain.k, &pi, xi, 1, H, H, wi, NULL, yb, &err) == 0);
    CHECK_SAME(ya, yb, (size_t)(40 * OH * OH)); /* refused or skipped: im2col + sgemm */
    CHECK_MSG(packs == before + (cases[i].asked ? 1 : 0), "case %zu: %s", i,
              cases[i].asked ? "not asked for" : "asked for");
    free(xi), free(ya), free(yb);
  }
  e.k.wino_skip_small = false;
  for (size_t i = 0; i < NCASES; i++) free(wc[i]);
  dif__wino_get_stats(e.k.wino, &st);
  CHECK(st.weights == 0 && st.refused == 5); /* the 2 above and the 3 cases asked */
  CHECK(dif__wino_new(&plain_table, &plain.k.wino, &err) == DIF_ERR_UNSUPPORTED);
  CHECK(plain.k.wino == NULL);
  /* bad arguments: a status and a message, nothing made */
  CHECK(dif__wino_new(NULL, &plain.k.wino, &err) == DIF_ERR_UNSUPPORTED && !plain.k.wino);
  CHECK(dif__wino_new(&refuser, NULL, &err) == DIF_ERR_INVALID_ARGUMENT);
  const dif__conv *pw = (const dif__conv *)&p;
  CHECK_STATUS(dif__wino_weight(NULL, NULL, dif__weight_f32(w, 9), 1, 1, 4, 4, &pw, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "NULL");
  CHECK(pw == (const dif__conv *)&p); /* untouched when the state itself is missing */
  CHECK_STATUS(dif__wino_weight(e.k.wino, NULL, (dif__weight){0}, 1, 1, 4, 4, &pw, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "NULL");
  dif__wino_free(NULL); /* a no-op */
  free(norm), free(x), free(w), free(w2), free(b), free(y1), free(y2);
  dif__wino_free(e.k.wino);
  kenv_free(&e);
  kenv_free(&plain);
}

/* Each backend's conv3x3_f32_slow at the edges of its measured rule
 * (core/backend_openblas_wino.c, core/backend_onednn.c): functions of the
 * shape alone, so checked on every CPU, oneDNN's too where it cannot run. */
TEST(slow_rules) {
  static const struct {
    const char *backend;
    int64_t cin, cout, OH, OW;
    bool slow;
  } cases[] = {
      /* openblas: F(4,3) (cin·cout from 64·128) with 1 tile per image, or
       * with at most 4 and cin·cout above 256·256 */
      {"openblas", 64, 127, 4, 4, false},   /* F(2,3): never */
      {"openblas", 64, 128, 4, 4, true},    /* F(4,3), 1 tile */
      {"openblas", 64, 128, 5, 4, false},   /* 2 tiles */
      {"openblas", 256, 256, 8, 8, false},  /* 4 tiles at 256·256 */
      {"openblas", 256, 257, 8, 8, true},   /* above */
      {"openblas", 640, 640, 8, 9, false},  /* 6 tiles */
      {"openblas", 2560, 1280, 1, 1, true}, /* 1 tile */
      /* onednn: at most 4 tiles and OH·OW·cin·cout under 2^20 */
      {"onednn", 128, 128, 8, 8, false},   /* 2^20 */
      {"onednn", 127, 128, 8, 8, true},    /* under */
      {"onednn", 32, 32, 4, 4, true},      /* 1 tile */
      {"onednn", 8, 8, 9, 8, false},       /* 6 tiles */
      {"onednn", 1024, 1024, 1, 1, false}, /* 1 tile, 2^20 */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const dif__backend *b = dif__backend_find(cases[i].backend);
    if (!b) {
      printf("     %s: not in this build, its rule unchecked\n", cases[i].backend);
      continue;
    }
    CHECK_MSG(b->conv3x3_f32_slow, "%s has no conv3x3_f32_slow", b->name);
    if (!b->conv3x3_f32_slow) continue;
    CHECK_MSG(b->conv3x3_f32_slow(cases[i].cin, cases[i].cout, cases[i].OH, cases[i].OW) ==
                  cases[i].slow,
              "%s: %lld -> %lld at %lldx%lld should be %s", b->name, (long long)cases[i].cin,
              (long long)cases[i].cout, (long long)cases[i].OH, (long long)cases[i].OW,
              cases[i].slow ? "slow" : "not slow");
  }
}

/* openblas's transformed weight does not depend on the pool that made it:
 * the same convolution, bit for bit, from a serial transform and from one
 * split over 3 threads (input channels in tasks of >= 2^14 / cout). */
TEST(openblas_wino_pack_threads) {
  const dif__backend *b = &dif__backend_openblas;
  kenv e;
  kenv_init(&e, 3);
  dif__error err;
  dif__error_clear(&err);
  const int64_t cin = 3000, cout = 21, H = 6, W = 7, nw = cout * cin * 9;
  const size_t nsrc = (size_t)((cin + 15) / 16 * 16 * (H + 2) * W),
               ndst = (size_t)((cout + 15) / 16 * 16 * H * W);
  float *w = frand((size_t)nw, 11, -0.3f, 0.3f), *src = frand(nsrc, 12, -1, 1);
  float *d1 = fbuf(ndst), *d2 = fbuf(ndst);
  dif__conv *c1 = NULL, *c2 = NULL;
  CHECK(b->conv3x3_f32_pack(NULL, dif__weight_f32(w, nw), cout, cin, H, W, &c1, &err) == DIF_OK);
  CHECK(b->conv3x3_f32_pack(&e.k, dif__weight_f32(w, nw), cout, cin, H, W, &c2, &err) == DIF_OK);
  CHECK(c1 && c2 && c1->bytes == c2->bytes);
  if (c1 && c2) {
    CHECK(b->conv3x3_f32_run(NULL, c1, 1, H, W, src, d1, &err) == DIF_OK);
    CHECK(b->conv3x3_f32_run(NULL, c2, 1, H, W, src, d2, &err) == DIF_OK);
    CHECK_SAME(d1, d2, ndst);
  }
  if (c1) b->conv_free(c1);
  if (c2) b->conv_free(c2);
  free(w), free(src), free(d1), free(d2);
  kenv_free(&e);
}

int main(void) {
  RUN(refused_falls_back);
  RUN(slow_rules);
  RUN(wino_against_double);
  RUN(wino_sizes_of_one_weight);
  RUN(openblas_wino_bad_input);
  RUN(openblas_wino_pack_threads);
  CHECK(wino_backends >= 1); /* openblas's runs everywhere: never skipped */
  return dif__test_finish();
}

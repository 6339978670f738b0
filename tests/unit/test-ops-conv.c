/* dif__conv2d (im2col + GEMM, row bands, 1×1 fast path) against a direct
 * double-precision convolution. */
#include "core/ops_internal.h"
#include "ops_test_util.h"

/* A float32 weight for the convolution of params *P. */
#define WF(P, w) dif__weight_f32((w), (P)->cout *(P)->cin *(P)->kh *(P)->kw)

static void ref_conv(const dif__conv2d_params *p, const float *x, int64_t N, int64_t H, int64_t W,
                     const float *w, const float *b, double *y) {
  int64_t OH = dif__conv2d_out(H, p->kh, p->stride, p->pad_top, p->pad_bottom);
  int64_t OW = dif__conv2d_out(W, p->kw, p->stride, p->pad_left, p->pad_right);
  for (int64_t n = 0; n < N; n++)
    for (int64_t o = 0; o < p->cout; o++)
      for (int64_t oh = 0; oh < OH; oh++)
        for (int64_t ow = 0; ow < OW; ow++) {
          double s = b ? b[o] : 0;
          for (int64_t c = 0; c < p->cin; c++)
            for (int64_t ki = 0; ki < p->kh; ki++)
              for (int64_t kj = 0; kj < p->kw; kj++) {
                int64_t ih = oh * p->stride - p->pad_top + ki;
                int64_t iw = ow * p->stride - p->pad_left + kj;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                s += (double)w[((o * p->cin + c) * p->kh + ki) * p->kw + kj] *
                     x[((n * p->cin + c) * H + ih) * W + iw];
              }
          y[((n * p->cout + o) * OH + oh) * OW + ow] = s;
        }
}

/* Runs one convolution with pools of 1 and 3 threads (results must be
 * bit-identical: the im2col split does not change any GEMM) and, when
 * max_scratch is non-zero, through the banded entry point. */
static void check_conv(const dif__conv2d_params *p, int64_t N, int64_t H, int64_t W, bool bias,
                       size_t max_scratch, uint64_t seed) {
  int64_t OH = dif__conv2d_out(H, p->kh, p->stride, p->pad_top, p->pad_bottom);
  int64_t OW = dif__conv2d_out(W, p->kw, p->stride, p->pad_left, p->pad_right);
  CHECK(OH > 0 && OW > 0);
  size_t nx = (size_t)(N * p->cin * H * W), ny = (size_t)(N * p->cout * OH * OW);
  float *x = frand(nx, seed, -1, 1);
  float *w = frand((size_t)(p->cout * p->cin * p->kh * p->kw), seed + 1, -1, 1);
  float *b = bias ? frand((size_t)p->cout, seed + 2, -1, 1) : NULL;
  double *r = dbuf(ny);
  ref_conv(p, x, N, H, W, w, b, r);
  float *y1 = frand(ny, 99, -5, 5), *y3 = frand(ny, 98, -5, 5);
  kenv e1, e3;
  kenv_init(&e1, 1);
  kenv_init(&e3, 3);
  dif__error err;
  dif__error_clear(&err);
  size_t lim = max_scratch ? max_scratch : DIF__CONV2D_SCRATCH_MAX;
  CHECK(dif__conv2d_bounded(&e1.k, p, x, N, H, W, WF(p, w), b, y1, lim, &err) == DIF_OK);
  CHECK(dif__conv2d_bounded(&e3.k, p, x, N, H, W, WF(p, w), b, y3, lim, &err) == DIF_OK);
  CHECK_NMSE(y1, r, ny, NMSE_MAX);
  CHECK_SAME(y1, y3, ny);
  /* Scratch is released on return. */
  CHECK(e1.arena.used_total == 0 && e3.arena.used_total == 0);
  if (!max_scratch) {
    dif__error_clear(&err);
    CHECK(dif__conv2d(&e3.k, p, x, N, H, W, WF(p, w), b, y3, &err) == DIF_OK);
    CHECK_SAME(y1, y3, ny);
  }
  /* accumulate: y0 + conv(x) + b */
  dif__conv2d_params pa = *p;
  pa.accumulate = true;
  float *y0 = frand(ny, 97, -2, 2);
  memcpy(y3, y0, ny * sizeof *y3);
  for (size_t i = 0; i < ny; i++) r[i] += y0[i];
  CHECK(dif__conv2d_bounded(&e3.k, &pa, x, N, H, W, WF(&pa, w), b, y3, lim, &err) == DIF_OK);
  CHECK_NMSE(y3, r, ny, NMSE_MAX);
  free(y0);
  kenv_free(&e1);
  kenv_free(&e3);
  free(x), free(w), free(b), free(r), free(y1), free(y3);
}

TEST(conv_out_size) {
  CHECK(dif__conv2d_out(7, 3, 1, 1, 1) == 7);
  CHECK(dif__conv2d_out(8, 3, 2, 0, 1) == 4);
  CHECK(dif__conv2d_out(7, 3, 2, 0, 1) == 3);
  CHECK(dif__conv2d_out(64, 3, 2, 0, 1) == 32); /* VAE downsample */
  CHECK(dif__conv2d_out(2, 3, 1, 0, 0) == 0);   /* kernel larger than input */
}

TEST(conv3x3_same_odd_sizes) {
  dif__conv2d_params p = {.cin = 13,
                          .cout = 6,
                          .kh = 3,
                          .kw = 3,
                          .stride = 1,
                          .pad_top = 1,
                          .pad_left = 1,
                          .pad_bottom = 1,
                          .pad_right = 1};
  check_conv(&p, 2, 7, 5, true, 0, 10);
  check_conv(&p, 1, 7, 5, false, 0, 20);
  check_conv(&p, 1, 1, 1, true, 0, 30); /* every tap but the centre is padding */
}

TEST(conv3x3_stride2_asymmetric_pad) {
  /* The VAE encoder's downsample: pad (0, 1, 0, 1) then stride 2, no pad. */
  dif__conv2d_params p = {.cin = 5,
                          .cout = 4,
                          .kh = 3,
                          .kw = 3,
                          .stride = 2,
                          .pad_top = 0,
                          .pad_left = 0,
                          .pad_bottom = 1,
                          .pad_right = 1};
  check_conv(&p, 2, 8, 7, true, 0, 40);
  check_conv(&p, 1, 7, 8, true, 0, 50);
  check_conv(&p, 1, 9, 9, false, 0, 60);
  /* Padding on every side with stride 2. */
  dif__conv2d_params q = {.cin = 3,
                          .cout = 7,
                          .kh = 3,
                          .kw = 3,
                          .stride = 2,
                          .pad_top = 1,
                          .pad_left = 2,
                          .pad_bottom = 0,
                          .pad_right = 1};
  check_conv(&q, 1, 6, 5, true, 0, 70);
}

TEST(conv1x1_fast_path) {
  dif__conv2d_params p = {.cin = 13, .cout = 5, .kh = 1, .kw = 1, .stride = 1};
  check_conv(&p, 2, 7, 5, true, 0, 80);
  check_conv(&p, 1, 7, 5, false, 0, 90);
  /* The fast path multiplies the input in place: no scratch at all. */
  kenv e;
  kenv_init(&e, 3);
  float *x = frand(13 * 35, 1, -1, 1), *w = frand(5 * 13, 2, -1, 1), *y = fbuf(5 * 35);
  dif__error err;
  dif__error_clear(&err);
  CHECK(dif__conv2d(&e.k, &p, x, 1, 7, 5, WF(&p, w), NULL, y, &err) == DIF_OK);
  CHECK(dif__arena_peak(&e.arena) == 0);
  free(x), free(w), free(y);
  kenv_free(&e);
}

TEST(conv1x1_strided_and_padded) {
  /* 1×1 kernels that are not the fast path go through im2col. */
  dif__conv2d_params p = {.cin = 4, .cout = 3, .kh = 1, .kw = 1, .stride = 2};
  check_conv(&p, 1, 7, 5, true, 0, 100);
  dif__conv2d_params q = {.cin = 4, .cout = 3, .kh = 1, .kw = 1, .stride = 1, .pad_right = 1};
  check_conv(&q, 1, 3, 5, true, 0, 110);
}

TEST(conv_row_bands) {
  dif__conv2d_params p = {.cin = 6,
                          .cout = 5,
                          .kh = 3,
                          .kw = 3,
                          .stride = 1,
                          .pad_top = 1,
                          .pad_left = 1,
                          .pad_bottom = 1,
                          .pad_right = 1};
  size_t row = 6 * 9 * 9 * sizeof(float);       /* K · OW floats per output row */
  check_conv(&p, 2, 11, 9, true, 1, 120);       /* one row per band */
  check_conv(&p, 2, 11, 9, true, 3 * row, 130); /* 3 rows, last band of 2 */
  dif__conv2d_params q = {
      .cin = 3, .cout = 4, .kh = 3, .kw = 3, .stride = 2, .pad_bottom = 1, .pad_right = 1};
  check_conv(&q, 1, 10, 9, false, 2 * 27 * 4 * sizeof(float), 140);
}

TEST(conv_small_images_batched) {
  /* Small outputs are batched several images per GEMM; a scratch bound of
   * two images makes groups of 2 + 1. */
  dif__conv2d_params p = {.cin = 5,
                          .cout = 4,
                          .kh = 3,
                          .kw = 3,
                          .stride = 1,
                          .pad_top = 1,
                          .pad_left = 1,
                          .pad_bottom = 1,
                          .pad_right = 1};
  check_conv(&p, 3, 6, 7, true, 0, 150);
  check_conv(&p, 3, 6, 7, false, 2 * 45 * 42 * sizeof(float), 160);
  dif__conv2d_params one = {.cin = 6, .cout = 3, .kh = 1, .kw = 1, .stride = 1};
  check_conv(&one, 4, 5, 3, true, 0, 170); /* 1x1 convolutions too */
}

/* The input transform (nearest resize, GroupNorm affine, SiLU) applied on
 * the fly must equal the convolution of the explicitly transformed input,
 * in the batched small-image path and in row bands. */
static void check_conv_xform(dif__conv2d_params p, int64_t N, int64_t H, int64_t W, int64_t in_h,
                             int64_t in_w, bool norm, bool silu, size_t max_scratch,
                             uint64_t seed) {
  const int64_t G = p.cin % 2 ? 1 : 2, Hin = in_h ? in_h : H, Win = in_w ? in_w : W;
  size_t nx = (size_t)(N * p.cin * H * W), nt = (size_t)(N * p.cin * Hin * Win);
  float *x = frand(nx, seed, -2, 3);
  float *gamma = frand((size_t)p.cin, seed + 1, 0.5f, 1.5f),
        *beta = frand((size_t)p.cin, seed + 2, -1, 1);
  dif__norm_affine *na = malloc((size_t)(N * p.cin) * sizeof *na);
  kenv e;
  kenv_init(&e, 3);
  dif__group_norm_params(&e.k, x, N, p.cin, H * W, G, 1e-6f, gamma, beta, na);
  /* The parameters are exactly what dif__group_norm applies. */
  float *gn = fbuf(nx), *chk = fbuf(nx);
  dif__group_norm(&e.k, x, N, p.cin, H * W, G, 1e-6f, gamma, beta, gn);
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < p.cin; c++) {
      const dif__norm_affine *a = &na[n * p.cin + c];
      for (int64_t i = 0; i < H * W; i++) {
        int64_t o = (n * p.cin + c) * H * W + i;
        chk[o] = ((x[o] - a->hi) - a->lo) * a->a + a->c;
      }
    }
  double worst = 0; /* the same formula; FMA contraction may round differently */
  for (size_t i = 0; i < nx; i++) {
    double d = fabs((double)gn[i] - chk[i]) / (1.0 + fabs((double)chk[i]));
    worst = d > worst ? d : worst;
  }
  CHECK_MSG(worst < 1e-6, "group norm parameters: %.3g", worst);
  /* The transformed input, explicitly. */
  float *xt = fbuf(nt);
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < p.cin; c++)
      for (int64_t i = 0; i < Hin; i++)
        for (int64_t j = 0; j < Win; j++) {
          int64_t si = dif__nearest_idx(i, H, Hin), sj = dif__nearest_idx(j, W, Win);
          float v = x[((n * p.cin + c) * H + si) * W + sj];
          if (norm) {
            const dif__norm_affine *a = &na[n * p.cin + c];
            v = ((v - a->hi) - a->lo) * a->a + a->c;
          }
          if (silu) v = (float)((double)v / (1.0 + exp(-(double)v)));
          xt[((n * p.cin + c) * Hin + i) * Win + j] = v;
        }
  int64_t OH = dif__conv2d_out(Hin, p.kh, p.stride, p.pad_top, p.pad_bottom);
  int64_t OW = dif__conv2d_out(Win, p.kw, p.stride, p.pad_left, p.pad_right);
  size_t ny = (size_t)(N * p.cout * OH * OW);
  float *w = frand((size_t)(p.cout * p.cin * p.kh * p.kw), seed + 3, -1, 1);
  float *b = frand((size_t)p.cout, seed + 4, -1, 1);
  double *r = dbuf(ny);
  ref_conv(&p, xt, N, Hin, Win, w, b, r);
  dif__conv2d_params q = p;
  q.in_h = in_h, q.in_w = in_w, q.in_norm = norm ? na : NULL, q.in_silu = silu;
  float *y = fbuf(ny);
  dif__error err;
  dif__error_clear(&err);
  size_t lim = max_scratch ? max_scratch : DIF__CONV2D_SCRATCH_MAX;
  CHECK_MSG(dif__conv2d_bounded(&e.k, &q, x, N, H, W, WF(&q, w), b, y, lim, &err) == DIF_OK, "%s",
            err.msg);
  /* SiLU through the SIMD exp vs the double one: float rounding only. */
  CHECK_NMSE(y, r, ny, NMSE_MAX);
  /* Channels-last (the exact path changes the layout there and back around
   * the same call): the same bits, with accumulate onto y's channels-last
   * copy too. */
  float *xl = fbuf(nx), *yl = fbuf(ny), *yb = fbuf(ny), *y2 = frand(ny, seed + 5, -1, 1);
  dif__transpose_batched(&e.k, x, N, p.cin, H * W, xl);
  for (int acc = 0; acc < 2; acc++) {
    dif__conv2d_params ql = q;
    ql.channels_last = true;
    ql.accumulate = acc;
    float *want = y;
    if (acc) { /* y2 + conv, channels-first */
      want = fbuf(ny);
      memcpy(want, y2, ny * sizeof *want);
      q.accumulate = true;
      CHECK(dif__conv2d_bounded(&e.k, &q, x, N, H, W, WF(&q, w), b, want, lim, &err) == DIF_OK);
      q.accumulate = false;
      dif__transpose_batched(&e.k, y2, N, p.cout, OH * OW, yl);
    }
    CHECK_MSG(dif__conv2d_bounded(&e.k, &ql, xl, N, H, W, WF(&ql, w), b, yl, lim, &err) == DIF_OK,
              "%s", err.msg);
    dif__transpose_batched(&e.k, yl, N, OH * OW, p.cout, yb);
    CHECK_SAME(yb, want, ny);
    if (acc) free(want);
  }
  free(xl), free(yl), free(yb), free(y2);
  CHECK(e.arena.used_total == 0);
  kenv_free(&e);
  free(x), free(gamma), free(beta), free(na), free(gn), free(chk), free(xt), free(w), free(b);
  free(r), free(y);
}

TEST(conv_input_transform) {
  dif__conv2d_params p = {.cin = 4,
                          .cout = 3,
                          .kh = 3,
                          .kw = 3,
                          .stride = 1,
                          .pad_top = 1,
                          .pad_left = 1,
                          .pad_bottom = 1,
                          .pad_right = 1};
  size_t row = 4 * 9 * 8 * sizeof(float);
  check_conv_xform(p, 2, 9, 8, 0, 0, true, true, 0, 200);        /* batched images */
  check_conv_xform(p, 1, 9, 8, 0, 0, true, true, 0, 210);        /* one image, one band */
  check_conv_xform(p, 2, 9, 8, 0, 0, true, false, 3 * row, 220); /* bands of 3 rows */
  check_conv_xform(p, 1, 9, 8, 0, 0, false, true, 1, 230);       /* one row per band */
  check_conv_xform(p, 2, 5, 4, 10, 8, false, false, 0, 240);     /* nearest 2× */
  check_conv_xform(p, 1, 5, 4, 10, 8, false, false, 2 * row, 250);
  check_conv_xform(p, 1, 5, 4, 7, 9, true, true, 2 * row, 260); /* odd resize */
  dif__conv2d_params s2 = {
      .cin = 3, .cout = 2, .kh = 3, .kw = 3, .stride = 2, .pad_bottom = 1, .pad_right = 1};
  check_conv_xform(s2, 1, 11, 9, 0, 0, true, true, 1, 270); /* stride 2, odd rows */
  dif__conv2d_params one = {.cin = 5, .cout = 4, .kh = 1, .kw = 1, .stride = 1};
  check_conv_xform(one, 1, 6, 7, 0, 0, true, true, 0, 280); /* 1×1 with a transform */
}

TEST(conv1x1_in_place) {
  /* y == x for a 1×1 convolution with cout <= cin, in small pixel bands. */
  for (int t = 0; t < 2; t++) {
    dif__conv2d_params p = {.cin = 6, .cout = t ? 6 : 4, .kh = 1, .kw = 1, .stride = 1};
    const int64_t N = 3, H = 12, W = 12; /* 144 pixels: bands of 64 */
    size_t nx = (size_t)(N * p.cin * H * W), ny = (size_t)(N * p.cout * H * W);
    float *x = frand(nx, 300 + t, -1, 1), *w = frand((size_t)(p.cout * p.cin), 310, -1, 1);
    float *b = frand((size_t)p.cout, 320, -1, 1);
    double *r = dbuf(ny);
    ref_conv(&p, x, N, H, W, w, b, r);
    kenv e;
    kenv_init(&e, 3);
    dif__error err;
    dif__error_clear(&err);
    CHECK_MSG(dif__conv2d_bounded(&e.k, &p, x, N, H, W, WF(&p, w), b, x, 64 * sizeof(float) * 6,
                                  &err) == DIF_OK,
              "%s", err.msg);
    CHECK_NMSE(x, r, ny, NMSE_MAX);
    /* channels-last in place: the reference transposed */
    float *xl = frand(nx, 300 + t, -1, 1), *xc = fbuf(nx), *back = fbuf(ny);
    memcpy(xc, xl, nx * sizeof *xc);
    dif__transpose_batched(&e.k, xc, N, p.cin, H * W, xl);
    dif__conv2d_params pl = p;
    pl.channels_last = true;
    CHECK_MSG(dif__conv2d_bounded(&e.k, &pl, xl, N, H, W, WF(&pl, w), b, xl, 64 * sizeof(float) * 6,
                                  &err) == DIF_OK,
              "%s", err.msg);
    dif__transpose_batched(&e.k, xl, N, H * W, p.cout, back);
    CHECK_SAME(back, x, ny);
    free(xl), free(xc), free(back);
    kenv_free(&e);
    free(x), free(w), free(b), free(r);
  }
  /* Overlap that is not exactly in place is refused. */
  kenv e;
  kenv_init(&e, 0);
  float buf[64] = {0}, w[9] = {0};
  dif__error err;
  dif__error_clear(&err);
  dif__conv2d_params p3 = {.cin = 1,
                           .cout = 1,
                           .kh = 3,
                           .kw = 3,
                           .stride = 1,
                           .pad_top = 1,
                           .pad_left = 1,
                           .pad_bottom = 1,
                           .pad_right = 1};
  CHECK_STATUS(dif__conv2d(&e.k, &p3, buf, 1, 4, 4, WF(&p3, w), NULL, buf + 2, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "overlaps");
  kenv_free(&e);
}

TEST(conv_rejects_bad_arguments) {
  kenv e;
  kenv_init(&e, 0);
  float x[16] = {0}, w[9] = {0}, y[16];
  dif__error err;
  dif__conv2d_params p = {.cin = 1, .cout = 1, .kh = 3, .kw = 3, .stride = 1};
  dif__error_clear(&err);
  CHECK_STATUS(dif__conv2d(&e.k, &p, x, 1, 2, 2, WF(&p, w), NULL, y, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "does not fit");
  p.stride = 0;
  CHECK_STATUS(dif__conv2d(&e.k, &p, x, 1, 4, 4, WF(&p, w), NULL, y, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "bad shape");
  p.stride = 1;
  p.cin = (int64_t)1 << 31; /* K beyond OpenBLAS's 32-bit ints */
  CHECK_STATUS(dif__conv2d(&e.k, &p, x, 1, 4, 4, WF(&p, w), NULL, y, &err), DIF_ERR_LIMIT, err.msg,
               "BLAS limit");
  p.cin = 1;
  dif__kctx no_arena = {NULL, NULL, NULL, NULL, 0, 0, false, 0, 0};
  CHECK_STATUS(dif__conv2d(&no_arena, &p, x, 1, 4, 4, WF(&p, w), NULL, y, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "NULL");
  kenv_free(&e);
}

int main(void) {
  RUN(conv_out_size);
  RUN(conv3x3_same_odd_sizes);
  RUN(conv3x3_stride2_asymmetric_pad);
  RUN(conv1x1_fast_path);
  RUN(conv1x1_strided_and_padded);
  RUN(conv_row_bands);
  RUN(conv_small_images_batched);
  RUN(conv_input_transform);
  RUN(conv1x1_in_place);
  RUN(conv_rejects_bad_arguments);
  return dif__test_finish();
}

/* resample.c — Pillow-exact resizing of RGB8 images (see resample.h).
 *
 * The arithmetic below follows Pillow's Resample.c operation for operation
 * (precompute_coeffs, normalize_coeffs_8bpc, ImagingResample{Horizontal,
 * Vertical}_8bpc, ImagingResampleInner); any change to the order of the
 * floating-point operations can move a weight by one fixed-point step and a
 * pixel by one level. */
#include "io/resample.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS 22 /* Pillow: 32 - 8 - 2 */

typedef struct resample_filter {
  double (*fn)(double x);
  double support;
} resample_filter;

static double box_filter(double x) { return x > -0.5 && x <= 0.5 ? 1.0 : 0.0; }

static double bilinear_filter(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

/* Keys' cubic convolution with a = -0.5, written as Pillow evaluates it. */
static double bicubic_filter(double x) {
  const double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

/* Pillow's sinc_filter and lanczos_filter (a = 3): libm's sin, as Pillow
 * calls it (glibc's sin is correctly rounded in practice on x86-64, so the
 * weights are Pillow's bit for bit on the same libm). */
static double sinc_filter(double x) {
  if (x == 0.0) return 1.0;
  x = x * M_PI;
  return sin(x) / x;
}

static double lanczos_filter(double x) {
  if (-3.0 <= x && x < 3.0) return sinc_filter(x) * sinc_filter(x / 3);
  return 0.0;
}

static const resample_filter BOX = {box_filter, 0.5};
static const resample_filter BILINEAR = {bilinear_filter, 1.0};
static const resample_filter BICUBIC = {bicubic_filter, 2.0};
static const resample_filter LANCZOS = {lanczos_filter, 3.0};

const char *dif_resample_name(int f) {
  static const char *const names[] = {"NEAREST", "LANCZOS", "BILINEAR",
                                      "BICUBIC", "BOX",     "HAMMING"};
  return f >= 0 && f < 6 ? names[f] : NULL;
}

static const resample_filter *filter_of(int f) {
  switch (f) {
  case DIF_RESAMPLE_BOX: return &BOX;
  case DIF_RESAMPLE_BILINEAR: return &BILINEAR;
  case DIF_RESAMPLE_BICUBIC: return &BICUBIC;
  case DIF_RESAMPLE_LANCZOS: return &LANCZOS;
  default: return NULL;
  }
}

bool dif_resample_supported(int f) { return filter_of(f) != NULL; }

/* The fixed-point weights of output positions first .. first + count - 1 of
 * one axis: position i reads in[bounds[2i] .. bounds[2i] + bounds[2i+1]) with
 * weights k[i * ksize ...]. */
typedef struct coeffs {
  int ksize;
  int *bounds;
  int32_t *k;
} coeffs;

static void coeffs_free(coeffs *c) {
  free(c->bounds);
  free(c->k);
  *c = (coeffs){0};
}

/* Pillow's precompute_coeffs over the source interval [in0, in1] (float,
 * as Pillow's box) followed by normalize_coeffs_8bpc, for count positions
 * starting at first. */
static dif_status coeffs_make(int in_size, float in0, float in1, int out_size, int first, int count,
                              const resample_filter *f, coeffs *c, dif_error *err) {
  *c = (coeffs){0};
  /* Pillow: scale = (double)(in1 - in0) / outSize, the difference in float. */
  double scale = (double)(in1 - in0) / out_size;
  double filterscale = scale < 1.0 ? 1.0 : scale;
  double support = f->support * filterscale;
  double ks = ceil(support) * 2 + 1;
  if (ks > INT_MAX / 2 || (double)count * ks > (double)(SIZE_MAX / 8))
    return dif_fail(err, DIF_ERR_LIMIT, "resize %d -> %d: filter too wide", in_size, out_size);
  int ksize = (int)ks;
  size_t nk = (size_t)count * (size_t)ksize;
  c->ksize = ksize;
  c->bounds = malloc((size_t)count * 2 * sizeof *c->bounds);
  c->k = malloc(nk * sizeof *c->k);
  double *w = malloc((size_t)ksize * sizeof *w);
  if (!c->bounds || !c->k || !w) {
    free(w);
    coeffs_free(c);
    return dif_fail_oom(err, "resampling weights", nk * (sizeof(int32_t) + sizeof(double)));
  }
  const double one = (double)(1 << PRECISION_BITS);
  for (int i = 0; i < count; i++) {
    int xx = first + i;
    double center = in0 + (xx + 0.5) * scale;
    double ww = 0.0;
    double ss = 1.0 / filterscale;
    int xmin = (int)(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = (int)(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    if (xmax > ksize) { /* cannot happen: the window spans at most 2 * support + 1 */
      free(w);
      coeffs_free(c);
      return dif_fail(err, DIF_ERR_INTERNAL, "resample: %d taps exceed the filter size %d", xmax,
                      ksize);
    }
    int x;
    for (x = 0; x < xmax; x++) {
      double v = f->fn((x + xmin - center + 0.5) * ss);
      w[x] = v;
      ww += v;
    }
    for (x = 0; x < xmax; x++)
      if (ww != 0.0) w[x] /= ww;
    for (; x < ksize; x++) w[x] = 0;
    int32_t *k = c->k + (size_t)i * (size_t)ksize;
    for (x = 0; x < ksize; x++)
      k[x] = w[x] < 0 ? (int32_t)(-0.5 + w[x] * one) : (int32_t)(0.5 + w[x] * one);
    c->bounds[2 * i] = xmin;
    c->bounds[2 * i + 1] = xmax;
  }
  free(w);
  return DIF_OK;
}

/* Pillow's clip8: the accumulator's integer part clamped to 0..255. (Its
 * lookup table covers -640..639, which the weights' range guarantees.) */
static inline uint8_t clip8(int64_t acc) {
  if (acc < 0) return 0;
  int64_t v = acc >> PRECISION_BITS;
  return v > 255 ? 255 : (uint8_t)v;
}

/* Horizontal pass: rows [y0, y0 + rows) of src (width src_w), output columns
 * described by c, into dst (c-count columns wide). */
static void pass_h(const uint8_t *src, int src_w, int y0, int rows, const coeffs *c, int cols,
                   uint8_t *dst) {
  const int64_t half = (int64_t)1 << (PRECISION_BITS - 1);
  for (int y = 0; y < rows; y++) {
    const uint8_t *row = src + ((size_t)(y0 + y) * (size_t)src_w) * 3;
    uint8_t *out = dst + (size_t)y * (size_t)cols * 3;
    for (int i = 0; i < cols; i++) {
      int xmin = c->bounds[2 * i], n = c->bounds[2 * i + 1];
      const int32_t *k = c->k + (size_t)i * (size_t)c->ksize;
      const uint8_t *p = row + (size_t)xmin * 3;
      int64_t s0 = half, s1 = half, s2 = half;
      for (int x = 0; x < n; x++) {
        s0 += (int64_t)p[3 * x] * k[x];
        s1 += (int64_t)p[3 * x + 1] * k[x];
        s2 += (int64_t)p[3 * x + 2] * k[x];
      }
      out[3 * i] = clip8(s0);
      out[3 * i + 1] = clip8(s1);
      out[3 * i + 2] = clip8(s2);
    }
  }
}

/* Vertical pass: src holds rows starting at input row src_y0, cols wide;
 * output rows described by c. */
static void pass_v(const uint8_t *src, int cols, int src_y0, const coeffs *c, int rows,
                   uint8_t *dst) {
  const int64_t half = (int64_t)1 << (PRECISION_BITS - 1);
  const size_t stride = (size_t)cols * 3;
  for (int j = 0; j < rows; j++) {
    int ymin = c->bounds[2 * j] - src_y0, n = c->bounds[2 * j + 1];
    const int32_t *k = c->k + (size_t)j * (size_t)c->ksize;
    uint8_t *out = dst + (size_t)j * stride;
    for (size_t i = 0; i < stride; i++) {
      int64_t s = half;
      const uint8_t *p = src + (size_t)ymin * stride + i;
      for (int y = 0; y < n; y++) s += (int64_t)p[(size_t)y * stride] * k[y];
      out[i] = clip8(s);
    }
  }
}

/* The two passes once the coefficients (cv when vertical, ch when
 * horizontal) and the scratch rows tmp (when either pass needs them) exist:
 * input rows ry0..ry1 of the window into out. */
static void run_passes(const dif_image *in, int x0, int w, int h, int ry0, int ry1,
                       const coeffs *cv, const coeffs *ch, uint8_t *tmp, dif_image *out) {
  const bool need_v = cv->bounds != NULL;
  /* The horizontally resampled rows ry0..ry1 of the window's columns (or,
   * without a horizontal pass, the window's input columns). */
  const uint8_t *mid;
  int mid_w;
  if (ch->bounds) {
    pass_h(in->rgb, in->width, ry0, ry1 - ry0, ch, w, tmp);
    mid = tmp;
    mid_w = w;
  } else {
    mid = in->rgb + (size_t)ry0 * (size_t)in->width * 3 + (size_t)x0 * 3;
    mid_w = in->width;
  }
  if (need_v && mid_w == w) {
    pass_v(mid, w, ry0, cv, h, out->rgb);
  } else if (need_v) {
    /* Vertical pass straight from the input: gather the window's columns. */
    for (int y = 0; y < ry1 - ry0; y++)
      memcpy(tmp + (size_t)y * (size_t)w * 3, mid + (size_t)y * (size_t)mid_w * 3, (size_t)w * 3);
    pass_v(tmp, w, ry0, cv, h, out->rgb);
  } else {
    /* No vertical pass: rows ry0..ry1 are exactly the window's rows. */
    for (int y = 0; y < h; y++)
      memcpy(out->rgb + (size_t)y * (size_t)w * 3, mid + (size_t)y * (size_t)mid_w * 3,
             (size_t)w * 3);
  }
}

/* Resamples the window of the box's resize into out (allocated by the
 * caller). */
static dif_status resample(const dif_image *in, int out_w, int out_h, const float box[4], int x0,
                           int y0, int w, int h, const resample_filter *f, dif_image *out,
                           dif_error *err) {
  /* Pillow: need_horizontal = xsize != imIn->xsize || box[0] || box[2] != xsize. */
  const bool need_h = out_w != in->width || box[0] != 0.0f || box[2] != (float)out_w,
             need_v = out_h != in->height || box[1] != 0.0f || box[3] != (float)out_h;
  coeffs cv = {0}, ch = {0};
  uint8_t *tmp = NULL;
  /* Input rows the output window needs. */
  int ry0 = y0, ry1 = y0 + h;
  dif_status s =
      need_v ? coeffs_make(in->height, box[1], box[3], out_h, y0, h, f, &cv, err) : DIF_OK;
  if (!s && need_v) {
    ry0 = cv.bounds[0];
    ry1 = cv.bounds[0] + cv.bounds[1];
    for (int j = 0; j < h; j++) {
      int a = cv.bounds[2 * j], b = a + cv.bounds[2 * j + 1];
      if (a < ry0) ry0 = a;
      if (b > ry1) ry1 = b;
    }
  }
  if (!s && need_h) s = coeffs_make(in->width, box[0], box[2], out_w, x0, w, f, &ch, err);
  const size_t n = (size_t)(ry1 - ry0) * (size_t)w * 3;
  if (!s && (need_h || (need_v && in->width != w)) && !(tmp = malloc(n ? n : 1)))
    s = dif_fail_oom(err, "resize intermediate", n);
  if (!s) run_passes(in, x0, w, h, ry0, ry1, &cv, &ch, tmp, out);
  free(tmp);
  coeffs_free(&cv);
  coeffs_free(&ch);
  return s;
}

/* Pillow's checks of the arguments (Image.resize and _resize). */
static dif_status check_args(const dif_image *in, int out_w, int out_h, const float box[4],
                             int filter_id, dif_error *err) {
  if (!in || !in->rgb || in->width <= 0 || in->height <= 0)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "resize: empty input image");
  if (out_w <= 0 || out_h <= 0)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "resize: output size %dx%d", out_w, out_h);
  for (int i = 0; i < 4; i++)
    if (!isfinite(box[i]))
      return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "resize: box coordinate %d is not finite", i);
  if (box[0] < 0 || box[1] < 0 || box[2] > (float)in->width || box[3] > (float)in->height ||
      box[2] < box[0] || box[3] < box[1])
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT,
                    "resize: box (%g, %g, %g, %g) is not inside the %dx%d image (or ends before "
                    "it starts)",
                    (double)box[0], (double)box[1], (double)box[2], (double)box[3], in->width,
                    in->height);
  if (!filter_of(filter_id)) {
    const char *name = dif_resample_name(filter_id);
    return dif_fail(err, DIF_ERR_UNSUPPORTED, "resize: resampling filter %d%s%s is not supported",
                    filter_id, name ? " = " : "", name ? name : "");
  }
  return DIF_OK;
}

static dif_status resize_window(const dif_image *in, int out_w, int out_h, const float box[4],
                                int x0, int y0, int w, int h, int filter_id,
                                const dif_image_limits *limits, dif_image *out, dif_error *err) {
  *out = (dif_image){0};
  dif_status s = check_args(in, out_w, out_h, box, filter_id, err);
  if (s) return s;
  if (x0 < 0 || y0 < 0 || w <= 0 || h <= 0 || x0 > out_w - w || y0 > out_h - h)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT,
                    "resize: window %dx%d at (%d, %d) outside the %dx%d output", w, h, x0, y0,
                    out_w, out_h);
  if ((s = dif_image_alloc(out, w, h, limits, err))) return s;
  out->exif_orientation = in->exif_orientation;
  /* Pillow's _resize: a box of whole pixels the output's size is a crop. */
  if (box[0] == floorf(box[0]) && box[1] == floorf(box[1]) && box[2] - box[0] == (float)out_w &&
      box[3] - box[1] == (float)out_h) {
    for (int y = 0; y < h; y++)
      memcpy(out->rgb + (size_t)y * (size_t)w * 3,
             in->rgb + (((size_t)((int)box[1] + y0 + y) * (size_t)in->width) +
                        (size_t)((int)box[0] + x0)) *
                           3,
             (size_t)w * 3);
    return DIF_OK;
  }
  if ((s = resample(in, out_w, out_h, box, x0, y0, w, h, filter_of(filter_id), out, err)))
    dif_image_free(out);
  return s;
}

dif_status dif_image_resize_window(const dif_image *in, int out_w, int out_h, int x0, int y0, int w,
                                   int h, int filter_id, const dif_image_limits *limits,
                                   dif_image *out, dif_error *err) {
  const float box[4] = {0, 0, in ? (float)in->width : 0, in ? (float)in->height : 0};
  return resize_window(in, out_w, out_h, box, x0, y0, w, h, filter_id, limits, out, err);
}

dif_status dif_image_resize(const dif_image *in, int out_w, int out_h, int filter,
                            const dif_image_limits *limits, dif_image *out, dif_error *err) {
  return dif_image_resize_window(in, out_w, out_h, 0, 0, out_w, out_h, filter, limits, out, err);
}

dif_status dif_image_resize_box(const dif_image *in, int out_w, int out_h, const float box[4],
                                int filter, const dif_image_limits *limits, dif_image *out,
                                dif_error *err) {
  return resize_window(in, out_w, out_h, box, 0, 0, out_w, out_h, filter, limits, out, err);
}

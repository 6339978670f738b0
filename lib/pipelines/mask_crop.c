/* mask_crop.c — padding_mask_crop as diffusers v0.26.3's
 * VaeImageProcessor (get_crop_region, _resize_and_fill, _resize_and_crop,
 * apply_overlay) and PIL's Image.paste (see mask_crop.h). Python's integer
 * arithmetic is kept: int() truncates, // floors. */
#include "pipelines/mask_crop.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "io/composite.h"
#include "io/resample.h"

static int floordiv2(int v) { return v >= 0 ? v / 2 : -((-v + 1) / 2); }
static int imax(int a, int b) { return a > b ? a : b; }
static int imin(int a, int b) { return a < b ? a : b; }

static bool column_empty(const uint8_t *m, int w, int h, int x) {
  for (int y = 0; y < h; y++)
    if (m[(size_t)y * w + x]) return false;
  return true;
}

static bool row_empty(const uint8_t *m, int w, int y) {
  for (int x = 0; x < w; x++)
    if (m[(size_t)y * w + x]) return false;
  return true;
}

/* Step 3 of get_crop_region on one axis: [*a, *b) grows by diff (half
 * before, half after), then moves back inside [0, size). */
static void grow_axis(int *a, int *b, int diff, int size) {
  *a -= floordiv2(diff);
  *b += diff - floordiv2(diff);
  if (*b >= size) {
    int d = *b - size;
    *b -= d;
    *a -= d;
  }
  if (*a < 0) {
    *b -= *a;
    *a = 0;
  }
  if (*b >= size) *b = size;
}

dif_status dif_mask_crop_region(const uint8_t *grey, int w, int h, int width, int height, int pad,
                                int box[4], dif_error *err) {
  int left = 0, right = 0, top = 0, bottom = 0;
  while (left < w && column_empty(grey, w, h, left)) left++;
  if (left == w)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT,
                    "the mask crop needs a mask with a white (non-zero) pixel to crop around; "
                    "this %dx%d mask is all black",
                    w, h);
  while (column_empty(grey, w, h, w - 1 - right)) right++;
  while (row_empty(grey, w, top)) top++;
  while (row_empty(grey, w, h - 1 - bottom)) bottom++;
  int x1 = imax(left - pad, 0), y1 = imax(top - pad, 0), x2 = imin(w - right + pad, w),
      y2 = imin(h - bottom + pad, h);
  double ratio_crop = (double)(x2 - x1) / (y2 - y1), ratio = (double)width / height;
  if (ratio_crop > ratio) {
    double desired = (x2 - x1) / ratio;
    grow_axis(&y1, &y2, (int)(desired - (y2 - y1)), h);
  } else {
    double desired = (y2 - y1) * ratio;
    grow_axis(&x1, &x2, (int)(desired - (x2 - x1)), w);
  }
  box[0] = x1;
  box[1] = y1;
  box[2] = x2;
  box[3] = y2;
  return DIF_OK;
}

/* PIL's Image.paste(src, (dx, dy)) into dst, clipped to dst. */
static void paste(dif_image *dst, const dif_image *src, int dx, int dy) {
  int sx = dx < 0 ? -dx : 0, sy = dy < 0 ? -dy : 0;
  int w = imin(src->width - sx, dst->width - (dx + sx)),
      h = imin(src->height - sy, dst->height - (dy + sy));
  for (int y = 0; y < h && w > 0; y++)
    memcpy(dst->rgb + ((size_t)(dy + sy + y) * dst->width + (size_t)(dx + sx)) * 3,
           src->rgb + ((size_t)(sy + y) * src->width + (size_t)sx) * 3, (size_t)w * 3);
}

static dif_status canvas(int width, int height, dif_image *out, dif_error *err) {
  dif_status s = dif_image_alloc(out, width, height, NULL, err);
  if (!s) memset(out->rgb, 0, (size_t)width * height * 3); /* Image.new("RGB"): black */
  return s;
}

/* A band of the fill: resized.resize(size, box=edge) pasted at (dx, dy).
 * diffusers gives no filter there: Pillow's default for RGB and L images,
 * BICUBIC. */
static dif_status fill_band(const dif_image *resized, int bw, int bh, const float box[4], int dx,
                            int dy, dif_image *out, dif_error *err) {
  dif_image band;
  dif_status s = dif_image_resize_box(resized, bw, bh, box, DIF_RESAMPLE_BICUBIC, NULL, &band, err);
  if (!s) paste(out, &band, dx, dy);
  dif_image_free(&band);
  return s;
}

dif_status dif_resize_fill(const dif_image *in, int width, int height, dif_image *out,
                           dif_error *err) {
  *out = (dif_image){0};
  double ratio = (double)width / height, src_ratio = (double)in->width / in->height;
  int src_w = ratio < src_ratio ? width : in->width * height / in->height;
  int src_h = ratio >= src_ratio ? height : in->height * width / in->width;
  dif_image resized;
  dif_status s = dif_image_resize(in, src_w, src_h, DIF_RESAMPLE_LANCZOS, NULL, &resized, err);
  if (s) return s;
  if (!(s = canvas(width, height, out, err)))
    paste(out, &resized, width / 2 - src_w / 2, height / 2 - src_h / 2);
  float rw = (float)resized.width, rh = (float)resized.height;
  if (!s && ratio < src_ratio) {
    int fill = height / 2 - src_h / 2;
    if (fill > 0 &&
        !(s = fill_band(&resized, width, fill, (float[4]){0, 0, (float)width, 0}, 0, 0, out, err)))
      s = fill_band(&resized, width, fill, (float[4]){0, rh, (float)width, rh}, 0, fill + src_h,
                    out, err);
  } else if (!s && ratio > src_ratio) {
    int fill = width / 2 - src_w / 2;
    if (fill > 0 && !(s = fill_band(&resized, fill, height, (float[4]){0, 0, 0, (float)height}, 0,
                                    0, out, err)))
      s = fill_band(&resized, fill, height, (float[4]){rw, 0, rw, (float)height}, fill + src_w, 0,
                    out, err);
  }
  dif_image_free(&resized);
  if (s) dif_image_free(out);
  return s;
}

dif_status dif_resize_crop(const dif_image *in, int width, int height, dif_image *out,
                           dif_error *err) {
  *out = (dif_image){0};
  double ratio = (double)width / height, src_ratio = (double)in->width / in->height;
  int src_w = ratio > src_ratio ? width : in->width * height / in->height;
  int src_h = ratio <= src_ratio ? height : in->height * width / in->width;
  dif_image resized;
  dif_status s = dif_image_resize(in, src_w, src_h, DIF_RESAMPLE_LANCZOS, NULL, &resized, err);
  if (s) return s;
  if (!(s = canvas(width, height, out, err)))
    paste(out, &resized, width / 2 - src_w / 2, height / 2 - src_h / 2);
  dif_image_free(&resized);
  return s;
}

/* grey[n] → an RGB image of three equal bands (Pillow resamples an L image
 * band by band with the same weights). */
static dif_status grey_image(const uint8_t *grey, int w, int h, dif_image *out, dif_error *err) {
  dif_status s = dif_image_alloc(out, w, h, NULL, err);
  for (size_t i = 0; !s && i < (size_t)w * h; i++)
    out->rgb[3 * i] = out->rgb[3 * i + 1] = out->rgb[3 * i + 2] = grey[i];
  return s;
}

/* The box of img, "fill"-resized to W × H. */
static dif_status cut_fill(const dif_image *img, const int box[4], int W, int H, dif_image *out,
                           dif_error *err) {
  const float b[4] = {(float)box[0], (float)box[1], (float)box[2], (float)box[3]};
  dif_image cut;
  dif_status s = dif_image_resize_box(img, box[2] - box[0], box[3] - box[1], b,
                                      DIF_RESAMPLE_LANCZOS, NULL, &cut, err);
  if (!s) s = dif_resize_fill(&cut, W, H, out, err);
  dif_image_free(&cut);
  return s;
}

dif_status dif_mask_crop_prepare(const dif_image *picture, const float *mask, int pad,
                                 dif_mask_crop *c, dif_error *err) {
  memset(c, 0, sizeof *c);
  int W = picture->width, H = picture->height;
  size_t n = (size_t)W * H;
  c->grey = malloc(n);
  c->mask = malloc(n * sizeof *c->mask);
  if (!c->grey || !c->mask) {
    dif_mask_crop_free(c);
    return dif_fail_oom(err, "mask crop", n * (1 + sizeof *c->mask));
  }
  for (size_t i = 0; i < n; i++) c->grey[i] = (uint8_t)lrintf(mask[i] * 255.0f);
  dif_image grey = {0}, cut = {0};
  dif_status s = dif_mask_crop_region(c->grey, W, H, W, H, pad, c->box, err);
  if (!s) s = cut_fill(picture, c->box, W, H, &c->image, err);
  if (!s) s = grey_image(c->grey, W, H, &grey, err);
  if (!s) s = cut_fill(&grey, c->box, W, H, &cut, err);
  for (size_t i = 0; !s && i < n; i++) c->mask[i] = (float)cut.rgb[3 * i] / 255.0f;
  dif_image_free(&grey);
  dif_image_free(&cut);
  if (s) dif_mask_crop_free(c);
  return s;
}

dif_status dif_mask_crop_paste(const dif_mask_crop *c, const dif_image *picture, uint8_t *generated,
                               dif_error *err) {
  int W = picture->width, H = picture->height;
  dif_image gen = {W, H, generated, 1}, fitted, base;
  dif_status s = dif_resize_crop(&gen, c->box[2] - c->box[0], c->box[3] - c->box[1], &fitted, err);
  if (s) return s;
  if (!(s = canvas(W, H, &base, err))) {
    paste(&base, &fitted, c->box[0], c->box[1]);
    s = dif_image_overlay(&base, picture, c->grey, err);
  }
  if (!s) memcpy(generated, base.rgb, (size_t)W * H * 3);
  dif_image_free(&fitted);
  dif_image_free(&base);
  return s;
}

void dif_mask_crop_free(dif_mask_crop *c) {
  dif_image_free(&c->image);
  free(c->mask);
  free(c->grey);
  memset(c, 0, sizeof *c);
}

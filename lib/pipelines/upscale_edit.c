/* upscale_edit.c — the resize of Upscale (Subtle / Creative) (upscale_edit.h). */
#include "pipelines/upscale_edit.h"

#include <math.h>

#include "io/resample.h"

static int round8(double v) {
  int n = (int)lround(v / 8.0) * 8;
  return n < 8 ? 8 : n;
}

dif_status dif_upscale_size(int W, int H, float factor, int *out_w, int *out_h, dif_error *err) {
  if (!(factor > 1.0f && factor <= DIF_UPSCALE_MAX_FACTOR))
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "upscale factor %g must be in (1, %g]",
                    (double)factor, (double)DIF_UPSCALE_MAX_FACTOR);
  int w = round8(W * (double)factor), h = round8(H * (double)factor);
  if (w > DIF_MAX_OUTPUT_SIDE || h > DIF_MAX_OUTPUT_SIDE)
    return dif_fail(err, DIF_ERR_LIMIT,
                    "upscale: %dx%d × %g would be %dx%d, beyond DIF_MAX_OUTPUT_SIDE (%d) on a side",
                    W, H, (double)factor, w, h, DIF_MAX_OUTPUT_SIDE);
  *out_w = w;
  *out_h = h;
  return DIF_OK;
}

dif_status dif_upscale_picture(const dif_image *pic, float factor, dif_image *out, dif_error *err) {
  int w = 0, h = 0;
  dif_status s = dif_upscale_size(pic->width, pic->height, factor, &w, &h, err);
  if (s) return s;
  int filter =
      dif_resample_supported(DIF_RESAMPLE_LANCZOS) ? DIF_RESAMPLE_LANCZOS : DIF_RESAMPLE_BICUBIC;
  return dif_image_resize(pic, w, h, filter, NULL, out, err);
}

/* resample.h — resizing 8-bit RGB images exactly as Pillow's Image.resize.
 *
 * A port of Pillow 9.4's src/libImaging/Resample.c for 8-bit images (the
 * algorithm has not changed from Pillow 7 to 11), so that CLIP preprocessing
 * and other Python-side resizes are reproduced bit for bit:
 *   - separable convolution, horizontal pass first; the intermediate image is
 *     8-bit (rounded and clamped) like Pillow's;
 *   - a pass is skipped when its dimension does not change, and an unchanged
 *     size is a plain copy;
 *   - antialiasing: when shrinking by s = in/out, the filter support and its
 *     argument are scaled by s (no scaling when enlarging);
 *   - output pixel i samples around centre (i + 0.5) * in/out; its weights
 *     are computed and normalised to sum 1 in double, then converted to
 *     fixed point with 22 fractional bits (rounded half away from zero);
 *   - each sum starts at 1 << 21 (round half up) and is clamped to 0..255.
 * The filters are numbered as PIL.Image.Resampling. BOX, BILINEAR, BICUBIC
 * and LANCZOS (Pillow's lanczos_filter: sinc(x)·sinc(x/3) on [-3, 3), with
 * libm's sin as Pillow calls it: the weights are Pillow's bit for bit where
 * both use the same libm, glibc's here, whose sin is correctly rounded in
 * practice; tests/unit/test-resample.c checks them against Pillow's
 * output) are implemented. NEAREST (a separate affine-transform path in
 * Pillow) and HAMMING are refused.
 *
 * The weights are computed with -ffp-contract=off (see CMakeLists.txt), as
 * Pillow's x86-64 builds compute them: no fused multiply-add.
 */
#ifndef DIF_IO_RESAMPLE_H
#define DIF_IO_RESAMPLE_H

#include <stdbool.h>

#include "core/error.h"
#include "io/image.h"

/* PIL.Image.Resampling values. */
enum {
  DIF_RESAMPLE_NEAREST = 0,
  DIF_RESAMPLE_LANCZOS = 1,
  DIF_RESAMPLE_BILINEAR = 2,
  DIF_RESAMPLE_BICUBIC = 3,
  DIF_RESAMPLE_BOX = 4,
  DIF_RESAMPLE_HAMMING = 5,
};

/* "BICUBIC", ... for a PIL filter number, NULL outside 0..5. */
const char *dif_resample_name(int filter);
/* Whether dif_image_resize implements filter. */
bool dif_resample_supported(int filter);

/* Pillow's Image.resize((out_w, out_h), filter) of in, into *out (allocated
 * against limits, NULL: defaults; free with dif_image_free; zeroed on
 * failure). out->exif_orientation is copied from in. Errors:
 * DIF_ERR_INVALID_ARGUMENT (empty image, a size <= 0), DIF_ERR_UNSUPPORTED
 * (filter not implemented, named), DIF_ERR_LIMIT, DIF_ERR_OUT_OF_MEMORY. */
dif_status dif_image_resize(const dif_image *in, int out_w, int out_h, int filter,
                            const dif_image_limits *limits, dif_image *out, dif_error *err);

/* Only the window [x0, x0 + w) x [y0, y0 + h) of that resized image (the
 * window must lie inside out_w x out_h). Every pixel is the one the full
 * resize gives, but only the input rows and columns the window needs are
 * read and only w x h pixels are allocated, so a center crop of a very
 * elongated image costs no more than the crop. Errors as dif_image_resize. */
dif_status dif_image_resize_window(const dif_image *in, int out_w, int out_h, int x0, int y0, int w,
                                   int h, int filter, const dif_image_limits *limits,
                                   dif_image *out, dif_error *err);

/* Pillow's Image.resize((out_w, out_h), filter, box): the source region
 * box = (x0, y0, x1, y1) (floats, inside the image, x1 >= x0, y1 >= y0; an
 * empty box is allowed as in Pillow: its edge is sampled, as diffusers'
 * resize_mode "fill" does) is resized to out_w x out_h. A box of whole
 * pixels of the output's size is a crop (Pillow's shortcut). Errors as
 * dif_image_resize; a box outside the image is DIF_ERR_INVALID_ARGUMENT. */
dif_status dif_image_resize_box(const dif_image *in, int out_w, int out_h, const float box[4],
                                int filter, const dif_image_limits *limits, dif_image *out,
                                dif_error *err);

#endif

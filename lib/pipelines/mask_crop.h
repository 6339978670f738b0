/* mask_crop.h — diffusers v0.26.3's padding_mask_crop for inpainting
 * (mask_crop.c): the region around the mask is cut out, scaled up to the
 * sample's size, repainted there, and scaled back into the picture.
 *
 *   region  VaeImageProcessor.get_crop_region(mask, W, H, pad): the box of
 *           the mask's non-zero pixels, grown by pad on each side (inside
 *           the picture), then grown to the aspect ratio W:H and shifted
 *           back inside the picture;
 *   in      the init image and the mask cut to that box and resized to
 *           W × H with resize_mode "fill" (Lanczos to fit, centred, the
 *           uncovered bands filled from the edge rows/columns by a resize of
 *           an empty source box with Pillow's default filter, BICUBIC);
 *   out     apply_overlay: the generated W × H image resized into the box
 *           with resize_mode "crop" (Lanczos to cover, centred, cut), laid
 *           on a black W × H canvas, and the whole init image composited
 *           over it where the mask is black (io/composite.h): the kept
 *           pixels are the init image's exactly.
 * All in Pillow's 8-bit arithmetic (io/resample.h). The picture and the
 * mask are the sample's size (as diffusers requires for a consistent
 * overlay), so W, H are the picture's too. */
#ifndef DIF_PIPELINES_MASK_CROP_H
#define DIF_PIPELINES_MASK_CROP_H

#include <stdint.h>

#include "core/error.h"
#include "io/image.h"

/* get_crop_region of grey[h × w] for a width × height generation, padding
 * pad >= 0: box = x1, y1, x2, y2 (half-open). DIF_ERR_INVALID_ARGUMENT when
 * the mask has no non-zero pixel (there is nothing to crop around). */
dif_status dif_mask_crop_region(const uint8_t *grey, int w, int h, int width, int height, int pad,
                                int box[4], dif_error *err);
/* resize_mode "fill" / "crop" of in to width × height (*out: free with
 * dif_image_free). */
dif_status dif_resize_fill(const dif_image *in, int width, int height, dif_image *out,
                           dif_error *err);
dif_status dif_resize_crop(const dif_image *in, int width, int height, dif_image *out,
                           dif_error *err);

/* A prepared crop: the inputs of the generation and what the paste-back
 * needs. */
typedef struct dif_mask_crop {
  int box[4];      /* x1, y1, x2, y2 (diffusers' crops_coords) */
  dif_image image; /* the init image's box, "fill"-resized to the picture's size */
  float *mask;     /* [H × W] the mask's box likewise, grey / 255 */
  uint8_t *grey;   /* [H × W] the whole mask's grey levels */
} dif_mask_crop;

/* From the picture (W × H) and its mask[H × W] in [0, 1] (grey / 255). */
dif_status dif_mask_crop_prepare(const dif_image *picture, const float *mask, int pad,
                                 dif_mask_crop *c, dif_error *err);
/* apply_overlay: generated (W × H RGB8, overwritten) := the final picture. */
dif_status dif_mask_crop_paste(const dif_mask_crop *c, const dif_image *picture, uint8_t *generated,
                               dif_error *err);
void dif_mask_crop_free(dif_mask_crop *c);

#endif

/* composite.h — diffusers' VaeImageProcessor.apply_overlay (v0.26.3) on
 * 8-bit images, with Pillow 9.4's integer arithmetic (Paste.c's
 * paste_mask_L, Convert.c's RGBa <-> RGBA, AlphaComposite.c):
 *
 *   masked = Image.new("RGBa", size)
 *   masked.paste(init.convert("RGBA").convert("RGBa"), mask=invert(mask))
 *   out = image.convert("RGBA"); out.alpha_composite(masked.convert("RGBA"))
 *   out.convert("RGB")
 *
 * i.e. the init image is laid over the generated image where the mask is
 * black (kept), the generated image shows where it is white (repainted),
 * and grey levels mix the two. tests/unit/test-resample.c checks it against
 * Pillow's output. */
#ifndef DIF_IO_COMPOSITE_H
#define DIF_IO_COMPOSITE_H

#include <stdint.h>

#include "core/error.h"
#include "io/image.h"

/* image, init: RGB8 of the same size; mask: width × height grey levels
 * (255 = repaint). Overwrites image with the result. DIF_ERR_INVALID_ARGUMENT
 * when the sizes differ. */
dif_status dif_image_overlay(dif_image *image, const dif_image *init, const uint8_t *mask,
                             dif_error *err);

#endif

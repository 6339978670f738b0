/* upscale_edit.h — Upscale (Midjourney's Subtle / Creative) for any model:
 * the picture resized by a factor, then img2img at a low (Subtle) or
 * higher (Creative) strength, so the model redraws the detail a plain
 * resize blurs. (An x4 upscaler folder runs its own pipeline instead,
 * recipe_upscale.c, at the x4 noise levels below.)
 *
 *   size: each side × factor, rounded to the nearest multiple of 8 (at
 *     least 8), at most DIF_MAX_OUTPUT_SIDE (else DIF_ERR_LIMIT);
 *   resize: Pillow's Lanczos where io/resample.c implements it, else its
 *     bicubic (the resize diffusers' VaeImageProcessor would do);
 *   strength: DIF_UPSCALE_SUBTLE_STRENGTH 0.25 keeps the picture's layout,
 *     colours and edges and sharpens; DIF_UPSCALE_CREATIVE_STRENGTH 0.5
 *     lets the model add and change detail.
 * An output larger than the model's own size runs tile by tile (tiled.h;
 * the API picks the tile: api/sample.c). */
#ifndef DIF_PIPELINES_UPSCALE_EDIT_H
#define DIF_PIPELINES_UPSCALE_EDIT_H

#include <stdbool.h>

#include "core/error.h"
#include "io/image.h"

#define DIF_UPSCALE_MAX_FACTOR 4.0f
#define DIF_UPSCALE_SUBTLE_STRENGTH 0.25f
#define DIF_UPSCALE_CREATIVE_STRENGTH 0.5f
/* On an x4 upscaler (its own pipeline, ×4 only) the modes are noise levels
 * of the low-res picture: Subtle diffusers' default 20, Creative 100. */
#define DIF_UPSCALE_X4_SUBTLE_NOISE 20
#define DIF_UPSCALE_X4_CREATIVE_NOISE 100

/* The upscaled size of a W × H picture (above). Errors:
 * DIF_ERR_INVALID_ARGUMENT (factor outside (1, DIF_UPSCALE_MAX_FACTOR]),
 * DIF_ERR_LIMIT (a side beyond DIF_MAX_OUTPUT_SIDE). */
dif_status dif_upscale_size(int W, int H, float factor, int *out_w, int *out_h, dif_error *err);

/* pic resized to dif_upscale_size into *out (free with dif_image_free). */
dif_status dif_upscale_picture(const dif_image *pic, float factor, dif_image *out, dif_error *err);

/* The img2img strength of a mode. */
static inline float dif_upscale_strength(bool creative) {
  return creative ? DIF_UPSCALE_CREATIVE_STRENGTH : DIF_UPSCALE_SUBTLE_STRENGTH;
}

#endif

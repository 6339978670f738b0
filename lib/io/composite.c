/* composite.c — apply_overlay's Pillow arithmetic (see composite.h). */
#include "io/composite.h"

/* ImagingMath.h */
static inline uint32_t shift_div255(uint32_t a) { return ((a >> 8) + a) >> 8; }
static inline uint32_t div255(uint32_t a) { return shift_div255(a + 128); }

#define COMPOSITE_BITS 7 /* AlphaComposite.c's PRECISION_BITS */

/* One pixel: dst (the generated RGB, alpha 255) under src (the init pixel
 * pasted with alpha inv = 255 - mask, premultiplied then unpremultiplied). */
static void over(uint8_t *dst, const uint8_t *init, uint8_t mask) {
  uint32_t inv = 255u - mask;
  /* paste_mask_L into a zero RGBa image: BLEND(inv, 0, in) per band; the
   * RGBa source has alpha 255, so its colour bands are the init's. */
  uint32_t sa = div255(255u * inv), src[3];
  for (int c = 0; c < 3; c++) {
    uint32_t pc = div255((uint32_t)init[c] * inv);
    /* rgba2rgbA: unpremultiply, truncating (Pillow 9.4) */
    uint32_t v = (sa == 255 || sa == 0) ? pc : (255u * pc) / sa;
    src[c] = v > 255 ? 255 : v;
  }
  if (sa == 0) return;                 /* ImagingAlphaComposite: dst unchanged */
  uint32_t blend = 255u * (255u - sa); /* dst alpha 255 */
  uint32_t outa255 = sa * 255u + blend;
  uint32_t coef1 = sa * 255u * 255u * (1u << COMPOSITE_BITS) / outa255;
  uint32_t coef2 = 255u * (1u << COMPOSITE_BITS) - coef1;
  for (int c = 0; c < 3; c++) {
    uint32_t t = src[c] * coef1 + (uint32_t)dst[c] * coef2;
    dst[c] = (uint8_t)(shift_div255(t + (0x80u << COMPOSITE_BITS)) >> COMPOSITE_BITS);
  }
}

dif_status dif_image_overlay(dif_image *image, const dif_image *init, const uint8_t *mask,
                             dif_error *err) {
  if (!image || !init || !mask || !image->rgb || !init->rgb || image->width != init->width ||
      image->height != init->height)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT,
                    "overlay: the picture (%dx%d) and the generated image (%dx%d) differ in size",
                    init ? init->width : 0, init ? init->height : 0, image ? image->width : 0,
                    image ? image->height : 0);
  size_t n = (size_t)image->width * (size_t)image->height;
  for (size_t i = 0; i < n; i++) over(image->rgb + 3 * i, init->rgb + 3 * i, mask[i]);
  return DIF_OK;
}

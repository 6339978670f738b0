/* edit.h — the editing tools' canvases and masks (Midjourney's Vary
 * (Region), Zoom Out, Make Square, Pan), built on masked generation: each
 * makes the init image and the mask a masked run repaints.
 *
 *   zoom out by z in (1, 4]: the canvas keeps the picture's size; the
 *     picture, scaled by 1/z (Lanczos), sits in its centre;
 *   make square: a square canvas of about the same pixel count (side
 *     sqrt(W·H) rounded down to a multiple of 8), the picture scaled to fit
 *     inside it, centred;
 *   pan left/right/up/down by a fraction a in (0, 1] of the picture's width
 *     (left/right) or height (up/down): the canvas grows by that much
 *     (rounded to a multiple of 8, at least 8 pixels) on that side, up to
 *     DIF_MAX_OUTPUT_SIDE; the picture keeps its pixels.
 * The new area of the canvas starts as the picture's nearest edge pixels
 * (what an inpainting UNet sees of it: the masked image), and its mask is
 * 1. The mask fades from 1 to 0 over a band of the picture along every edge
 * that meets new area (`feather` pixels wide), so the repainted border
 * blends into the picture with no seam: the masks are soft (generate.h). */
#ifndef DIF_PIPELINES_EDIT_H
#define DIF_PIPELINES_EDIT_H

#include <stdbool.h>

#include "core/error.h"
#include "io/image.h"

typedef enum dif_edit_op {
  DIF_EDIT_NONE = 0,
  DIF_EDIT_ZOOM_OUT = 1,
  DIF_EDIT_SQUARE = 2,
  DIF_EDIT_PAN = 3,
  DIF_EDIT_UPSCALE = 4 /* upscale_edit.h: no canvas, a resized picture */
} dif_edit_op;

typedef enum dif_edit_dir {
  DIF_EDIT_LEFT = 0,
  DIF_EDIT_RIGHT = 1,
  DIF_EDIT_UP = 2,
  DIF_EDIT_DOWN = 3
} dif_edit_dir;

typedef struct dif_edit {
  dif_edit_op op;
  float factor; /* zoom out: (1, 4] */
  dif_edit_dir dir;
  float amount;  /* pan: (0, 1] */
  bool creative; /* upscale: Creative (else Subtle); factor: the scale */
} dif_edit;

/* The canvas for an edit of pic (whose sides are multiples of 8): *canvas
 * (RGB8, free with dif_image_free) and *mask (canvas width × height values
 * in [0, 1], malloc'ed), with a fade `feather` pixels wide. Errors:
 * DIF_ERR_INVALID_ARGUMENT (a factor or amount out of range, a square
 * picture to make square), DIF_ERR_LIMIT (a pan beyond DIF_MAX_OUTPUT_SIDE),
 * DIF_ERR_OUT_OF_MEMORY. */
dif_status dif_edit_canvas(const dif_edit *e, const dif_image *pic, int feather, dif_image *canvas,
                           float **mask, dif_error *err);

/* A mask image → out[height × width] in [0, 1] as diffusers' mask processor
 * reads a PIL image: scaled to width × height with Lanczos when its size
 * differs, to grey as PIL's convert("L") (ITU-R 601-2 luma, rounded), / 255.
 * what names the mask in messages. */
dif_status dif_mask_from_image(const dif_image *m, int width, int height, const char *what,
                               float **out, dif_error *err);

/* A rectangle [x, x + w) × [y, y + h) of a width × height picture → out:
 * 1 inside, 0 outside. DIF_ERR_INVALID_ARGUMENT if it is empty or not
 * inside the picture. */
dif_status dif_mask_from_rect(int x, int y, int w, int h, int width, int height, float **out,
                              dif_error *err);

#endif

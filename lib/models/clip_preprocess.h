/* clip_preprocess.h — transformers' CLIPImageProcessor: an RGB8 image to the
 * pixel values CLIP's vision tower takes.
 *
 * Configured from a feature_extractor/ folder's preprocessor_config.json.
 * The steps, as CLIPImageProcessor.preprocess runs them on a PIL image:
 *   1. resize: size {"shortest_edge": S} scales the short side to S and the
 *      long side to int(S * long / short) (truncated); size {"height",
 *      "width"} resizes to exactly that. Pillow's Image.resize on the uint8
 *      RGB image (io/resample.h: bit-exact);
 *   2. center crop to crop_size: top = (h - ch) // 2, left = (w - cw) // 2;
 *   3. rescale: float32(uint8 * rescale_factor), the product in double;
 *   4. normalize in float32: (x - float32(mean)) / float32(std);
 *   5. channel-first output [3, height, width].
 * Input images are RGB8 already (io/image.h converts gray, palette, RGBA,
 * CMYK, 16-bit as Image.convert("RGB") does, apart from 16-bit samples, which
 * it scales properly), so do_convert_rgb has nothing left to do; both values
 * are accepted.
 *
 * dif__clip_preprocess_file applies the file's EXIF orientation first, as
 * diffusers' and transformers' load_image do (ImageOps.exif_transpose);
 * calling the processor on Image.open(file) directly, as CLIPImageProcessor
 * users sometimes do, would not.
 *
 * Refused: a center crop larger than the resized image (transformers pads
 * with zeros there, and returns a crop one pixel short when the difference
 * is odd), the NEAREST, HAMMING and LANCZOS filters (io/resample.h), keys
 * this file does not know (unless null or false).
 */
#ifndef DIF__MODELS_CLIP_PREPROCESS_H
#define DIF__MODELS_CLIP_PREPROCESS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "io/config.h"
#include "io/image.h"

/* The largest size, crop or resize target accepted in a config. */
#define DIF__CLIP_PREPROCESS_MAX_SIZE 16384

typedef struct dif__clip_preprocess {
  bool do_resize;
  int shortest_edge;      /* size {"shortest_edge"} (or a plain integer); 0 when exact */
  int resize_h, resize_w; /* size {"height", "width"}; 0 when shortest_edge is set */
  int resample;           /* PIL.Image.Resampling number (io/resample.h) */
  bool do_center_crop;
  int crop_h, crop_w;
  bool do_rescale;
  double rescale_factor;
  bool do_normalize;
  double mean[3], std[3];
  bool do_convert_rgb;
} dif__clip_preprocess;

/* CLIPImageProcessor()'s defaults: shortest edge 224, BICUBIC, crop 224x224,
 * rescale 1/255, OpenAI CLIP mean and std. */
void dif__clip_preprocess_defaults(dif__clip_preprocess *p);

/* Reads <dir>/preprocessor_config.json (dir: a feature_extractor/ folder).
 * Absent keys take the defaults above. Errors: DIF_ERR_IO, DIF_ERR_BAD_MODEL
 * (wrong type, size out of range, zero std), DIF_ERR_UNSUPPORTED (unknown
 * key, unsupported filter); the message names the file and the key. */
dif_status dif__clip_preprocess_load(const char *dir, dif__clip_preprocess *p, dif__error *err);
/* The same from an already parsed config. */
dif_status dif__clip_preprocess_from_config(const dif__config *cfg, dif__clip_preprocess *p,
                                            dif__error *err);

/* The size of the pixel values for a width x height input: the crop, or the
 * resized size without center crop. Errors: DIF_ERR_INVALID_ARGUMENT (size
 * <= 0), DIF_ERR_UNSUPPORTED (crop larger than the resized image),
 * DIF_ERR_LIMIT (a resized side beyond DIF__CLIP_PREPROCESS_MAX_SIZE^2). */
dif_status dif__clip_preprocess_output_size(const dif__clip_preprocess *p, int width, int height,
                                            int *out_w, int *out_h, dif__error *err);

/* Steps 1-2: the resized and cropped uint8 image (the pixels before
 * rescaling), into *out (free with dif__image_free). Only the crop is ever
 * computed. limits (NULL: defaults) bound the output. */
dif_status dif__clip_preprocess_resize_crop(const dif__clip_preprocess *p, const dif__image *img,
                                            const dif__image_limits *limits, dif__image *out,
                                            dif__error *err);

/* Steps 3-5 on an already resized and cropped image: out[3 * h * w]. */
void dif__clip_preprocess_pixels(const dif__clip_preprocess *p, const dif__image *img, float *out);

/* All steps: img to out[3, *out_h, *out_w]; cap is out's size in floats.
 * Errors: as above, DIF_ERR_INVALID_ARGUMENT when cap is too small (the
 * message gives the size needed). */
dif_status dif__clip_preprocess_image(const dif__clip_preprocess *p, const dif__image *img,
                                      float *out, size_t cap, int *out_w, int *out_h,
                                      dif__error *err);

/* dif__image_load(path, limits) (EXIF orientation applied, like diffusers'
 * load_image) followed by dif__clip_preprocess_image. */
dif_status dif__clip_preprocess_file(const dif__clip_preprocess *p, const char *path,
                                     const dif__image_limits *limits, float *out, size_t cap,
                                     int *out_w, int *out_h, dif__error *err);

#endif

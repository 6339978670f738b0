/* prompt.h — the insides of a dif_prompt (api layer only). */
#ifndef DIF__API_PROMPT_H
#define DIF__API_PROMPT_H

#include "core/error.h"
#include "dif.h"
#include "io/image.h"
#include "pipelines/generate.h"

typedef struct dif__prompt_part {
  dif__part_kind kind;
  char *text;
  dif__image image; /* RGB8, owned */
  char *source;     /* absolute file path or "pixels", for the parameters record */
  uint64_t xxh3;    /* of the file's bytes (file parts) */
  float weight;
} dif__prompt_part;

struct dif_prompt {
  dif__prompt_part parts[DIF_MAX_PROMPT_PARTS];
  int n_parts;
  char *negative;
  char last_error[DIF__ERROR_MSG_MAX];
};

/* Deep copy (texts and pixels). */
dif_status dif__prompt_copy(const dif_prompt *src, dif_prompt **out, dif__error *err);

/* The one check of caller-given RGB8 pixels, also where nothing is copied
 * (size queries): rgb non-NULL, width and height positive and within
 * DIF_MAX_IMAGE_SIDE and DIF_MAX_IMAGE_PIXELS (DIF_ERR_LIMIT), stride >=
 * 3 x width. */
dif_status dif__image_check_rgb(const uint8_t *rgb, int32_t width, int32_t height, int32_t stride,
                                dif__error *err);

/* Adds an image part whose pixels were decoded from the file at source
 * (copied; absolute when it can be made so) whose bytes have the xxh3-64
 * xxh3. Takes img over: it is freed on failure. fn names the caller in
 * messages. */
dif_status dif__prompt_add_decoded(dif_prompt *p, const char *fn, dif__image *img,
                                   const char *source, uint64_t xxh3, float weight);

/* Copies RGB8 rows with a stride into a tight dif__image, checking the limits. */
dif_status dif__image_from_rgb(const uint8_t *rgb, int32_t width, int32_t height, int32_t stride,
                               dif__image *out, dif__error *err);

#endif

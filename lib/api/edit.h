/* edit.h — a sample's mask and edit (dif.h: masked generation and the
 * editing tools), kept in the sample and turned into a canvas and a mask at
 * each run (api/edit.c). */
#ifndef DIF_API_EDIT_H
#define DIF_API_EDIT_H

#include <jansson.h>
#include <stdbool.h>

#include "dif.h"
#include "io/image.h"
#include "pipelines/edit.h"

typedef enum { MASK_NONE = 0, MASK_IMAGE = 1, MASK_RECT = 2 } dif_mask_kind;

typedef struct dif_sample_edit {
  dif_mask_kind mask_kind;
  dif_image mask;    /* MASK_IMAGE */
  char *mask_source; /* absolute path or "pixels" */
  uint64_t mask_xxh3;
  int32_t rect[4]; /* MASK_RECT: x, y, width, height */
  dif_edit op;     /* DIF_EDIT_NONE: none */
} dif_sample_edit;

void dif_sample_edit_free(dif_sample_edit *e);

/* What an edit sets for its run instead of the sample's settings (< 0:
 * the sample's): Upscale's strength (Subtle / Creative img2img) or, on an
 * x4 upscaler, its noise level. */
typedef struct dif_edit_overrides {
  float strength;
  int32_t noise_level;
} dif_edit_overrides;

/* For a run on picture pic (the init image at the sample's size; NULL: none)
 * with a VAE of scale factor vae_scale (x4: the model is an x4 upscaler):
 * *canvas (left empty when the picture itself is used) and *mask (canvas or
 * picture size; NULL when there is neither mask nor edit), *soft for an
 * edit's feathered mask, *ov the edit's settings. */
dif_status dif_sample_edit_prepare(const dif_sample_edit *e, const dif_image *pic, int vae_scale,
                                   bool x4, dif_image *canvas, float **mask, bool *soft,
                                   dif_edit_overrides *ov, dif_error *err);

/* Adds "mask" and "edit" to a record object when set; an edit records the
 * picture's size (the run's before the canvas: what reproducing it sets). */
void dif_sample_edit_record(const dif_sample_edit *e, json_t *record, int32_t picture_width,
                            int32_t picture_height);

/* Sets the mask from pixels decoded from the file at source (xxh3 of its
 * bytes, for the record); takes img over (freed on failure). */
dif_status dif_sample_set_mask_decoded(dif_sample *s, const char *fn, dif_image *img,
                                       const char *source, uint64_t xxh3);

#endif

/* image_normalizer.h — diffusers' StableUnCLIPImageNormalizer.
 *
 * Holds the per-dimension mean and std of CLIP image embeddings. Stable
 * unCLIP scales an embedding to unit statistics before noising it and scales
 * it back afterwards (pipelines/noise_image_embeddings uses both).
 */
#ifndef DIF__MODELS_IMAGE_NORMALIZER_H
#define DIF__MODELS_IMAGE_NORMALIZER_H

#include <stdint.h>

#include "core/error.h"
#include "io/safetensors.h"

typedef struct dif__image_normalizer {
  int64_t dim;
  const float *mean, *std; /* [dim], owned by weights */
  dif__safetensors *weights;
} dif__image_normalizer;

/* Loads config.json (embedding_dim) and the weights from a component folder. */
dif_status dif__image_normalizer_load(const char *dir, dif__image_normalizer *out, dif__error *err);
void dif__image_normalizer_free(dif__image_normalizer *n);

/* y = (x - mean) / std for n rows of dim values; y may be x. */
void dif__image_normalizer_scale(const dif__image_normalizer *n, const float *x, int64_t rows,
                                 float *y);
/* y = x * std + mean; y may be x. */
void dif__image_normalizer_unscale(const dif__image_normalizer *n, const float *x, int64_t rows,
                                   float *y);

#endif

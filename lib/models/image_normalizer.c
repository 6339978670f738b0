/* image_normalizer.c — StableUnCLIPImageNormalizer (see image_normalizer.h). */
#include "models/image_normalizer.h"

#include <stdio.h>

#include "models/loader.h"

static const char *const classes[] = {"StableUnCLIPImageNormalizer", NULL};

static dif_status read_config(void *model, const dif__config *cfg, dif__error *err) {
  dif__image_normalizer *n = model;
  dif_status s = dif__config_int(cfg, "embedding_dim", &n->dim, err);
  if (!s && (n->dim <= 0 || n->dim > 65536))
    s = dif__fail(err, DIF_ERR_BAD_MODEL, "%s: embedding_dim %lld out of range",
                  dif__config_path(cfg), (long long)n->dim);
  return s;
}

static dif_status build(void *model, const dif__config *cfg, dif__wloader *wl) {
  (void)cfg;
  dif__image_normalizer *n = model;
  n->mean = DIF__W2(wl, 1, n->dim, "mean");
  n->std = DIF__W2(wl, 1, n->dim, "std");
  return wl->status;
}

static void free_model(void *model) { dif__image_normalizer_free(model); }

static const dif__model_loader loader = {classes, read_config, build, free_model};

dif_status dif__image_normalizer_load(const char *dir, dif__image_normalizer *out,
                                      dif__error *err) {
  *out = (dif__image_normalizer){0};
  return dif__model_load(dir, &loader, out, &out->weights, err);
}

void dif__image_normalizer_free(dif__image_normalizer *n) {
  if (!n) return;
  dif__st_close(n->weights);
  *n = (dif__image_normalizer){0};
}

void dif__image_normalizer_scale(const dif__image_normalizer *n, const float *x, int64_t rows,
                                 float *y) {
  for (int64_t r = 0; r < rows; r++)
    for (int64_t i = 0; i < n->dim; i++) {
      int64_t j = r * n->dim + i;
      y[j] = (x[j] - n->mean[i]) / n->std[i]; /* diffusers: (e - mean) * 1.0 / std */
    }
}

void dif__image_normalizer_unscale(const dif__image_normalizer *n, const float *x, int64_t rows,
                                   float *y) {
  for (int64_t r = 0; r < rows; r++)
    for (int64_t i = 0; i < n->dim; i++) {
      int64_t j = r * n->dim + i;
      y[j] = x[j] * n->std[i] + n->mean[i];
    }
}

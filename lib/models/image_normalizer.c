/* image_normalizer.c — StableUnCLIPImageNormalizer (see image_normalizer.h). */
#include "models/image_normalizer.h"

#include <stdio.h>

#include "models/loader.h"

static const char *const classes[] = {"StableUnCLIPImageNormalizer", NULL};

static dif_status read_config(void *model, const dif_config *cfg, dif_error *err) {
  dif_image_normalizer *n = model;
  dif_status s = dif_config_int(cfg, "embedding_dim", &n->dim, err);
  if (!s && (n->dim <= 0 || n->dim > 65536))
    s = dif_fail(err, DIF_ERR_BAD_MODEL, "%s: embedding_dim %lld out of range",
                 dif_config_path(cfg), (long long)n->dim);
  return s;
}

static dif_status build(void *model, const dif_config *cfg, dif_wloader *wl) {
  (void)cfg;
  dif_image_normalizer *n = model;
  n->mean = DIF_W2(wl, 1, n->dim, "mean");
  n->std = DIF_W2(wl, 1, n->dim, "std");
  return wl->status;
}

static void free_model(void *model) { dif_image_normalizer_free(model); }

static const dif_model_loader loader = {classes, read_config, build, free_model};

dif_status dif_image_normalizer_load(const char *dir, dif_image_normalizer *out, dif_error *err) {
  *out = (dif_image_normalizer){0};
  return dif_model_load(dir, &loader, out, &out->weights, err);
}

void dif_image_normalizer_free(dif_image_normalizer *n) {
  if (!n) return;
  dif_st_close(n->weights);
  *n = (dif_image_normalizer){0};
}

void dif_image_normalizer_scale(const dif_image_normalizer *n, const float *x, int64_t rows,
                                float *y) {
  for (int64_t r = 0; r < rows; r++)
    for (int64_t i = 0; i < n->dim; i++) {
      int64_t j = r * n->dim + i;
      y[j] = (x[j] - n->mean[i]) / n->std[i]; /* diffusers: (e - mean) * 1.0 / std */
    }
}

void dif_image_normalizer_unscale(const dif_image_normalizer *n, const float *x, int64_t rows,
                                  float *y) {
  for (int64_t r = 0; r < rows; r++)
    for (int64_t i = 0; i < n->dim; i++) {
      int64_t j = r * n->dim + i;
      y[j] = x[j] * n->std[i] + n->mean[i];
    }
}

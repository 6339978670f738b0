/* image_normalizer.c — StableUnCLIPImageNormalizer (see image_normalizer.h). */
#include "models/image_normalizer.h"

#include <stdio.h>

#include "io/component.h"

static const char *const classes[] = {"StableUnCLIPImageNormalizer", NULL};

dif_status dif_image_normalizer_load(const char *dir, dif_image_normalizer *out, dif_error *err) {
  *out = (dif_image_normalizer){0};
  dif_config *cfg;
  dif_status s = dif_component_config(dir, "config.json", classes, &cfg, err);
  if (s) return s;
  s = dif_config_int(cfg, "embedding_dim", &out->dim, err);
  if (!s && (out->dim <= 0 || out->dim > 65536))
    s = dif_fail(err, DIF_ERR_BAD_MODEL, "%s: embedding_dim %lld out of range",
                 dif_config_path(cfg), (long long)out->dim);
  dif_config_free(cfg);
  if (s) return s;
  if ((s = dif_component_weights(dir, &out->weights, err))) return s;
  int64_t shape[2] = {1, out->dim};
  dif_tensor t;
  if (!(s = dif_st_get_f32_shape(out->weights, "mean", 2, shape, &t, err))) out->mean = t.data;
  if (!s && !(s = dif_st_get_f32_shape(out->weights, "std", 2, shape, &t, err))) out->std = t.data;
  if (s) dif_image_normalizer_free(out);
  return s;
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

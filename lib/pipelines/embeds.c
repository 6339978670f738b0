/* embeds.c — combining and noising image embeddings (see embeds.h). */
#include "pipelines/embeds.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops.h"

static double norm2(const double *x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += x[i] * x[i];
  return sqrt(s);
}

/* slerp of directions a → b by t, norm interpolated linearly; in place in a. */
static void slerp(double *a, const double *b, double t, int64_t n) {
  double na = norm2(a, n), nb = norm2(b, n);
  double dot = 0;
  for (int64_t i = 0; i < n; i++) dot += (a[i] / na) * (b[i] / nb);
  dot = dot > 1 ? 1 : dot < -1 ? -1 : dot;
  double omega = acos(dot), so = sin(omega), len = (1 - t) * na + t * nb;
  double ca, cb;
  if (so < 1e-6) { /* (anti)parallel: linear interpolation of directions */
    ca = 1 - t;
    cb = t;
  } else {
    ca = sin((1 - t) * omega) / so;
    cb = sin(t * omega) / so;
  }
  double dir_norm = 0;
  for (int64_t i = 0; i < n; i++) {
    a[i] = ca * a[i] / na + cb * b[i] / nb;
    dir_norm += a[i] * a[i];
  }
  dir_norm = sqrt(dir_norm);
  for (int64_t i = 0; i < n; i++) a[i] = dir_norm > 0 ? a[i] / dir_norm * len : 0;
}

dif_status dif__embeds_combine(dif__blend_rule rule, const float *parts, const float *weights,
                               int n, int64_t dim, float *out, dif__error *err) {
  if (n < 1) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "no prompt parts to combine");
  double W = 0;
  for (int i = 0; i < n; i++) {
    if (!isfinite(weights[i]))
      return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "prompt part %d has weight %g", i,
                       (double)weights[i]);
    W += weights[i];
  }
  if (!(W > 0))
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "the weights of the prompt parts sum to %g; they must sum to a positive "
                     "value",
                     W);
  if (n == 1) { /* exactly the part's embedding (diffusers parity) */
    memcpy(out, parts, (size_t)dim * sizeof *out);
    return DIF_OK;
  }
  double *acc = calloc((size_t)dim, sizeof *acc), *tmp = calloc((size_t)dim, sizeof *tmp);
  if (!acc || !tmp) {
    free(acc);
    free(tmp);
    return dif__fail_oom(err, "embedding blend", (size_t)dim * 2 * sizeof(double));
  }
  dif_status s = DIF_OK;
  if (rule == DIF__BLEND_RULE_SUM) {
    double mean_norm = 0;
    for (int i = 0; i < n; i++) {
      for (int64_t j = 0; j < dim; j++) {
        tmp[j] = parts[i * dim + j];
        acc[j] += weights[i] * tmp[j];
      }
      mean_norm += weights[i] * norm2(tmp, dim);
    }
    mean_norm /= W;
    double ns = norm2(acc, dim);
    if (!(ns > 0)) s = dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "the weighted parts cancel out");
    for (int64_t j = 0; j < dim && !s; j++) out[j] = (float)(acc[j] / ns * mean_norm);
  } else {
    double V = weights[0];
    for (int64_t j = 0; j < dim; j++) acc[j] = parts[j];
    for (int i = 1; i < n; i++) {
      for (int64_t j = 0; j < dim; j++) tmp[j] = parts[i * dim + j];
      double denom = V + weights[i];
      /* a running weight of 0 (e.g. 1, -1, 2) has no defined fraction */
      if (denom == 0) {
        s = dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                      "slerp blend: the weights of parts 1..%d sum to 0", i + 1);
        break;
      }
      slerp(acc, tmp, weights[i] / denom, dim);
      V = denom;
    }
    for (int64_t j = 0; j < dim && !s; j++) out[j] = (float)acc[j];
  }
  free(acc);
  free(tmp);
  return s;
}

dif_status dif__noise_image_embeddings(const dif__image_normalizer *norm,
                                       const dif__scheduler *noising, const float *embeds,
                                       const float *noise, int64_t B, int noise_level, float *out,
                                       dif__error *err) {
  int64_t D = norm->dim;
  if (noise_level < 0 || noise_level >= dif__scheduler_num_train_timesteps(noising))
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "noise_level %d is outside 0..%lld (the image noising scheduler's steps)",
                     noise_level, (long long)dif__scheduler_num_train_timesteps(noising) - 1);
  float *e = malloc((size_t)(B * D) * sizeof *e);
  float *t = malloc((size_t)D * sizeof *t);
  if (!e || !t) {
    free(e);
    free(t);
    return dif__fail_oom(err, "image embedding noise", (size_t)(B * D) * sizeof(float));
  }
  dif__image_normalizer_scale(norm, embeds, B, e);
  dif_status s = dif__scheduler_add_noise(noising, e, noise, (double)noise_level, B * D, e, err);
  if (!s) {
    dif__image_normalizer_unscale(norm, e, B, e);
    float level = (float)noise_level;
    dif__timestep_embedding(&level, 1, D, true, 0.0f, 1.0f, 10000.0f, t);
    for (int64_t b = 0; b < B; b++) {
      memcpy(out + b * 2 * D, e + b * D, (size_t)D * sizeof *e);
      memcpy(out + b * 2 * D + D, t, (size_t)D * sizeof *t);
    }
  }
  free(e);
  free(t);
  return s;
}

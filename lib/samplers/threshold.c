/* threshold.c — clip_sample and dynamic thresholding of the predicted x0.
 *
 * _threshold_sample: per batch item, s = torch.quantile(|x|, ratio) (linear
 * interpolation between the sorted values, rank and weight in float32, torch's
 * lerp), s = clamp(s, 1, sample_max_value), x = clamp(x, -s, s) / s. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "samplers/sched_internal.h"

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

dif_status dif__sched_threshold(float *x, int64_t n, int batch, double ratio, double max_value,
                                dif__error *err) {
  const int64_t m = n / batch;
  float *sorted = malloc((size_t)m * sizeof *sorted);
  if (!sorted) return dif__fail_oom(err, "thresholding", (size_t)m * sizeof *sorted);
  const float maxv = (float)max_value;
  for (int b = 0; b < batch; b++) {
    float *row = x + (int64_t)b * m;
    for (int64_t k = 0; k < m; k++) sorted[k] = fabsf(row[k]);
    qsort(sorted, (size_t)m, sizeof *sorted, cmp_float);
    const float rank = (float)ratio * (float)(m - 1);
    const int64_t below = (int64_t)rank, above = (int64_t)ceilf(rank);
    const float w = rank - (float)below;
    const float lo = sorted[below], hi = sorted[above];
    float s = fabsf(w) < 0.5f ? lo + w * (hi - lo) : hi - (hi - lo) * (1.0f - w);
    s = s < 1.0f ? 1.0f : s; /* torch.clamp(s, 1, max): max wins if max < 1 */
    s = s > maxv ? maxv : s;
    for (int64_t k = 0; k < m; k++) {
      float v = row[k] < -s ? -s : row[k] > s ? s : row[k];
      row[k] = v / s;
    }
  }
  free(sorted);
  return DIF_OK;
}

dif_status dif__sched_clip_or_threshold(const dif__scheduler *s, float *x0, int64_t n, int batch,
                                        bool clip, dif__error *err) {
  if (s->cfg.thresholding)
    return dif__sched_threshold(x0, n, batch, s->cfg.dynamic_thresholding_ratio,
                                s->cfg.sample_max_value, err);
  if (clip) {
    const float r = (float)s->cfg.clip_sample_range;
    for (int64_t k = 0; k < n; k++) x0[k] = x0[k] < -r ? -r : x0[k] > r ? r : x0[k];
  }
  return DIF_OK;
}

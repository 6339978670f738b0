/* timestep_embedding.c — diffusers' sinusoidal get_timestep_embedding,
 * reproducing its float32 arithmetic step by step so that embeddings match
 * PyTorch to the last bits of the argument (arguments reach ~1000, where one
 * float32 ulp of the argument is ~6e-5 of the sine). */
#include <math.h>
#include <string.h>

#include "core/ops.h"

void dif__timestep_embedding(const float *t, int64_t n, int64_t dim, bool flip_sin_to_cos,
                             float downscale_freq_shift, float scale, float max_period,
                             float *out) {
  if (n <= 0 || dim <= 0) return;
  const int64_t half = dim / 2;
  /* Python: exponent = -math.log(max_period) * arange(half, float32), a
   * double scalar applied to a float32 tensor, i.e. rounded to float first;
   * then / (half - shift), the divisor a double rounded to float. */
  const float neg_log = (float)-log((double)max_period);
  const float denom = (float)((double)half - (double)downscale_freq_shift);
  for (int64_t r = 0; r < n; r++) {
    float *o = out + r * dim;
    for (int64_t i = 0; i < half; i++) {
      float exponent = neg_log * (float)i;
      exponent = exponent / denom;
      const float f = expf(exponent);
      float arg = t[r] * f;
      arg = scale * arg;
      const float s = sinf(arg), c = cosf(arg);
      o[i] = flip_sin_to_cos ? c : s;
      o[half + i] = flip_sin_to_cos ? s : c;
    }
    if (dim % 2) o[dim - 1] = 0.0f;
  }
}

/* dif__timestep_embedding against diffusers' get_timestep_embedding. */
#include "ops_test_util.h"

/* The float32 steps PyTorch takes (see the library's comment), with the
 * sine/cosine in double: isolates sinf/cosf rounding. */
static void ref_torch_f32_args(const float *t, int64_t n, int64_t dim, bool flip, float shift,
                               float scale, float max_period, double *out) {
  int64_t half = dim / 2;
  for (int64_t r = 0; r < n; r++)
    for (int64_t i = 0; i < dim; i++) out[r * dim + i] = 0;
  for (int64_t r = 0; r < n; r++)
    for (int64_t i = 0; i < half; i++) {
      float e = (float)-log((double)max_period) * (float)i;
      e = e / (float)((double)half - shift);
      float arg = t[r] * expf(e);
      arg = scale * arg;
      out[r * dim + i] = flip ? cos(arg) : sin(arg);
      out[r * dim + half + i] = flip ? sin(arg) : cos(arg);
    }
}

/* The formula in exact (double) arithmetic. */
static void ref_exact(const float *t, int64_t n, int64_t dim, bool flip, double shift, double scale,
                      double max_period, double *out) {
  int64_t half = dim / 2;
  for (int64_t r = 0; r < n; r++) {
    for (int64_t i = 0; i < half; i++) {
      double arg = scale * t[r] * exp(-log(max_period) * (double)i / ((double)half - shift));
      out[r * dim + i] = flip ? cos(arg) : sin(arg);
      out[r * dim + half + i] = flip ? sin(arg) : cos(arg);
    }
    if (dim % 2) out[r * dim + dim - 1] = 0;
  }
}

static void check_embedding(int64_t dim, bool flip, float shift, float scale) {
  float t[6] = {0, 1, 17.5f, 250, 801, 999};
  const int64_t n = 6;
  float *y = fbuf((size_t)(n * dim));
  double *r = dbuf((size_t)(n * dim));
  dif__timestep_embedding(t, n, dim, flip, shift, scale, 10000.0f, y);
  /* Same float32 arguments: only sinf/cosf differ from double, < 1 ulp of a
   * value ≤ 1, hence 1e-6 absolute with margin. */
  ref_torch_f32_args(t, n, dim, flip, shift, scale, 10000.0f, r);
  double e = dif__test_maxabs(y, r, (size_t)(n * dim));
  CHECK_MSG(e <= 1e-6, "dim %d: max abs %.3g vs float32-argument reference", (int)dim, e);
  /* Exact arithmetic: the float32 frequency and product carry ~2.4e-7
   * relative error, and arguments reach scale·999, so the sine can move by
   * up to ~2.4e-7 · 2 · 999 ≈ 5e-4. That is PyTorch's own rounding, kept on
   * purpose; the bound only proves nothing else is off. */
  ref_exact(t, n, dim, flip, shift, scale, 10000.0, r);
  e = dif__test_maxabs(y, r, (size_t)(n * dim));
  CHECK_MSG(e <= 5e-4 * scale, "dim %d: max abs %.3g vs exact reference", (int)dim, e);
  if (dim % 2)
    for (int64_t i = 0; i < n; i++) CHECK(y[i * dim + dim - 1] == 0.0f);
  free(y), free(r);
}

TEST(matches_references) {
  check_embedding(320, true, 0.0f, 1.0f); /* SD UNet time_proj */
  check_embedding(320, false, 1.0f, 1.0f);
  check_embedding(7, true, 1.0f, 1.0f); /* odd: zero padded */
  check_embedding(2, false, 0.0f, 2.0f);
  check_embedding(33, false, 0.0f, 1.0f);
}

TEST(known_values) {
  float y[9];
  float t0 = 0.0f;
  /* t = 0 with flip: cos(0) = 1 first, sin(0) = 0 second, pad 0. */
  dif__timestep_embedding(&t0, 1, 9, true, 0.0f, 1.0f, 10000.0f, y);
  for (int i = 0; i < 4; i++) CHECK(y[i] == 1.0f && y[4 + i] == 0.0f);
  CHECK(y[8] == 0.0f);
  /* Frequency 0 is exp(0) = 1: out[0] = sin(t), out[half] = cos(t) exactly. */
  float t1 = 3.0f;
  dif__timestep_embedding(&t1, 1, 6, false, 1.0f, 1.0f, 10000.0f, y);
  CHECK(y[0] == sinf(3.0f) && y[3] == cosf(3.0f));
  /* dim 4, shift 1: half - shift = 1, so frequency 1 is 1/max_period:
   * t = 500 → [sin 500, sin 0.05, cos 500, cos 0.05]. */
  float t2 = 500.0f;
  dif__timestep_embedding(&t2, 1, 4, false, 1.0f, 1.0f, 10000.0f, y);
  CHECK(fabs(y[0] - sin(500.0)) < 1e-6 && fabs(y[2] - cos(500.0)) < 1e-6);
  CHECK(fabs(y[1] - 0.04997916927) < 1e-7 && fabs(y[3] - 0.99875026039) < 1e-7);
}

int main(void) {
  RUN(matches_references);
  RUN(known_values);
  return dif__test_finish();
}

/* core/vmath.h: the SIMD exp and max the softmax and activations use. */
#include "core/vmath.h"
#include "ops_test_util.h"

TEST(vexp_accuracy) {
  /* Every 97th float step over the whole normal range of exp: within 2 ulp
   * (2^-23 relative) of exp in double. */
  double worst = 0;
  float at = 0;
  float x[DIF__VLANES], y[DIF__VLANES];
  for (float v = DIF__VEXP_LO; v < DIF__VEXP_HI;
       v += 97 * (nextafterf(fabsf(v), INFINITY) - fabsf(v)) + 1e-6f) {
    for (int l = 0; l < DIF__VLANES; l++) x[l] = v;
    dif__vexp_block(x, y);
    double e = fabs(y[5] - exp((double)v)) / exp((double)v);
    if (!(e <= worst)) worst = e, at = v;
  }
  CHECK_MSG(worst <= 2.0 / 8388608.0, "max rel %.3g at %g", worst, at);
}

TEST(vexp_special_values) {
  float x[11] = {0.0f, -INFINITY, NAN,   -100.0f, 1000.0f, INFINITY,
                 1.0f, -1.0f,     88.0f, -87.0f,  0.5f};
  float y[11];
  dif__vexp(x, y, 11); /* 8 + a padded tail of 3 */
  CHECK(y[0] == 1.0f);
  CHECK(y[1] == 0.0f && y[3] == 0.0f); /* -inf and below the normal range */
  CHECK(isnan(y[2]));
  CHECK(isfinite(y[4]) && y[4] > 1e38f && isfinite(y[5])); /* saturates, no inf */
  CHECK(fabsf(y[6] - 2.7182817f) <= 3e-7f && fabsf(y[7] - 0.36787944f) <= 1e-7f);
  CHECK(fabs(y[8] / exp(88.0) - 1) < 3e-7 && fabs(y[9] / exp(-87.0) - 1) < 3e-7);
  CHECK(fabsf(y[10] - 1.6487213f) <= 2e-7f);
}

TEST(vmax) {
  float x[37];
  dif__test_fill(x, 37, 3, -5, 5);
  for (int64_t n = 1; n <= 37; n++) {
    float want = -INFINITY;
    for (int64_t i = 0; i < n; i++) want = x[i] > want ? x[i] : want;
    CHECK(dif__vmax(x, n) == want);
  }
  float m[9] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY,
                -INFINITY, -INFINITY, -INFINITY, -INFINITY};
  CHECK(dif__vmax(m, 9) == -INFINITY);
  m[8] = -3;
  CHECK(dif__vmax(m, 9) == -3);
}

int main(void) {
  RUN(vexp_accuracy);
  RUN(vexp_special_values);
  RUN(vmax);
  return dif__test_finish();
}

#include <stdio.h>

#include "test.h"

int dif__test_checks_failed = 0;
int dif__test_passed = 0, dif__test_failed = 0;

void dif__test_run(const char *name, void (*fn)(void)) {
  int before = dif__test_checks_failed;
  fn();
  if (dif__test_checks_failed == before) {
    dif__test_passed++;
    printf("ok   %s\n", name);
  } else {
    dif__test_failed++;
    printf("FAIL %s\n", name);
  }
  fflush(stdout);
}

int dif__test_finish(void) {
  printf("%d passed, %d failed\n", dif__test_passed, dif__test_failed);
  return dif__test_failed ? 1 : 0;
}

uint64_t dif__test_rand_u64(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

float dif__test_rand_uniform(uint64_t *s, float lo, float hi) {
  double u = (double)(dif__test_rand_u64(s) >> 11) / 9007199254740992.0;
  return (float)(lo + (hi - lo) * u);
}

void dif__test_fill(float *x, size_t n, uint64_t seed, float lo, float hi) {
  uint64_t s = seed;
  for (size_t i = 0; i < n; i++) x[i] = dif__test_rand_uniform(&s, lo, hi);
}

double dif__test_nmse(const float *a, const double *ref, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    double d = (double)a[i] - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  return den > 0 ? num / den : num / (n ? (double)n : 1.0);
}

double dif__test_maxabs(const float *a, const double *ref, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - ref[i]);
    if (!(d <= m)) m = d; /* NaN propagates as "worse" */
  }
  return m;
}

const char *dif__test_path(const char *rel) {
  static char buf[4096];
  snprintf(buf, sizeof buf, "%s/%s", DIF_TEST_DATA, rel);
  return buf;
}

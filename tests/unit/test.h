/* test.h — the tiny test harness used by tests/unit/test-*.c.
 *
 * Each test file defines TEST(name) functions and lists them in main via
 * RUN(name). CHECK records a failure with file:line and continues; a test
 * program exits non-zero if any check failed, and prints
 * "N passed, N failed" as its last line.
 */
#ifndef DIF__TEST_H
#define DIF__TEST_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dif.h"

extern int dif__test_checks_failed;
extern int dif__test_passed, dif__test_failed;

#define TEST(name) static void test_##name(void)
#define RUN(name) dif__test_run(#name, test_##name)
void dif__test_run(const char *name, void (*fn)(void));
int dif__test_finish(void);

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                     \
      dif__test_checks_failed++;                                                                   \
    }                                                                                              \
  } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);                     \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fputc('\n', stderr);                                                                         \
      dif__test_checks_failed++;                                                                   \
    }                                                                                              \
  } while (0)

/* status equals want, and (if substr is non-NULL) msg contains substr. */
#define CHECK_STATUS(st, want, msg, substr)                                                        \
  do {                                                                                             \
    dif_status st_ = (st);                                                                         \
    const char *m_ = (msg);                                                                        \
    if (st_ != (want) || ((substr) && (!m_ || !strstr(m_, (substr))))) {                           \
      fprintf(stderr, "%s:%d: expected %s%s%s, got %s: \"%s\"\n", __FILE__, __LINE__,              \
              dif_status_string(want), (substr) ? " with message containing " : "",                \
              (substr) ? (const char *)(substr) : "", dif_status_string(st_), m_ ? m_ : "(null)"); \
      dif__test_checks_failed++;                                                                   \
    }                                                                                              \
  } while (0)

/* Deterministic random numbers for tests (splitmix64). */
uint64_t dif__test_rand_u64(uint64_t *state);
float dif__test_rand_uniform(uint64_t *state, float lo, float hi);
void dif__test_fill(float *x, size_t n, uint64_t seed, float lo, float hi);

/* Normalised MSE Σ(a-b)² / Σb² (b = reference; Σb² = 0 gives plain MSE) and
 * max |a - b|. */
double dif__test_nmse(const float *a, const double *ref, size_t n);
double dif__test_maxabs(const float *a, const double *ref, size_t n);

/* Path under the source tree's tests/ directory, in a static buffer. */
const char *dif__test_path(const char *rel);

#endif

/* rng.c — mt19937 and the two torch.randn paths (see rng.h).
 *
 * Written from the documented behaviour of PyTorch's CPUGeneratorImpl,
 * mt19937 engine, uniform_real_distribution, normal_distribution and the
 * CPU normal_fill kernel; every value of tests/golden/cases/rng is matched bit
 * for bit. The vectorised path is PyTorch's AVX2 kernel (cephes_f32.h), the
 * one an x86-64 CPU with AVX2 runs and the fixtures were made with; PyTorch's
 * generic kernel (libm logf/cosf/sinf, used on AVX-512 dispatch or ARM) gives
 * values that differ in the last bits for about a third of the elements.
 */
#include "samplers/rng.h"

#include "samplers/cephes_f32.h"

#include <math.h>
#include <string.h>

/* c10::pi<double> */
#define PI_D 3.14159265358979323846
#define MT_M 397
#define MT_MATRIX_A 0x9908b0dfu
#define MT_UPPER 0x80000000u
#define MT_LOWER 0x7fffffffu

void dif__rng_seed(dif__rng *r, uint64_t seed) {
  r->seed = seed;
  r->state[0] = (uint32_t)(seed & 0xffffffffu);
  for (uint32_t j = 1; j < DIF__MT_N; j++)
    r->state[j] = 1812433253u * (r->state[j - 1] ^ (r->state[j - 1] >> 30)) + j;
  r->left = 1;
  r->next = 0;
  r->has_normal = false;
  r->normal = 0;
}

uint64_t dif__rng_initial_seed(const dif__rng *r) { return r->seed; }

static uint32_t twist(uint32_t u, uint32_t v) {
  uint32_t y = (u & MT_UPPER) | (v & MT_LOWER);
  return (y >> 1) ^ ((v & 1u) ? MT_MATRIX_A : 0u);
}

static void next_state(dif__rng *r) {
  uint32_t *s = r->state;
  r->left = DIF__MT_N;
  r->next = 0;
  int k = 0;
  for (; k < DIF__MT_N - MT_M; k++) s[k] = s[k + MT_M] ^ twist(s[k], s[k + 1]);
  for (; k < DIF__MT_N - 1; k++) s[k] = s[k + MT_M - DIF__MT_N] ^ twist(s[k], s[k + 1]);
  s[DIF__MT_N - 1] = s[MT_M - 1] ^ twist(s[DIF__MT_N - 1], s[0]);
}

uint32_t dif__rng_u32(dif__rng *r) {
  if (--r->left == 0) next_state(r);
  uint32_t y = r->state[r->next++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

uint64_t dif__rng_u64(dif__rng *r) {
  uint32_t hi = dif__rng_u32(r);
  uint32_t lo = dif__rng_u32(r);
  return ((uint64_t)hi << 32) | lo;
}

float dif__rng_uniform_f(dif__rng *r) {
  /* (x & (2^24 - 1)) * 2^-24 in float, then * (to - from) + from = * 1 + 0. */
  float x = (float)(dif__rng_u32(r) & ((1u << 24) - 1)) * (1.0f / (float)(1u << 24));
  return x * 1.0f + 0.0f;
}

double dif__rng_uniform_d(dif__rng *r) {
  double x =
      (double)(dif__rng_u64(r) & ((UINT64_C(1) << 53) - 1)) * (1.0 / (double)(UINT64_C(1) << 53));
  return x * 1.0 + 0.0;
}

double dif__rng_normal_d(dif__rng *r) {
  if (r->has_normal) {
    r->has_normal = false;
    return r->normal * 1.0 + 0.0;
  }
  const double u1 = dif__rng_uniform_d(r);
  const double u2 = dif__rng_uniform_d(r);
  const double rad = sqrt(-2.0 * log(1.0 - u2)); /* PyTorch 1.13; newer: log1p(-u2) */
  const double theta = 2.0 * PI_D * u1;
  r->normal = rad * sin(theta);
  r->has_normal = true;
  return rad * cos(theta) * 1.0 + 0.0;
}

/* Box–Muller on one block of 16 uniforms as PyTorch's AVX2 normal_fill_16:
 * float arithmetic, Cephes log/sincos, theta = (float)(2 pi) * u2, and the
 * final fmadd(n, std, mean) with std 1, mean 0. */
static void normal_fill_16(float *d) {
  const float two_pi = (float)(2.0 * PI_D);
  for (int j = 0; j < 8; j++) {
    const float u1 = 1.0f - d[j];
    const float u2 = d[j + 8];
    const float radius = sqrtf(-2.0f * dif__cephes_logf(u1));
    float s, c;
    dif__cephes_sincosf(two_pi * u2, &s, &c);
    d[j] = fmaf(radius * c, 1.0f, 0.0f);
    d[j + 8] = fmaf(radius * s, 1.0f, 0.0f);
  }
}

void dif__rng_randn(dif__rng *r, float *out, int64_t n) {
  if (n <= 0) return;
  if (n < 16) {
    for (int64_t i = 0; i < n; i++) out[i] = (float)dif__rng_normal_d(r);
    return;
  }
  for (int64_t i = 0; i < n; i++) out[i] = dif__rng_uniform_f(r);
  for (int64_t i = 0; i + 16 <= n; i += 16) normal_fill_16(out + i);
  if (n % 16 != 0) {
    float *tail = out + n - 16;
    for (int i = 0; i < 16; i++) tail[i] = dif__rng_uniform_f(r);
    normal_fill_16(tail);
  }
}

dif_status dif__randn_tensor(dif__rng *const *gens, int n_gens, int64_t batch, int64_t item_numel,
                             float *out, dif__error *err) {
  if (!gens || n_gens < 1 || batch < 0 || item_numel < 0 || (!out && batch * item_numel > 0))
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "randn_tensor: bad arguments");
  for (int i = 0; i < n_gens; i++)
    if (!gens[i])
      return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "randn_tensor: generator %d is NULL", i);
  if (n_gens == 1) { /* a list of one is the single generator, as in diffusers */
    dif__rng_randn(gens[0], out, batch * item_numel);
    return DIF_OK;
  }
  if (n_gens != batch)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "randn_tensor: %d generators for a batch of %lld (give 1 or one per item)",
                     n_gens, (long long)batch);
  for (int64_t b = 0; b < batch; b++) dif__rng_randn(gens[b], out + b * item_numel, item_numel);
  return DIF_OK;
}

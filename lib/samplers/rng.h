/* rng.h — PyTorch's CPU random generator, bit for bit, as torch.randn uses it.
 *
 * A dif__rng is torch.Generator('cpu'): an mt19937 engine plus the cached
 * second value of the scalar Box–Muller path. dif__rng_seed is
 * Generator.manual_seed: any 64-bit seed (0 included); the engine is seeded
 * with its low 32 bits, so 2**32 + 5 gives exactly the stream of seed 5, and
 * the cached normal value is dropped.
 *
 * dif__rng_randn(r, out, n) is torch.randn(n, generator=r) for a contiguous
 * float32 tensor of n elements (the shape does not matter, only numel):
 *   - n >= 16: PyTorch's vectorised normal_fill — n float uniforms
 *     (24 bits of one 32-bit draw each), then Box–Muller on each block of 16
 *     pairing u[i] with u[i+8]; when n % 16 != 0 the last 16 values are
 *     redrawn with 16 fresh uniforms and transformed again. The float log and
 *     sin/cos are those of PyTorch's AVX2 kernel (cephes_f32.h).
 *   - n < 16: the scalar path — at::normal_distribution<double>: two 53-bit
 *     doubles (each from two 32-bit draws, high word first), Box–Muller,
 *     the sine value cached in the generator for the next call, each value
 *     rounded to float.
 *
 * dif__randn_tensor is diffusers' randn_tensor(shape, generator): one
 * generator draws the whole tensor; a list of `batch` generators draws item b
 * (shape (1, ...)) from generator b.
 *
 * Not thread-safe per generator (like torch's, which takes a mutex).
 */
#ifndef DIF__SAMPLERS_RNG_H
#define DIF__SAMPLERS_RNG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

#define DIF__MT_N 624

typedef struct dif__rng {
  uint32_t state[DIF__MT_N];
  int left, next;  /* PyTorch's mt19937 bookkeeping */
  uint64_t seed;   /* the 64-bit seed as given */
  bool has_normal; /* cached second value of the scalar (double) path */
  double normal;
} dif__rng;

/* Generator.manual_seed(seed). */
void dif__rng_seed(dif__rng *r, uint64_t seed);
/* The seed last given to dif__rng_seed. */
uint64_t dif__rng_initial_seed(const dif__rng *r);

/* One 32-bit engine output (CPUGeneratorImpl::random). */
uint32_t dif__rng_u32(dif__rng *r);
/* Two outputs, the first as the high word (CPUGeneratorImpl::random64). */
uint64_t dif__rng_u64(dif__rng *r);
/* at::uniform_real_distribution<float>(0, 1): 24 bits of one draw, in [0, 1). */
float dif__rng_uniform_f(dif__rng *r);
/* at::uniform_real_distribution<double>(0, 1): 53 bits of random64, in [0, 1). */
double dif__rng_uniform_d(dif__rng *r);
/* at::normal_distribution<double>(0, 1), with the generator's cached value. */
double dif__rng_normal_d(dif__rng *r);

/* torch.randn(n, generator=r) into out[n] (n >= 0). */
void dif__rng_randn(dif__rng *r, float *out, int64_t n);

/* diffusers randn_tensor((batch, ...), generator) into out[batch * item_numel]:
 * n_gens == 1 draws the whole tensor from gens[0]; n_gens == batch draws item
 * b from gens[b]. Any other n_gens is DIF_ERR_INVALID_ARGUMENT. */
dif_status dif__randn_tensor(dif__rng *const *gens, int n_gens, int64_t batch, int64_t item_numel,
                             float *out, dif__error *err);

#endif

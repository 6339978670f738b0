/* The torch-compatible generator beyond what cases/rng covers: seed 0 and
 * 64-bit seeds, the cached scalar normal, reseeding, randn_tensor errors. */
#include "samplers/rng.h"
#include "test.h"

static uint32_t bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

TEST(mt19937_reference_output) {
  /* std::mt19937 seeded with 5489 outputs 3499211612 first; its 10000th
   * output is 4123659995 (C++ standard, [rand.predef]). */
  dif__rng r;
  dif__rng_seed(&r, 5489);
  CHECK(dif__rng_u32(&r) == 3499211612u);
  for (int i = 1; i < 9999; i++) dif__rng_u32(&r);
  CHECK(dif__rng_u32(&r) == 4123659995u);
}

TEST(seed_zero_is_a_seed) {
  dif__rng a, b;
  dif__rng_seed(&a, 0);
  dif__rng_seed(&b, 1);
  CHECK(dif__rng_initial_seed(&a) == 0);
  CHECK(dif__rng_u32(&a) != dif__rng_u32(&b));
  /* torch.randn(1, generator=Generator().manual_seed(0)) = 1.54099607 */
  dif__rng_seed(&a, 0);
  float x;
  dif__rng_randn(&a, &x, 1);
  CHECK(bits(x) == 0x3fc53f5cu);
}

TEST(seed_uses_low_32_bits_but_is_kept_whole) {
  dif__rng a, b;
  uint64_t big = (UINT64_C(1) << 32) + 5;
  dif__rng_seed(&a, big);
  dif__rng_seed(&b, 5);
  CHECK(dif__rng_initial_seed(&a) == big);
  float x[40], y[40];
  dif__rng_randn(&a, x, 40);
  dif__rng_randn(&b, y, 40);
  CHECK(memcmp(x, y, sizeof x) == 0);
  dif__rng_seed(&a, UINT64_MAX);
  CHECK(dif__rng_initial_seed(&a) == UINT64_MAX);
  dif__rng_seed(&b, 0xffffffffu);
  CHECK(dif__rng_u64(&a) == dif__rng_u64(&b));
}

TEST(u64_is_high_word_first) {
  dif__rng a, b;
  dif__rng_seed(&a, 42);
  dif__rng_seed(&b, 42);
  uint64_t hi = dif__rng_u32(&b), lo = dif__rng_u32(&b);
  CHECK(dif__rng_u64(&a) == ((hi << 32) | lo));
}

TEST(scalar_normal_caches_second_value_across_calls) {
  /* randn(2) == randn(1) followed by randn(1): the sine half of the pair
   * stays in the generator between calls. */
  dif__rng a, b;
  dif__rng_seed(&a, 1234);
  dif__rng_seed(&b, 1234);
  float two[2], one[2];
  dif__rng_randn(&a, two, 2);
  dif__rng_randn(&b, &one[0], 1);
  dif__rng_randn(&b, &one[1], 1);
  CHECK(bits(two[0]) == bits(one[0]) && bits(two[1]) == bits(one[1]));
  /* An odd draw leaves a cached value; reseeding drops it. */
  dif__rng_seed(&a, 7);
  float x3[3], x1, y1;
  dif__rng_randn(&a, x3, 3);
  CHECK(a.has_normal);
  dif__rng_seed(&a, 7);
  CHECK(!a.has_normal);
  dif__rng_randn(&a, &x1, 1);
  dif__rng_seed(&b, 7);
  dif__rng_randn(&b, &y1, 1);
  CHECK(bits(x1) == bits(y1) && bits(x1) == bits(x3[0]));
}

TEST(vector_path_does_not_touch_the_cache) {
  dif__rng a;
  dif__rng_seed(&a, 3);
  float x[17];
  dif__rng_randn(&a, x, 1); /* leaves a cached value */
  CHECK(a.has_normal);
  dif__rng_randn(&a, x, 17);
  CHECK(a.has_normal);
}

TEST(tail_block_is_redrawn) {
  /* randn(17)[:16] != randn(16): the last 16 of 17 are recomputed. */
  dif__rng a, b;
  dif__rng_seed(&a, 0);
  dif__rng_seed(&b, 0);
  float x[17], y[16];
  dif__rng_randn(&a, x, 17);
  dif__rng_randn(&b, y, 16);
  CHECK(bits(x[0]) == bits(y[0]));
  CHECK(memcmp(x + 1, y + 1, 15 * sizeof(float)) != 0);
}

TEST(randn_tensor_generators) {
  dif__rng g[3];
  dif__rng *gp[3] = {&g[0], &g[1], &g[2]};
  float out[3 * 20], ref[20];
  dif__error err = {0};
  for (int i = 0; i < 3; i++) dif__rng_seed(&g[i], 10 + (uint64_t)i);
  CHECK(dif__randn_tensor(gp, 3, 3, 20, out, &err) == DIF_OK);
  dif__rng r;
  dif__rng_seed(&r, 12);
  dif__rng_randn(&r, ref, 20);
  CHECK(memcmp(out + 40, ref, sizeof ref) == 0);
  /* One generator (or a list of one) draws the whole tensor at once. */
  dif__rng_seed(&g[0], 12);
  CHECK(dif__randn_tensor(gp, 1, 3, 20, out, &err) == DIF_OK);
  dif__rng_seed(&r, 12);
  float whole[60];
  dif__rng_randn(&r, whole, 60);
  CHECK(memcmp(out, whole, sizeof whole) == 0);
  CHECK_STATUS(dif__randn_tensor(gp, 2, 3, 20, out, &err), DIF_ERR_INVALID_ARGUMENT, err.msg,
               "2 generators for a batch of 3");
}

int main(void) {
  RUN(mt19937_reference_output);
  RUN(seed_zero_is_a_seed);
  RUN(seed_uses_low_32_bits_but_is_kept_whole);
  RUN(u64_is_high_word_first);
  RUN(scalar_normal_caches_second_value_across_calls);
  RUN(vector_path_does_not_touch_the_cache);
  RUN(tail_block_is_redrawn);
  RUN(randn_tensor_generators);
  return dif__test_finish();
}

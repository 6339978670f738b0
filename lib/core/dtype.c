/* dtype.c — element types and the bf16 rounding model (see dtype.h). */
#include "core/dtype.h"

#include <string.h>

const char *dif__dtype_name(dif__dtype t) {
  switch (t) {
  case DIF__DTYPE_F32: return "f32";
  case DIF__DTYPE_F16: return "f16";
  case DIF__DTYPE_BF16: return "bf16";
  default: return "?";
  }
}

size_t dif__dtype_size(dif__dtype t) {
  switch (t) {
  case DIF__DTYPE_F32: return 4;
  case DIF__DTYPE_F16:
  case DIF__DTYPE_BF16: return 2;
  default: return 0;
  }
}

uint16_t dif__bf16_from_f32(float f) { return dif__bf16_rne(f); }

float dif__bf16_to_float(uint16_t h) {
  const uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

float dif__bf16_round(float f) { return dif__bf16_to_float(dif__bf16_from_f32(f)); }

/* Branch-free (the widening loop of dif__dtype_to_f32 vectorises): a normal
 * half rebiases its exponent; a subnormal one is m·2^-24, exact in float32
 * arithmetic on integers (no subnormal float is read, so a DAZ mode cannot
 * flush it); Inf/NaN keep their payload. */
float dif__f16_to_float(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  const float sub = (float)m * 0x1p-24f;
  uint32_t sub_bits;
  memcpy(&sub_bits, &sub, sizeof sub_bits);
  const uint32_t is_sub = 0u - (uint32_t)(e == 0), is_special = 0u - (uint32_t)(e == 31);
  const uint32_t normal = ((e + 112u) << 23) | (m << 13), special = 0x7f800000u | (m << 13);
  const uint32_t bits =
      sign | (sub_bits & is_sub) | (special & is_special) | (normal & ~(is_sub | is_special));
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

uint16_t dif__f16_from_f32(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu)); /* quiet NaN */
  if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 rounds to Inf */
  if (a < 0x38800000u) {              /* below 2^-14: a subnormal (or zero) half */
    if (a < 0x33000000u) return sign; /* at most 2^-25, half the smallest subnormal: ties to 0 */
    /* the significand with its implicit bit, shifted to units of 2^-24 */
    const uint32_t m = (a & 0x7fffffu) | 0x800000u, shift = 126 - (a >> 23);
    const uint32_t q = m >> shift, rest = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    return (uint16_t)(sign | (q + (rest > half || (rest == half && (q & 1u)))));
  }
  /* normal: rebias the exponent, round the 13 dropped bits to nearest even
   * (a carry into the exponent is the right result, up to Inf) */
  const uint32_t r = a - 0x38000000u;
  return (uint16_t)(sign | ((r + 0xfffu + ((r >> 13) & 1u)) >> 13));
}

/* The i-th 16-bit value of src, which may be unaligned (a tensor in a file
 * may start at any byte offset). */
static uint16_t u16_at(const void *src, size_t i) {
  uint16_t v;
  memcpy(&v, (const uint8_t *)src + 2 * i, sizeof v);
  return v;
}

void dif__dtype_to_f32(dif__dtype t, const void *src, size_t n, float *dst) {
  switch (t) {
  case DIF__DTYPE_F32: memcpy(dst, src, n * sizeof *dst); break;
  case DIF__DTYPE_F16:
    for (size_t i = 0; i < n; i++) dst[i] = dif__f16_to_float(u16_at(src, i));
    break;
  case DIF__DTYPE_BF16:
    for (size_t i = 0; i < n; i++) dst[i] = dif__bf16_to_float(u16_at(src, i));
    break;
  default: break;
  }
}

#include "io/half.h"

#include <stdint.h>
#include <string.h>

static float f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else { /* subnormal: normalise */
      int e = -1;
      do {
        e++;
        man <<= 1;
      } while (!(man & 0x400));
      bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13); /* inf / NaN */
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

void dif_f16_to_f32(const void *src, float *dst, size_t n) {
  const uint8_t *p = src;
  for (size_t i = 0; i < n; i++) dst[i] = f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
}

void dif_bf16_to_f32(const void *src, float *dst, size_t n) {
  const uint8_t *p = src;
  for (size_t i = 0; i < n; i++) {
    uint32_t bits = (uint32_t)(p[2 * i] | p[2 * i + 1] << 8) << 16;
    memcpy(&dst[i], &bits, sizeof bits);
  }
}

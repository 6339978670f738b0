/* dtype.h — the element types weights come in, and a portable model of
 * bfloat16 rounding.
 *
 * Activations are always float32; weights are F32, F16 or BF16 as the model
 * file stores them (16-bit values are host-order uint16_t). A GEMM backend
 * (core/backend.h) converts or packs them once.
 *
 * bf16 is the top half of an IEEE float32: 1 sign bit, 8 exponent bits (the
 * same range as float32, subnormals included) and 7 stored significand bits
 * (8 with the implicit one), so its unit roundoff is u = 2^-8. Rounding a
 * float32 to bf16 is round-to-nearest, ties-to-even on the dropped 16 bits —
 * what PyTorch (c10::BFloat16) and oneDNN (bfloat16_t, and the AVX512-BF16
 * instruction VCVTNEPS2BF16) do. dif__bf16_from_f32 is that rule in plain C,
 * so the fidelity of a bf16 product can be computed and tested on any CPU.
 * Where implementations differ (documented, none matters for a bound of
 * 2^-8): NaN stays a NaN of the same sign with the quiet bit set (oneDNN;
 * PyTorch returns the canonical 0x7FC0), and the hardware instruction treats
 * float32 subnormal inputs as zero, while this model rounds them like any
 * other value (as PyTorch's C++ does).
 */
#ifndef DIF__CORE_DTYPE_H
#define DIF__CORE_DTYPE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum dif__dtype {
  DIF__DTYPE_F32 = 0,
  DIF__DTYPE_F16 = 1,  /* IEEE binary16 */
  DIF__DTYPE_BF16 = 2, /* bfloat16 */
  DIF__DTYPE_COUNT
} dif__dtype;

/* "f32", "f16", "bf16"; "?" for anything else. */
const char *dif__dtype_name(dif__dtype t);
/* Bytes per element (4, 2, 2); 0 for anything else. */
size_t dif__dtype_size(dif__dtype t);

/* float32 → bf16 bits, round to nearest even; Inf stays Inf, values past the
 * largest bf16 round to Inf, NaN stays NaN (sign kept, quiet bit set). */
uint16_t dif__bf16_from_f32(float f);
/* The same, inline, for loops that round element by element. */
static inline uint16_t dif__bf16_rne(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* quiet NaN */
  /* Adding 0x7fff plus the lowest kept bit rounds the dropped half to
   * nearest, ties to the even kept value; a carry into the exponent is the
   * correct result (up to Inf for values beyond the largest bf16). */
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}
/* bf16 bits → float32 (exact). */
float dif__bf16_to_float(uint16_t h);
/* f through bf16 and back: the value a bf16 kernel multiplies. */
float dif__bf16_round(float f);
/* IEEE binary16 bits → float32 (exact, subnormals included). */
float dif__f16_to_float(uint16_t h);
/* float32 → IEEE binary16 bits, round to nearest even (as numpy's and
 * PyTorch's float16 casts): subnormal halves below 2^-14, Inf from 65520 up,
 * NaN stays NaN (sign kept, quiet bit set). For writing F16 weight files
 * (the bench's random models, the tests' F16 copies). */
uint16_t dif__f16_from_f32(float f);

/* dst[i] = src[i] as float32 for n elements of type t (exact for all three). */
void dif__dtype_to_f32(dif__dtype t, const void *src, size_t n, float *dst);

#endif

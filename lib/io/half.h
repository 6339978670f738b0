/* half.h — IEEE half and bfloat16 to float32 conversion (little-endian input). */
#ifndef DIF_IO_HALF_H
#define DIF_IO_HALF_H

#include <stddef.h>

void dif_f16_to_f32(const void *src, float *dst, size_t n);
void dif_bf16_to_f32(const void *src, float *dst, size_t n);

#endif

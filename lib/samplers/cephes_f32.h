/* cephes_f32.h — the float log and sin/cos of PyTorch's AVX2 randn kernel.
 *
 * PyTorch (x86-64 builds whose CPU dispatch picks AVX2) turns uniforms into
 * normals with the Cephes-derived log256_ps / sincos256_ps of avx_mathfun.h,
 * compiled by GCC with -mfma, which fuses each multiply feeding an add into
 * one FMA. These scalar functions redo exactly that sequence of float
 * operations (fmaf where the vector code ends up fused), so the results agree
 * bit for bit with torch.randn — they are *not* correctly rounded and must not
 * be "improved". Valid for the inputs randn uses: log of (0, 1], sin/cos of
 * [0, 2*pi).
 */
#ifndef DIF__SAMPLERS_CEPHES_F32_H
#define DIF__SAMPLERS_CEPHES_F32_H

float dif__cephes_logf(float x);
void dif__cephes_sincosf(float x, float *s, float *c);

#endif

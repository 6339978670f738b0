/* backend_openblas_wino.h — the openblas backend's float32 3×3 Winograd
 * convolutions (core/backend_openblas_wino.c): its table's
 * conv3x3_f32_pack, conv3x3_f32_run and conv_free, with the contracts
 * core/backend.h writes for them. */
#ifndef DIF__CORE_BACKEND_OPENBLAS_WINO_H
#define DIF__CORE_BACKEND_OPENBLAS_WINO_H

#include "core/backend.h"

dif_status dif__ob_conv3x3_pack(const dif__kctx *kx, dif__weight w, int64_t cout, int64_t cin,
                                int64_t H, int64_t W, dif__conv **out, dif__error *err);
dif_status dif__ob_conv3x3_run(const dif__kctx *k, const dif__conv *w, int64_t N, int64_t H,
                               int64_t W, const float *src, float *dst, dif__error *err);
void dif__ob_conv_free(dif__conv *w);
bool dif__ob_conv3x3_slow(int64_t cin, int64_t cout, int64_t OH, int64_t OW);
/* Tests: tiles per chunk (0: sized from the scratch bound, the default), so
 * small shapes cross chunk edges. Not while a convolution runs. */
void dif__ob_wino_test_chunk(int64_t tiles);
/* The transforms' AVX2 + FMA build (core/wino_xform_avx2.c, x86-64 only):
 * v = Bᵀ d B and y = Aᵀ M A on n × n tiles of 16 channels. */
void dif__ob_wino_in_xform_avx2(int n, const float *restrict d, float *restrict v);
void dif__ob_wino_out_xform_avx2(int n, const float *restrict mv, float *restrict y);

#endif

/* attention.h — diffusers' Attention module (to_q, to_k, to_v, to_out.0).
 *
 * out = to_out(softmax(q kᵀ / sqrt(head_dim)) v) with q = to_q(x),
 * k = to_k(ctx), v = to_v(ctx); ctx = x for self-attention. The UNet's
 * attention has no q/k/v biases; the VAE's has them.
 */
#ifndef DIF_MODELS_ATTENTION_H
#define DIF_MODELS_ATTENTION_H

#include <stdint.h>

#include "core/ops.h"
#include "models/weights.h"

typedef struct dif_attn {
  int64_t dim, ctx_dim, heads, head_dim; /* inner = heads · head_dim */
  dif_weight q_w, k_w, v_w, o_w;         /* core/weight.h: in the file's dtype */
  const float *q_b, *k_b, *v_b, *o_b;    /* biases may be NULL */
} dif_attn;

/* Loads "<prefix>.to_q.weight" etc.; q/k/v biases are loaded if present. */
void dif_attn_load(dif_attn *a, dif_wloader *wl, const char *prefix, int64_t dim, int64_t ctx_dim,
                   int64_t heads, int64_t head_dim);

/* y[B, T, dim] = attention of x[B, T, dim] over ctx[B, S, ctx_dim] (ctx NULL:
 * self-attention, S = T). y must not alias x. */
dif_status dif_attn_forward(const dif_attn *a, const dif_kctx *k, const float *x, int64_t B,
                            int64_t T, const float *ctx, int64_t S, float *y, dif_error *err);

/* Same with an additive mask per batch item: mask[b] is [T, S] (row stride S),
 * or NULL for none. */
dif_status dif_attn_forward_masked(const dif_attn *a, const dif_kctx *k, const float *x, int64_t B,
                                   int64_t T, const float *ctx, int64_t S, const float *mask,
                                   float *y, dif_error *err);

/* y += attention (mask as above, may be NULL): the residual connection
 * added by to_out's GEMM instead of a separate pass. */
dif_status dif_attn_forward_add(const dif_attn *a, const dif_kctx *k, const float *x, int64_t B,
                                int64_t T, const float *ctx, int64_t S, const float *mask, float *y,
                                dif_error *err);

/* Self-attention of x[B, T, dim] whose keys and values are P precomputed
 * rows (a cache; P may be 0 and k_pre, v_pre NULL) followed by x's own T
 * rows: y[B, T, dim] = to_out(attention). k_pre and v_pre are
 * [B / share, P, inner]: batch item b uses prefix b / share (items that
 * share a text share its cache). mask[b] is [T, P + T] or NULL. k_new and
 * v_new (each may be NULL) receive x's own keys and values [B, T, inner],
 * to build a cache. y must not alias x. */
dif_status dif_attn_forward_prefix(const dif_attn *a, const dif_kctx *k, const float *x, int64_t B,
                                   int64_t T, const float *k_pre, const float *v_pre, int64_t P,
                                   int64_t share, const float *mask, float *k_new, float *v_new,
                                   float *y, dif_error *err);

/* Self-attention over the T = H·W pixels of channels-first x[B, dim, T]
 * (the VAE's mid block), added to channels-first y[B, dim, T]: q/k/v read x
 * and to_out writes y through transposed GEMMs, so no tokens copy is made. */
dif_status dif_attn_forward_cf_add(const dif_attn *a, const dif_kctx *k, const float *x, int64_t B,
                                   int64_t T, float *y, dif_error *err);

#endif

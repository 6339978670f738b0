/* attention.c — the Attention module (see attention.h). */
#include "models/attention.h"

#include <math.h>
#include <string.h>

void dif_attn_load(dif_attn *a, dif_wloader *wl, const char *p, int64_t dim, int64_t ctx_dim,
                   int64_t heads, int64_t head_dim) {
  int64_t inner = heads * head_dim;
  a->dim = dim;
  a->ctx_dim = ctx_dim;
  a->heads = heads;
  a->head_dim = head_dim;
  a->q_w = DIF_WT2(wl, inner, dim, "%s.to_q.weight", p);
  a->k_w = DIF_WT2(wl, inner, ctx_dim, "%s.to_k.weight", p);
  a->v_w = DIF_WT2(wl, inner, ctx_dim, "%s.to_v.weight", p);
  a->o_w = DIF_WT2(wl, dim, inner, "%s.to_out.0.weight", p);
  a->o_b = DIF_W1(wl, dim, "%s.to_out.0.bias", p);
  a->q_b = dif_wl_has(wl, "%s.to_q.bias", p) ? DIF_W1(wl, inner, "%s.to_q.bias", p) : NULL;
  a->k_b = dif_wl_has(wl, "%s.to_k.bias", p) ? DIF_W1(wl, inner, "%s.to_k.bias", p) : NULL;
  a->v_b = dif_wl_has(wl, "%s.to_v.bias", p) ? DIF_W1(wl, inner, "%s.to_v.bias", p) : NULL;
}

/* The heads of every batch item; q[B·T, inner], kk and v [B·S, inner]. */
static dif_status core(const dif_attn *a, const dif_kctx *k, const float *q, const float *kk,
                       const float *v, int64_t B, int64_t T, int64_t S, const float *mask, float *o,
                       dif_error *err) {
  int64_t inner = a->heads * a->head_dim;
  dif_attention_params ap = {.tq = T,
                             .tk = S,
                             .heads = a->heads,
                             .dim = a->head_dim,
                             .ld_q = inner,
                             .ld_k = inner,
                             .ld_v = inner,
                             .ld_o = inner,
                             .scale = 1.0f / sqrtf((float)a->head_dim)};
  dif_status s = DIF_OK;
  for (int64_t b = 0; b < B && !s; b++) {
    if (mask) {
      ap.mask = mask + b * T * S;
      ap.mask_ld = S;
    }
    s = dif_attention(k, &ap, q + b * T * inner, kk + b * S * inner, v + b * S * inner,
                      o + b * T * inner, err);
  }
  return s;
}

static dif_status forward(const dif_attn *a, const dif_kctx *k, const float *x, int64_t B,
                          int64_t T, const float *ctx, int64_t S, const float *mask, float *y,
                          bool acc, dif_error *err) {
  int64_t inner = a->heads * a->head_dim, cdim = ctx ? a->ctx_dim : a->dim;
  if (!ctx) {
    ctx = x;
    S = T;
  }
  dif_arena_mark mark = dif_arena_get_mark(k->arena);
  float *q = dif_arena_floats(k->arena, (size_t)(B * T * inner), err);
  float *kk = dif_arena_floats(k->arena, (size_t)(B * S * inner), err);
  float *v = dif_arena_floats(k->arena, (size_t)(B * S * inner), err);
  if (!q || !kk || !v) {
    dif_arena_release(k->arena, mark);
    return DIF_ERR_OUT_OF_MEMORY;
  }
  dif_linear(k, x, B * T, a->dim, a->q_w, a->q_b, inner, q);
  dif_linear(k, ctx, B * S, cdim, a->k_w, a->k_b, inner, kk);
  dif_linear(k, ctx, B * S, cdim, a->v_w, a->v_b, inner, v);
  /* The output overwrites q in place (dif_attention allows it). */
  dif_status s = core(a, k, q, kk, v, B, T, S, mask, q, err);
  if (!s) {
    if (acc)
      dif_linear_acc(k, q, B * T, inner, a->o_w, a->o_b, a->dim, y);
    else
      dif_linear(k, q, B * T, inner, a->o_w, a->o_b, a->dim, y);
  }
  dif_arena_release(k->arena, mark);
  return s;
}

dif_status dif_attn_forward(const dif_attn *a, const dif_kctx *k, const float *x, int64_t B,
                            int64_t T, const float *ctx, int64_t S, float *y, dif_error *err) {
  return forward(a, k, x, B, T, ctx, S, NULL, y, false, err);
}

dif_status dif_attn_forward_masked(const dif_attn *a, const dif_kctx *k, const float *x, int64_t B,
                                   int64_t T, const float *ctx, int64_t S, const float *mask,
                                   float *y, dif_error *err) {
  return forward(a, k, x, B, T, ctx, S, mask, y, false, err);
}

dif_status dif_attn_forward_add(const dif_attn *a, const dif_kctx *k, const float *x, int64_t B,
                                int64_t T, const float *ctx, int64_t S, const float *mask, float *y,
                                dif_error *err) {
  return forward(a, k, x, B, T, ctx, S, mask, y, true, err);
}

dif_status dif_attn_forward_prefix(const dif_attn *a, const dif_kctx *k, const float *x, int64_t B,
                                   int64_t T, const float *k_pre, const float *v_pre, int64_t P,
                                   int64_t share, const float *mask, float *k_new, float *v_new,
                                   float *y, dif_error *err) {
  int64_t inner = a->heads * a->head_dim, S = P + T;
  dif_arena_mark mark = dif_arena_get_mark(k->arena);
  float *q = dif_arena_floats(k->arena, (size_t)(B * T * inner), err);
  /* x's own keys/values go straight to k_new/v_new when given */
  float *kx = k_new ? k_new : dif_arena_floats(k->arena, (size_t)(B * T * inner), err);
  float *vx = v_new ? v_new : dif_arena_floats(k->arena, (size_t)(B * T * inner), err);
  float *kk = kx, *v = vx; /* with a prefix: [prefix rows; own rows] per batch item */
  if (P > 0) {
    kk = dif_arena_floats(k->arena, (size_t)(B * S * inner), err);
    v = dif_arena_floats(k->arena, (size_t)(B * S * inner), err);
  }
  if (!q || !kx || !vx || !kk || !v) {
    dif_arena_release(k->arena, mark);
    return DIF_ERR_OUT_OF_MEMORY;
  }
  dif_linear(k, x, B * T, a->dim, a->q_w, a->q_b, inner, q);
  dif_linear(k, x, B * T, a->dim, a->k_w, a->k_b, inner, kx);
  dif_linear(k, x, B * T, a->dim, a->v_w, a->v_b, inner, vx);
  if (P > 0)
    for (int64_t b = 0; b < B; b++) {
      size_t pre = (size_t)(P * inner) * sizeof *kk, own = (size_t)(T * inner) * sizeof *kk;
      memcpy(kk + b * S * inner, k_pre + b / share * P * inner, pre);
      memcpy(kk + (b * S + P) * inner, kx + b * T * inner, own);
      memcpy(v + b * S * inner, v_pre + b / share * P * inner, pre);
      memcpy(v + (b * S + P) * inner, vx + b * T * inner, own);
    }
  dif_status s = core(a, k, q, kk, v, B, T, S, mask, q, err);
  if (!s) dif_linear(k, q, B * T, inner, a->o_w, a->o_b, a->dim, y);
  dif_arena_release(k->arena, mark);
  return s;
}

dif_status dif_attn_forward_cf_add(const dif_attn *a, const dif_kctx *k, const float *x, int64_t B,
                                   int64_t T, float *y, dif_error *err) {
  int64_t inner = a->heads * a->head_dim, C = a->dim;
  dif_arena_mark mark = dif_arena_get_mark(k->arena);
  float *q = dif_arena_floats(k->arena, (size_t)(T * inner), err);
  float *kk = dif_arena_floats(k->arena, (size_t)(T * inner), err);
  float *v = dif_arena_floats(k->arena, (size_t)(T * inner), err);
  dif_status s = q && kk && v ? DIF_OK : DIF_ERR_OUT_OF_MEMORY;
  for (int64_t b = 0; b < B && !s; b++) { /* one batch item at a time: less scratch */
    const float *xb = x + b * C * T;
    dif_linear_cf_in(k, xb, T, C, a->q_w, a->q_b, inner, q);
    dif_linear_cf_in(k, xb, T, C, a->k_w, a->k_b, inner, kk);
    dif_linear_cf_in(k, xb, T, C, a->v_w, a->v_b, inner, v);
    s = core(a, k, q, kk, v, 1, T, T, NULL, q, err);
    if (!s) dif_linear_cf_out(k, q, T, inner, a->o_w, a->o_b, C, y + b * C * T, true);
  }
  dif_arena_release(k->arena, mark);
  return s;
}

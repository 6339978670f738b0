/* transformer2d.c — Transformer2DModel forward (see transformer2d.h). */
#include "models/transformer2d.h"

#include <stdio.h>

void dif_t2d_load(dif_t2d *t, dif_wloader *wl, const char *p, int64_t C, int64_t heads,
                  int64_t head_dim, int64_t ctx_dim, int64_t groups, int n_blocks,
                  bool linear_proj) {
  int64_t inner = heads * head_dim;
  t->channels = C;
  t->inner = inner;
  t->heads = heads;
  t->head_dim = head_dim;
  t->ctx_dim = ctx_dim;
  t->groups = groups;
  t->ff_inner = 4 * inner;
  t->linear_proj = linear_proj;
  t->n_blocks = n_blocks;
  t->norm_w = DIF_W1(wl, C, "%s.norm.weight", p);
  t->norm_b = DIF_W1(wl, C, "%s.norm.bias", p);
  if (linear_proj) {
    t->proj_in_w = DIF_W2(wl, inner, C, "%s.proj_in.weight", p);
    t->proj_out_w = DIF_W2(wl, C, inner, "%s.proj_out.weight", p);
  } else {
    t->proj_in_w = DIF_W4(wl, inner, C, 1, 1, "%s.proj_in.weight", p);
    t->proj_out_w = DIF_W4(wl, C, inner, 1, 1, "%s.proj_out.weight", p);
  }
  t->proj_in_b = DIF_W1(wl, inner, "%s.proj_in.bias", p);
  t->proj_out_b = DIF_W1(wl, C, "%s.proj_out.bias", p);
  for (int i = 0; i < n_blocks; i++) {
    dif_t2d_block *b = &t->blocks[i];
    char bp[256];
    snprintf(bp, sizeof bp, "%s.transformer_blocks.%d", p, i);
    b->ln1_w = DIF_W1(wl, inner, "%s.norm1.weight", bp);
    b->ln1_b = DIF_W1(wl, inner, "%s.norm1.bias", bp);
    b->ln2_w = DIF_W1(wl, inner, "%s.norm2.weight", bp);
    b->ln2_b = DIF_W1(wl, inner, "%s.norm2.bias", bp);
    b->ln3_w = DIF_W1(wl, inner, "%s.norm3.weight", bp);
    b->ln3_b = DIF_W1(wl, inner, "%s.norm3.bias", bp);
    char ap[300];
    snprintf(ap, sizeof ap, "%s.attn1", bp);
    dif_attn_load(&b->attn1, wl, ap, inner, inner, heads, head_dim);
    snprintf(ap, sizeof ap, "%s.attn2", bp);
    dif_attn_load(&b->attn2, wl, ap, inner, ctx_dim, heads, head_dim);
    b->ff1_w = DIF_W2(wl, 2 * t->ff_inner, inner, "%s.ff.net.0.proj.weight", bp);
    b->ff1_b = DIF_W1(wl, 2 * t->ff_inner, "%s.ff.net.0.proj.bias", bp);
    b->ff2_w = DIF_W2(wl, inner, t->ff_inner, "%s.ff.net.2.weight", bp);
    b->ff2_b = DIF_W1(wl, inner, "%s.ff.net.2.bias", bp);
  }
}

/* dst[HW, C] = src[C, HW]ᵀ for one image. */
static void to_tokens(const float *src, int64_t C, int64_t HW, float *dst) {
  for (int64_t c = 0; c < C; c++)
    for (int64_t i = 0; i < HW; i++) dst[i * C + c] = src[c * HW + i];
}

static void from_tokens(const float *src, int64_t C, int64_t HW, float *dst) {
  for (int64_t i = 0; i < HW; i++)
    for (int64_t c = 0; c < C; c++) dst[c * HW + i] = src[i * C + c];
}

static dif_status block_forward(const dif_t2d *t, const dif_t2d_block *b, const dif_kctx *k,
                                float *h, int64_t B, int64_t T, const float *context, int64_t S,
                                dif_error *err) {
  int64_t D = t->inner, N = B * T;
  dif_arena_mark mark = dif_arena_get_mark(k->arena);
  float *n = dif_arena_floats(k->arena, (size_t)(N * D), err);
  float *a = dif_arena_floats(k->arena, (size_t)(N * D), err);
  if (!n || !a) {
    dif_arena_release(k->arena, mark);
    return DIF_ERR_OUT_OF_MEMORY;
  }
  dif_layer_norm(k, h, N, D, 1e-5f, b->ln1_w, b->ln1_b, n);
  dif_status s = dif_attn_forward(&b->attn1, k, n, B, T, NULL, 0, a, err);
  if (!s) {
    dif_add(k, a, h, N * D, h);
    dif_layer_norm(k, h, N, D, 1e-5f, b->ln2_w, b->ln2_b, n);
    s = dif_attn_forward(&b->attn2, k, n, B, T, context, S, a, err);
  }
  if (!s) {
    dif_add(k, a, h, N * D, h);
    dif_layer_norm(k, h, N, D, 1e-5f, b->ln3_w, b->ln3_b, n);
    /* The GEGLU projection is the largest activation ((tokens, 8·inner));
     * run it in token chunks so it stays bounded at large sizes. */
    int64_t F = t->ff_inner, chunk = N < 4096 ? N : 4096;
    float *proj = dif_arena_floats(k->arena, (size_t)(chunk * 2 * F), err);
    float *gated = dif_arena_floats(k->arena, (size_t)(chunk * F), err);
    if (!proj || !gated) s = DIF_ERR_OUT_OF_MEMORY;
    for (int64_t r0 = 0; r0 < N && !s; r0 += chunk) {
      int64_t rows = N - r0 < chunk ? N - r0 : chunk;
      dif_linear(k, n + r0 * D, rows, D, b->ff1_w, b->ff1_b, 2 * F, proj);
      dif_geglu(k, proj, rows, F, gated);
      dif_linear(k, gated, rows, F, b->ff2_w, b->ff2_b, D, a + r0 * D);
    }
    if (!s) dif_add(k, a, h, N * D, h);
  }
  dif_arena_release(k->arena, mark);
  return s;
}

dif_status dif_t2d_forward(const dif_t2d *t, const dif_kctx *k, const float *x, int64_t B,
                           int64_t H, int64_t W, const float *context, int64_t S, float *y,
                           dif_error *err) {
  int64_t C = t->channels, D = t->inner, HW = H * W;
  dif_arena_mark mark = dif_arena_get_mark(k->arena);
  float *nx = dif_arena_floats(k->arena, (size_t)(B * C * HW), err);
  float *tok = dif_arena_floats(k->arena, (size_t)(B * HW * (C > D ? C : D)), err);
  float *h = dif_arena_floats(k->arena, (size_t)(B * HW * D), err);
  if (!nx || !tok || !h) {
    dif_arena_release(k->arena, mark);
    return DIF_ERR_OUT_OF_MEMORY;
  }
  dif_group_norm(k, x, B, C, HW, t->groups, 1e-6f, t->norm_w, t->norm_b, nx);
  dif_status s = DIF_OK;
  if (t->linear_proj) {
    for (int64_t b = 0; b < B; b++) to_tokens(nx + b * C * HW, C, HW, tok + b * HW * C);
    dif_linear(k, tok, B * HW, C, t->proj_in_w, t->proj_in_b, D, h);
  } else {
    dif_conv2d_params c1 = {.cin = C, .cout = D, .kh = 1, .kw = 1, .stride = 1};
    s = dif_conv2d(k, &c1, nx, B, H, W, t->proj_in_w, t->proj_in_b, tok, err);
    for (int64_t b = 0; b < B && !s; b++) to_tokens(tok + b * D * HW, D, HW, h + b * HW * D);
  }
  for (int i = 0; i < t->n_blocks && !s; i++)
    s = block_forward(t, &t->blocks[i], k, h, B, HW, context, S, err);
  if (!s) {
    if (t->linear_proj) {
      dif_linear(k, h, B * HW, D, t->proj_out_w, t->proj_out_b, C, tok);
      for (int64_t b = 0; b < B; b++) from_tokens(tok + b * HW * C, C, HW, y + b * C * HW);
    } else {
      for (int64_t b = 0; b < B; b++) from_tokens(h + b * HW * D, D, HW, tok + b * D * HW);
      dif_conv2d_params c1 = {.cin = D, .cout = C, .kh = 1, .kw = 1, .stride = 1};
      s = dif_conv2d(k, &c1, tok, B, H, W, t->proj_out_w, t->proj_out_b, y, err);
    }
  }
  if (!s) dif_add(k, y, x, B * C * HW, y); /* output + residual */
  dif_arena_release(k->arena, mark);
  return s;
}

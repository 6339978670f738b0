/* transformer2d.c — Transformer2DModel forward (see transformer2d.h). */
#include "models/transformer2d.h"

#include <stdio.h>
#include <string.h>

void dif__t2d_load(dif__t2d *t, dif__wloader *wl, const char *p, int64_t C, int64_t heads,
                   int64_t head_dim, int64_t ctx_dim, int64_t groups, int n_blocks,
                   bool linear_proj, bool only_cross) {
  int64_t inner = heads * head_dim;
  t->channels = C;
  t->inner = inner;
  t->heads = heads;
  t->head_dim = head_dim;
  t->ctx_dim = ctx_dim;
  t->groups = groups;
  t->ff_inner = 4 * inner;
  t->linear_proj = linear_proj;
  t->only_cross = only_cross;
  t->n_blocks = n_blocks;
  t->norm_w = DIF__W1(wl, C, "%s.norm.weight", p);
  t->norm_b = DIF__W1(wl, C, "%s.norm.bias", p);
  if (linear_proj) {
    t->proj_in_w = DIF__WT2(wl, inner, C, "%s.proj_in.weight", p);
    t->proj_out_w = DIF__WT2(wl, C, inner, "%s.proj_out.weight", p);
  } else {
    t->proj_in_w = DIF__WT4(wl, inner, C, 1, 1, "%s.proj_in.weight", p);
    t->proj_out_w = DIF__WT4(wl, C, inner, 1, 1, "%s.proj_out.weight", p);
  }
  t->proj_in_b = DIF__W1(wl, inner, "%s.proj_in.bias", p);
  t->proj_out_b = DIF__W1(wl, C, "%s.proj_out.bias", p);
  for (int i = 0; i < n_blocks; i++) {
    dif__t2d_block *b = &t->blocks[i];
    char bp[256];
    snprintf(bp, sizeof bp, "%s.transformer_blocks.%d", p, i);
    b->ln1_w = DIF__W1(wl, inner, "%s.norm1.weight", bp);
    b->ln1_b = DIF__W1(wl, inner, "%s.norm1.bias", bp);
    b->ln2_w = DIF__W1(wl, inner, "%s.norm2.weight", bp);
    b->ln2_b = DIF__W1(wl, inner, "%s.norm2.bias", bp);
    b->ln3_w = DIF__W1(wl, inner, "%s.norm3.weight", bp);
    b->ln3_b = DIF__W1(wl, inner, "%s.norm3.bias", bp);
    char ap[300];
    snprintf(ap, sizeof ap, "%s.attn1", bp);
    dif__attn_load(&b->attn1, wl, ap, inner, only_cross ? ctx_dim : inner, heads, head_dim);
    snprintf(ap, sizeof ap, "%s.attn2", bp);
    dif__attn_load(&b->attn2, wl, ap, inner, ctx_dim, heads, head_dim);
    b->ff1_w = DIF__WT2(wl, 2 * t->ff_inner, inner, "%s.ff.net.0.proj.weight", bp);
    b->ff1_b = DIF__W1(wl, 2 * t->ff_inner, "%s.ff.net.0.proj.bias", bp);
    b->ff2_w = DIF__WT2(wl, inner, t->ff_inner, "%s.ff.net.2.weight", bp);
    b->ff2_b = DIF__W1(wl, inner, "%s.ff.net.2.bias", bp);
  }
}

/* One BasicTransformerBlock on h[B·T, D] in place. Every residual add is the
 * accumulation of the GEMM that ends its branch (to_out, ff.net.2). */
static dif_status block_forward(const dif__t2d *t, const dif__t2d_block *b, const dif__kctx *k,
                                float *h, int64_t B, int64_t T, const float *context, int64_t S,
                                dif__error *err) {
  int64_t D = t->inner, N = B * T;
  dif__arena_mark mark = dif__arena_get_mark(k->arena);
  float *n = dif__arena_floats(k->arena, (size_t)(N * D), err);
  if (!n) return DIF_ERR_OUT_OF_MEMORY;
  dif__layer_norm(k, h, N, D, 1e-5f, b->ln1_w, b->ln1_b, n);
  dif_status s = t->only_cross
                     ? dif__attn_forward_add(&b->attn1, k, n, B, T, context, S, NULL, h, err)
                     : dif__attn_forward_add(&b->attn1, k, n, B, T, NULL, 0, NULL, h, err);
  if (!s) {
    dif__layer_norm(k, h, N, D, 1e-5f, b->ln2_w, b->ln2_b, n);
    s = dif__attn_forward_add(&b->attn2, k, n, B, T, context, S, NULL, h, err);
  }
  if (!s) {
    dif__layer_norm(k, h, N, D, 1e-5f, b->ln3_w, b->ln3_b, n);
    /* The GEGLU projection is the largest activation ((tokens, 8·inner));
     * run it in token chunks of at most ~32 MiB (with the gated half) so it
     * stays bounded at large sizes; chunks of >= 256 rows keep the GEMMs
     * large. */
    int64_t F = t->ff_inner, chunk = ((int64_t)32 << 20) / (3 * F * (int64_t)sizeof(float));
    if (chunk < 256) chunk = 256;
    if (chunk > N) chunk = N;
    float *proj = dif__arena_floats(k->arena, (size_t)(chunk * 2 * F), err);
    float *gated = dif__arena_floats(k->arena, (size_t)(chunk * F), err);
    if (!proj || !gated) s = DIF_ERR_OUT_OF_MEMORY;
    for (int64_t r0 = 0; r0 < N && !s; r0 += chunk) {
      int64_t rows = N - r0 < chunk ? N - r0 : chunk;
      dif__linear(k, n + r0 * D, rows, D, b->ff1_w, b->ff1_b, 2 * F, proj);
      dif__geglu(k, proj, rows, F, gated);
      dif__linear_acc(k, gated, rows, F, b->ff2_w, b->ff2_b, D, h + r0 * D);
    }
  }
  dif__arena_release(k->arena, mark);
  return s;
}

/* Both layouts: cl for channels-last x and y (the pixels are the token rows
 * as they lie); the same steps otherwise. */
static dif_status t2d_run(const dif__t2d *t, const dif__kctx *k, const float *x, int64_t B,
                          int64_t H, int64_t W, const float *context, int64_t S, float *y, bool cl,
                          dif__error *err) {
  int64_t C = t->channels, D = t->inner, HW = H * W;
  dif__arena_mark mark = dif__arena_get_mark(k->arena);
  float *nx = dif__arena_floats(k->arena, (size_t)(B * C * HW), err);
  float *h = dif__arena_floats(k->arena, (size_t)(B * HW * D), err);
  dif__norm_affine *na = cl ? dif__arena_alloc(k->arena, (size_t)(B * C) * sizeof *na, err) : NULL;
  dif_status s = nx && h && (na || !cl) ? DIF_OK : DIF_ERR_OUT_OF_MEMORY;
  if (!s && cl) {
    s = dif__group_norm_params_cl(k, x, B, C, HW, t->groups, 1e-6f, t->norm_w, t->norm_b, na, err);
    if (!s) dif__norm_apply_cl(k, x, B, C, HW, na, nx);
    /* a 1×1 conv (SD-1.x) is the same product as the Linear (SD-2.x): its
     * [D, C, 1, 1] weight is the [D, C] matrix */
    if (!s) dif__linear(k, nx, B * HW, C, t->proj_in_w, t->proj_in_b, D, h);
  } else if (!s) {
    dif__group_norm(k, x, B, C, HW, t->groups, 1e-6f, t->norm_w, t->norm_b, nx);
    /* proj_in reads the normalised [C, HW] planes as tokens (a transposed
     * GEMM operand) */
    for (int64_t b = 0; b < B; b++)
      dif__linear_cf_in(k, nx + b * C * HW, HW, C, t->proj_in_w, t->proj_in_b, D, h + b * HW * D);
  }
  for (int i = 0; i < t->n_blocks && !s; i++)
    s = block_forward(t, &t->blocks[i], k, h, B, HW, context, S, err);
  /* proj_out accumulates onto the residual (channels-first: writing the
   * [C, HW] planes) */
  if (!s && y != x) memcpy(y, x, (size_t)(B * C * HW) * sizeof *y);
  if (!s && cl) dif__linear_acc(k, h, B * HW, D, t->proj_out_w, t->proj_out_b, C, y);
  for (int64_t b = 0; b < B && !s && !cl; b++)
    dif__linear_cf_out(k, h + b * HW * D, HW, D, t->proj_out_w, t->proj_out_b, C, y + b * C * HW,
                       true);
  dif__arena_release(k->arena, mark);
  return s;
}

dif_status dif__t2d_forward(const dif__t2d *t, const dif__kctx *k, const float *x, int64_t B,
                            int64_t H, int64_t W, const float *context, int64_t S, float *y,
                            dif__error *err) {
  return t2d_run(t, k, x, B, H, W, context, S, y, false, err);
}

dif_status dif__t2d_forward_cl(const dif__t2d *t, const dif__kctx *k, const float *x, int64_t B,
                               int64_t H, int64_t W, const float *context, int64_t S, float *y,
                               dif__error *err) {
  return t2d_run(t, k, x, B, H, W, context, S, y, true, err);
}

/* unet_blocks.c — the blocks of the UNet forward pass (unet_blocks.h), in
 * the order dif__unet_forward runs them. */
#include "models/unet_blocks.h"

#include <stdio.h>
#include <string.h>

static void hook(const dif__unet_run *r, const float *data, int64_t n, const char *fmt, int a,
                 int b) {
  if (!r->in->hook) return;
  char name[96];
  snprintf(name, sizeof name, fmt, a, b);
  r->in->hook(r->in->hook_user, name, data, n);
}

static int64_t map_size(const dif__unet_run *r, const dif__unet_map *m) {
  return r->in->B * m->C * m->H * m->W;
}

/* The hook of a map (data of C channels, H·W pixels per image): shown
 * channels-first, through a copy in the arena when the maps are
 * channels-last (only when there is a hook; out of memory for it fails the
 * call rather than skip the hook). */
static dif_status hook_map(const dif__unet_run *r, const float *data, int64_t C, int64_t HW,
                           const char *fmt, int a, int b) {
  if (!r->in->hook) return DIF_OK;
  const int64_t n = r->in->B * C * HW;
  if (!r->cl) {
    hook(r, data, n, fmt, a, b);
    return DIF_OK;
  }
  dif__arena_mark m = dif__arena_get_mark(r->k->arena);
  float *t = dif__arena_floats(r->k->arena, (size_t)n, r->err);
  if (!t) return DIF_ERR_OUT_OF_MEMORY;
  dif__transpose_batched(r->k, data, r->in->B, HW, C, t);
  hook(r, t, n, fmt, a, b);
  dif__arena_release(r->k->arena, m);
  return DIF_OK;
}

static dif_status hook_m(const dif__unet_run *r, const dif__unet_map *m, const char *fmt, int a,
                         int b) {
  return hook_map(r, m->data, m->C, m->H * m->W, fmt, a, b);
}

/* h[B, C, H, W] → conv 3×3 stride 2 (padding downsample_padding). */
static dif_status downsample(const dif__unet_run *r, const dif__unet_level *lv, const float *x,
                             int64_t C, int64_t H, int64_t W, float *y) {
  int64_t p = r->u->downsample_padding;
  dif__conv2d_params cp = {.cin = C,
                           .cout = C,
                           .kh = 3,
                           .kw = 3,
                           .stride = 2,
                           .pad_top = p,
                           .pad_left = p,
                           .pad_bottom = p,
                           .pad_right = p,
                           .channels_last = r->cl};
  return dif__conv2d(r->k, &cp, x, r->in->B, H, W, lv->sample_w, lv->sample_b, y, r->err);
}

/* nearest resize to (OH, OW), then conv 3×3: the convolution reads the
 * resized input on the fly (no resized copy). */
static dif_status upsample(const dif__unet_run *r, const dif__unet_level *lv, const float *x,
                           int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW, float *y) {
  dif__conv2d_params cp = dif__conv_same(C, C, 3);
  cp.in_h = OH;
  cp.in_w = OW;
  cp.channels_last = r->cl;
  return dif__conv2d(r->k, &cp, x, r->in->B, H, W, lv->sample_w, lv->sample_b, y, r->err);
}

/* One resnet (+ transformer) of a level: y = attn(resnet(x)). */
static dif_status res_attn(const dif__unet_run *r, const float *temb_act, const dif__unet_level *lv,
                           int j, const float *x, int64_t H, int64_t W, float *y, const char *kind,
                           int i) {
  const dif__resnet *res = &lv->res[j];
  int64_t B = r->in->B;
  dif_status s = r->cl ? dif__resnet_forward_cl(res, r->k, x, B, H, W, temb_act, y, NULL, r->err)
                       : dif__resnet_forward(res, r->k, x, B, H, W, temb_act, y, r->err);
  if (s) return s;
  char name[64];
  snprintf(name, sizeof name, "%s.%%d.resnets.%%d", kind);
  s = hook_map(r, y, res->cout, H * W, name, i, j);
  if (s || !lv->cross) return s;
  const dif__unet_input *in = r->in;
  s = r->cl ? dif__t2d_forward_cl(&lv->attn[j], r->k, y, B, H, W, in->context, in->S, y, r->err)
            : dif__t2d_forward(&lv->attn[j], r->k, y, B, H, W, in->context, in->S, y, r->err);
  snprintf(name, sizeof name, "%s.%%d.attentions.%%d.0", kind);
  if (!s) s = hook_map(r, y, res->cout, H * W, name, i, j);
  return s;
}

dif_status dif__unet_embed(const dif__unet_run *r, float **temb_act) {
  const dif__unet *u = r->u;
  const dif__unet_input *in = r->in;
  const dif__kctx *k = r->k;
  int64_t B = in->B, T = u->temb_ch;
  float *t = dif__arena_floats(k->arena, (size_t)(B * u->c0), r->err);
  float *e1 = dif__arena_floats(k->arena, (size_t)(B * T), r->err);
  float *e = dif__arena_floats(k->arena, (size_t)(B * T), r->err);
  float *ts = dif__arena_floats(k->arena, (size_t)B, r->err);
  if (!t || !e1 || !e || !ts) return DIF_ERR_OUT_OF_MEMORY;
  for (int64_t b = 0; b < B; b++) ts[b] = in->timesteps[in->n_timesteps == 1 ? 0 : b];
  dif__timestep_embedding(ts, B, u->c0, u->flip_sin_to_cos, u->freq_shift, 1.0f, 10000.0f, t);
  hook(r, t, B * u->c0, "time_proj", 0, 0);
  if (u->time_cond_dim) { /* TimestepEmbedding: sample + cond_proj(condition), no bias */
    float *c = dif__arena_floats(k->arena, (size_t)(B * u->c0), r->err);
    if (!c) return DIF_ERR_OUT_OF_MEMORY;
    dif__linear(k, in->timestep_cond, B, u->time_cond_dim, u->time_cond_w, NULL, u->c0, c);
    dif__add(k, t, c, B * u->c0, t);
  }
  dif__linear(k, t, B, u->c0, u->time_w1, u->time_b1, T, e1);
  dif__silu(k, e1, B * T, e1);
  dif__linear(k, e1, B, T, u->time_w2, u->time_b2, T, e);
  hook(r, e, B * T, "time_embedding", 0, 0);
  if (u->class_in) {
    float *c1 = dif__arena_floats(k->arena, (size_t)(B * T), r->err);
    if (!c1) return DIF_ERR_OUT_OF_MEMORY;
    dif__linear(k, in->class_labels, B, u->class_in, u->class_w1, u->class_b1, T, c1);
    dif__silu(k, c1, B * T, c1);
    dif__linear(k, c1, B, T, u->class_w2, u->class_b2, T, e1);
    hook(r, e1, B * T, "class_embedding", 0, 0);
    dif__add(k, e, e1, B * T, e);
  }
  if (u->n_class_embeds) { /* nn.Embedding: the label's row, added */
    for (int64_t b = 0; b < B; b++) {
      int32_t id = in->class_ids[b];
      if (id < 0 || id >= u->n_class_embeds)
        return dif__fail(r->err, DIF_ERR_INVALID_ARGUMENT,
                         "UNet: class label %d is outside 0..%lld (num_class_embeds %lld)", (int)id,
                         (long long)u->n_class_embeds - 1, (long long)u->n_class_embeds);
      dif__weight_tile_f32(NULL, u->class_table, T, id, 1, 0, T, e1 + b * T);
    }
    hook(r, e1, B * T, "class_embedding", 0, 0);
    dif__add(k, e, e1, B * T, e);
  }
  dif__silu(k, e, B * T, e); /* every resnet applies silu to the shared embedding first */
  *temb_act = e;
  return DIF_OK;
}

dif_status dif__unet_conv_in(const dif__unet_run *r, dif__unet_map *h, dif__unet_skips *skips) {
  const dif__unet *u = r->u;
  const dif__unet_input *in = r->in;
  *h = (dif__unet_map){NULL, u->c0, in->H, in->W};
  h->data = dif__arena_floats(r->k->arena, (size_t)map_size(r, h), r->err);
  if (!h->data) return DIF_ERR_OUT_OF_MEMORY;
  dif__conv2d_params cp = dif__conv_same(u->in_ch, u->c0, 3);
  cp.channels_last = r->cl;
  const float *sample = in->sample;
  dif__arena_mark m = dif__arena_get_mark(r->k->arena);
  if (r->cl) { /* the sample's channels-last copy, above h */
    float *t = dif__arena_floats(r->k->arena, (size_t)(in->B * u->in_ch * in->H * in->W), r->err);
    if (!t) return DIF_ERR_OUT_OF_MEMORY;
    dif__transpose_batched(r->k, in->sample, in->B, u->in_ch, in->H * in->W, t);
    sample = t;
  }
  dif_status s = dif__conv2d(r->k, &cp, sample, in->B, in->H, in->W, u->conv_in_w, u->conv_in_b,
                             h->data, r->err);
  dif__arena_release(r->k->arena, m);
  if (s) return s;
  skips->s[skips->n++] = *h;
  return hook_m(r, h, "conv_in", 0, 0);
}

dif_status dif__unet_down(const dif__unet_run *r, int level, const float *temb_act,
                          dif__unet_map *h, dif__unet_skips *skips) {
  const dif__unet_level *lv = &r->u->down[level];
  int L = (int)r->u->layers_per_block;
  for (int j = 0; j < L; j++) {
    dif__unet_map y = {NULL, lv->res[j].cout, h->H, h->W};
    y.data = dif__arena_floats(r->k->arena, (size_t)map_size(r, &y), r->err);
    if (!y.data) return DIF_ERR_OUT_OF_MEMORY;
    dif_status s = res_attn(r, temb_act, lv, j, h->data, h->H, h->W, y.data, "down_blocks", level);
    if (s) return s;
    skips->s[skips->n++] = *h = y;
    if ((s = hook_m(r, &y, "down_blocks.%d.1.%d", level, j))) return s;
  }
  if (lv->sample_w.data) {
    int64_t p = r->u->downsample_padding;
    dif__unet_map y = {NULL, h->C, dif__conv2d_out(h->H, 3, 2, p, p),
                       dif__conv2d_out(h->W, 3, 2, p, p)};
    y.data = dif__arena_floats(r->k->arena, (size_t)map_size(r, &y), r->err);
    if (!y.data) return DIF_ERR_OUT_OF_MEMORY;
    dif_status s = downsample(r, lv, h->data, h->C, h->H, h->W, y.data);
    if (s) return s;
    skips->s[skips->n++] = *h = y;
    if ((s = hook_m(r, &y, "down_blocks.%d.1.%d", level, L))) return s;
  }
  return hook_m(r, h, "down_blocks.%d.0", level, 0);
}

/* Resnet, transformer, resnet. */
dif_status dif__unet_mid(const dif__unet_run *r, const float *temb_act, dif__unet_map *h) {
  const dif__unet *u = r->u;
  const dif__kctx *k = r->k;
  int64_t B = r->in->B, H = h->H, W = h->W;
  float *y = dif__arena_floats(k->arena, (size_t)map_size(r, h), r->err);
  float *t = dif__arena_floats(k->arena, (size_t)map_size(r, h), r->err);
  if (!y || !t) return DIF_ERR_OUT_OF_MEMORY;
  const float *ctx = r->in->context;
  const int64_t S = r->in->S;
  dif_status s;
  if (r->cl) {
    s = dif__resnet_forward_cl(&u->mid_res[0], k, h->data, B, H, W, temb_act, y, NULL, r->err);
    if (!s) s = dif__t2d_forward_cl(&u->mid_attn, k, y, B, H, W, ctx, S, y, r->err);
    if (!s) s = dif__resnet_forward_cl(&u->mid_res[1], k, y, B, H, W, temb_act, t, NULL, r->err);
  } else {
    s = dif__resnet_forward(&u->mid_res[0], k, h->data, B, H, W, temb_act, y, r->err);
    if (!s) s = dif__t2d_forward(&u->mid_attn, k, y, B, H, W, ctx, S, y, r->err);
    if (!s) s = dif__resnet_forward(&u->mid_res[1], k, y, B, H, W, temb_act, t, r->err);
  }
  if (s) return s;
  h->data = t;
  return hook_m(r, h, "mid_block", 0, 0);
}

/* m += res (channels-first; changed to the maps' layout first when they are
 * channels-last, through the arena). */
static dif_status add_residual(const dif__unet_run *r, dif__unet_map *m, const float *res) {
  const int64_t n = map_size(r, m);
  if (!r->cl) {
    dif__add(r->k, m->data, res, n, m->data);
    return DIF_OK;
  }
  dif__arena_mark mk = dif__arena_get_mark(r->k->arena);
  float *t = dif__arena_floats(r->k->arena, (size_t)n, r->err);
  if (!t) return DIF_ERR_OUT_OF_MEMORY;
  dif__transpose_batched(r->k, res, r->in->B, m->C, m->H * m->W, t);
  dif__add(r->k, m->data, t, n, m->data);
  dif__arena_release(r->k->arena, mk);
  return DIF_OK;
}

dif_status dif__unet_add_residuals(const dif__unet_run *r, dif__unet_map *h,
                                   dif__unet_skips *skips) {
  const float *const *down = r->in->down_residuals;
  dif_status s = DIF_OK;
  for (int i = 0; down && i < skips->n && !s; i++)
    if (down[i]) s = add_residual(r, &skips->s[i], down[i]);
  if (!s && r->in->mid_residual) s = add_residual(r, h, r->in->mid_residual);
  return s;
}

/* The end of an up level: its output h moved below the level's scratch
 * (from mark on, then freed), upsampled to the size of the skip state the
 * next level consumes when the level has an upsampler. */
static dif_status keep_level_output(const dif__unet_run *r, const dif__unet_level *lv,
                                    dif__arena_mark mark, dif__unet_map *h,
                                    const dif__unet_skips *skips) {
  dif__unet_map keep = *h;
  if (lv->sample_w.data) {
    keep.H = skips->s[skips->n - 1].H;
    keep.W = skips->s[skips->n - 1].W;
  }
  size_t n = (size_t)map_size(r, h);
  dif__arena_release_keeping(r->k->arena, mark, h->data, n * sizeof *h->data);
  keep.data = dif__arena_floats(r->k->arena, (size_t)map_size(r, &keep), r->err);
  if (!keep.data) return DIF_ERR_OUT_OF_MEMORY;
  dif_status s = DIF_OK;
  if (lv->sample_w.data) {
    /* h lies in the released region, which keep may overlap: copy h above
     * keep first (memmove copes with overlap), then upsample the copy. */
    float *t = dif__arena_floats(r->k->arena, n, r->err);
    if (!t) return DIF_ERR_OUT_OF_MEMORY;
    memmove(t, h->data, n * sizeof *t);
    s = upsample(r, lv, t, h->C, h->H, h->W, keep.H, keep.W, keep.data);
  } else {
    memmove(keep.data, h->data, n * sizeof *keep.data);
  }
  *h = keep;
  return s;
}

/* Each resnet takes cat(h, the last unused skip state). One cat and one
 * output buffer per level, reused by its resnets (h is copied into cat
 * before the next resnet overwrites y), so the arena does not grow step by
 * step. */
dif_status dif__unet_up(const dif__unet_run *r, int level, const float *temb_act, dif__unet_map *h,
                        dif__unet_skips *skips) {
  const dif__unet_level *lv = &r->u->up[level];
  int64_t B = r->in->B, L = r->u->layers_per_block, HW = h->H * h->W;
  dif__arena_mark mark = dif__arena_get_mark(r->k->arena);
  int64_t co = lv->res[0].cout, max_cat = 0;
  for (int j = 0; j <= L; j++) {
    int64_t c = (j ? co : h->C) + skips->s[skips->n - 1 - j].C;
    max_cat = c > max_cat ? c : max_cat;
  }
  float *cat = dif__arena_floats(r->k->arena, (size_t)(B * max_cat * HW), r->err);
  float *y = dif__arena_floats(r->k->arena, (size_t)(B * co * HW), r->err);
  if (!cat || !y) return DIF_ERR_OUT_OF_MEMORY;
  for (int j = 0; j <= L; j++) {
    dif__unet_map sk = skips->s[--skips->n];
    if (r->cl)
      dif__concat_channels_cl(r->k, h->data, h->C, sk.data, sk.C, B * HW, cat);
    else
      dif__concat_channels(h->data, h->C, sk.data, sk.C, B, HW, cat);
    dif_status s = res_attn(r, temb_act, lv, j, cat, h->H, h->W, y, "up_blocks", level);
    if (s) return s;
    h->data = y;
    h->C = co;
  }
  dif_status s = keep_level_output(r, lv, mark, h, skips);
  if (!s) s = hook_m(r, h, "up_blocks.%d", level, 0);
  return s;
}

/* GroupNorm, SiLU, conv_out. */
dif_status dif__unet_head(const dif__unet_run *r, const dif__unet_map *h, float *out) {
  const dif__unet *u = r->u;
  const dif__kctx *k = r->k;
  int64_t B = r->in->B, C = h->C, H = h->H, W = h->W;
  dif__conv2d_params cp = dif__conv_same(C, u->out_ch, 3);
  cp.channels_last = r->cl;
  const float *src = h->data;
  dif__norm_affine *na = dif__arena_alloc(k->arena, (size_t)(B * C) * sizeof *na, r->err);
  /* channels-last: conv_out's output in the arena, changed into out after */
  float *y = r->cl ? dif__arena_floats(k->arena, (size_t)(B * u->out_ch * H * W), r->err) : out;
  if (!na || !y) return DIF_ERR_OUT_OF_MEMORY;
  dif_status s = DIF_OK;
  if (r->cl)
    s = dif__group_norm_params_cl(k, h->data, B, C, H * W, u->groups, u->eps, u->norm_out_w,
                                  u->norm_out_b, na, r->err);
  else if (!r->in->hook) /* with a hook, dif__group_norm below takes the statistics */
    dif__group_norm_params(k, h->data, B, C, H * W, u->groups, u->eps, u->norm_out_w, u->norm_out_b,
                           na);
  if (!s && r->in->hook) { /* the hook sees the norm's output before SiLU */
    float *t = dif__arena_floats(k->arena, (size_t)map_size(r, h), r->err);
    if (!t) return DIF_ERR_OUT_OF_MEMORY;
    if (r->cl)
      dif__norm_apply_cl(k, h->data, B, C, H * W, na, t);
    else
      dif__group_norm(k, h->data, B, C, H * W, u->groups, u->eps, u->norm_out_w, u->norm_out_b, t);
    if ((s = hook_map(r, t, C, H * W, "conv_norm_out", 0, 0))) return s;
    dif__silu(k, t, map_size(r, h), t);
    src = t;
  } else { /* norm + SiLU applied by conv_out as it reads h */
    cp.in_norm = na;
    cp.in_silu = true;
  }
  if (!s) s = dif__conv2d(k, &cp, src, B, H, W, u->conv_out_w, u->conv_out_b, y, r->err);
  if (!s && r->cl) dif__transpose_batched(k, y, B, H * W, u->out_ch, out);
  if (!s) hook(r, out, B * u->out_ch * H * W, "conv_out", 0, 0);
  return s;
}

/* unet.c — UNet2DConditionModel: loading and the forward pass (see unet.h).
 *
 * This is where a generation spends its time: every step runs this forward
 * pass once (twice the batch with classifier-free guidance). */
#include "models/unet.h"

#include <stdio.h>
#include <string.h>

#include "io/component.h"
#include "models/unet_config.h"

static const char *const classes[] = {"UNet2DConditionModel", NULL};

static void load_level(dif_unet *u, dif_wloader *wl, dif_unet_level *lv, const char *kind, int i,
                       int n_res, const int64_t *res_in, int64_t cout, bool cross, int64_t heads,
                       int64_t t_layers) {
  lv->cross = cross;
  lv->n_res = n_res;
  for (int j = 0; j < n_res; j++) {
    char p[128];
    snprintf(p, sizeof p, "%s.%d.resnets.%d", kind, i, j);
    dif_resnet_load(&lv->res[j], wl, p, res_in[j], cout, u->temb_ch, u->groups, u->eps);
    if (cross) {
      snprintf(p, sizeof p, "%s.%d.attentions.%d", kind, i, j);
      dif_t2d_load(&lv->attn[j], wl, p, cout, heads, cout / heads, u->ctx_dim, u->groups,
                   (int)t_layers, u->linear_proj);
    }
  }
}

static dif_status build(dif_unet *u, const dif_unet_config *c, dif_wloader *wl) {
  int n = c->n_blocks;
  u->in_ch = c->in_ch;
  u->out_ch = c->out_ch;
  u->n_blocks = n;
  u->layers_per_block = c->layers_per_block;
  u->groups = c->groups;
  u->ctx_dim = c->ctx_dim;
  u->c0 = c->channels[0];
  u->temb_ch = 4 * u->c0;
  u->class_in = c->class_in;
  u->downsample_padding = c->downsample_padding;
  u->sample_size = c->sample_size;
  u->eps = c->eps;
  u->freq_shift = c->freq_shift;
  u->flip_sin_to_cos = c->flip_sin_to_cos;
  u->linear_proj = c->linear_proj;
  memcpy(u->channels, c->channels, sizeof u->channels);
  memcpy(u->heads, c->heads, sizeof u->heads);
  int64_t T = u->temb_ch, c0 = u->c0;
  u->time_w1 = DIF_W2(wl, T, c0, "time_embedding.linear_1.weight");
  u->time_b1 = DIF_W1(wl, T, "time_embedding.linear_1.bias");
  u->time_w2 = DIF_W2(wl, T, T, "time_embedding.linear_2.weight");
  u->time_b2 = DIF_W1(wl, T, "time_embedding.linear_2.bias");
  if (u->class_in) {
    u->class_w1 = DIF_W2(wl, T, u->class_in, "class_embedding.linear_1.weight");
    u->class_b1 = DIF_W1(wl, T, "class_embedding.linear_1.bias");
    u->class_w2 = DIF_W2(wl, T, T, "class_embedding.linear_2.weight");
    u->class_b2 = DIF_W1(wl, T, "class_embedding.linear_2.bias");
  }
  u->conv_in_w = DIF_W4(wl, c0, u->in_ch, 3, 3, "conv_in.weight");
  u->conv_in_b = DIF_W1(wl, c0, "conv_in.bias");
  int64_t L = u->layers_per_block, res_in[DIF_UNET_MAX_LAYERS + 1];
  for (int i = 0; i < n; i++) { /* down path */
    int64_t cin = i ? c->channels[i - 1] : c0, cout = c->channels[i];
    for (int j = 0; j < L; j++) res_in[j] = j ? cout : cin;
    dif_unet_level *lv = &u->down[i];
    load_level(u, wl, lv, "down_blocks", i, (int)L, res_in, cout,
               strcmp(c->down_types[i], "CrossAttnDownBlock2D") == 0, c->heads[i], c->t_layers[i]);
    if (i < n - 1) {
      lv->sample_w = DIF_W4(wl, cout, cout, 3, 3, "down_blocks.%d.downsamplers.0.conv.weight", i);
      lv->sample_b = DIF_W1(wl, cout, "down_blocks.%d.downsamplers.0.conv.bias", i);
    }
  }
  int64_t top = c->channels[n - 1];
  dif_resnet_load(&u->mid_res[0], wl, "mid_block.resnets.0", top, top, T, u->groups, u->eps);
  dif_resnet_load(&u->mid_res[1], wl, "mid_block.resnets.1", top, top, T, u->groups, u->eps);
  dif_t2d_load(&u->mid_attn, wl, "mid_block.attentions.0", top, c->heads[n - 1],
               top / c->heads[n - 1], u->ctx_dim, u->groups, (int)c->t_layers[n - 1],
               u->linear_proj);
  int64_t out_ch = c->channels[n - 1];
  for (int i = 0; i < n; i++) { /* up path: diffusers' channel bookkeeping */
    int r = n - 1 - i;
    int64_t prev_out = out_ch;
    out_ch = c->channels[r];
    int64_t in_ch = c->channels[r > 0 ? r - 1 : 0];
    for (int j = 0; j <= L; j++) res_in[j] = (j ? out_ch : prev_out) + (j == L ? in_ch : out_ch);
    dif_unet_level *lv = &u->up[i];
    load_level(u, wl, lv, "up_blocks", i, (int)L + 1, res_in, out_ch,
               strcmp(c->up_types[i], "CrossAttnUpBlock2D") == 0, c->heads[r], c->t_layers[r]);
    if (i < n - 1) {
      lv->sample_w = DIF_W4(wl, out_ch, out_ch, 3, 3, "up_blocks.%d.upsamplers.0.conv.weight", i);
      lv->sample_b = DIF_W1(wl, out_ch, "up_blocks.%d.upsamplers.0.conv.bias", i);
    }
  }
  u->norm_out_w = DIF_W1(wl, c0, "conv_norm_out.weight");
  u->norm_out_b = DIF_W1(wl, c0, "conv_norm_out.bias");
  u->conv_out_w = DIF_W4(wl, u->out_ch, c0, 3, 3, "conv_out.weight");
  u->conv_out_b = DIF_W1(wl, u->out_ch, "conv_out.bias");
  return wl->status;
}

dif_status dif_unet_load(const char *dir, dif_unet *u, dif_error *err) {
  memset(u, 0, sizeof *u);
  dif_config *cfg;
  dif_status s = dif_component_config(dir, "config.json", classes, &cfg, err);
  if (s) return s;
  dif_unet_config c;
  s = dif_unet_read_config(cfg, &c, err);
  if (!s) s = dif_component_weights(dir, &u->weights, err);
  if (!s) {
    dif_wloader wl = {u->weights, err, DIF_OK};
    s = build(u, &c, &wl);
  }
  dif_config_free(cfg);
  if (s) dif_unet_free(u);
  return s;
}

void dif_unet_free(dif_unet *u) {
  if (!u) return;
  dif_st_close(u->weights);
  memset(u, 0, sizeof *u);
}

/* ---- the forward pass ---- */

typedef struct fwd {
  const dif_unet *u;
  const dif_kctx *k;
  const dif_unet_input *in;
  dif_error *err;
  const float *temb_act; /* silu(time embedding (+ class embedding)) [B, temb_ch] */
} fwd;

static void hook(const fwd *f, const float *data, int64_t n, const char *fmt, int a, int b) {
  if (!f->in->hook) return;
  char name[96];
  snprintf(name, sizeof name, fmt, a, b);
  f->in->hook(f->in->hook_user, name, data, n);
}

typedef struct skip {
  float *data;
  int64_t C, H, W;
} skip;

/* h[B, C, H, W] → conv 3×3 stride 2 (padding downsample_padding). */
static dif_status downsample(const fwd *f, const dif_unet_level *lv, const float *x, int64_t C,
                             int64_t H, int64_t W, float *y, int64_t *OH, int64_t *OW) {
  int64_t p = f->u->downsample_padding;
  dif_conv2d_params cp = {.cin = C,
                          .cout = C,
                          .kh = 3,
                          .kw = 3,
                          .stride = 2,
                          .pad_top = p,
                          .pad_left = p,
                          .pad_bottom = p,
                          .pad_right = p};
  *OH = dif_conv2d_out(H, 3, 2, p, p);
  *OW = dif_conv2d_out(W, 3, 2, p, p);
  return dif_conv2d(f->k, &cp, x, f->in->B, H, W, lv->sample_w, lv->sample_b, y, f->err);
}

/* nearest resize to (OH, OW), then conv 3×3: the convolution reads the
 * resized input on the fly (no resized copy). */
static dif_status upsample(const fwd *f, const dif_unet_level *lv, const float *x, int64_t C,
                           int64_t H, int64_t W, int64_t OH, int64_t OW, float *y) {
  dif_conv2d_params cp = {.cin = C,
                          .cout = C,
                          .kh = 3,
                          .kw = 3,
                          .stride = 1,
                          .pad_top = 1,
                          .pad_left = 1,
                          .pad_bottom = 1,
                          .pad_right = 1,
                          .in_h = OH,
                          .in_w = OW};
  return dif_conv2d(f->k, &cp, x, f->in->B, H, W, lv->sample_w, lv->sample_b, y, f->err);
}

/* One resnet (+ transformer) of a level: y = attn(resnet(x)). */
static dif_status res_attn(const fwd *f, const dif_unet_level *lv, int j, const float *x, int64_t H,
                           int64_t W, float *y, const char *kind, int i) {
  const dif_resnet *r = &lv->res[j];
  int64_t B = f->in->B, n = B * r->cout * H * W;
  dif_status s = dif_resnet_forward(r, f->k, x, B, H, W, f->temb_act, y, f->err);
  if (s) return s;
  char name[64];
  snprintf(name, sizeof name, "%s.%%d.resnets.%%d", kind);
  hook(f, y, n, name, i, j);
  if (!lv->cross) return DIF_OK;
  s = dif_t2d_forward(&lv->attn[j], f->k, y, B, H, W, f->in->context, f->in->S, y, f->err);
  snprintf(name, sizeof name, "%s.%%d.attentions.%%d.0", kind);
  if (!s) hook(f, y, n, name, i, j);
  return s;
}

static dif_status embeddings(fwd *f, float **temb_act) {
  const dif_unet *u = f->u;
  const dif_unet_input *in = f->in;
  int64_t B = in->B, T = u->temb_ch;
  float *t = dif_arena_floats(f->k->arena, (size_t)(B * u->c0), f->err);
  float *e1 = dif_arena_floats(f->k->arena, (size_t)(B * T), f->err);
  float *e = dif_arena_floats(f->k->arena, (size_t)(B * T), f->err);
  float *ts = dif_arena_floats(f->k->arena, (size_t)B, f->err);
  if (!t || !e1 || !e || !ts) return DIF_ERR_OUT_OF_MEMORY;
  for (int64_t b = 0; b < B; b++) ts[b] = in->timesteps[in->n_timesteps == 1 ? 0 : b];
  dif_timestep_embedding(ts, B, u->c0, u->flip_sin_to_cos, u->freq_shift, 1.0f, 10000.0f, t);
  hook(f, t, B * u->c0, "time_proj", 0, 0);
  dif_linear(f->k, t, B, u->c0, u->time_w1, u->time_b1, T, e1);
  dif_silu(f->k, e1, B * T, e1);
  dif_linear(f->k, e1, B, T, u->time_w2, u->time_b2, T, e);
  hook(f, e, B * T, "time_embedding", 0, 0);
  if (u->class_in) {
    float *c1 = dif_arena_floats(f->k->arena, (size_t)(B * T), f->err);
    if (!c1) return DIF_ERR_OUT_OF_MEMORY;
    dif_linear(f->k, in->class_labels, B, u->class_in, u->class_w1, u->class_b1, T, c1);
    dif_silu(f->k, c1, B * T, c1);
    dif_linear(f->k, c1, B, T, u->class_w2, u->class_b2, T, e1);
    hook(f, e1, B * T, "class_embedding", 0, 0);
    dif_add(f->k, e, e1, B * T, e);
  }
  dif_silu(f->k, e, B * T, e); /* every resnet applies silu to the shared embedding first */
  *temb_act = e;
  return DIF_OK;
}

dif_status dif_unet_forward(const dif_unet *u, const dif_kctx *k, const dif_unet_input *in,
                            float *out, dif_error *err) {
  int64_t B = in->B, H = in->H, W = in->W, n = u->n_blocks, L = u->layers_per_block;
  if (B < 1 || H < 1 || W < 1 || (in->n_timesteps != 1 && in->n_timesteps != B) || !in->context ||
      in->S < 1 || (u->class_in && !in->class_labels))
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT,
                    "UNet: invalid input (batch %lld, %lldx%lld latent, %lld timesteps, %lld "
                    "context tokens%s)",
                    (long long)B, (long long)H, (long long)W, (long long)in->n_timesteps,
                    (long long)in->S, u->class_in && !in->class_labels ? ", no class labels" : "");
  fwd f = {u, k, in, err, NULL};
  dif_arena_mark mark = dif_arena_get_mark(k->arena);
  float *temb = NULL;
  dif_status s = embeddings(&f, &temb);
  f.temb_act = temb;
  /* Skip connections live until the up path consumes them. */
  skip skips[1 + DIF_UNET_MAX_BLOCKS * (DIF_UNET_MAX_LAYERS + 1)];
  int n_skips = 0;
  int64_t C = u->c0;
  float *h = NULL;
  if (!s) {
    h = dif_arena_floats(k->arena, (size_t)(B * C * H * W), err);
    if (!h) s = DIF_ERR_OUT_OF_MEMORY;
  }
  if (!s) {
    dif_conv2d_params cp = {.cin = u->in_ch,
                            .cout = C,
                            .kh = 3,
                            .kw = 3,
                            .stride = 1,
                            .pad_top = 1,
                            .pad_left = 1,
                            .pad_bottom = 1,
                            .pad_right = 1};
    s = dif_conv2d(k, &cp, in->sample, B, H, W, u->conv_in_w, u->conv_in_b, h, err);
    hook(&f, h, B * C * H * W, "conv_in", 0, 0);
    skips[n_skips++] = (skip){h, C, H, W};
  }
  for (int i = 0; i < n && !s; i++) {
    const dif_unet_level *lv = &u->down[i];
    for (int j = 0; j < L && !s; j++) {
      int64_t co = lv->res[j].cout;
      float *y = dif_arena_floats(k->arena, (size_t)(B * co * H * W), err);
      if (!y)
        s = DIF_ERR_OUT_OF_MEMORY;
      else
        s = res_attn(&f, lv, j, h, H, W, y, "down_blocks", i);
      if (!s) {
        hook(&f, y, B * co * H * W, "down_blocks.%d.1.%d", i, j);
        skips[n_skips++] = (skip){y, co, H, W};
        h = y;
        C = co;
      }
    }
    if (!s && lv->sample_w) {
      int64_t OH = dif_conv2d_out(H, 3, 2, u->downsample_padding, u->downsample_padding);
      int64_t OW = dif_conv2d_out(W, 3, 2, u->downsample_padding, u->downsample_padding);
      float *y = dif_arena_floats(k->arena, (size_t)(B * C * OH * OW), err);
      if (!y)
        s = DIF_ERR_OUT_OF_MEMORY;
      else
        s = downsample(&f, lv, h, C, H, W, y, &OH, &OW);
      if (!s) {
        H = OH;
        W = OW;
        h = y;
        hook(&f, y, B * C * H * W, "down_blocks.%d.1.%d", i, (int)L);
        skips[n_skips++] = (skip){y, C, H, W};
      }
    }
    if (!s) hook(&f, h, B * C * H * W, "down_blocks.%d.0", i, 0);
  }
  /* Mid block: resnet, transformer, resnet. */
  if (!s) {
    float *y = dif_arena_floats(k->arena, (size_t)(B * C * H * W), err);
    float *t = dif_arena_floats(k->arena, (size_t)(B * C * H * W), err);
    if (!y || !t) s = DIF_ERR_OUT_OF_MEMORY;
    if (!s) s = dif_resnet_forward(&u->mid_res[0], k, h, B, H, W, temb, y, err);
    if (!s) s = dif_t2d_forward(&u->mid_attn, k, y, B, H, W, in->context, in->S, y, err);
    if (!s) s = dif_resnet_forward(&u->mid_res[1], k, y, B, H, W, temb, t, err);
    if (!s) {
      h = t;
      hook(&f, h, B * C * H * W, "mid_block", 0, 0);
    }
  }
  /* Up path: each resnet takes cat(h, the last unused skip). One cat and one
   * output buffer per level, reused by its resnets (h is copied into cat
   * before the next resnet overwrites y), so the arena does not grow step by
   * step. */
  for (int i = 0; i < n && !s; i++) {
    const dif_unet_level *lv = &u->up[i];
    dif_arena_mark lm = dif_arena_get_mark(k->arena);
    int64_t co = lv->res[0].cout, max_cat = 0;
    for (int j = 0; j <= L; j++) {
      int64_t c = (j ? co : C) + skips[n_skips - 1 - j].C;
      max_cat = c > max_cat ? c : max_cat;
    }
    float *keep = NULL;
    float *cat = dif_arena_floats(k->arena, (size_t)(B * max_cat * H * W), err);
    float *y = dif_arena_floats(k->arena, (size_t)(B * co * H * W), err);
    if (!cat || !y) {
      s = DIF_ERR_OUT_OF_MEMORY;
      break;
    }
    for (int j = 0; j <= L && !s; j++) {
      skip sk = skips[--n_skips];
      dif_concat_channels(h, C, sk.data, sk.C, B, H * W, cat);
      s = res_attn(&f, lv, j, cat, H, W, y, "up_blocks", i);
      h = y;
      C = co;
    }
    if (s) break;
    int64_t OH = H, OW = W;
    if (lv->sample_w) { /* resize to the size of the skip the next level consumes */
      OH = skips[n_skips - 1].H;
      OW = skips[n_skips - 1].W;
    }
    /* Move the level's output below the level's scratch, then free it. */
    dif_arena_release(k->arena, lm);
    keep = dif_arena_floats(k->arena, (size_t)(B * C * OH * OW), err);
    if (!keep) {
      s = DIF_ERR_OUT_OF_MEMORY;
      break;
    }
    if (lv->sample_w) {
      /* h lies in the released region, which keep may overlap: copy h above
       * keep first (memmove copes with overlap), then upsample the copy. */
      float *t = dif_arena_floats(k->arena, (size_t)(B * C * H * W), err);
      if (!t) {
        s = DIF_ERR_OUT_OF_MEMORY;
        break;
      }
      memmove(t, h, (size_t)(B * C * H * W) * sizeof *h);
      s = upsample(&f, lv, t, C, H, W, OH, OW, keep);
      H = OH;
      W = OW;
    } else {
      memmove(keep, h, (size_t)(B * C * H * W) * sizeof *h);
    }
    h = keep;
    if (!s) hook(&f, h, B * C * H * W, "up_blocks.%d", i, 0);
  }
  if (!s) {
    float *t = in->hook ? dif_arena_floats(k->arena, (size_t)(B * C * H * W), err) : NULL;
    if (in->hook && !t) s = DIF_ERR_OUT_OF_MEMORY;
    if (!s) {
      dif_conv2d_params cp = {.cin = C,
                              .cout = u->out_ch,
                              .kh = 3,
                              .kw = 3,
                              .stride = 1,
                              .pad_top = 1,
                              .pad_left = 1,
                              .pad_bottom = 1,
                              .pad_right = 1};
      const float *src = t;
      if (in->hook) { /* the hook sees the norm's output before SiLU */
        dif_group_norm(k, h, B, C, H * W, u->groups, u->eps, u->norm_out_w, u->norm_out_b, t);
        hook(&f, t, B * C * H * W, "conv_norm_out", 0, 0);
        dif_silu(k, t, B * C * H * W, t);
      } else { /* norm + SiLU applied by conv_out as it reads h */
        dif_norm_affine *na = dif_arena_alloc(k->arena, (size_t)(B * C) * sizeof *na, err);
        if (!na) s = DIF_ERR_OUT_OF_MEMORY;
        if (na)
          dif_group_norm_params(k, h, B, C, H * W, u->groups, u->eps, u->norm_out_w, u->norm_out_b,
                                na);
        cp.in_norm = na;
        cp.in_silu = true;
        src = h;
      }
      if (!s) s = dif_conv2d(k, &cp, src, B, H, W, u->conv_out_w, u->conv_out_b, out, err);
      if (!s) hook(&f, out, B * u->out_ch * H * W, "conv_out", 0, 0);
    }
  }
  dif_arena_release(k->arena, mark);
  return s;
}

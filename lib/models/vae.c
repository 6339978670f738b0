/* vae.c — AutoencoderKL encoder and decoder (see vae.h). */
#include "models/vae.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "models/config_check.h"
#include "models/loader.h"

static const char *const classes[] = {"AutoencoderKL", NULL};

static const dif__fixed_key fixed[] = {
    {"act_fn", "\"silu\""},
    {"latents_mean", "null"},
    {"latents_std", "null"},
    {"shift_factor", "null"},
    {"use_quant_conv", "true"},
    {"use_post_quant_conv", "true"},
    {"mid_block_add_attention", "true"},
    {NULL, NULL},
};
static const char *const handled[] = {"_class_name",      "_diffusers_version",
                                      "_name_or_path",    "sample_size",
                                      "force_upcast", /* fp16 only */
                                      "in_channels",      "out_channels",
                                      "latent_channels",  "block_out_channels",
                                      "down_block_types", "up_block_types",
                                      "layers_per_block", "norm_num_groups",
                                      "scaling_factor",   NULL};

#define EPS 1e-6f /* GroupNorm eps of every VAE norm */

static void load_mid(dif__vae *v, dif__wloader *wl, dif__vae_mid *m, const char *p, int64_t C) {
  char name[96];
  for (int j = 0; j < 2; j++) {
    snprintf(name, sizeof name, "%s.mid_block.resnets.%d", p, j);
    dif__resnet_load(&m->res[j], wl, name, C, C, 0, v->groups, EPS);
  }
  m->norm_w = DIF__W1(wl, C, "%s.mid_block.attentions.0.group_norm.weight", p);
  m->norm_b = DIF__W1(wl, C, "%s.mid_block.attentions.0.group_norm.bias", p);
  snprintf(name, sizeof name, "%s.mid_block.attentions.0", p);
  dif__attn_load(&m->attn, wl, name, C, C, 1, C); /* one head of C channels */
}

static dif_status read_config(void *model, const dif__config *cfg, dif__error *err) {
  dif__vae *v = model;
  dif_status s = dif__config_check_keys(cfg, fixed, handled, err);
  const char *down[DIF__VAE_MAX_BLOCKS], *up[DIF__VAE_MAX_BLOCKS];
  int n = 0, nd = 0, nu = 0;
  double sf;
  if (s ||
      (s = dif__config_int_list(cfg, "block_out_channels", v->channels, DIF__VAE_MAX_BLOCKS, &n,
                                false, 0, err)) ||
      (s = dif__config_str_list(cfg, "down_block_types", down, DIF__VAE_MAX_BLOCKS, &nd, err)) ||
      (s = dif__config_str_list(cfg, "up_block_types", up, DIF__VAE_MAX_BLOCKS, &nu, err)) ||
      (s = dif__config_int_opt(cfg, "in_channels", 3, &v->in_ch, err)) ||
      (s = dif__config_int_opt(cfg, "out_channels", 3, &v->out_ch, err)) ||
      (s = dif__config_int_opt(cfg, "latent_channels", 4, &v->latent_ch, err)) ||
      (s = dif__config_int_opt(cfg, "layers_per_block", 1, &v->layers_per_block, err)) ||
      (s = dif__config_int_opt(cfg, "norm_num_groups", 32, &v->groups, err)) ||
      (s = dif__config_num_opt(cfg, "scaling_factor", 0.18215, &sf, err)))
    return s;
  /* sample_size: an int, or [h, w] in some configs (diffusers then uses the
   * first); only the tiled decode's default tile depends on it. */
  int64_t ss[2] = {32, 32}; /* diffusers' default */
  int nss = 0;
  if (dif__config_has(cfg, "sample_size") &&
      (s = dif__config_int_list(cfg, "sample_size", ss, 2, &nss, true, 1, err)))
    return s;
  v->sample_size = ss[0];
  const char *file = dif__config_path(cfg);
  if (v->sample_size < 1 || v->sample_size > 4096) /* a tile side in pixels */
    return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: sample_size %lld is outside 1..4096", file,
                     (long long)v->sample_size);
  v->n_blocks = n;
  v->scaling_factor = (float)sf;
  if (n < 1 || nd != n || nu != n)
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: block_out_channels, down_block_types and up_block_types must have the "
                     "same length (%d, %d, %d)",
                     file, n, nd, nu);
  for (int i = 0; i < n; i++) {
    if (strcmp(down[i], "DownEncoderBlock2D") || strcmp(up[i], "UpDecoderBlock2D"))
      return dif__fail(err, DIF_ERR_UNSUPPORTED,
                       "%s: block %d is %s / %s (libdif implements DownEncoderBlock2D / "
                       "UpDecoderBlock2D)",
                       file, i, down[i], up[i]);
    if (v->channels[i] <= 0 || v->channels[i] > 16384 || v->groups <= 0 ||
        v->channels[i] % v->groups)
      return dif__fail(err, DIF_ERR_BAD_MODEL,
                       "%s: block_out_channels[%d] = %lld is not a positive multiple of "
                       "norm_num_groups %lld",
                       file, i, (long long)v->channels[i], (long long)v->groups);
  }
  if (v->layers_per_block < 1 || v->layers_per_block > DIF__VAE_MAX_LAYERS)
    return dif__fail(err, DIF_ERR_UNSUPPORTED, "%s: layers_per_block = %lld (supported: 1..%d)",
                     file, (long long)v->layers_per_block, DIF__VAE_MAX_LAYERS);
  if (v->in_ch < 1 || v->in_ch > 16 || v->out_ch < 1 || v->out_ch > 16 || v->latent_ch < 1 ||
      v->latent_ch > 64 || !(v->scaling_factor >= 1e-4f && v->scaling_factor <= 1e4f))
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: in_channels / out_channels / latent_channels / scaling_factor out of "
                     "range (scaling_factor must be in 1e-4..1e4)",
                     file);
  return DIF_OK;
}

static dif_status build(void *model, const dif__config *cfg, dif__wloader *wl) {
  (void)cfg;
  dif__vae *v = model;
  int n = (int)v->n_blocks;
  int64_t L = v->layers_per_block, c0 = v->channels[0], top = v->channels[n - 1],
          lat = v->latent_ch;
  v->e_conv_in_w = DIF__WT4(wl, c0, v->in_ch, 3, 3, "encoder.conv_in.weight");
  v->e_conv_in_b = DIF__W1(wl, c0, "encoder.conv_in.bias");
  int64_t cout = c0;
  for (int i = 0; i < n; i++) {
    int64_t cin = cout;
    cout = v->channels[i];
    dif__vae_level *lv = &v->down[i];
    lv->n_res = (int)L;
    for (int j = 0; j < L; j++) {
      char p[96];
      snprintf(p, sizeof p, "encoder.down_blocks.%d.resnets.%d", i, j);
      dif__resnet_load(&lv->res[j], wl, p, j ? cout : cin, cout, 0, v->groups, EPS);
    }
    if (i < n - 1) {
      lv->sample_w =
          DIF__WT4(wl, cout, cout, 3, 3, "encoder.down_blocks.%d.downsamplers.0.conv.weight", i);
      lv->sample_b = DIF__W1(wl, cout, "encoder.down_blocks.%d.downsamplers.0.conv.bias", i);
    }
  }
  load_mid(v, wl, &v->e_mid, "encoder", top);
  v->e_norm_w = DIF__W1(wl, top, "encoder.conv_norm_out.weight");
  v->e_norm_b = DIF__W1(wl, top, "encoder.conv_norm_out.bias");
  v->e_conv_out_w = DIF__WT4(wl, 2 * lat, top, 3, 3, "encoder.conv_out.weight");
  v->e_conv_out_b = DIF__W1(wl, 2 * lat, "encoder.conv_out.bias");
  v->quant_w = DIF__WT4(wl, 2 * lat, 2 * lat, 1, 1, "quant_conv.weight");
  v->quant_b = DIF__W1(wl, 2 * lat, "quant_conv.bias");
  v->post_quant_w = DIF__WT4(wl, lat, lat, 1, 1, "post_quant_conv.weight");
  v->post_quant_b = DIF__W1(wl, lat, "post_quant_conv.bias");
  v->d_conv_in_w = DIF__WT4(wl, top, lat, 3, 3, "decoder.conv_in.weight");
  v->d_conv_in_b = DIF__W1(wl, top, "decoder.conv_in.bias");
  load_mid(v, wl, &v->d_mid, "decoder", top);
  cout = top;
  for (int i = 0; i < n; i++) {
    int64_t prev = cout;
    cout = v->channels[n - 1 - i];
    dif__vae_level *lv = &v->up[i];
    lv->n_res = (int)L + 1;
    for (int j = 0; j <= L; j++) {
      char p[96];
      snprintf(p, sizeof p, "decoder.up_blocks.%d.resnets.%d", i, j);
      dif__resnet_load(&lv->res[j], wl, p, j ? cout : prev, cout, 0, v->groups, EPS);
    }
    if (i < n - 1) {
      lv->sample_w =
          DIF__WT4(wl, cout, cout, 3, 3, "decoder.up_blocks.%d.upsamplers.0.conv.weight", i);
      lv->sample_b = DIF__W1(wl, cout, "decoder.up_blocks.%d.upsamplers.0.conv.bias", i);
    }
  }
  v->d_norm_w = DIF__W1(wl, c0, "decoder.conv_norm_out.weight");
  v->d_norm_b = DIF__W1(wl, c0, "decoder.conv_norm_out.bias");
  v->d_conv_out_w = DIF__WT4(wl, v->out_ch, c0, 3, 3, "decoder.conv_out.weight");
  v->d_conv_out_b = DIF__W1(wl, v->out_ch, "decoder.conv_out.bias");
  return wl->status;
}

static void free_model(void *model) { dif__vae_free(model); }

static const dif__model_loader loader = {classes, read_config, build, free_model};

dif_status dif__vae_load(const char *dir, dif__vae *v, dif__error *err) {
  memset(v, 0, sizeof *v);
  return dif__model_load(dir, &loader, v, &v->weights, err);
}

void dif__vae_free(dif__vae *v) {
  if (!v) return;
  dif__st_close(v->weights);
  memset(v, 0, sizeof *v);
}

int64_t dif__vae_scale(const dif__vae *v) { return (int64_t)1 << (v->n_blocks - 1); }

/* ---- forward helpers ---- */

typedef struct vfwd {
  const dif__vae *v;
  const dif__kctx *k;
  int64_t B;
  dif__vae_hook hook;
  void *user;
  dif__error *err;
} vfwd;

static void hook(const vfwd *f, const char *name, const float *x, int64_t n) {
  if (f->hook) f->hook(f->user, name, x, n);
}

/* The hook of a map x of C channels and HW pixels per image: as it is, or,
 * channels-last (cl: the decoder's with k->channels_last), shown
 * channels-first as every hook's tensor through a copy in the arena (only
 * when there is a hook; out of memory for it fails the call rather than
 * skip the hook). */
static dif_status hook_map(const vfwd *f, const char *name, const float *x, int64_t C, int64_t HW,
                           bool cl) {
  if (!f->hook) return DIF_OK;
  if (!cl) {
    f->hook(f->user, name, x, f->B * C * HW);
    return DIF_OK;
  }
  dif__arena_mark m = dif__arena_get_mark(f->k->arena);
  float *t = dif__arena_floats(f->k->arena, (size_t)(f->B * C * HW), f->err);
  if (!t) return DIF_ERR_OUT_OF_MEMORY;
  dif__transpose_batched(f->k, x, f->B, HW, C, t);
  f->hook(f->user, name, t, f->B * C * HW);
  dif__arena_release(f->k->arena, m);
  return DIF_OK;
}

/* x[B, C, H, W] (cl: [B, H, W, C]) in place through resnet, attention
 * (+ residual), resnet; spare[B·C·H·W] is scratch. */
static dif_status mid_block(const vfwd *f, const dif__vae_mid *m, float *x, float *spare, int64_t C,
                            int64_t H, int64_t W, const char *prefix, bool cl) {
  int64_t B = f->B, HW = H * W;
  const dif__kctx *k = f->k;
  dif_status s = cl ? dif__resnet_forward_cl(&m->res[0], k, x, B, H, W, NULL, x, spare, f->err)
                    : dif__resnet_forward_ex(&m->res[0], k, x, B, H, W, NULL, x, spare, f->err);
  if (!s && cl) {
    /* channels-last pixels are the attention's token rows already */
    dif__arena_mark mk = dif__arena_get_mark(k->arena);
    dif__norm_affine *na = dif__arena_alloc(k->arena, (size_t)(B * C) * sizeof *na, f->err);
    s = na ? dif__group_norm_params_cl(k, x, B, C, HW, f->v->groups, EPS, m->norm_w, m->norm_b, na,
                                       f->err)
           : DIF_ERR_OUT_OF_MEMORY;
    if (!s) dif__norm_apply_cl(k, x, B, C, HW, na, spare);
    /* image by image, as the channels-first path: q, k and v of one image
     * at a time in scratch */
    for (int64_t b = 0; b < B && !s; b++)
      s = dif__attn_forward_add(&m->attn, k, spare + b * HW * C, 1, HW, NULL, 0, NULL,
                                x + b * HW * C, f->err);
    dif__arena_release(k->arena, mk);
  } else if (!s) {
    /* attention over the HW pixels as tokens, read from and added to the
     * NCHW planes by transposed GEMMs (no tokens copy) */
    dif__group_norm(k, x, B, C, HW, f->v->groups, EPS, m->norm_w, m->norm_b, spare);
    s = dif__attn_forward_cf_add(&m->attn, k, spare, B, HW, x, f->err);
  }
  char name[64];
  snprintf(name, sizeof name, "%s.mid_block.attentions.0", prefix);
  if (!s) s = hook_map(f, name, x, C, HW, cl);
  if (!s) {
    s = cl ? dif__resnet_forward_cl(&m->res[1], k, x, B, H, W, NULL, x, spare, f->err)
           : dif__resnet_forward_ex(&m->res[1], k, x, B, H, W, NULL, x, spare, f->err);
  }
  return s;
}

/* Resnets of one level, ping-ponging between *x and *tmp (no copies); the
 * result is in *x afterwards (the pointers are swapped as needed). */
static dif_status level_resnets(const vfwd *f, const dif__vae_level *lv, float **x, float **tmp,
                                int64_t H, int64_t W, bool cl) {
  dif_status s = DIF_OK;
  for (int j = 0; j < lv->n_res && !s; j++) {
    s = cl ? dif__resnet_forward_cl(&lv->res[j], f->k, *x, f->B, H, W, NULL, *tmp, NULL, f->err)
           : dif__resnet_forward(&lv->res[j], f->k, *x, f->B, H, W, NULL, *tmp, f->err);
    float *p = *x;
    *x = *tmp;
    *tmp = p;
  }
  return s;
}

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* The most floats one activation of the encoder holds for a B×H×W image:
 * levels run at falling resolution, so the largest buffer is not simply
 * max(C)·H·W. */
static int64_t max_level_floats(const dif__vae *v, int64_t B, int64_t H, int64_t W) {
  int64_t n = v->n_blocks, f = dif__vae_scale(v), m = 2 * v->latent_ch * (H / f) * (W / f);
  for (int64_t i = 0; i < n; i++) { /* level i runs at H/2^i */
    int64_t hw = (H >> i) * (W >> i), cin = v->channels[i ? i - 1 : 0];
    m = max64(m, max64(cin, v->channels[i]) * hw);
  }
  return B * max64(m, v->in_ch * H * W);
}

dif_status dif__vae_encode(const dif__vae *v, const dif__kctx *k, const float *image, int64_t B,
                           int64_t H, int64_t W, float *mean, float *logvar, dif__vae_hook hookf,
                           void *user, dif__error *err) {
  int64_t f = dif__vae_scale(v);
  if (B < 1 || H < 1 || W < 1 || H % f || W % f)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "VAE encode: %lldx%lld is not a positive multiple of %lld", (long long)H,
                     (long long)W, (long long)f);
  vfwd F = {v, k, B, hookf, user, err};
  dif__arena_mark mark = dif__arena_get_mark(k->arena);
  int64_t cap = max_level_floats(v, B, H, W);
  float *x = dif__arena_floats(k->arena, (size_t)cap, err);
  float *t = dif__arena_floats(k->arena, (size_t)cap, err);
  if (!x || !t) {
    dif__arena_release(k->arena, mark);
    return DIF_ERR_OUT_OF_MEMORY;
  }
  /* channels-last (k->channels_last) from the image's copy to quant_conv's
   * output, whose two halves are then split channels-first */
  const bool cl = k->channels_last;
  int64_t C = v->channels[0];
  dif__conv2d_params cp = dif__conv_same(v->in_ch, C, 3);
  cp.channels_last = cl;
  if (cl) dif__transpose_batched(k, image, B, v->in_ch, H * W, t);
  dif_status s =
      dif__conv2d(k, &cp, cl ? t : image, B, H, W, v->e_conv_in_w, v->e_conv_in_b, x, err);
  if (!s) s = hook_map(&F, "encoder.conv_in", x, C, H * W, cl);
  for (int i = 0; i < v->n_blocks && !s; i++) {
    const dif__vae_level *lv = &v->down[i];
    s = level_resnets(&F, lv, &x, &t, H, W, cl);
    C = v->channels[i];
    if (!s && lv->sample_w.data) { /* pad (0,1,0,1), stride 2 */
      dif__conv2d_params cd = {.cin = C,
                               .cout = C,
                               .kh = 3,
                               .kw = 3,
                               .stride = 2,
                               .pad_bottom = 1,
                               .pad_right = 1,
                               .channels_last = cl};
      s = dif__conv2d(k, &cd, x, B, H, W, lv->sample_w, lv->sample_b, t, err);
      H = dif__conv2d_out(H, 3, 2, 0, 1);
      W = dif__conv2d_out(W, 3, 2, 0, 1);
      float *p = x;
      x = t;
      t = p;
    }
    char name[64];
    snprintf(name, sizeof name, "encoder.down_blocks.%d", i);
    if (!s) s = hook_map(&F, name, x, C, H * W, cl);
  }
  if (!s) s = mid_block(&F, &v->e_mid, x, t, C, H, W, "encoder", cl);
  if (!s) s = hook_map(&F, "encoder.mid_block", x, C, H * W, cl);
  if (!s && cl) {
    dif__arena_mark m = dif__arena_get_mark(k->arena);
    dif__norm_affine *na = dif__arena_alloc(k->arena, (size_t)(B * C) * sizeof *na, err);
    s = na ? dif__group_norm_params_cl(k, x, B, C, H * W, v->groups, EPS, v->e_norm_w, v->e_norm_b,
                                       na, err)
           : DIF_ERR_OUT_OF_MEMORY;
    if (!s) dif__norm_apply_cl(k, x, B, C, H * W, na, x);
    dif__arena_release(k->arena, m);
  } else if (!s) {
    dif__group_norm(k, x, B, C, H * W, v->groups, EPS, v->e_norm_w, v->e_norm_b, x);
  }
  if (!s) s = hook_map(&F, "encoder.conv_norm_out", x, C, H * W, cl);
  int64_t L = v->latent_ch, HW = H * W;
  dif__conv2d_params co = dif__conv_same(C, 2 * L, 3), cq = dif__conv_same(2 * L, 2 * L, 1);
  co.channels_last = cq.channels_last = cl;
  if (!s) {
    dif__silu(k, x, B * C * HW, x);
    s = dif__conv2d(k, &co, x, B, H, W, v->e_conv_out_w, v->e_conv_out_b, t, err);
  }
  if (!s) s = hook_map(&F, "encoder.conv_out", t, 2 * L, HW, cl);
  if (!s) s = dif__conv2d(k, &cq, t, B, H, W, v->quant_w, v->quant_b, x, err);
  if (!s) s = hook_map(&F, "quant_conv", x, 2 * L, HW, cl);
  if (!s && cl) { /* channels-first for the split, in t */
    dif__transpose_batched(k, x, B, HW, 2 * L, t);
    float *p = x;
    x = t;
    t = p;
  }
  if (!s) {
    for (int64_t b = 0; b < B; b++) {
      memcpy(mean + b * L * HW, x + b * 2 * L * HW, (size_t)(L * HW) * sizeof *x);
      for (int64_t i = 0; i < L * HW; i++) {
        float lv = x[b * 2 * L * HW + L * HW + i];
        logvar[b * L * HW + i] = lv < -30.0f ? -30.0f : lv > 20.0f ? 20.0f : lv;
      }
    }
  }
  dif__arena_release(k->arena, mark);
  return s;
}

/* The decoder's two big buffers. The activation lives in buf[cur]; resnets
 * with cout <= cin (all of SD's) run in place with their conv1 output in the
 * other buffer, an upsampler writes the other buffer and they swap. The
 * walk runs twice: dry, to size each buffer for what it will hold (at 768²
 * one holds 512×384², the other 256×768², instead of two of the largest),
 * then for real. With k->channels_last the activations are [B, H, W, C]
 * from the latent's copy to the last convolution's output (core/ops.h);
 * hooks still see channels-first tensors. */
typedef struct dwalk {
  bool dry;
  int cur;
  float *buf[2];
  int64_t need[2];
} dwalk;

static void need(dwalk *d, int which, int64_t floats) {
  if (floats > d->need[which]) d->need[which] = floats;
}

static dif_status decode_walk(const vfwd *F, dwalk *d, const float *latent, int64_t h, int64_t w,
                              float *image) {
  const dif__vae *v = F->v;
  const dif__kctx *k = F->k;
  int64_t B = F->B, L = v->latent_ch, n = v->n_blocks, H = h, W = w, C = v->channels[n - 1];
  const bool cl = k->channels_last;
  dif_status s = DIF_OK;
  int P = d->cur, Q = 1 - P;
  need(d, Q, B * L * H * W);
  need(d, P, B * (C > L ? C : L) * H * W); /* cl: the latent's copy first */
  if (!d->dry) {
    const float *in = latent;
    if (cl) { /* the latent's channels-last copy in buf[P] (conv_in overwrites it) */
      dif__transpose_batched(k, latent, B, L, H * W, d->buf[P]);
      in = d->buf[P];
    }
    dif__conv2d_params c1 = dif__conv_same(L, L, 1), c3 = dif__conv_same(L, C, 3);
    c1.channels_last = c3.channels_last = cl;
    s = dif__conv2d(k, &c1, in, B, H, W, v->post_quant_w, v->post_quant_b, d->buf[Q], F->err);
    if (!s) s = hook_map(F, "post_quant_conv", d->buf[Q], L, H * W, cl);
    if (!s)
      s = dif__conv2d(k, &c3, d->buf[Q], B, H, W, v->d_conv_in_w, v->d_conv_in_b, d->buf[P],
                      F->err);
    if (!s) s = hook_map(F, "decoder.conv_in", d->buf[P], C, H * W, cl);
    if (!s) s = mid_block(F, &v->d_mid, d->buf[P], d->buf[Q], C, H, W, "decoder", cl);
    if (!s) s = hook_map(F, "decoder.mid_block", d->buf[P], C, H * W, cl);
  }
  need(d, Q, B * C * H * W); /* the mid block's scratch */
  for (int i = 0; i < n && !s; i++) {
    const dif__vae_level *lv = &v->up[i];
    for (int j = 0; j < lv->n_res && !s; j++) {
      const dif__resnet *r = &lv->res[j];
      int64_t HW = H * W;
      if (r->cout <= r->cin) { /* in place, conv1's output in the other buffer */
        need(d, Q, B * r->cout * HW);
        if (!d->dry && cl)
          s = dif__resnet_forward_cl(r, k, d->buf[P], B, H, W, NULL, d->buf[P], d->buf[Q], F->err);
        else if (!d->dry)
          s = dif__resnet_forward_ex(r, k, d->buf[P], B, H, W, NULL, d->buf[P], d->buf[Q], F->err);
      } else { /* into the other buffer, scratch from the arena */
        need(d, Q, B * r->cout * HW);
        if (!d->dry && cl)
          s = dif__resnet_forward_cl(r, k, d->buf[P], B, H, W, NULL, d->buf[Q], NULL, F->err);
        else if (!d->dry)
          s = dif__resnet_forward(r, k, d->buf[P], B, H, W, NULL, d->buf[Q], F->err);
        P = Q, Q = 1 - P;
      }
      C = r->cout;
    }
    if (!s && lv->sample_w.data) { /* nearest 2× read on the fly by the conv */
      need(d, Q, B * C * 4 * H * W);
      if (!d->dry) {
        dif__conv2d_params cp = dif__conv_same(C, C, 3);
        cp.in_h = 2 * H;
        cp.in_w = 2 * W;
        cp.channels_last = cl;
        s = dif__conv2d(k, &cp, d->buf[P], B, H, W, lv->sample_w, lv->sample_b, d->buf[Q], F->err);
      }
      P = Q, Q = 1 - P;
      H *= 2;
      W *= 2;
    }
    char name[64];
    snprintf(name, sizeof name, "decoder.up_blocks.%d", i);
    if (!s && !d->dry) s = hook_map(F, name, d->buf[P], C, H * W, cl);
  }
  if (!s && !d->dry) {
    float *x = d->buf[P];
    const int64_t HW = H * W;
    dif__conv2d_params cp = dif__conv_same(C, v->out_ch, 3);
    cp.channels_last = cl;
    dif__arena_mark m = dif__arena_get_mark(k->arena);
    dif__norm_affine *na = dif__arena_alloc(k->arena, (size_t)(B * C) * sizeof *na, F->err);
    /* cl: conv_out's channels-last output, changed into the image after */
    float *out = cl ? dif__arena_floats(k->arena, (size_t)(B * v->out_ch * HW), F->err) : image;
    if (!na || !out) s = DIF_ERR_OUT_OF_MEMORY;
    if (!s && cl)
      s = dif__group_norm_params_cl(k, x, B, C, HW, v->groups, EPS, v->d_norm_w, v->d_norm_b, na,
                                    F->err);
    else if (!s && !F->hook) /* with a hook, dif__group_norm below takes the statistics */
      dif__group_norm_params(k, x, B, C, HW, v->groups, EPS, v->d_norm_w, v->d_norm_b, na);
    if (!s && F->hook) { /* the hook sees the norm's output before SiLU */
      if (cl)
        dif__norm_apply_cl(k, x, B, C, HW, na, x);
      else
        dif__group_norm(k, x, B, C, HW, v->groups, EPS, v->d_norm_w, v->d_norm_b, x);
      s = hook_map(F, "decoder.conv_norm_out", x, C, HW, cl);
      dif__silu(k, x, B * C * HW, x);
    } else { /* norm + SiLU applied by conv_out as it reads x */
      cp.in_norm = na;
      cp.in_silu = true;
    }
    if (!s) s = dif__conv2d(k, &cp, x, B, H, W, v->d_conv_out_w, v->d_conv_out_b, out, F->err);
    if (!s && cl) dif__transpose_batched(k, out, B, HW, v->out_ch, image);
    dif__arena_release(k->arena, m);
    if (!s) hook(F, "decoder.conv_out", image, B * v->out_ch * HW);
  }
  return s;
}

dif_status dif__vae_decode(const dif__vae *v, const dif__kctx *k, const float *latent, int64_t B,
                           int64_t h, int64_t w, float *image, dif__vae_hook hookf, void *user,
                           dif__error *err) {
  if (B < 1 || h < 1 || w < 1)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "VAE decode: empty latent");
  vfwd F = {v, k, B, hookf, user, err};
  dwalk d = {.dry = true, .cur = 0};
  decode_walk(&F, &d, latent, h, w, image);
  dif__arena_mark mark = dif__arena_get_mark(k->arena);
  d.buf[0] = dif__arena_floats(k->arena, (size_t)d.need[0], err);
  d.buf[1] = dif__arena_floats(k->arena, (size_t)d.need[1], err);
  dif_status s = DIF_ERR_OUT_OF_MEMORY;
  if (d.buf[0] && d.buf[1]) {
    d.dry = false;
    d.cur = 0;
    s = decode_walk(&F, &d, latent, h, w, image);
  }
  dif__arena_release(k->arena, mark);
  return s;
}

/* unet.c — UNet2DConditionModel: loading and the forward pass (see unet.h).
 *
 * This is where a generation spends its time: every step runs this forward
 * pass once (twice the batch with classifier-free guidance). */
#include "models/unet.h"

#include <stdio.h>
#include <string.h>

#include "models/loader.h"
#include "models/unet_blocks.h"
#include "models/unet_config.h"

static const char *const classes[] = {"UNet2DConditionModel", NULL};

static void load_level(dif__unet *u, dif__wloader *wl, dif__unet_level *lv, const char *kind, int i,
                       int n_res, const int64_t *res_in, int64_t cout, bool cross, int64_t heads,
                       int64_t t_layers, bool only_cross) {
  lv->cross = cross;
  lv->n_res = n_res;
  for (int j = 0; j < n_res; j++) {
    char p[128];
    snprintf(p, sizeof p, "%s.%d.resnets.%d", kind, i, j);
    dif__resnet_load(&lv->res[j], wl, p, res_in[j], cout, u->temb_ch, u->groups, u->eps);
    if (cross) {
      snprintf(p, sizeof p, "%s.%d.attentions.%d", kind, i, j);
      dif__t2d_load(&lv->attn[j], wl, p, cout, heads, cout / heads, u->ctx_dim, u->groups,
                    (int)t_layers, u->linear_proj, only_cross);
    }
  }
}

static dif_status build(dif__unet *u, const dif__unet_config *c, dif__wloader *wl) {
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
  u->n_class_embeds = c->n_class_embeds;
  u->time_cond_dim = c->time_cond_dim;
  u->downsample_padding = c->downsample_padding;
  u->sample_size = c->sample_size;
  u->eps = c->eps;
  u->freq_shift = c->freq_shift;
  u->flip_sin_to_cos = c->flip_sin_to_cos;
  u->linear_proj = c->linear_proj;
  memcpy(u->channels, c->channels, sizeof u->channels);
  memcpy(u->heads, c->heads, sizeof u->heads);
  int64_t T = u->temb_ch, c0 = u->c0;
  u->time_w1 = DIF__WT2(wl, T, c0, "time_embedding.linear_1.weight");
  u->time_b1 = DIF__W1(wl, T, "time_embedding.linear_1.bias");
  u->time_w2 = DIF__WT2(wl, T, T, "time_embedding.linear_2.weight");
  u->time_b2 = DIF__W1(wl, T, "time_embedding.linear_2.bias");
  if (u->time_cond_dim)
    u->time_cond_w = DIF__WT2(wl, c0, u->time_cond_dim, "time_embedding.cond_proj.weight");
  if (u->class_in) {
    u->class_w1 = DIF__WT2(wl, T, u->class_in, "class_embedding.linear_1.weight");
    u->class_b1 = DIF__W1(wl, T, "class_embedding.linear_1.bias");
    u->class_w2 = DIF__WT2(wl, T, T, "class_embedding.linear_2.weight");
    u->class_b2 = DIF__W1(wl, T, "class_embedding.linear_2.bias");
  }
  if (u->n_class_embeds)
    u->class_table = DIF__WT2(wl, u->n_class_embeds, T, "class_embedding.weight");
  u->conv_in_w = DIF__WT4(wl, c0, u->in_ch, 3, 3, "conv_in.weight");
  u->conv_in_b = DIF__W1(wl, c0, "conv_in.bias");
  int64_t L = u->layers_per_block, res_in[DIF__UNET_MAX_LAYERS + 1];
  for (int i = 0; i < n; i++) { /* down path */
    int64_t cin = i ? c->channels[i - 1] : c0, cout = c->channels[i];
    for (int j = 0; j < L; j++) res_in[j] = j ? cout : cin;
    dif__unet_level *lv = &u->down[i];
    load_level(u, wl, lv, "down_blocks", i, (int)L, res_in, cout,
               strcmp(c->down_types[i], "CrossAttnDownBlock2D") == 0, c->heads[i], c->t_layers[i],
               c->only_cross[i]);
    if (i < n - 1) {
      lv->sample_w = DIF__WT4(wl, cout, cout, 3, 3, "down_blocks.%d.downsamplers.0.conv.weight", i);
      lv->sample_b = DIF__W1(wl, cout, "down_blocks.%d.downsamplers.0.conv.bias", i);
    }
  }
  int64_t top = c->channels[n - 1];
  dif__resnet_load(&u->mid_res[0], wl, "mid_block.resnets.0", top, top, T, u->groups, u->eps);
  dif__resnet_load(&u->mid_res[1], wl, "mid_block.resnets.1", top, top, T, u->groups, u->eps);
  dif__t2d_load(&u->mid_attn, wl, "mid_block.attentions.0", top, c->heads[n - 1],
                top / c->heads[n - 1], u->ctx_dim, u->groups, (int)c->t_layers[n - 1],
                u->linear_proj, false);
  int64_t out_ch = c->channels[n - 1];
  for (int i = 0; i < n; i++) { /* up path: diffusers' channel bookkeeping */
    int r = n - 1 - i;
    int64_t prev_out = out_ch;
    out_ch = c->channels[r];
    int64_t in_ch = c->channels[r > 0 ? r - 1 : 0];
    for (int j = 0; j <= L; j++) res_in[j] = (j ? out_ch : prev_out) + (j == L ? in_ch : out_ch);
    dif__unet_level *lv = &u->up[i];
    load_level(u, wl, lv, "up_blocks", i, (int)L + 1, res_in, out_ch,
               strcmp(c->up_types[i], "CrossAttnUpBlock2D") == 0, c->heads[r], c->t_layers[r],
               c->only_cross[r]);
    if (i < n - 1) {
      lv->sample_w = DIF__WT4(wl, out_ch, out_ch, 3, 3, "up_blocks.%d.upsamplers.0.conv.weight", i);
      lv->sample_b = DIF__W1(wl, out_ch, "up_blocks.%d.upsamplers.0.conv.bias", i);
    }
  }
  u->norm_out_w = DIF__W1(wl, c0, "conv_norm_out.weight");
  u->norm_out_b = DIF__W1(wl, c0, "conv_norm_out.bias");
  u->conv_out_w = DIF__WT4(wl, u->out_ch, c0, 3, 3, "conv_out.weight");
  u->conv_out_b = DIF__W1(wl, u->out_ch, "conv_out.bias");
  return wl->status;
}

/* What the loader steps see: the UNet and its config between them. */
typedef struct unet_load {
  dif__unet *u;
  dif__unet_config c;
} unet_load;

static dif_status read_config(void *model, const dif__config *cfg, dif__error *err) {
  return dif__unet_read_config(cfg, &((unet_load *)model)->c, err);
}

static dif_status build_model(void *model, const dif__config *cfg, dif__wloader *wl) {
  (void)cfg;
  unet_load *l = model;
  return build(l->u, &l->c, wl);
}

static void free_model(void *model) { dif__unet_free(((unet_load *)model)->u); }

static const dif__model_loader loader = {classes, read_config, build_model, free_model};

dif_status dif__unet_load(const char *dir, dif__unet *u, dif__error *err) {
  memset(u, 0, sizeof *u);
  unet_load l = {.u = u};
  return dif__model_load(dir, &loader, &l, &u->weights, err);
}

void dif__unet_free(dif__unet *u) {
  if (!u) return;
  dif__st_close(u->weights);
  memset(u, 0, sizeof *u);
}

/* ---- the forward pass: the blocks of unet_blocks.h in order ---- */

int dif__unet_n_skips(const dif__unet *u) {
  return (int)(1 + u->n_blocks * u->layers_per_block + u->n_blocks - 1);
}

dif_status dif__unet_forward(const dif__unet *u, const dif__kctx *k, const dif__unet_input *in,
                             float *out, dif__error *err) {
  int64_t B = in->B, H = in->H, W = in->W;
  if (B < 1 || H < 1 || W < 1 || (in->n_timesteps != 1 && in->n_timesteps != B) || !in->context ||
      in->S < 1 || (u->class_in && !in->class_labels) || (u->n_class_embeds && !in->class_ids))
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "UNet: invalid input (batch %lld, %lldx%lld latent, %lld timesteps, %lld "
                     "context tokens%s)",
                     (long long)B, (long long)H, (long long)W, (long long)in->n_timesteps,
                     (long long)in->S,
                     (u->class_in && !in->class_labels) || (u->n_class_embeds && !in->class_ids)
                         ? ", no class labels"
                         : "");
  if (u->time_cond_dim && !in->timestep_cond)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "UNet: this UNet has time_cond_proj_dim %lld and needs a timestep_cond (the "
                     "guidance embedding)",
                     (long long)u->time_cond_dim);
  dif__unet_run r = {u, k, in, err, k->channels_last};
  dif__arena_mark mark = dif__arena_get_mark(k->arena);
  float *temb = NULL;
  dif__unet_map h = {0};
  dif__unet_skips skips = {.n = 0}; /* live until the up path consumes them */
  dif_status s = dif__unet_embed(&r, &temb);
  if (!s) s = dif__unet_conv_in(&r, &h, &skips);
  for (int i = 0; i < u->n_blocks && !s; i++) s = dif__unet_down(&r, i, temb, &h, &skips);
  if (!s) s = dif__unet_mid(&r, temb, &h);
  if (!s) s = dif__unet_add_residuals(&r, &h, &skips);
  for (int i = 0; i < u->n_blocks && !s; i++) s = dif__unet_up(&r, i, temb, &h, &skips);
  if (!s) s = dif__unet_head(&r, &h, out);
  dif__arena_release(k->arena, mark);
  return s;
}

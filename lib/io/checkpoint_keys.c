/* checkpoint_keys.c — LDM / OpenCLIP names to diffusers names (see
 * checkpoint_keys.h; the comments quote diffusers v0.26.3 single_file_utils.py). */
#include "io/checkpoint_keys.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pair {
  const char *from, *to;
} pair;

/* A view entry with the source's shape, renamed. */
static int same(const dif__st_entry *src, dif__st_view_entry *o, const char *fmt, const char *a,
                const char *b) {
  memset(o, 0, sizeof *o);
  snprintf(o->name, sizeof o->name, fmt, a, b);
  o->src = src;
  o->ndim = src->ndim;
  memcpy(o->shape, src->shape, sizeof o->shape);
  return 1;
}

static const char *lookup(const pair *t, const char *key) {
  for (; t->from; t++)
    if (strcmp(t->from, key) == 0) return t->to;
  return NULL;
}

/* "<prefix><int>.<rest>": the integer, and rest set; -1 if key is not so. */
static int index_after(const char *key, const char *prefix, const char **rest) {
  size_t n = strlen(prefix);
  if (strncmp(key, prefix, n) != 0) return -1;
  char *end;
  long v = strtol(key + n, &end, 10);
  if (end == key + n || *end != '.' || v < 0 || v > 100000) return -1;
  *rest = end + 1;
  return (int)v;
}

/* update_unet_resnet_ldm_to_diffusers: the layer names inside a ResBlock. */
static const pair unet_resnet[] = {
    {"in_layers.0", "norm1"},
    {"in_layers.2", "conv1"},
    {"out_layers.0", "norm2"},
    {"out_layers.3", "conv2"},
    {"emb_layers.1", "time_emb_proj"},
    {"skip_connection", "conv_shortcut"},
    {NULL, NULL},
};

static int resnet(const dif__st_entry *src, dif__st_view_entry *o, const char *head,
                  const char *rest) {
  for (const pair *p = unet_resnet; p->from; p++) {
    size_t n = strlen(p->from);
    if (strncmp(rest, p->from, n) == 0 && rest[n] == '.') {
      char tail[200];
      snprintf(tail, sizeof tail, "%s%s", p->to, rest + n);
      return same(src, o, "%s.%s", head, tail);
    }
  }
  return same(src, o, "%s.%s", head, rest);
}

/* DIFFUSERS_TO_LDM_MAPPING["unet"]["layers"] and ["class_embed_type"] (and
 * the upscaler's label_emb.weight), inverted. */
static const pair unet_fixed[] = {
    {"time_embed.0.weight", "time_embedding.linear_1.weight"},
    {"time_embed.0.bias", "time_embedding.linear_1.bias"},
    {"time_embed.2.weight", "time_embedding.linear_2.weight"},
    {"time_embed.2.bias", "time_embedding.linear_2.bias"},
    {"input_blocks.0.0.weight", "conv_in.weight"},
    {"input_blocks.0.0.bias", "conv_in.bias"},
    {"out.0.weight", "conv_norm_out.weight"},
    {"out.0.bias", "conv_norm_out.bias"},
    {"out.2.weight", "conv_out.weight"},
    {"out.2.bias", "conv_out.bias"},
    {"label_emb.0.0.weight", "class_embedding.linear_1.weight"},
    {"label_emb.0.0.bias", "class_embedding.linear_1.bias"},
    {"label_emb.0.2.weight", "class_embedding.linear_2.weight"},
    {"label_emb.0.2.bias", "class_embedding.linear_2.bias"},
    {"label_emb.weight", "class_embedding.weight"},
    {NULL, NULL},
};

/* input_blocks.{i}.0 / .0.op / .1 → down block (i-1)/(lpb+1), layer
 * (i-1)%(lpb+1): resnet, downsampler, attention. */
static int unet_input(int lpb, int i, const char *rest, const dif__st_entry *src,
                      dif__st_view_entry *o) {
  char head[96];
  int b = (i - 1) / (lpb + 1), l = (i - 1) % (lpb + 1);
  if (strcmp(rest, "0.op.weight") == 0 || strcmp(rest, "0.op.bias") == 0) {
    snprintf(head, sizeof head, "down_blocks.%d.downsamplers.0.conv", b);
    return same(src, o, "%s.%s", head, rest + 5);
  }
  if (strncmp(rest, "0.", 2) == 0) {
    snprintf(head, sizeof head, "down_blocks.%d.resnets.%d", b, l);
    return resnet(src, o, head, rest + 2);
  }
  if (strncmp(rest, "1.", 2) == 0) {
    snprintf(head, sizeof head, "down_blocks.%d.attentions.%d", b, l);
    return same(src, o, "%s.%s", head, rest + 2);
  }
  return 0;
}

/* output_blocks.{i}.0 / .1 / .{1,2}.conv → up block i/(lpb+1), layer i%(lpb+1). */
static int unet_output(int lpb, int i, const char *rest, const dif__st_entry *src,
                       dif__st_view_entry *o) {
  char head[96];
  int b = i / (lpb + 1), l = i % (lpb + 1);
  if (strcmp(rest, "1.conv.weight") == 0 || strcmp(rest, "1.conv.bias") == 0 ||
      strcmp(rest, "2.conv.weight") == 0 || strcmp(rest, "2.conv.bias") == 0) {
    snprintf(head, sizeof head, "up_blocks.%d.upsamplers.0.conv", b);
    return same(src, o, "%s.%s", head, rest + 7);
  }
  if (strncmp(rest, "0.", 2) == 0) {
    snprintf(head, sizeof head, "up_blocks.%d.resnets.%d", b, l);
    return resnet(src, o, head, rest + 2);
  }
  if (strncmp(rest, "1.", 2) == 0) {
    snprintf(head, sizeof head, "up_blocks.%d.attentions.%d", b, l);
    return same(src, o, "%s.%s", head, rest + 2);
  }
  return 0;
}

int dif__ckpt_rename_unet(const dif__ckpt_layout *l, const char *key, const dif__st_entry *src,
                          dif__st_view_entry out[3], dif__error *err) {
  (void)err;
  const char *to = lookup(unet_fixed, key), *rest;
  if (to) return same(src, out, "%s%s", to, "");
  int i;
  if ((i = index_after(key, "input_blocks.", &rest)) >= 1)
    return unet_input(l->layers_per_block, i, rest, src, out);
  if ((i = index_after(key, "output_blocks.", &rest)) >= 0)
    return unet_output(l->layers_per_block, i, rest, src, out);
  if ((i = index_after(key, "middle_block.", &rest)) == 0 || i == 2) {
    char head[32];
    snprintf(head, sizeof head, "mid_block.resnets.%d", i / 2);
    return resnet(src, out, head, rest);
  }
  if (i == 1) return same(src, out, "mid_block.attentions.0.%s%s", rest, "");
  return 0; /* diffusers leaves every other key of model.diffusion_model. behind */
}

/* DIFFUSERS_TO_LDM_MAPPING["vae"], inverted. */
static const pair vae_fixed[] = {
    {"encoder.conv_in.weight", "encoder.conv_in.weight"},
    {"encoder.conv_in.bias", "encoder.conv_in.bias"},
    {"encoder.conv_out.weight", "encoder.conv_out.weight"},
    {"encoder.conv_out.bias", "encoder.conv_out.bias"},
    {"encoder.norm_out.weight", "encoder.conv_norm_out.weight"},
    {"encoder.norm_out.bias", "encoder.conv_norm_out.bias"},
    {"decoder.conv_in.weight", "decoder.conv_in.weight"},
    {"decoder.conv_in.bias", "decoder.conv_in.bias"},
    {"decoder.conv_out.weight", "decoder.conv_out.weight"},
    {"decoder.conv_out.bias", "decoder.conv_out.bias"},
    {"decoder.norm_out.weight", "decoder.conv_norm_out.weight"},
    {"decoder.norm_out.bias", "decoder.conv_norm_out.bias"},
    {"quant_conv.weight", "quant_conv.weight"},
    {"quant_conv.bias", "quant_conv.bias"},
    {"post_quant_conv.weight", "post_quant_conv.weight"},
    {"post_quant_conv.bias", "post_quant_conv.bias"},
    {NULL, NULL},
};

/* update_vae_attentions_ldm_to_diffusers: the mid attention's layers. */
static const pair vae_attn[] = {
    {"norm.weight", "group_norm.weight"},
    {"norm.bias", "group_norm.bias"},
    {"q.weight", "to_q.weight"},
    {"q.bias", "to_q.bias"},
    {"k.weight", "to_k.weight"},
    {"k.bias", "to_k.bias"},
    {"v.weight", "to_v.weight"},
    {"v.bias", "to_v.bias"},
    {"proj_out.weight", "to_out.0.weight"},
    {"proj_out.bias", "to_out.0.bias"},
    {NULL, NULL},
};

/* A resnet key: nin_shortcut becomes conv_shortcut. */
static int vae_resnet(const dif__st_entry *src, dif__st_view_entry *o, const char *head,
                      const char *rest) {
  if (strncmp(rest, "nin_shortcut.", 13) == 0)
    return same(src, o, "%s.conv_shortcut.%s", head, rest + 13);
  return same(src, o, "%s.%s", head, rest);
}

static int vae_mid(const char *side, const char *rest, const dif__st_entry *src,
                   dif__st_view_entry *o) {
  char head[64];
  if (strncmp(rest, "block_1.", 8) == 0 || strncmp(rest, "block_2.", 8) == 0) {
    snprintf(head, sizeof head, "%s.mid_block.resnets.%c", side, rest[6] == '1' ? '0' : '1');
    return vae_resnet(src, o, head, rest + 8);
  }
  if (strncmp(rest, "attn_1.", 7) != 0) return 0;
  const char *to = lookup(vae_attn, rest + 7);
  if (!to) return 0;
  same(src, o, "%s.mid_block.attentions.0.%s", side, to);
  /* the 1x1 convolutions (C, C, 1, 1) or (C, C, 1) are linear layers (C, C):
   * the same bytes (diffusers' [:, :, 0, 0]); any other shape is left for the
   * VAE loader to refuse by name */
  bool one_by_one = src->ndim > 2;
  for (int d = 2; d < src->ndim; d++) one_by_one &= src->shape[d] == 1;
  if (one_by_one) o->ndim = 2;
  return 1;
}

int dif__ckpt_rename_vae(const dif__ckpt_layout *l, const char *key, const dif__st_entry *src,
                         dif__st_view_entry out[3], dif__error *err) {
  (void)err;
  const char *to = lookup(vae_fixed, key), *rest;
  if (to) return same(src, out, "%s%s", to, "");
  char head[96];
  int i, j;
  const char *side = strncmp(key, "encoder.", 8) == 0   ? "encoder"
                     : strncmp(key, "decoder.", 8) == 0 ? "decoder"
                                                        : NULL;
  if (!side) return 0;
  const char *k = key + 8;
  if (strncmp(k, "mid.", 4) == 0) return vae_mid(side, k + 4, src, out);
  if ((i = index_after(k, "down.", &rest)) >= 0) {
    if (strcmp(rest, "downsample.conv.weight") == 0 || strcmp(rest, "downsample.conv.bias") == 0) {
      snprintf(head, sizeof head, "%s.down_blocks.%d.downsamplers.0.conv", side, i);
      return same(src, out, "%s.%s", head, rest + 16);
    }
    if ((j = index_after(rest, "block.", &rest)) < 0) return 0;
    snprintf(head, sizeof head, "%s.down_blocks.%d.resnets.%d", side, i, j);
    return vae_resnet(src, out, head, rest);
  }
  if ((i = index_after(k, "up.", &rest)) >= 0) {
    /* decoder.up is numbered from the bottom: up_blocks[n-1-i] */
    if (i >= l->vae_up_blocks) return 0;
    int b = l->vae_up_blocks - 1 - i;
    if (strcmp(rest, "upsample.conv.weight") == 0 || strcmp(rest, "upsample.conv.bias") == 0) {
      snprintf(head, sizeof head, "%s.up_blocks.%d.upsamplers.0.conv", side, b);
      return same(src, out, "%s.%s", head, rest + 14);
    }
    if ((j = index_after(rest, "block.", &rest)) < 0) return 0;
    snprintf(head, sizeof head, "%s.up_blocks.%d.resnets.%d", side, b, j);
    return vae_resnet(src, out, head, rest);
  }
  return 0;
}

/* create_text_encoder_from_ldm_clip_checkpoint: the transformers names
 * themselves under cond_stage_model.transformer. (position_ids is a buffer
 * diffusers drops). */
int dif__ckpt_rename_clip(const dif__ckpt_layout *l, const char *key, const dif__st_entry *src,
                          dif__st_view_entry out[3], dif__error *err) {
  (void)l;
  (void)err;
  if (strcmp(key, "text_model.embeddings.position_ids") == 0) return 0;
  return same(src, out, "%s%s", key, "");
}

/* DIFFUSERS_TO_LDM_MAPPING["openclip"]["layers"], inverted; text_projection
 * is in SD_2_TEXT_ENCODER_KEYS_TO_IGNORE (SD-2 uses a CLIPTextModel). */
static const pair openclip_fixed[] = {
    {"positional_embedding", "text_model.embeddings.position_embedding.weight"},
    {"token_embedding.weight", "text_model.embeddings.token_embedding.weight"},
    {"ln_final.weight", "text_model.final_layer_norm.weight"},
    {"ln_final.bias", "text_model.final_layer_norm.bias"},
    {NULL, NULL},
};

/* ["openclip"]["transformer"]: the names inside a residual block. */
static const pair openclip_block[] = {
    {"ln_1.", "layer_norm1."},
    {"ln_2.", "layer_norm2."},
    {"mlp.c_fc.", "mlp.fc1."},
    {"mlp.c_proj.", "mlp.fc2."},
    {"attn.out_proj.", "self_attn.out_proj."},
    {NULL, NULL},
};

/* attn.in_proj_weight [3H, H] / in_proj_bias [3H]: q, k, v are its thirds,
 * row slices of the same bytes. */
static int split_in_proj(const dif__ckpt_layout *l, const char *head, const char *what,
                         const dif__st_entry *src, dif__st_view_entry out[3], dif__error *err) {
  if (src->ndim < 1 || src->ndim > 2 || src->shape[0] % 3 != 0)
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: tensor '%s' is not a fused q/k/v projection (its first dimension %lld "
                     "is not 3 x the width)",
                     l->file, src->name, (long long)(src->ndim ? src->shape[0] : 0)),
           -1;
  int64_t rows = src->shape[0] / 3, cols = src->ndim == 2 ? src->shape[1] : 1;
  static const char *const qkv[] = {"q_proj", "k_proj", "v_proj"};
  for (int i = 0; i < 3; i++) {
    same(src, &out[i], "%s.self_attn.%s", head, qkv[i]);
    size_t n = strlen(out[i].name);
    snprintf(out[i].name + n, sizeof out[i].name - n, ".%s", what);
    out[i].shape[0] = rows;
    out[i].offset = (uint64_t)(i * rows * cols) * dif__st_dtype_size(src->dtype);
  }
  return 3;
}

int dif__ckpt_rename_openclip(const dif__ckpt_layout *l, const char *key, const dif__st_entry *src,
                              dif__st_view_entry out[3], dif__error *err) {
  const char *to = lookup(openclip_fixed, key), *rest;
  if (to) return same(src, out, "%s%s", to, "");
  int i = index_after(key, "transformer.resblocks.", &rest);
  if (i < 0 || i == 23) return 0; /* SD_2_TEXT_ENCODER_KEYS_TO_IGNORE: resblocks.23 */
  char head[64];
  snprintf(head, sizeof head, "text_model.encoder.layers.%d", i);
  if (strcmp(rest, "attn.in_proj_weight") == 0)
    return split_in_proj(l, head, "weight", src, out, err);
  if (strcmp(rest, "attn.in_proj_bias") == 0) return split_in_proj(l, head, "bias", src, out, err);
  for (const pair *p = openclip_block; p->from; p++) {
    size_t n = strlen(p->from);
    if (strncmp(rest, p->from, n) == 0) {
      char tail[128];
      snprintf(tail, sizeof tail, "%s%s", p->to, rest + n);
      return same(src, out, "%s.%s", head, tail);
    }
  }
  return 0;
}

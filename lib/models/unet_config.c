/* unet_config.c — reading and validating a UNet2DConditionModel config.
 *
 * Every key diffusers defines is either read, known to have no effect on
 * float32 inference, or required to hold the one value libdif implements;
 * anything else is refused with the key and the value named. Unknown keys are
 * accepted only when they are null or false (features that are off). */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "io/config.h"
#include "models/config_check.h"
#include "models/unet.h"
#include "models/unet_config.h"

/* Keys whose value must be the one we implement (JSON text). */
static const dif__fixed_key fixed[] = {
    {"act_fn", "\"silu\""},
    {"addition_embed_type", "null"},
    {"addition_time_embed_dim", "null"},
    {"attention_type", "\"default\""},
    {"center_input_sample", "false"},
    {"class_embeddings_concat", "false"},
    {"conv_in_kernel", "3"},
    {"conv_out_kernel", "3"},
    {"cross_attention_norm", "null"},
    {"dual_cross_attention", "false"},
    {"encoder_hid_dim", "null"},
    {"encoder_hid_dim_type", "null"},
    {"mid_block_scale_factor", "1"},
    {"mid_block_type", "\"UNetMidBlock2DCrossAttn\""},
    {"num_attention_heads", "null"},
    {"resnet_out_scale_factor", "1"},
    {"resnet_skip_time_act", "false"},
    {"resnet_time_scale_shift", "\"default\""},
    {"reverse_transformer_layers_per_block", "null"},
    {"time_embedding_act_fn", "null"},
    {"time_embedding_dim", "null"},
    {"time_embedding_type", "\"positional\""},
    {"timestep_post_act", "null"},
    {NULL, NULL},
};

/* Keys read below, or without effect on float32 inference. */
static const char *const handled[] = {
    "_class_name",
    "_diffusers_version",
    "_name_or_path",
    "sample_size",
    "dropout",
    "upcast_attention",               /* changes only fp16 behaviour */
    "addition_embed_type_num_heads",  /* unused without addition_embed_type */
    "mid_block_only_cross_attention", /* only matters for other mid blocks */
    "in_channels",
    "out_channels",
    "block_out_channels",
    "down_block_types",
    "up_block_types",
    "layers_per_block",
    "attention_head_dim",
    "cross_attention_dim",
    "norm_num_groups",
    "norm_eps",
    "flip_sin_to_cos",
    "freq_shift",
    "use_linear_projection",
    "class_embed_type",
    "projection_class_embeddings_input_dim",
    "num_class_embeds",     /* read with class_embed_type */
    "only_cross_attention", /* a bool or one per block */
    "transformer_layers_per_block",
    "downsample_padding",
    "time_cond_proj_dim", /* TimestepEmbedding.cond_proj: LCM's guidance embedding */
    NULL};

/* Every handled key's value (class_embed_type's in *cls_type), and the
 * per-block lists of one length. */
static dif_status read_values(const dif__config *cfg, dif__unet_config *c, const char **cls_type,
                              dif__error *err) {
  const char *file = dif__config_path(cfg);
  int n = 0, nd = 0, nu = 0, nh = 0, nt = 0;
  int64_t lpb[1];
  double eps, shift;
  dif_status s;
  if ((s = dif__config_int_list(cfg, "block_out_channels", c->channels, DIF__UNET_MAX_BLOCKS, &n,
                                false, 0, err)) ||
      (s = dif__config_str_list(cfg, "down_block_types", c->down_types, DIF__UNET_MAX_BLOCKS, &nd,
                                err)) ||
      (s = dif__config_str_list(cfg, "up_block_types", c->up_types, DIF__UNET_MAX_BLOCKS, &nu,
                                err)) ||
      (s = dif__config_int_list(cfg, "attention_head_dim", c->heads, DIF__UNET_MAX_BLOCKS, &nh,
                                true, n, err)) ||
      (s = dif__config_int_list(cfg, "transformer_layers_per_block", c->t_layers,
                                DIF__UNET_MAX_BLOCKS, &nt, true, n, err)) ||
      (s = dif__config_int_list(cfg, "layers_per_block", lpb, 1, &(int){0}, true, 1, err)) ||
      (s = dif__config_int_opt(cfg, "in_channels", 4, &c->in_ch, err)) ||
      (s = dif__config_int_opt(cfg, "out_channels", 4, &c->out_ch, err)) ||
      (s = dif__config_int(cfg, "cross_attention_dim", &c->ctx_dim, err)) ||
      (s = dif__config_int_opt(cfg, "norm_num_groups", 32, &c->groups, err)) ||
      (s = dif__config_num_opt(cfg, "norm_eps", 1e-5, &eps, err)) ||
      (s = dif__config_bool_opt(cfg, "flip_sin_to_cos", true, &c->flip_sin_to_cos, err)) ||
      (s = dif__config_num_opt(cfg, "freq_shift", 0, &shift, err)) ||
      (s = dif__config_bool_opt(cfg, "use_linear_projection", false, &c->linear_proj, err)) ||
      (s = dif__config_str_opt(cfg, "class_embed_type", NULL, cls_type, err)) ||
      (s = dif__config_int_opt(cfg, "downsample_padding", 1, &c->downsample_padding, err)) ||
      (s = dif__config_int_opt(cfg, "sample_size", 64, &c->sample_size, err)) ||
      (s = dif__config_int_opt(cfg, "time_cond_proj_dim", 0, &c->time_cond_dim, err)))
    return s;
  c->n_blocks = n;
  c->layers_per_block = lpb[0];
  c->eps = (float)eps;
  c->freq_shift = (float)shift;
  if (n < 1 || nd != n || nu != n || nh != n || nt != n)
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: block_out_channels, down_block_types, up_block_types, "
                     "attention_head_dim and transformer_layers_per_block must have the same "
                     "length (%d, %d, %d, %d, %d)",
                     file, n, nd, nu, nh, nt);
  return DIF_OK;
}

/* Block i's channels, heads, transformer depth and block types. */
static dif_status check_block(const char *file, const dif__unet_config *c, int i, dif__error *err) {
  if (c->channels[i] <= 0 || c->channels[i] > 16384 || c->groups <= 0 || c->channels[i] % c->groups)
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: block_out_channels[%d] = %lld is not a positive multiple of "
                     "norm_num_groups %lld",
                     file, i, (long long)c->channels[i], (long long)c->groups);
  if (c->heads[i] <= 0 || c->channels[i] % c->heads[i])
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: attention_head_dim[%d] = %lld heads does not divide %lld channels", file,
                     i, (long long)c->heads[i], (long long)c->channels[i]);
  if (c->t_layers[i] < 1 || c->t_layers[i] > DIF__T2D_MAX_BLOCKS)
    return dif__fail(err, DIF_ERR_UNSUPPORTED,
                     "%s: transformer_layers_per_block[%d] = %lld (supported: 1..%d)", file, i,
                     (long long)c->t_layers[i], DIF__T2D_MAX_BLOCKS);
  if (strcmp(c->down_types[i], "CrossAttnDownBlock2D") != 0 &&
      strcmp(c->down_types[i], "DownBlock2D") != 0)
    return dif__fail(err, DIF_ERR_UNSUPPORTED,
                     "%s: down_block_types[%d] = %s is not supported (CrossAttnDownBlock2D, "
                     "DownBlock2D)",
                     file, i, c->down_types[i]);
  if (strcmp(c->up_types[i], "CrossAttnUpBlock2D") != 0 && strcmp(c->up_types[i], "UpBlock2D") != 0)
    return dif__fail(err, DIF_ERR_UNSUPPORTED,
                     "%s: up_block_types[%d] = %s is not supported (CrossAttnUpBlock2D, "
                     "UpBlock2D)",
                     file, i, c->up_types[i]);
  return DIF_OK;
}

/* The sizes and constants that are not per block. */
static dif_status check_sizes(const dif__config *cfg, const dif__unet_config *c, dif__error *err) {
  const char *file = dif__config_path(cfg);
  if (c->layers_per_block < 1 || c->layers_per_block > DIF__UNET_MAX_LAYERS)
    return dif__fail(err, DIF_ERR_UNSUPPORTED, "%s: layers_per_block = %lld (supported: 1..%d)",
                     file, (long long)c->layers_per_block, DIF__UNET_MAX_LAYERS);
  if (c->in_ch < 1 || c->in_ch > 64 || c->out_ch < 1 || c->out_ch > 64)
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: in_channels %lld / out_channels %lld out of range", file,
                     (long long)c->in_ch, (long long)c->out_ch);
  if (c->ctx_dim < 1 || c->ctx_dim > 16384)
    return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: cross_attention_dim %lld out of range", file,
                     (long long)c->ctx_dim);
  /* sample_size is the latent side the model was trained at; it sets the
   * default picture size (times the VAE factor), which must stay within the
   * 4096-pixel output cap, so a latent side above 4096 is malformed. */
  if (c->sample_size < 1 || c->sample_size > 4096)
    return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: sample_size %lld is outside 1..4096", file,
                     (long long)c->sample_size);
  if (c->downsample_padding < 0 || c->downsample_padding > 1)
    return dif__fail(err, DIF_ERR_UNSUPPORTED, "%s: downsample_padding = %lld (supported: 0, 1)",
                     file, (long long)c->downsample_padding);
  if (!(c->eps > 0) || !isfinite(c->eps))
    return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: norm_eps must be positive", file);
  /* null is none; a count must be positive (an nn.Linear's input) */
  if (c->time_cond_dim < 0 || c->time_cond_dim > 65536 ||
      (c->time_cond_dim == 0 && dif__config_has(cfg, "time_cond_proj_dim")))
    return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: time_cond_proj_dim %lld is outside 1..65536",
                     file, (long long)c->time_cond_dim);
  if (!isfinite(c->freq_shift))
    return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: freq_shift must be finite", file);
  return DIF_OK;
}

/* only_cross_attention: false, true, or one bool per block (diffusers
 * repeats a bool for every block); the up path reads the list reversed.
 * Only cross-attention blocks use it (the x4 upscaler: true for its first
 * three of four), and never the mid block (UNetMidBlock2DCrossAttn). */
static dif_status read_only_cross(const dif__config *cfg, dif__unet_config *c, dif__error *err) {
  const char *file = dif__config_path(cfg);
  json_t *v = json_object_get(dif__config_json(cfg), "only_cross_attention");
  if (!v || json_is_null(v) || json_is_boolean(v)) {
    for (int i = 0; i < c->n_blocks; i++) c->only_cross[i] = v && json_is_true(v);
    return DIF_OK;
  }
  if (!json_is_array(v) || (int)json_array_size(v) != c->n_blocks)
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: only_cross_attention must be a bool or a list of %d bools (one per "
                     "block)",
                     file, c->n_blocks);
  for (int i = 0; i < c->n_blocks; i++) {
    json_t *e = json_array_get(v, (size_t)i);
    if (!json_is_boolean(e))
      return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: only_cross_attention[%d] is not a bool", file,
                       i);
    c->only_cross[i] = json_is_true(e);
  }
  return DIF_OK;
}

/* class_embed_type: null (none) or "projection" of
 * projection_class_embeddings_input_dim values (unCLIP's image embedding);
 * null with num_class_embeds: an nn.Embedding of that many integer labels
 * (the x4 upscaler's noise level). */
static dif_status read_class_embedding(const dif__config *cfg, const char *cls_type,
                                       dif__unet_config *c, dif__error *err) {
  const char *file = dif__config_path(cfg);
  dif_status s;
  if (!cls_type) {
    if ((s = dif__config_int_opt(cfg, "num_class_embeds", 0, &c->n_class_embeds, err))) return s;
    if (c->n_class_embeds < 0 || c->n_class_embeds > 1000000)
      return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: num_class_embeds %lld out of range", file,
                       (long long)c->n_class_embeds);
  } else {
    if (strcmp(cls_type, "projection") != 0)
      return dif__fail(err, DIF_ERR_UNSUPPORTED,
                       "%s: class_embed_type = %s is not supported (null or projection)", file,
                       cls_type);
    if ((s = dif__config_int(cfg, "projection_class_embeddings_input_dim", &c->class_in, err)))
      return s;
    if (c->class_in < 1 || c->class_in > 65536)
      return dif__fail(err, DIF_ERR_BAD_MODEL,
                       "%s: projection_class_embeddings_input_dim %lld out of range", file,
                       (long long)c->class_in);
  }
  return DIF_OK;
}

dif_status dif__unet_read_config(const dif__config *cfg, dif__unet_config *c, dif__error *err) {
  memset(c, 0, sizeof *c);
  const char *file = dif__config_path(cfg), *cls_type = NULL;
  dif_status s = dif__config_check_keys(cfg, fixed, handled, err);
  if (!s) s = read_values(cfg, c, &cls_type, err);
  for (int i = 0; i < c->n_blocks && !s; i++) s = check_block(file, c, i, err);
  if (!s) s = check_sizes(cfg, c, err);
  if (!s) s = read_class_embedding(cfg, cls_type, c, err);
  if (!s) s = read_only_cross(cfg, c, err);
  return s;
}

/* unet_config.h — the validated shape of a UNet2DConditionModel config. */
#ifndef DIF__MODELS_UNET_CONFIG_H
#define DIF__MODELS_UNET_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "models/unet.h"

struct dif__config;

typedef struct dif__unet_config {
  int n_blocks;
  int64_t channels[DIF__UNET_MAX_BLOCKS], heads[DIF__UNET_MAX_BLOCKS],
      t_layers[DIF__UNET_MAX_BLOCKS];
  const char *down_types[DIF__UNET_MAX_BLOCKS], *up_types[DIF__UNET_MAX_BLOCKS]; /* owned by cfg */
  int64_t layers_per_block, in_ch, out_ch, ctx_dim, groups, class_in, downsample_padding;
  int64_t sample_size;
  int64_t n_class_embeds;                /* num_class_embeds (class_embed_type null), else 0 */
  int64_t time_cond_dim;                 /* time_cond_proj_dim, 0 for null */
  bool only_cross[DIF__UNET_MAX_BLOCKS]; /* only_cross_attention per down block */
  float eps, freq_shift;
  bool flip_sin_to_cos, linear_proj;
} dif__unet_config;

dif_status dif__unet_read_config(const struct dif__config *cfg, dif__unet_config *c,
                                 dif__error *err);

#endif

/* clip_encoder.h — the transformer layer stack shared by CLIP's text and
 * vision towers (transformers' CLIPEncoder).
 *
 * Per layer, pre-LN: h += out_proj(attn(ln1(h))); h += fc2(act(fc1(ln2(h)))),
 * attention scale head_dim^-0.5, act = quick_gelu (x·σ(1.702x)) or gelu (erf).
 */
#ifndef DIF_MODELS_CLIP_ENCODER_H
#define DIF_MODELS_CLIP_ENCODER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/ops.h"
#include "models/weights.h"

#define DIF_CLIP_MAX_LAYERS 64

typedef enum dif_clip_act { DIF_CLIP_QUICK_GELU, DIF_CLIP_GELU } dif_clip_act;

typedef struct dif_clip_layer {
  const float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
  dif_weight q_w, k_w, v_w, o_w, fc1_w, fc2_w;
  const float *q_b, *k_b, *v_b, *o_b, *fc1_b, *fc2_b;
} dif_clip_layer;

typedef struct dif_clip_encoder {
  int64_t hidden, heads, intermediate;
  int n_layers;
  float eps;
  dif_clip_act act;
  dif_clip_layer layers[DIF_CLIP_MAX_LAYERS];
} dif_clip_encoder;

/* Reads the encoder's shape from a CLIP config (hidden_size,
 * num_attention_heads, intermediate_size, num_hidden_layers, hidden_act,
 * layer_norm_eps) and its weights under `<prefix>encoder.layers.<i>.`. */
struct dif_config;
dif_status dif_clip_encoder_load(dif_clip_encoder *enc, const struct dif_config *cfg,
                                 dif_wloader *wl, const char *prefix, dif_error *err);

/* Runs the first n_layers layers in place on h[B, T, hidden].
 * causal: mask keys after the query (text); key_mask: optional [B, T], 0 =
 * padding key (masked), else kept. If states is non-NULL, the input and the
 * output of every layer are copied to states[(i)·B·T·hidden] for i = 0..n_layers.
 * Scratch from k->arena. */
dif_status dif_clip_encoder_forward(const dif_clip_encoder *enc, const dif_kctx *k, float *h,
                                    int64_t B, int64_t T, bool causal, const int32_t *key_mask,
                                    int n_layers, float *states, dif_error *err);

#endif

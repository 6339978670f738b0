/* clip_encoder.c — CLIP's pre-LN transformer layers (see clip_encoder.h). */
#include "models/clip_encoder.h"

#include <math.h>
#include <string.h>

#include "io/config.h"

dif_status dif_clip_encoder_load(dif_clip_encoder *enc, const dif_config *cfg, dif_wloader *wl,
                                 const char *prefix, dif_error *err) {
  int64_t layers;
  double eps;
  const char *act;
  dif_status s;
  if ((s = dif_config_int(cfg, "hidden_size", &enc->hidden, err)) ||
      (s = dif_config_int(cfg, "num_attention_heads", &enc->heads, err)) ||
      (s = dif_config_int(cfg, "intermediate_size", &enc->intermediate, err)) ||
      (s = dif_config_int(cfg, "num_hidden_layers", &layers, err)) ||
      (s = dif_config_num_opt(cfg, "layer_norm_eps", 1e-5, &eps, err)) ||
      (s = dif_config_str_opt(cfg, "hidden_act", "quick_gelu", &act, err)))
    return s;
  const char *file = dif_config_path(cfg);
  if (enc->hidden <= 0 || enc->hidden > 65536 || enc->heads <= 0 || enc->hidden % enc->heads)
    return dif_fail(err, DIF_ERR_BAD_MODEL,
                    "%s: hidden_size %lld is not a positive multiple of num_attention_heads %lld",
                    file, (long long)enc->hidden, (long long)enc->heads);
  if (enc->intermediate <= 0 || enc->intermediate > 1 << 20)
    return dif_fail(err, DIF_ERR_BAD_MODEL, "%s: intermediate_size %lld out of range", file,
                    (long long)enc->intermediate);
  if (layers < 1 || layers > DIF_CLIP_MAX_LAYERS)
    return dif_fail(err, DIF_ERR_UNSUPPORTED, "%s: num_hidden_layers %lld (supported: 1..%d)", file,
                    (long long)layers, DIF_CLIP_MAX_LAYERS);
  if (!(eps > 0) || !isfinite((float)eps))
    return dif_fail(err, DIF_ERR_BAD_MODEL, "%s: layer_norm_eps %g must be finite and positive",
                    file, eps);
  if (strcmp(act, "quick_gelu") == 0)
    enc->act = DIF_CLIP_QUICK_GELU;
  else if (strcmp(act, "gelu") == 0)
    enc->act = DIF_CLIP_GELU;
  else
    return dif_fail(err, DIF_ERR_UNSUPPORTED,
                    "%s: hidden_act '%s' is not supported (quick_gelu or gelu)", file, act);
  enc->n_layers = (int)layers;
  enc->eps = (float)eps;
  int64_t C = enc->hidden, I = enc->intermediate;
  for (int i = 0; i < enc->n_layers; i++) {
    dif_clip_layer *L = &enc->layers[i];
    const char *p = prefix;
    L->ln1_w = DIF_W1(wl, C, "%sencoder.layers.%d.layer_norm1.weight", p, i);
    L->ln1_b = DIF_W1(wl, C, "%sencoder.layers.%d.layer_norm1.bias", p, i);
    L->ln2_w = DIF_W1(wl, C, "%sencoder.layers.%d.layer_norm2.weight", p, i);
    L->ln2_b = DIF_W1(wl, C, "%sencoder.layers.%d.layer_norm2.bias", p, i);
    L->q_w = DIF_WT2(wl, C, C, "%sencoder.layers.%d.self_attn.q_proj.weight", p, i);
    L->q_b = DIF_W1(wl, C, "%sencoder.layers.%d.self_attn.q_proj.bias", p, i);
    L->k_w = DIF_WT2(wl, C, C, "%sencoder.layers.%d.self_attn.k_proj.weight", p, i);
    L->k_b = DIF_W1(wl, C, "%sencoder.layers.%d.self_attn.k_proj.bias", p, i);
    L->v_w = DIF_WT2(wl, C, C, "%sencoder.layers.%d.self_attn.v_proj.weight", p, i);
    L->v_b = DIF_W1(wl, C, "%sencoder.layers.%d.self_attn.v_proj.bias", p, i);
    L->o_w = DIF_WT2(wl, C, C, "%sencoder.layers.%d.self_attn.out_proj.weight", p, i);
    L->o_b = DIF_W1(wl, C, "%sencoder.layers.%d.self_attn.out_proj.bias", p, i);
    L->fc1_w = DIF_WT2(wl, I, C, "%sencoder.layers.%d.mlp.fc1.weight", p, i);
    L->fc1_b = DIF_W1(wl, I, "%sencoder.layers.%d.mlp.fc1.bias", p, i);
    L->fc2_w = DIF_WT2(wl, C, I, "%sencoder.layers.%d.mlp.fc2.weight", p, i);
    L->fc2_b = DIF_W1(wl, C, "%sencoder.layers.%d.mlp.fc2.bias", p, i);
  }
  return wl->status;
}

dif_status dif_clip_encoder_forward(const dif_clip_encoder *enc, const dif_kctx *k, float *h,
                                    int64_t B, int64_t T, bool causal, const int32_t *key_mask,
                                    int n_layers, float *states, dif_error *err) {
  int64_t C = enc->hidden, I = enc->intermediate, N = B * T, heads = enc->heads;
  dif_arena_mark mark = dif_arena_get_mark(k->arena);
  float *x = dif_arena_floats(k->arena, (size_t)(N * C), err);
  float *q = dif_arena_floats(k->arena, (size_t)(N * C), err);
  float *kk = dif_arena_floats(k->arena, (size_t)(N * C), err);
  float *v = dif_arena_floats(k->arena, (size_t)(N * C), err);
  float *mid = dif_arena_floats(k->arena, (size_t)(N * I), err);
  float *mask = key_mask ? dif_arena_floats(k->arena, (size_t)T, err) : NULL;
  dif_status s = DIF_OK;
  if (!x || !q || !kk || !v || !mid || (key_mask && !mask)) {
    dif_arena_release(k->arena, mark);
    return DIF_ERR_OUT_OF_MEMORY;
  }
  if (states) memcpy(states, h, (size_t)(N * C) * sizeof *h);
  for (int li = 0; li < n_layers && !s; li++) {
    const dif_clip_layer *L = &enc->layers[li];
    dif_layer_norm(k, h, N, C, enc->eps, L->ln1_w, L->ln1_b, x);
    dif_linear(k, x, N, C, L->q_w, L->q_b, C, q);
    dif_linear(k, x, N, C, L->k_w, L->k_b, C, kk);
    dif_linear(k, x, N, C, L->v_w, L->v_b, C, v);
    dif_attention_params ap = {.tq = T,
                               .tk = T,
                               .heads = heads,
                               .dim = C / heads,
                               .ld_q = C,
                               .ld_k = C,
                               .ld_v = C,
                               .ld_o = C,
                               .scale = 1.0f / sqrtf((float)(C / heads)),
                               .causal = causal};
    for (int64_t b = 0; b < B && !s; b++) {
      if (key_mask) {
        for (int64_t j = 0; j < T; j++) mask[j] = key_mask[b * T + j] ? 0.0f : -INFINITY;
        ap.mask = mask;
        ap.mask_ld = 0;
      }
      int64_t o = b * T * C;
      s = dif_attention(k, &ap, q + o, kk + o, v + o, x + o, err);
    }
    if (s) break;
    dif_linear(k, x, N, C, L->o_w, L->o_b, C, q);
    dif_add(k, h, q, N * C, h);
    dif_layer_norm(k, h, N, C, enc->eps, L->ln2_w, L->ln2_b, x);
    dif_linear(k, x, N, C, L->fc1_w, L->fc1_b, I, mid);
    if (enc->act == DIF_CLIP_QUICK_GELU)
      dif_quick_gelu(k, mid, N * I, mid);
    else
      dif_gelu(k, mid, N * I, mid);
    dif_linear(k, mid, N, I, L->fc2_w, L->fc2_b, C, q);
    dif_add(k, h, q, N * C, h);
    if (states) memcpy(states + (size_t)(li + 1) * (size_t)(N * C), h, (size_t)(N * C) * sizeof *h);
  }
  dif_arena_release(k->arena, mark);
  return s;
}

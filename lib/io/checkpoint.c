/* checkpoint.c — single-file checkpoints (see checkpoint.h). */
#include "io/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/checkpoint_keys.h"
#include "io/component.h"
#include "io/fileio.h"

struct dif__checkpoint {
  dif__safetensors *st;
  dif__ckpt_info info;
  char family[96];
};

/* The parts: the component a loader asks for, the prefix of its tensors in
 * the file, the conversion, and what the part is called in messages. Adding
 * a layout (SDXL's conditioner.embedders, a VAE-only file) is a row here and
 * a rename function in checkpoint_keys.c. */
typedef struct part {
  const char *component, *prefix;
  dif__ckpt_rename_fn rename;
  const char *what;
} part;

static const part parts[] = {
    {"unet", "model.diffusion_model.", dif__ckpt_rename_unet, "UNet"},
    {"vae", "first_stage_model.", dif__ckpt_rename_vae, "VAE"},
    {"text_encoder", "cond_stage_model.transformer.", dif__ckpt_rename_clip,
     "CLIP ViT-L/14 text encoder (SD-1.x)"},
    {"text_encoder", "cond_stage_model.model.", dif__ckpt_rename_openclip,
     "OpenCLIP text encoder (SD-2.x)"},
};
#define N_PARTS (sizeof parts / sizeof parts[0])

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

dif_status dif__checkpoint_refuse_pickle(const char *path, dif__error *err) {
  static const char *const ext[] = {".ckpt", ".pt", ".pth", ".bin", ".pkl"};
  bool pickle = false;
  for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) pickle |= ends_with(path, ext[i]);
  int fd;
  if (!pickle && dif__file_open_read(path, &fd, NULL, NULL) == DIF_OK) {
    unsigned char head[4] = {0};
    ssize_t n = read(fd, head, sizeof head);
    close(fd);
    /* a pickle starts with PROTO (0x80), torch.save's zip with "PK\3\4" */
    pickle = n >= 2 && (head[0] == 0x80 || (n == 4 && memcmp(head, "PK\3\4", 4) == 0));
  }
  if (!pickle) return DIF_OK;
  return dif__fail(
      err, DIF_ERR_UNSUPPORTED,
      "%s is a PyTorch pickle checkpoint: loading one runs whatever code the file contains, so "
      "libdif reads only .safetensors. Convert it once, e.g. with PyTorch >= 1.13: python3 -c "
      "\"import torch, safetensors.torch as s; d = torch.load('%s', map_location='cpu', "
      "weights_only=True); d = d.get('state_dict', d); s.save_file({k: v.contiguous() for k, v "
      "in d.items() if isinstance(v, torch.Tensor)}, 'model.safetensors')\" (or diffusers' "
      "scripts/convert_original_stable_diffusion_to_diffusers.py for a diffusers folder)",
      path, path);
}

static bool has_prefix(const dif__safetensors *st, const char *prefix) {
  size_t n = strlen(prefix);
  for (size_t i = 0; i < dif__st_count(st); i++)
    if (strncmp(dif__st_entry_at(st, i)->name, prefix, n) == 0) return true;
  return false;
}

static int64_t dim(const dif__safetensors *st, const char *name, int i) {
  const dif__st_entry *e = dif__st_find(st, name);
  return e && e->ndim > i ? e->shape[i] : 0;
}

/* Family, dtype and parts, from the tensors alone. */
static dif_status describe(dif__checkpoint *c, dif__error *err) {
  dif__safetensors *st = c->st;
  dif__ckpt_info *in = &c->info;
  const char *path = dif__st_path(st);
  if (has_prefix(st, "conditioner.embedders."))
    return dif__fail(err, DIF_ERR_UNSUPPORTED,
                     "%s is an SDXL checkpoint (conditioner.embedders.*): libdif loads SD-1.x, "
                     "SD-2.x and Stable unCLIP checkpoints",
                     path);
  in->tensors = dif__st_count(st);
  in->has_unet = has_prefix(st, parts[0].prefix);
  in->has_vae = has_prefix(st, parts[1].prefix);
  bool clip = has_prefix(st, parts[2].prefix), openclip = has_prefix(st, parts[3].prefix);
  in->has_text_encoder = clip || openclip;
  in->openclip = openclip && !clip;
  in->has_ema = has_prefix(st, "model_ema.");
  in->has_image_embedder = has_prefix(st, "embedder.");
  if (!in->has_unet && !in->has_vae && !in->has_text_encoder) {
    const dif__st_entry *e = dif__st_count(st) ? dif__st_entry_at(st, 0) : NULL;
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: not a single-file Stable Diffusion checkpoint: no tensor starts with "
                     "model.diffusion_model., first_stage_model. or cond_stage_model. (the file "
                     "has '%s'; a diffusers component's file is loaded through its model folder)",
                     path, e ? e->name : "no tensors");
  }
  in->text_encoder = clip ? parts[2].what : openclip ? parts[3].what : NULL;
  in->text_width =
      clip ? dim(st, "cond_stage_model.transformer.text_model.final_layer_norm.weight", 0)
           : dim(st, "cond_stage_model.model.ln_final.weight", 0);
  const dif__st_entry *conv_in = dif__st_find(st, "model.diffusion_model.input_blocks.0.0.weight");
  in->dtype = dif__st_dtype_name(
      conv_in ? conv_in->dtype
              : (dif__st_count(st) ? dif__st_entry_at(st, 0)->dtype : DIF__ST_F32));
  in->unet_in_channels = dim(st, "model.diffusion_model.input_blocks.0.0.weight", 1);
  in->context_dim =
      dim(st, "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", 1);
  in->class_embed_in = dim(st, "model.diffusion_model.label_emb.0.0.weight", 1);
  const char *base = openclip ? "SD-2.x" : clip ? "SD-1.x" : "Stable Diffusion";
  if (in->class_embed_in)
    snprintf(c->family, sizeof c->family, "Stable unCLIP (%s, %lld-d image embeddings)", base,
             (long long)(in->class_embed_in / 2));
  else if (in->unet_in_channels == 9)
    snprintf(c->family, sizeof c->family, "%s inpainting", base);
  else
    snprintf(c->family, sizeof c->family, "%s", base);
  in->family = c->family;
  return DIF_OK;
}

dif_status dif__checkpoint_open_st(dif__safetensors *st, dif__checkpoint **out, dif__error *err) {
  *out = NULL;
  dif__checkpoint *c = calloc(1, sizeof *c);
  if (!c) {
    dif__st_close(st);
    return dif__fail_oom(err, "checkpoint", sizeof *c);
  }
  c->st = st;
  dif_status s = describe(c, err);
  if (s) {
    dif__checkpoint_close(c);
    return s;
  }
  *out = c;
  return DIF_OK;
}

dif_status dif__checkpoint_open(const char *path, dif__checkpoint **out, dif__error *err) {
  *out = NULL;
  dif__safetensors *st;
  dif_status s = dif__checkpoint_refuse_pickle(path, err);
  if (!s) s = dif__st_open(path, &st, err);
  return s ? s : dif__checkpoint_open_st(st, out, err);
}

void dif__checkpoint_close(dif__checkpoint *c) {
  if (!c) return;
  dif__st_close(c->st);
  free(c);
}

const char *dif__checkpoint_path(const dif__checkpoint *c) { return dif__st_path(c->st); }
const dif__ckpt_info *dif__checkpoint_describe(const dif__checkpoint *c) { return &c->info; }

/* The layout numbers the conversion needs, from the component's config. */
static dif_status layout(const char *component, const char *config_dir, dif__ckpt_layout *l,
                         dif__error *err) {
  if (strcmp(component, "text_encoder") == 0) return DIF_OK;
  dif__config *cfg;
  dif_status s = dif__component_config(config_dir, "config.json", NULL, &cfg, err);
  if (s) return s;
  int64_t lpb = 2;
  const char *types[16];
  int n = 0;
  if (strcmp(component, "unet") == 0) {
    s = dif__config_int_opt(cfg, "layers_per_block", 2, &lpb, err);
    if (!s && (lpb < 1 || lpb > 64))
      s = dif__fail(err, DIF_ERR_BAD_MODEL, "%s: layers_per_block %lld out of range 1..64",
                    dif__config_path(cfg), (long long)lpb);
  } else {
    s = dif__config_str_list(cfg, "up_block_types", types, 16, &n, err);
  }
  l->layers_per_block = (int)lpb;
  l->vae_up_blocks = n;
  dif__config_free(cfg);
  return s;
}

/* OpenCLIP's in_proj is split into thirds of its rows; diffusers takes the
 * third from text_projection's first dimension, so a file where they differ
 * would load differently there: refused. */
static dif_status check_openclip(const dif__checkpoint *c, dif__error *err) {
  int64_t proj = dim(c->st, "cond_stage_model.model.text_projection", 0);
  int64_t rows =
      dim(c->st, "cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight", 0);
  if (proj && rows && proj * 3 != rows)
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: tensor 'cond_stage_model.model.text_projection' has %lld rows but the "
                     "fused attention projections have 3 x %lld: not an OpenCLIP text encoder "
                     "diffusers can split",
                     dif__st_path(c->st), (long long)proj, (long long)(rows / 3));
  return DIF_OK;
}

static dif_status build(dif__checkpoint *c, const part *p, const dif__ckpt_layout *l,
                        dif__safetensors **out, dif__error *err) {
  size_t n = dif__st_count(c->st), plen = strlen(p->prefix), used = 0;
  dif__st_view_entry *v = malloc((3 * n + 1) * sizeof *v);
  if (!v) return dif__fail_oom(err, "checkpoint view", 3 * n * sizeof *v);
  dif_status s = DIF_OK;
  for (size_t i = 0; i < n && !s; i++) {
    const dif__st_entry *e = dif__st_entry_at(c->st, i);
    if (strncmp(e->name, p->prefix, plen) != 0) continue;
    /* the conversions build names in fixed buffers; no real key is half this long */
    if (strlen(e->name) > DIF__CKPT_MAX_KEY) {
      s = dif__fail(err, DIF_ERR_BAD_MODEL,
                    "%s: tensor '%.60s...' has a name of %zu bytes (a Stable Diffusion "
                    "checkpoint's are under %d)",
                    dif__st_path(c->st), e->name, strlen(e->name), DIF__CKPT_MAX_KEY);
      break;
    }
    int k = p->rename(l, e->name + plen, e, &v[used], err);
    if (k < 0)
      s = err ? err->status : DIF_ERR_BAD_MODEL;
    else
      used += (size_t)k;
  }
  char label[4200];
  snprintf(label, sizeof label, "%s [%s]", dif__st_path(c->st), p->component);
  if (!s) s = dif__st_open_view(c->st, label, v, used, out, err);
  free(v);
  return s;
}

static dif_status missing(const dif__checkpoint *c, const char *component, dif__error *err) {
  const char *want = strcmp(component, "unet") == 0  ? "model.diffusion_model."
                     : strcmp(component, "vae") == 0 ? "first_stage_model."
                                                     : "cond_stage_model.";
  return dif__fail(err, DIF_ERR_BAD_MODEL,
                   "%s: the checkpoint has no %s (no tensor starts with %s); a single file must "
                   "hold the UNet, the VAE and the text encoder",
                   dif__st_path(c->st), component, want);
}

dif_status dif__checkpoint_require_all(const dif__checkpoint *c, dif__error *err) {
  const dif__ckpt_info *in = &c->info;
  if (!in->has_unet) return missing(c, "unet", err);
  if (!in->has_vae) return missing(c, "vae", err);
  if (!in->has_text_encoder) return missing(c, "text_encoder", err);
  return DIF_OK;
}

dif_status dif__checkpoint_part(dif__checkpoint *c, const char *component, const char *config_dir,
                                dif__safetensors **out, dif__error *err) {
  *out = NULL;
  const part *p = NULL;
  for (size_t i = 0; i < N_PARTS && !p; i++)
    if (strcmp(parts[i].component, component) == 0 && has_prefix(c->st, parts[i].prefix))
      p = &parts[i];
  if (!p) return missing(c, component, err);
  dif__ckpt_layout l = {2, 0, dif__st_path(c->st)};
  dif_status s = layout(component, config_dir, &l, err);
  if (!s && p->rename == dif__ckpt_rename_openclip) s = check_openclip(c, err);
  return s ? s : build(c, p, &l, out, err);
}

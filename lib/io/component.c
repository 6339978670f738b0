/* component.c — loading one component folder's config and weights. */
#include "io/component.h"

#include <stdio.h>
#include <string.h>

#include "io/fileio.h"
#include "io/model_folder.h"

dif_status dif_component_config(const char *dir, const char *file, const char *const *classes,
                                dif_config **out, dif_error *err) {
  *out = NULL;
  char path[4096];
  if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >= sizeof path)
    return dif_fail(err, DIF_ERR_LIMIT, "path too long (at most %zu bytes): %s", sizeof path - 1,
                    dir);
  /* Present but not a regular file: dif_config_load says what it is. */
  if (dif_file_exists(path) == 0) return dif_fail(err, DIF_ERR_BAD_MODEL, "%s: missing", path);
  dif_config *cfg;
  dif_status s = dif_config_load(path, &cfg, err);
  if (s) return s;
  const char *cls = NULL;
  if ((s = dif_config_str_opt(cfg, "_class_name", NULL, &cls, err))) {
    dif_config_free(cfg);
    return s;
  }
  int ok = 1;
  if (cls && classes) {
    ok = 0;
    for (const char *const *c = classes; *c; c++) ok |= strcmp(*c, cls) == 0;
  } else if (cls) {
    ok = dif_known_class(cls);
  }
  if (!ok) {
    char want[256] = "";
    size_t off = 0;
    for (const char *const *c = classes; c && *c && off < sizeof want; c++)
      off += (size_t)snprintf(want + off, sizeof want - off, "%s%s", off ? ", " : "", *c);
    /* cls points into cfg: format the message before freeing it. */
    dif_fail(err, DIF_ERR_UNSUPPORTED, "%s: unknown _class_name '%s' (expected %s)", path, cls,
             classes ? want : "a class libdif knows");
    dif_config_free(cfg);
    return DIF_ERR_UNSUPPORTED;
  }
  *out = cfg;
  return DIF_OK;
}

static _Thread_local struct {
  dif_checkpoint *c;
  const char *root;
} bound;

void dif_component_bind_checkpoint(dif_checkpoint *c, const char *root) {
  bound.c = root ? c : NULL;
  bound.root = c ? root : NULL;
}

/* The part of the bound checkpoint that dir stands for, or NULL. */
static const char *bound_part(const char *dir) {
  static const char *const names[] = {"unet", "vae", "text_encoder"};
  size_t n = bound.c ? strlen(bound.root) : 0;
  if (!bound.c || strncmp(dir, bound.root, n) != 0 || dir[n] != '/') return NULL;
  for (int i = 0; i < 3; i++)
    if (strcmp(dir + n + 1, names[i]) == 0) return names[i];
  return NULL;
}

static _Thread_local struct {
  const dif_lora_use *uses;
  int n;
  const char *root;
} bound_loras;

void dif_component_bind_loras(const dif_lora_use *uses, int n, const char *root) {
  bound_loras.uses = n > 0 ? uses : NULL;
  bound_loras.n = n > 0 ? n : 0;
  bound_loras.root = n > 0 ? root : NULL;
}

/* The LoRA component dir stands for (unet/, text_encoder/ under the bound
 * root), or -1. */
static int lora_component(const char *dir) {
  size_t n = bound_loras.n ? strlen(bound_loras.root) : 0;
  if (!bound_loras.n || strncmp(dir, bound_loras.root, n) != 0 || dir[n] != '/') return -1;
  if (strcmp(dir + n + 1, "unet") == 0) return DIF_LORA_UNET;
  if (strcmp(dir + n + 1, "text_encoder") == 0) return DIF_LORA_TEXT_ENCODER;
  return -1;
}

static dif_status open_weights(const char *dir, dif_safetensors **out, dif_error *err);

dif_status dif_component_weights(const char *dir, dif_safetensors **out, dif_error *err) {
  dif_status s = open_weights(dir, out, err);
  int c = s ? -1 : lora_component(dir);
  if (c >= 0 &&
      (s = dif_lora_apply(bound_loras.uses, bound_loras.n, (dif_lora_component)c, *out, err))) {
    dif_st_close(*out);
    *out = NULL;
  }
  return s;
}

static dif_status open_weights(const char *dir, dif_safetensors **out, dif_error *err) {
  *out = NULL;
  const char *part = bound_part(dir);
  if (part) return dif_checkpoint_part(bound.c, part, dir, out, err);
  static const char *const names[] = {"diffusion_pytorch_model.safetensors", "model.safetensors"};
  char path[4096];
  for (int i = 0; i < 2; i++) {
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= sizeof path)
      return dif_fail(err, DIF_ERR_LIMIT, "path too long (at most %zu bytes): %s", sizeof path - 1,
                      dir);
    /* Anything by that name is meant as the weights: a directory, FIFO or
     * broken link gets dif_st_open's message saying so. */
    if (dif_file_exists(path) != 0) return dif_st_open(path, out, err);
  }
  return dif_fail(err, DIF_ERR_BAD_MODEL,
                  "%s: no weights (diffusion_pytorch_model.safetensors or model.safetensors); "
                  ".bin/.ckpt pickles are not loaded",
                  dir);
}

/* component.c — loading one component folder's config and weights. */
#include "io/component.h"

#include <stdio.h>
#include <string.h>

#include "io/fileio.h"
#include "io/model_folder.h"

dif_status dif__component_config(const char *dir, const char *file, const char *const *classes,
                                 dif__config **out, dif__error *err) {
  *out = NULL;
  char path[4096];
  if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >= sizeof path)
    return dif__fail(err, DIF_ERR_LIMIT, "path too long (at most %zu bytes): %s", sizeof path - 1,
                     dir);
  /* Present but not a regular file: dif__config_load says what it is. */
  if (dif__file_exists(path) == 0) return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: missing", path);
  dif__config *cfg;
  dif_status s = dif__config_load(path, &cfg, err);
  if (s) return s;
  const char *cls = NULL;
  if ((s = dif__config_str_opt(cfg, "_class_name", NULL, &cls, err))) {
    dif__config_free(cfg);
    return s;
  }
  int ok = 1;
  if (cls && classes) {
    ok = 0;
    for (const char *const *c = classes; *c; c++) ok |= strcmp(*c, cls) == 0;
  } else if (cls) {
    ok = dif__known_class(cls);
  }
  if (!ok) {
    char want[256] = "";
    size_t off = 0;
    for (const char *const *c = classes; c && *c && off < sizeof want; c++)
      off += (size_t)snprintf(want + off, sizeof want - off, "%s%s", off ? ", " : "", *c);
    /* cls points into cfg: format the message before freeing it. */
    dif__fail(err, DIF_ERR_UNSUPPORTED, "%s: unknown _class_name '%s' (expected %s)", path, cls,
              classes ? want : "a class libdif knows");
    dif__config_free(cfg);
    return DIF_ERR_UNSUPPORTED;
  }
  *out = cfg;
  return DIF_OK;
}

static _Thread_local struct {
  dif__checkpoint *c;
  const char *root;
} bound;

void dif__component_bind_checkpoint(dif__checkpoint *c, const char *root) {
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

dif_status dif__component_weights(const char *dir, dif__safetensors **out, dif__error *err) {
  *out = NULL;
  const char *part = bound_part(dir);
  if (part) return dif__checkpoint_part(bound.c, part, dir, out, err);
  static const char *const names[] = {"diffusion_pytorch_model.safetensors", "model.safetensors"};
  char path[4096];
  for (int i = 0; i < 2; i++) {
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= sizeof path)
      return dif__fail(err, DIF_ERR_LIMIT, "path too long (at most %zu bytes): %s", sizeof path - 1,
                       dir);
    /* Anything by that name is meant as the weights: a directory, FIFO or
     * broken link gets dif__st_open's message saying so. */
    if (dif__file_exists(path) != 0) return dif__st_open(path, out, err);
  }
  return dif__fail(err, DIF_ERR_BAD_MODEL,
                   "%s: no weights (diffusion_pytorch_model.safetensors or model.safetensors); "
                   ".bin/.ckpt pickles are not loaded",
                   dir);
}

/* embedding.c — textual-inversion embedding files (embedding.h). */
#include "io/embedding.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"
#include "io/safetensors.h"

/* The file's name without its folder and ".safetensors" (AUTOMATIC1111's
 * token for the file). */
static char *file_stem(const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  size_t n = strlen(base);
  static const char ext[] = ".safetensors";
  if (n > sizeof ext - 1 && strcmp(base + n - (sizeof ext - 1), ext) == 0) n -= sizeof ext - 1;
  return strndup(base, n);
}

/* The one tensor, its dtype and shape. */
static dif_status check_entry(const char *path, const dif__safetensors *st,
                              const dif__st_entry **out, dif__error *err) {
  size_t count = dif__st_count(st);
  if (count == 0)
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: the embedding file holds no tensor (an embedding is one tensor: "
                     "<token> [dim] or [n, dim], or AUTOMATIC1111's emb_params [n, dim])",
                     path);
  if (count > 1) {
    char names[400] = "";
    for (size_t i = 0; i < count && strlen(names) < sizeof names - 80; i++)
      snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
               dif__st_entry_at(st, i)->name);
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: the embedding file holds %zu tensors (%s%s); a textual-inversion "
                     "embedding is one tensor, named by its token (diffusers) or emb_params "
                     "(AUTOMATIC1111) — SDXL embeddings (clip_l + clip_g) are not read",
                     path, count, names, strlen(names) >= sizeof names - 80 ? ", …" : "");
  }
  const dif__st_entry *e = dif__st_entry_at(st, 0);
  if (e->dtype != DIF__ST_F32 && e->dtype != DIF__ST_F16 && e->dtype != DIF__ST_BF16)
    return dif__fail(err, DIF_ERR_UNSUPPORTED,
                     "%s: tensor \"%s\" is %s; an embedding's values are F32, F16 or BF16", path,
                     e->name, dif__st_dtype_name(e->dtype));
  if (e->ndim < 1 || e->ndim > 2 || e->shape[0] < 1 || e->shape[e->ndim - 1] < 1)
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: tensor \"%s\" has %d dimensions%s; an embedding is [dim] (one vector) "
                     "or [n, dim] (n vectors), n and dim at least 1",
                     path, e->name, e->ndim, e->ndim >= 1 ? " (or an empty one)" : "");
  if (e->ndim == 2 && e->shape[0] > DIF__EMBEDDING_MAX_VECTORS)
    return dif__fail(err, DIF_ERR_LIMIT,
                     "%s: tensor \"%s\" has %lld vectors; at most %d (a prompt holds 75 tokens)",
                     path, e->name, (long long)e->shape[0], DIF__EMBEDDING_MAX_VECTORS);
  *out = e;
  return DIF_OK;
}

/* The values, widened to float32 and checked finite. */
static dif_status read_values(const char *path, dif__safetensors *st, const dif__st_entry *e,
                              dif__embedding *out, dif__error *err) {
  dif__tensor t;
  dif_status s = dif__st_get_f32(st, e->name, &t, err);
  if (s) return s;
  out->n = e->ndim == 2 ? e->shape[0] : 1;
  out->dim = e->shape[e->ndim - 1];
  size_t numel = (size_t)(out->n * out->dim);
  for (size_t i = 0; i < numel; i++)
    if (!isfinite(t.data[i]))
      return dif__fail(err, DIF_ERR_NON_FINITE,
                       "%s: tensor \"%s\" has a non-finite value (%g) at vector %zu, element %zu",
                       path, e->name, (double)t.data[i], i / (size_t)out->dim,
                       i % (size_t)out->dim);
  out->data = malloc(numel * sizeof *out->data);
  if (!out->data) return dif__fail_oom(err, "embedding", numel * sizeof *out->data);
  memcpy(out->data, t.data, numel * sizeof *out->data);
  return DIF_OK;
}

dif_status dif__embedding_from_st(dif__safetensors *st, const char *path, const char *token,
                                  dif__embedding *e, dif__error *err) {
  memset(e, 0, sizeof *e);
  const dif__st_entry *ent = NULL;
  dif_status s = check_entry(path, st, &ent, err);
  if (!s) s = read_values(path, st, ent, e, err);
  if (!s) {
    bool a1111 = strcmp(ent->name, "emb_params") == 0;
    e->layout = a1111 ? "AUTOMATIC1111" : "diffusers";
    e->path = strdup(path);
    e->tensor = strdup(ent->name);
    e->token = token ? strdup(token) : a1111 ? file_stem(path) : strdup(ent->name);
    e->xxh3 = dif__st_xxh3(st);
    if (!e->path || !e->tensor || !e->token) s = dif__fail_oom(err, "embedding", strlen(path));
  }
  if (!s && !e->token[0])
    s = dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "%s: the embedding's token is empty%s", path,
                  token ? "" : " (name the token: FILE:TOKEN)");
  if (s) dif__embedding_free(e);
  return s;
}

dif_status dif__embedding_read(const char *path, const char *token, dif__embedding *e,
                               dif__error *err) {
  memset(e, 0, sizeof *e);
  dif_status s = dif__checkpoint_refuse_pickle(path, err);
  if (s)
    return dif__fail(err, s,
                     "%s is a PyTorch pickle (.pt / .bin embedding): loading one runs whatever "
                     "code the file contains, so libdif reads only .safetensors embeddings. "
                     "Convert it once, e.g. with PyTorch >= 1.13: python3 -c \"import torch, "
                     "safetensors.torch as s; d = torch.load('%s', map_location='cpu', "
                     "weights_only=True); t = d['string_to_param']['*'] if 'string_to_param' in "
                     "d else next(iter(d.values())); s.save_file({'emb_params': "
                     "t.reshape(-1, t.shape[-1]).float().contiguous()}, 'name.safetensors')\"",
                     path, path);
  dif__safetensors *st = NULL;
  if ((s = dif__st_open(path, &st, err))) return s;
  s = dif__embedding_from_st(st, path, token, e, err);
  dif__st_close(st);
  return s;
}

void dif__embedding_free(dif__embedding *e) {
  if (!e) return;
  free(e->path);
  free(e->token);
  free(e->tensor);
  free(e->data);
  memset(e, 0, sizeof *e);
}

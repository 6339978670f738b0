/* record_lora.c — the LoRAs of a generation record, "loras": [{"file",
 * "xxh3", "weight"}, ...] in the order they were added. Written with each
 * file's base name (dif_sample_parameters), then placed relative to the
 * saved picture's folder when the file lies in it or below (else its base
 * name stays), as image files are; applied before loading by
 * dif_context_apply_record_in: each file relative to the record's folder
 * (no absolute path, no ".."), its xxh3 checked before it is merged. */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/context.h"
#include "api/record.h"

void dif__record_add_loras(const dif_context *ctx, json_t *o) {
  if (!ctx->n_loras) return;
  json_t *list = json_array();
  for (int i = 0; i < ctx->n_loras; i++)
    json_array_append_new(
        list, json_pack("{s:s, s:o, s:f}", "file", dif__record_base_name(ctx->loras[i].path),
                        "xxh3", json_sprintf("%016llx", (unsigned long long)ctx->loras[i].xxh3),
                        "weight", (double)ctx->loras[i].weight));
  json_object_set_new(o, "loras", list);
}

char *dif__record_place_files(const char *record, const char *key, const char *const *canon, int n,
                              const char *png_path) {
  json_t *o = record ? json_loads(record, JSON_DECODE_ANY, NULL) : NULL;
  json_t *list = json_object_get(o, key);
  if (!json_is_object(o) || !json_is_array(list) || !n) {
    json_decref(o);
    return record ? strdup(record) : NULL;
  }
  char folder[PATH_MAX], dir[PATH_MAX];
  const char *slash = strrchr(png_path, '/');
  snprintf(folder, sizeof folder, "%.*s",
           !slash              ? 1
           : slash == png_path ? 1
                               : (int)(slash - png_path),
           !slash ? "." : png_path);
  bool have_dir = realpath(folder, dir) != NULL;
  size_t k = have_dir && strcmp(dir, "/") != 0 ? strlen(dir) : 0;
  for (int i = 0; i < n && i < (int)json_array_size(list); i++) {
    const char *src = canon[i];
    if (have_dir && src && strncmp(src, dir, k) == 0 && src[k] == '/')
      json_object_set_new(json_array_get(list, (size_t)i), "file", json_string(src + k + 1));
  }
  char *text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
  json_decref(o);
  return text;
}

char *dif__record_place_loras(const char *record, const dif_context *ctx, const char *png_path) {
  const char *canon[DIF_MAX_LORAS];
  for (int i = 0; i < ctx->n_loras; i++) canon[i] = ctx->loras[i].canon;
  return dif__record_place_files(record, "loras", canon, ctx->n_loras, png_path);
}

dif_status dif__record_check_loras(const json_t *loras, char *msg, size_t n) {
  if (!loras) return DIF_OK;
  if (!json_is_array(loras) || json_array_size(loras) > DIF_MAX_LORAS) {
    snprintf(msg, n, "record: \"loras\" must be a list of at most %d LoRAs", DIF_MAX_LORAS);
    return DIF_ERR_INVALID_ARGUMENT;
  }
  size_t i;
  json_t *l;
  json_array_foreach(loras, i, l) {
    const char *file = json_string_value(json_object_get(l, "file"));
    const char *h = json_string_value(json_object_get(l, "xxh3"));
    unsigned long long x;
    int used = 0;
    if (!json_is_object(l) || json_object_size(l) != 3 || !file || !*file || !h ||
        strlen(h) != 16 || sscanf(h, "%16llx%n", &x, &used) != 1 || used != 16 ||
        !json_is_number(json_object_get(l, "weight"))) {
      snprintf(msg, n,
               "record: \"loras\"[%zu] must be {\"file\": a path, \"xxh3\": 16 hex digits, "
               "\"weight\": a number}",
               i);
      return DIF_ERR_INVALID_ARGUMENT;
    }
  }
  return DIF_OK;
}

dif_status dif__record_file_path(const char *dir, const char *rel, const char *key, size_t i,
                                 char *out, size_t size, char *msg, size_t n) {
  bool up = false;
  for (const char *c = rel; *c;) {
    size_t len = strcspn(c, "/");
    up = up || (len == 2 && c[0] == '.' && c[1] == '.');
    c += len;
    while (*c == '/') c++;
  }
  if (!dir || rel[0] == '/' || up) {
    snprintf(msg, n,
             "record: \"%s\"[%zu] %s; a record names its files relative to its own folder, "
             "inside it",
             key, i,
             !dir            ? "needs the record's folder (dif_context_apply_record_in)"
             : rel[0] == '/' ? "is an absolute path"
                             : "leaves the record's folder (\"..\")");
    return DIF_ERR_INVALID_ARGUMENT;
  }
  if ((size_t)snprintf(out, size, "%s/%s", dir, rel) >= size) {
    snprintf(msg, n, "record: \"%s\"[%zu]: the path is too long", key, i);
    return DIF_ERR_LIMIT;
  }
  return DIF_OK;
}

dif_status dif__record_apply_loras(dif_context *ctx, const json_t *loras, const char *dir,
                                   char *msg, size_t n) {
  size_t i;
  json_t *l;
  dif__ctx_free_loras(ctx);
  json_array_foreach(loras, i, l) {
    char path[PATH_MAX];
    unsigned long long want = strtoull(json_string_value(json_object_get(l, "xxh3")), NULL, 16);
    dif_status s = dif__record_file_path(dir, json_string_value(json_object_get(l, "file")),
                                         "loras", i, path, sizeof path, msg, n);
    if (!s && (s = dif_context_add_lora(ctx, path,
                                        (float)json_number_value(json_object_get(l, "weight")))))
      snprintf(msg, n, "%s", dif_context_last_error(ctx));
    if (!s && ctx->loras[ctx->n_loras - 1].xxh3 != want) {
      snprintf(msg, n, "record: \"loras\"[%zu]: %s has the xxh3 %016llx, the record's is %016llx",
               i, path, (unsigned long long)ctx->loras[ctx->n_loras - 1].xxh3, want);
      s = DIF_ERR_INVALID_ARGUMENT;
    }
    if (s) {
      dif__ctx_free_loras(ctx);
      return s;
    }
  }
  return DIF_OK;
}

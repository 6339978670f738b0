/* record_embedding.c — the textual-inversion embeddings of a generation
 * record, "embeddings": [{"file", "xxh3", "token"}, ...] in the order they
 * were added: written and placed as the record's LoRAs (record_lora.c),
 * applied before loading by dif_context_apply_record_in with the recorded
 * token, each file's xxh3 checked. */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/context.h"
#include "api/record.h"

void dif__record_add_embeddings(const dif_context *ctx, json_t *o) {
  if (!ctx->n_embeddings) return;
  json_t *list = json_array();
  for (int i = 0; i < ctx->n_embeddings; i++) {
    const dif__embedding *e = &ctx->embeddings[i].e;
    json_array_append_new(
        list, json_pack("{s:s, s:o, s:s}", "file", dif__record_base_name(e->path), "xxh3",
                        json_sprintf("%016llx", (unsigned long long)e->xxh3), "token", e->token));
  }
  json_object_set_new(o, "embeddings", list);
}

char *dif__record_place_embeddings(const char *record, const dif_context *ctx,
                                   const char *png_path) {
  const char *canon[DIF_MAX_EMBEDDINGS];
  for (int i = 0; i < ctx->n_embeddings; i++) canon[i] = ctx->embeddings[i].canon;
  return dif__record_place_files(record, "embeddings", canon, ctx->n_embeddings, png_path);
}

dif_status dif__record_check_embeddings(const json_t *list, char *msg, size_t n) {
  if (!list) return DIF_OK;
  if (!json_is_array(list) || json_array_size(list) > DIF_MAX_EMBEDDINGS) {
    snprintf(msg, n, "record: \"embeddings\" must be a list of at most %d embeddings",
             DIF_MAX_EMBEDDINGS);
    return DIF_ERR_INVALID_ARGUMENT;
  }
  size_t i;
  json_t *l;
  json_array_foreach(list, i, l) {
    const char *file = json_string_value(json_object_get(l, "file"));
    const char *h = json_string_value(json_object_get(l, "xxh3"));
    const char *token = json_string_value(json_object_get(l, "token"));
    unsigned long long x;
    int used = 0;
    if (!json_is_object(l) || json_object_size(l) != 3 || !file || !*file || !h ||
        strlen(h) != 16 || sscanf(h, "%16llx%n", &x, &used) != 1 || used != 16 || !token ||
        !*token) {
      snprintf(msg, n,
               "record: \"embeddings\"[%zu] must be {\"file\": a path, \"xxh3\": 16 hex digits, "
               "\"token\": a token}",
               i);
      return DIF_ERR_INVALID_ARGUMENT;
    }
  }
  return DIF_OK;
}

dif_status dif__record_apply_embeddings(dif_context *ctx, const json_t *list, const char *dir,
                                        char *msg, size_t n) {
  size_t i;
  json_t *l;
  dif__ctx_free_embeddings(ctx);
  json_array_foreach(list, i, l) {
    char path[PATH_MAX];
    unsigned long long want = strtoull(json_string_value(json_object_get(l, "xxh3")), NULL, 16);
    dif_status s = dif__record_file_path(dir, json_string_value(json_object_get(l, "file")),
                                         "embeddings", i, path, sizeof path, msg, n);
    if (!s &&
        (s = dif_context_add_embedding(ctx, path, json_string_value(json_object_get(l, "token")))))
      snprintf(msg, n, "%s", dif_context_last_error(ctx));
    if (!s && ctx->embeddings[ctx->n_embeddings - 1].e.xxh3 != want) {
      snprintf(msg, n,
               "record: \"embeddings\"[%zu]: %s has the xxh3 %016llx, the record's is %016llx", i,
               path, (unsigned long long)ctx->embeddings[ctx->n_embeddings - 1].e.xxh3, want);
      s = DIF_ERR_INVALID_ARGUMENT;
    }
    if (s) {
      dif__ctx_free_embeddings(ctx);
      return s;
    }
  }
  return DIF_OK;
}

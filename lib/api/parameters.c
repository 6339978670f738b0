/* parameters.c — the generation record stored in PNGs ("dif:parameters"),
 * read back to reproduce an image: dif_read_png_parameters,
 * dif_prompt_from_record, dif_sample_apply_record (and their folder-less
 * forms), and the writer's last step, dif__record_for_png.
 *
 * A record is untrusted input (a PNG from anywhere). Reading it:
 *   1. parse with duplicate keys refused;
 *   2. check the whole schema before acting on any of it: every key known,
 *      every value of its exact JSON type (integers are JSON integers in
 *      range, not reals), so a record is refused as a whole or applied;
 *   3. apply through the setters (the settings table's rows, walked in
 *      pipelines/settings.h's order), so each value is range-checked like
 *      any other input, with the setter's message;
 *   4. image files only relative to the record's folder (no absolute path,
 *      no ".."), their bytes checked against the xxh3-64 stored with them
 *      before anything is decoded.
 * Messages name the key and what it accepts; they quote the record's own
 * keys and paths (escaped, shortened) but never bytes of another file. */
#include <float.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/context.h"
#include "api/prompt.h"
#include "api/record.h"
#include "api/sample.h"
#include "io/fileio.h"
#include "io/image.h"
#include "pipelines/settings.h"

static dif_status read_parameters(const char *fn, const char *path, char *buf, size_t *size) {
  if (!path || !size)
    return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, path ? "size" : "path");
  char *text = NULL;
  dif__error err = {0};
  if (dif__image_read_meta(path, DIF__META_RECORD, &text, &err))
    return dif__thread_fail(err.status, "%s", err.msg);
  size_t need = strlen(text) + 1;
  dif_status s = DIF_OK;
  if (buf && *size < need)
    s = dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "%s: the buffer holds %zu bytes, %zu needed", fn,
                         *size, need);
  else if (buf)
    memcpy(buf, text, need);
  *size = need;
  free(text);
  if (!s) dif__thread_ok();
  return s;
}

DIF_API dif_status dif_read_parameters(const char *path, char *buf, size_t *size) {
  return read_parameters("dif_read_parameters", path, buf, size);
}

DIF_API dif_status dif_read_png_parameters(const char *path, char *buf, size_t *size) {
  return read_parameters("dif_read_png_parameters", path, buf, size);
}

/* ---- the schema ---- */

typedef struct why {
  dif_status status;
  char msg[DIF__ERROR_MSG_MAX];
} why;

static dif_status refuse(why *w, dif_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static dif_status refuse(why *w, dif_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->msg, sizeof w->msg, fmt, ap);
  va_end(ap);
  w->status = st;
  return st;
}

/* s for a message: printable ASCII kept, other bytes as \xHH, at most about
 * 60 characters ("..." marks a cut). */
static const char *shown(const char *s, char *buf, size_t n) {
  size_t j = 0;
  for (size_t i = 0; s[i] && j + 8 < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (j >= 60) {
      j += (size_t)snprintf(buf + j, n - j, "...");
      break;
    }
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"')
      buf[j++] = (char)c;
    else
      j += (size_t)snprintf(buf + j, n - j, "\\x%02x", c);
  }
  buf[j < n ? j : n - 1] = '\0';
  return buf;
}

static const char *type_of(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT: return "an object";
  case JSON_ARRAY: return "an array";
  case JSON_STRING: return "a string";
  case JSON_INTEGER: return "an integer";
  case JSON_REAL: return "a real number";
  case JSON_TRUE:
  case JSON_FALSE: return "a boolean";
  default: return "null";
  }
}

typedef enum kind { K_INT, K_NUM, K_STR, K_OBJ, K_ARR, K_XXH3 } kind;

/* One key of a record object: its type and, for integers, its range (the
 * setters check the ranges again; these keep a 64-bit value from being cut
 * to 32 bits on the way). */
typedef struct field {
  const char *key;
  kind kind;
  long long lo, hi;
} field;

#define INT_FIELD(key, lo, hi)                                                                     \
  { key, K_INT, lo, hi }
#define FIELD(key, kind)                                                                           \
  { key, kind, 0, 0 }
#define N(a) (sizeof(a) / sizeof *(a))

/* A record's top-level keys: these, the settings table's keys (in its
 * order: pipelines/settings.h), then top_tail. */
static const field top_head[] = {FIELD("prompt", K_ARR), FIELD("negative", K_STR)};
static const field top_tail[] = {
    FIELD("init_image", K_OBJ), FIELD("mask", K_OBJ),   FIELD("edit", K_OBJ),
    FIELD("model", K_OBJ),      FIELD("loras", K_ARR),  FIELD("embeddings", K_ARR),
    FIELD("precision", K_STR),  FIELD("libdif", K_STR),
};
#define MAX_TOP_FIELDS 64 /* top_head + the settings + top_tail (24 today) */
static const field text_fields[] = {FIELD("text", K_STR), FIELD("weight", K_NUM)};
static const field image_fields[] = {
    FIELD("image", K_STR),
    FIELD("xxh3", K_XXH3),
    INT_FIELD("width", 1, DIF_MAX_IMAGE_SIDE),
    INT_FIELD("height", 1, DIF_MAX_IMAGE_SIDE),
    FIELD("weight", K_NUM),
};
static const field init_fields[] = {FIELD("image", K_STR), FIELD("xxh3", K_XXH3),
                                    FIELD("strength", K_NUM)};
static const field mask_fields[] = {FIELD("image", K_STR), FIELD("xxh3", K_XXH3),
                                    FIELD("rect", K_ARR),
                                    INT_FIELD("crop_padding", 0, DIF_MAX_OUTPUT_SIDE)};
static const field edit_fields[] = {FIELD("op", K_STR),
                                    FIELD("factor", K_NUM),
                                    FIELD("mode", K_STR),
                                    FIELD("direction", K_STR),
                                    FIELD("amount", K_NUM),
                                    INT_FIELD("width", 8, DIF_MAX_OUTPUT_SIDE),
                                    INT_FIELD("height", 8, DIF_MAX_OUTPUT_SIDE)};
static const char *const edit_ops[] = {"zoom_out", "make_square", "pan", "upscale", NULL};
static const char *const upscale_modes[] = {"subtle", "creative", NULL};
static const char *const edit_dirs[] = {"left", "right", "up", "down", NULL};
static const field model_fields[] = {FIELD("dir", K_STR), FIELD("files", K_ARR)};
static const field model_file_fields[] = {FIELD("file", K_STR), FIELD("xxh3", K_XXH3)};

static int parse_xxh3(const char *s, uint64_t *out) {
  uint64_t v = 0;
  size_t i = 0;
  for (; s[i]; i++) {
    char c = s[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0 || i >= 16) return -1;
    v = v << 4 | (uint64_t)d;
  }
  if (i != 16) return -1;
  if (out) *out = v;
  return 0;
}

/* Checks one value against its field; `where` names it ("steps", "prompt[1].weight"). */
static dif_status check_value(const field *f, const json_t *v, const char *where, why *w) {
  switch (f->kind) {
  case K_INT:
    if (!json_is_integer(v))
      return refuse(w, DIF_ERR_INVALID_ARGUMENT,
                    "record: \"%s\" must be a JSON integer from %lld to %lld, not %s", where, f->lo,
                    f->hi, type_of(v));
    if (json_integer_value(v) < f->lo || json_integer_value(v) > f->hi)
      return refuse(w, DIF_ERR_INVALID_ARGUMENT,
                    "record: \"%s\" must be an integer from %lld to %lld, not %lld", where, f->lo,
                    f->hi, (long long)json_integer_value(v));
    return DIF_OK;
  case K_NUM:
    if (!json_is_number(v))
      return refuse(w, DIF_ERR_INVALID_ARGUMENT, "record: \"%s\" must be a number, not %s", where,
                    type_of(v));
    if (!(json_number_value(v) >= -FLT_MAX && json_number_value(v) <= FLT_MAX))
      return refuse(w, DIF_ERR_INVALID_ARGUMENT,
                    "record: \"%s\" must be a number within float range, not %g", where,
                    json_number_value(v));
    return DIF_OK;
  case K_STR:
  case K_XXH3:
    if (!json_is_string(v))
      return refuse(w, DIF_ERR_INVALID_ARGUMENT, "record: \"%s\" must be a string, not %s", where,
                    type_of(v));
    if (f->kind == K_XXH3 && parse_xxh3(json_string_value(v), NULL))
      return refuse(w, DIF_ERR_INVALID_ARGUMENT,
                    "record: \"%s\" must be an xxh3-64 as 16 lowercase hex digits", where);
    return DIF_OK;
  case K_OBJ:
    if (!json_is_object(v))
      return refuse(w, DIF_ERR_INVALID_ARGUMENT, "record: \"%s\" must be an object, not %s", where,
                    type_of(v));
    return DIF_OK;
  case K_ARR:
    if (!json_is_array(v))
      return refuse(w, DIF_ERR_INVALID_ARGUMENT, "record: \"%s\" must be an array, not %s", where,
                    type_of(v));
    return DIF_OK;
  }
  return refuse(w, DIF_ERR_INTERNAL, "record: field kind %d", (int)f->kind);
}

/* Every key of o is one of fields and of its type. prefix: "" or "prompt[1]." */
static dif_status check_object(const json_t *o, const field *fields, size_t n, const char *prefix,
                               why *w) {
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)o, key, v) {
    size_t i = 0;
    while (i < n && strcmp(fields[i].key, key) != 0) i++;
    if (i == n) {
      char known[256] = "", k[128];
      for (size_t j = 0, len = 0; j < n && len < sizeof known; j++)
        len +=
            (size_t)snprintf(known + len, sizeof known - len, "%s%s", j ? ", " : "", fields[j].key);
      return refuse(w, DIF_ERR_INVALID_ARGUMENT, "record: unknown key \"%s%s\" (known: %s)", prefix,
                    shown(key, k, sizeof k), known);
    }
    char where[64];
    snprintf(where, sizeof where, "%s%s", prefix, key);
    if (check_value(&fields[i], v, where, w)) return w->status;
  }
  return DIF_OK;
}

static dif_status require(const json_t *o, const char *key, const char *prefix, why *w) {
  if (json_object_get(o, key)) return DIF_OK;
  return refuse(w, DIF_ERR_INVALID_ARGUMENT, "record: \"%s%s\" is missing", prefix, key);
}

static int is_pixels(const json_t *image) {
  return strcmp(json_string_value(json_object_get(image, "image")), "pixels") == 0;
}

/* An image object (a prompt part or the init image): a file needs its xxh3. */
static dif_status check_image_object(const json_t *o, const char *prefix, why *w) {
  if (require(o, "image", prefix, w)) return w->status;
  if (!is_pixels(o) && !json_object_get(o, "xxh3"))
    return refuse(w, DIF_ERR_INVALID_ARGUMENT,
                  "record: \"%sxxh3\" is missing: a record names each image file with the "
                  "xxh3-64 of its bytes",
                  prefix);
  return DIF_OK;
}

static dif_status check_prompt(const json_t *parts, why *w) {
  if (json_array_size(parts) < 1 || json_array_size(parts) > DIF_MAX_PROMPT_PARTS)
    return refuse(w, DIF_ERR_INVALID_ARGUMENT,
                  "record: \"prompt\" must have 1 to %d parts, not %zu", DIF_MAX_PROMPT_PARTS,
                  json_array_size(parts));
  size_t i;
  json_t *part;
  json_array_foreach(parts, i, part) {
    char prefix[32];
    snprintf(prefix, sizeof prefix, "prompt[%zu].", i);
    if (!json_is_object(part))
      return refuse(w, DIF_ERR_INVALID_ARGUMENT,
                    "record: \"prompt[%zu]\" must be an object, not %s", i, type_of(part));
    int text = json_object_get(part, "text") != NULL,
        image = json_object_get(part, "image") != NULL;
    if (text == image)
      return refuse(w, DIF_ERR_INVALID_ARGUMENT,
                    "record: \"prompt[%zu]\" must have either \"text\" or \"image\"", i);
    if (check_object(part, text ? text_fields : image_fields,
                     text ? N(text_fields) : N(image_fields), prefix, w) ||
        require(part, "weight", prefix, w) || (image && check_image_object(part, prefix, w)))
      return w->status;
  }
  return DIF_OK;
}

static dif_status check_model(const json_t *model, why *w) {
  if (check_object(model, model_fields, N(model_fields), "model.", w)) return w->status;
  size_t i;
  json_t *file;
  json_array_foreach(json_object_get(model, "files"), i, file) {
    char prefix[40];
    snprintf(prefix, sizeof prefix, "model.files[%zu].", i);
    if (!json_is_object(file))
      return refuse(w, DIF_ERR_INVALID_ARGUMENT,
                    "record: \"model.files[%zu]\" must be an object, not %s", i, type_of(file));
    if (check_object(file, model_file_fields, N(model_file_fields), prefix, w)) return w->status;
  }
  return DIF_OK;
}

/* seed_u64: the decimal digits of a 64-bit unsigned value, nothing else. */
static int parse_u64(const char *s, uint64_t *out) {
  uint64_t v = 0;
  size_t i = 0;
  for (; s[i]; i++) {
    if (s[i] < '0' || s[i] > '9' || i >= 20) return -1;
    uint64_t d = (uint64_t)(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return -1;
    v = v * 10 + d;
  }
  if (i == 0 || (i > 1 && s[0] == '0')) return -1;
  *out = v;
  return 0;
}

static int index_in(const char *const *list, const char *s) {
  for (int i = 0; s && list[i]; i++)
    if (strcmp(list[i], s) == 0) return i;
  return -1;
}

/* "mask" ({"image", "xxh3"} or {"rect": [x, y, w, h]}) and "edit" ({"op",
 * its values, the picture's "width" and "height"}); ranges are the
 * setters'. */
static dif_status check_edit(const json_t *mask, const json_t *edit, why *w) {
  if (mask && check_object(mask, mask_fields, N(mask_fields), "mask.", w)) return w->status;
  const json_t *rect = json_object_get(mask, "rect");
  if (mask && !rect == !json_object_get(mask, "image"))
    return refuse(w, DIF_ERR_INVALID_ARGUMENT, "record: \"mask\" has either \"image\" or \"rect\"");
  if (mask && !rect && check_image_object(mask, "mask.", w)) return w->status;
  for (size_t i = 0; rect && i < 4; i++) {
    const json_t *v = json_array_get(rect, i);
    if (json_array_size(rect) != 4 || !json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > DIF_MAX_OUTPUT_SIDE)
      return refuse(w, DIF_ERR_INVALID_ARGUMENT,
                    "record: \"mask.rect\" must be 4 integers from 0 to %d", DIF_MAX_OUTPUT_SIDE);
  }
  if (!edit) return DIF_OK;
  if (check_object(edit, edit_fields, N(edit_fields), "edit.", w) ||
      require(edit, "op", "edit.", w) || require(edit, "width", "edit.", w) ||
      require(edit, "height", "edit.", w))
    return w->status;
  int op = index_in(edit_ops, json_string_value(json_object_get(edit, "op")));
  if (op < 0)
    return refuse(w, DIF_ERR_INVALID_ARGUMENT,
                  "record: \"edit.op\" must be \"zoom_out\", \"make_square\", \"pan\" or "
                  "\"upscale\"");
  if (((op == 0 || op == 3) && require(edit, "factor", "edit.", w)) ||
      (op == 2 &&
       (require(edit, "direction", "edit.", w) || require(edit, "amount", "edit.", w))) ||
      (op == 3 && require(edit, "mode", "edit.", w)))
    return w->status;
  if (op == 3 && index_in(upscale_modes, json_string_value(json_object_get(edit, "mode"))) < 0)
    return refuse(w, DIF_ERR_INVALID_ARGUMENT,
                  "record: \"edit.mode\" must be \"subtle\" or \"creative\"");
  if (op == 2 && index_in(edit_dirs, json_string_value(json_object_get(edit, "direction"))) < 0)
    return refuse(w, DIF_ERR_INVALID_ARGUMENT,
                  "record: \"edit.direction\" must be \"left\", \"right\", \"up\" or \"down\"");
  return DIF_OK;
}

/* The schema of a settings row's value in a record. */
static field setting_field(const dif__setting *r) {
  switch (r->kind) {
  case DIF__SETTING_SCALE: return (field)FIELD(r->key, K_NUM);
  case DIF__SETTING_SCHEDULER:
  case DIF__SETTING_SEED_U64:
  case DIF__SETTING_BLEND:
  case DIF__SETTING_COMMENT: return (field)FIELD(r->key, K_STR);
  default: return (field)INT_FIELD(r->key, r->record_lo, r->record_hi);
  }
}

/* top_head, the settings' keys, top_tail; returns the count. */
static size_t top_fields(field *out) {
  size_t n = 0;
  for (size_t i = 0; i < N(top_head); i++) out[n++] = top_head[i];
  for (int i = 0; i < dif__n_settings && n < MAX_TOP_FIELDS - N(top_tail); i++)
    if (dif__settings[i].key) out[n++] = setting_field(&dif__settings[i]);
  for (size_t i = 0; i < N(top_tail); i++) out[n++] = top_tail[i];
  return n;
}

/* The whole record, before any of it is used. *seed gets the seed when
 * *has_seed. */
static dif_status check_record(const json_t *o, uint64_t *seed, int *has_seed, why *w) {
  field top[MAX_TOP_FIELDS];
  if (check_object(o, top, top_fields(top), "", w)) return w->status;
  if (require(o, "prompt", "", w) || check_prompt(json_object_get(o, "prompt"), w))
    return w->status;
  if (!json_object_get(o, "width") != !json_object_get(o, "height"))
    return refuse(w, DIF_ERR_INVALID_ARGUMENT,
                  "record: \"width\" and \"height\" come together (one is missing)");
  const json_t *index = json_object_get(o, "index"), *batch = json_object_get(o, "batch");
  if (index && json_integer_value(index) >= (batch ? json_integer_value(batch) : 1))
    return refuse(w, DIF_ERR_INVALID_ARGUMENT,
                  "record: \"index\" %lld is not an image of a batch of %lld (0 to batch - 1)",
                  (long long)json_integer_value(index),
                  (long long)(batch ? json_integer_value(batch) : 1));
  const char *blend = json_string_value(json_object_get(o, "blend"));
  if (blend && strcmp(blend, "sum") != 0 && strcmp(blend, "slerp") != 0)
    return refuse(w, DIF_ERR_INVALID_ARGUMENT, "record: \"blend\" must be \"sum\" or \"slerp\"");
  const char *prec = json_string_value(json_object_get(o, "precision"));
  if (prec && strcmp(prec, "exact") != 0 && strcmp(prec, "fast") != 0)
    return refuse(w, DIF_ERR_INVALID_ARGUMENT,
                  "record: \"precision\" must be \"exact\" or \"fast\"");
  const json_t *init = json_object_get(o, "init_image"), *model = json_object_get(o, "model");
  if (init &&
      (check_object(init, init_fields, N(init_fields), "init_image.", w) ||
       check_image_object(init, "init_image.", w) || require(init, "strength", "init_image.", w)))
    return w->status;
  if (model && check_model(model, w)) return w->status;
  char lmsg[512];
  dif_status ls = dif__record_check_loras(json_object_get(o, "loras"), lmsg, sizeof lmsg);
  if (ls) return refuse(w, ls, "%s", lmsg);
  ls = dif__record_check_embeddings(json_object_get(o, "embeddings"), lmsg, sizeof lmsg);
  if (ls) return refuse(w, ls, "%s", lmsg);
  if (check_edit(json_object_get(o, "mask"), json_object_get(o, "edit"), w)) return w->status;
  /* the exact 64-bit seed is in seed_u64 (JSON integers are signed); seed
   * holds the same bits as a signed value */
  const json_t *u = json_object_get(o, "seed_u64"), *sd = json_object_get(o, "seed");
  *has_seed = u || sd;
  if (u && parse_u64(json_string_value(u), seed))
    return refuse(w, DIF_ERR_INVALID_ARGUMENT,
                  "record: \"seed_u64\" must be the decimal digits of a number from 0 to "
                  "18446744073709551615");
  if (u && sd && (uint64_t)json_integer_value(sd) != *seed)
    return refuse(w, DIF_ERR_INVALID_ARGUMENT,
                  "record: \"seed\" and \"seed_u64\" name different seeds");
  if (!u && sd) *seed = (uint64_t)json_integer_value(sd);
  return DIF_OK;
}

static json_t *parse(const char *json, why *w) {
  if (!json) {
    refuse(w, DIF_ERR_INVALID_ARGUMENT, "record: json is NULL");
    return NULL;
  }
  json_error_t je;
  json_t *o = json_loads(json, JSON_REJECT_DUPLICATES, &je);
  if (!o) {
    /* jansson's text ends with " near '<token>'": the token is named only
     * for a duplicate key (it is the key) */
    char *near = strstr(je.text, " near '"), tok[96] = "";
    if (near) {
      *near = '\0';
      char *t = near + 7, *end = strrchr(t, '\'');
      if (end) *end = '\0';
      size_t len = strlen(t);
      if (len >= 2 && t[0] == '"' && t[len - 1] == '"') { /* a key: the string's raw text */
        t[len - 1] = '\0';
        t++;
      }
      shown(t, tok, sizeof tok);
    }
    if (json_error_code(&je) == json_error_duplicate_key)
      refuse(w, DIF_ERR_INVALID_ARGUMENT, "record: duplicate key \"%s\" (line %d, column %d)", tok,
             je.line, je.column);
    else
      refuse(w, DIF_ERR_INVALID_ARGUMENT, "record: not valid JSON: %s (line %d, column %d)",
             je.text, je.line, je.column);
    return NULL;
  }
  if (!json_is_object(o)) {
    refuse(w, DIF_ERR_INVALID_ARGUMENT, "record: must be a JSON object, not %s", type_of(o));
    json_decref(o);
    return NULL;
  }
  return o;
}

/* ---- image files of a record ---- */

/* dir/rel for the image file `where` names: rel relative, no ".." component. */
static dif_status image_path(const char *dir, const char *rel, const char *where, char *out,
                             size_t n, why *w) {
  char shown_rel[128];
  if (!dir || !*dir)
    return refuse(w, DIF_ERR_INVALID_ARGUMENT,
                  "record: \"%s\" names an image file: reading it needs the record's folder "
                  "(dif_prompt_from_record, dif_sample_apply_record)",
                  where);
  if (!*rel) return refuse(w, DIF_ERR_INVALID_ARGUMENT, "record: \"%s\" is an empty path", where);
  if (rel[0] == '/')
    return refuse(w, DIF_ERR_INVALID_ARGUMENT,
                  "record: \"%s\" is the absolute path \"%s\"; a record names its images "
                  "relative to its own folder",
                  where, shown(rel, shown_rel, sizeof shown_rel));
  for (const char *c = rel; *c;) {
    size_t len = strcspn(c, "/");
    if (len == 2 && c[0] == '.' && c[1] == '.')
      return refuse(w, DIF_ERR_INVALID_ARGUMENT,
                    "record: \"%s\" is \"%s\", which leaves the record's folder (\"..\"); a "
                    "record names its images inside its own folder",
                    where, shown(rel, shown_rel, sizeof shown_rel));
    c += len;
    while (*c == '/') c++;
  }
  if ((size_t)snprintf(out, n, "%s/%s", dir, rel) >= n)
    return refuse(w, DIF_ERR_LIMIT, "record: \"%s\": the path is longer than %zu bytes", where,
                  n - 1);
  return DIF_OK;
}

/* Reads the image file an image object names, checking its xxh3 before
 * decoding; *path gets where it was found. */
static dif_status load_image(const json_t *image, const char *dir, const char *where,
                             dif__image *img, uint64_t *xxh3, char *path, size_t n, why *w) {
  const char *rel = json_string_value(json_object_get(image, "image"));
  if (strcmp(rel, "pixels") == 0)
    return refuse(w, DIF_ERR_UNSUPPORTED,
                  "record: \"%s\" was given as pixels, which the record cannot restore", where);
  if (image_path(dir, rel, where, path, n, w)) return w->status;
  parse_xxh3(json_string_value(json_object_get(image, "xxh3")), xxh3);
  dif__image_limits l = {DIF_MAX_IMAGE_SIDE, DIF_MAX_IMAGE_SIDE, DIF_MAX_IMAGE_PIXELS, 0};
  dif__error e = {0};
  if (dif__image_load_hashed(path, &l, xxh3, NULL, img, &e))
    return refuse(w, e.status, "record: \"%s\": %s", where, e.msg);
  return DIF_OK;
}

/* ---- the prompt ---- */

DIF_API dif_status dif_prompt_from_record(const char *json, const char *record_dir,
                                          dif_prompt **out) {
  if (!out)
    return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_prompt_from_record: out is NULL");
  *out = NULL;
  why w = {0};
  uint64_t seed;
  int has_seed;
  json_t *o = parse(json, &w);
  if (!o || check_record(o, &seed, &has_seed, &w)) {
    json_decref(o);
    return dif__thread_fail(w.status, "%s", w.msg);
  }
  dif_prompt *p = NULL;
  dif_status s = dif_prompt_new(&p);
  size_t i;
  json_t *part;
  json_array_foreach(json_object_get(o, "prompt"), i, part) {
    if (s) break;
    json_t *text = json_object_get(part, "text");
    float weight = (float)json_number_value(json_object_get(part, "weight"));
    char where[32];
    snprintf(where, sizeof where, "prompt[%zu]", i);
    if (text) {
      s = dif_prompt_add_text(p, json_string_value(text), weight);
      if (s) refuse(&w, s, "record: \"%s\": %s", where, dif_prompt_last_error(p));
      continue;
    }
    dif__image img;
    uint64_t xxh3;
    char path[4096];
    if ((s = load_image(part, record_dir, where, &img, &xxh3, path, sizeof path, &w))) break;
    const json_t *width = json_object_get(part, "width"), *height = json_object_get(part, "height");
    if ((width && json_integer_value(width) != img.width) ||
        (height && json_integer_value(height) != img.height)) {
      s = refuse(&w, DIF_ERR_BAD_IMAGE, "record: \"%s\": %s is %dx%d, the record says %lldx%lld",
                 where, path, img.width, img.height, (long long)json_integer_value(width),
                 (long long)json_integer_value(height));
      dif__image_free(&img);
      break;
    }
    if ((s = dif__prompt_add_decoded(p, "dif_prompt_from_record", &img, path, xxh3, weight)))
      refuse(&w, s, "record: \"%s\": %s", where, dif_prompt_last_error(p));
  }
  json_t *neg = json_object_get(o, "negative");
  if (!s && neg && (s = dif_prompt_set_negative(p, json_string_value(neg))))
    refuse(&w, s, "record: \"negative\": %s", dif_prompt_last_error(p));
  json_decref(o);
  if (s) {
    dif_prompt_free(p);
    return dif__thread_fail(s, "%s", w.msg);
  }
  *out = p;
  dif__thread_ok();
  return DIF_OK;
}

DIF_API dif_status dif_prompt_from_parameters(const char *json, dif_prompt **out) {
  return dif_prompt_from_record(json, NULL, out);
}

/* ---- the settings ---- */

/* A setter's failure, with the record's key in front of its message. */
static dif_status keyed(dif_sample *s, dif_status st, const char *key) {
  if (!st) return DIF_OK;
  char msg[DIF__ERROR_MSG_MAX];
  snprintf(msg, sizeof msg, "%s", dif_sample_last_error(s));
  return dif__sample_fail(s, st, "record: \"%s\": %s", key, msg);
}

static int32_t int_of(const json_t *o, const char *key) {
  return (int32_t)json_integer_value(json_object_get(o, key)); /* in range: check_record */
}
static float num_of(const json_t *o, const char *key) {
  return (float)json_number_value(json_object_get(o, key)); /* within float range */
}
static const char *str_of(const json_t *o, const char *key) {
  return json_string_value(json_object_get(o, key));
}

/* Row r's value in the record o (checked by check_record) on the sample,
 * through the setter of its kind; seed: the record's (seed_u64 or seed). */
static dif_status apply_setting(dif_sample *s, const dif__setting *r, const json_t *o,
                                uint64_t seed) {
  const json_t *v = json_object_get(o, r->key);
  int32_t f;
  switch (r->kind) {
  case DIF__SETTING_SIZE: /* with "height"; an x4 upscaler's output is 4 × the sample's size */
    f = dif__sample_output_scale(s);
    return keyed(s, dif_sample_set_size(s, int_of(o, "width") / f, int_of(o, "height") / f),
                 r->key);
  case DIF__SETTING_STEPS:
  case DIF__SETTING_BATCH:
  case DIF__SETTING_NOISE_LEVEL:
    return keyed(s, dif__sample_set_int(s, r, (int32_t)json_integer_value(v)), r->key);
  case DIF__SETTING_SCALE:
    return keyed(s, dif__sample_set_scale(s, r, (float)json_number_value(v)), r->key);
  case DIF__SETTING_SCHEDULER:
    return keyed(s, dif__sample_set_name(s, r, json_string_value(v)), r->key);
  case DIF__SETTING_INDEX: dif__sample_set_keep(s, (int32_t)json_integer_value(v)); return DIF_OK;
  case DIF__SETTING_BLEND:
    return keyed(s,
                 dif_sample_set_blend(s, strcmp(json_string_value(v), "slerp") == 0
                                             ? DIF_BLEND_SLERP
                                             : DIF_BLEND_SUM),
                 r->key);
  case DIF__SETTING_SEED: return keyed(s, dif_sample_set_seed(s, seed), r->key);
  default: return DIF_OK; /* seed_u64: with seed */
  }
}

/* The record's mask or edit (checked by check_edit) on the sample: an edit
 * runs on the picture's size, which the record keeps in the edit. */
static dif_status apply_edit(dif_sample *s, const json_t *o, const char *dir, why *w) {
  const json_t *mask = json_object_get(o, "mask"), *edit = json_object_get(o, "edit");
  const json_t *rect = json_object_get(mask, "rect");
  dif_status st = DIF_OK;
  if (rect)
    st = keyed(s,
               dif_sample_set_mask_rect(s, (int32_t)json_integer_value(json_array_get(rect, 0)),
                                        (int32_t)json_integer_value(json_array_get(rect, 1)),
                                        (int32_t)json_integer_value(json_array_get(rect, 2)),
                                        (int32_t)json_integer_value(json_array_get(rect, 3))),
               "mask.rect");
  if (mask && !rect) {
    dif__image img;
    uint64_t xxh3;
    char path[4096];
    if ((st = load_image(mask, dir, "mask", &img, &xxh3, path, sizeof path, w)))
      return dif__sample_fail(s, st, "%s", w->msg);
    char *abs = realpath(path, NULL);
    st = keyed(
        s, dif__sample_set_mask_decoded(s, "dif_sample_apply_record", &img, abs ? abs : path, xxh3),
        "mask");
    free(abs);
  }
  const json_t *crop = json_object_get(mask, "crop_padding");
  if (!st && mask)
    st = keyed(
        s,
        dif_sample_set_mask_crop(s, crop ? (int32_t)json_integer_value(crop) : DIF_MASK_CROP_NONE),
        "mask.crop_padding");
  if (st || !edit) return st;
  st =
      keyed(s, dif_sample_set_size(s, int_of(edit, "width"), int_of(edit, "height")), "edit.width");
  int op = index_in(edit_ops, str_of(edit, "op"));
  if (!st && op == 0)
    st = keyed(s, dif_sample_set_zoom_out(s, num_of(edit, "factor")), "edit.factor");
  if (!st && op == 1) st = keyed(s, dif_sample_set_make_square(s), "edit.op");
  if (!st && op == 2)
    st = keyed(s,
               dif_sample_set_pan(s, (dif_direction)index_in(edit_dirs, str_of(edit, "direction")),
                                  num_of(edit, "amount")),
               "edit.amount");
  if (!st && op == 3)
    st = keyed(
        s,
        dif_sample_set_upscale(s, num_of(edit, "factor"),
                               (dif_upscale_mode)index_in(upscale_modes, str_of(edit, "mode"))),
        "edit.factor");
  return st;
}

DIF_API dif_status dif_sample_apply_record(dif_sample *s, const char *json,
                                           const char *record_dir) {
  if (!s)
    return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_sample_apply_record: sample is NULL");
  why w = {0};
  uint64_t seed = 0;
  int has_seed = 0;
  json_t *o = parse(json, &w);
  if (!o || check_record(o, &seed, &has_seed, &w)) {
    json_decref(o);
    return dif__sample_fail(s, w.status, "%s", w.msg);
  }
  dif_status st = DIF_OK;
  const dif__setting *r;
  for (int i = 0; !st && (r = dif__setting_in_order(i, 1)); i++)
    if (json_object_get(o, r->key) || (r->kind == DIF__SETTING_SEED && has_seed))
      st = apply_setting(s, r, o, seed);
  if (!st && json_object_get(o, "init_image")) {
    const json_t *init = json_object_get(o, "init_image");
    dif__image img;
    uint64_t xxh3;
    char path[4096];
    if ((st = load_image(init, record_dir, "init_image", &img, &xxh3, path, sizeof path, &w)))
      dif__sample_fail(s, st, "%s", w.msg);
    else
      st = keyed(s,
                 dif__sample_set_init_decoded(s, "dif_sample_apply_record", &img, path, xxh3,
                                              num_of(init, "strength")),
                 "init_image");
  }
  if (!st) st = apply_edit(s, o, record_dir, &w);
  json_decref(o);
  return st;
}

DIF_API dif_status dif_sample_apply_parameters(dif_sample *s, const char *json) {
  return dif_sample_apply_record(s, json, NULL);
}

/* ---- writing ---- */

const char *dif__record_base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* What a record stores for the image file at the absolute path src when it
 * is saved in the folder whose canonical path is dir (NULL: unknown). */
static const char *relative_to(const char *src, const char *dir) {
  if (src && src[0] == '/' && dir) {
    size_t k = strcmp(dir, "/") == 0 ? 0 : strlen(dir);
    if (strncmp(src, dir, k) == 0 && src[k] == '/') return src + k + 1;
  }
  return src ? dif__record_base_name(src) : NULL;
}

/* The image object obj's file name relative to dir, while obj's xxh3 is
 * the file's. */
static void place(json_t *obj, const char *source, uint64_t xxh3, const char *dir) {
  const char *hash = json_string_value(json_object_get(obj, "xxh3"));
  uint64_t h;
  if (source && hash && !parse_xxh3(hash, &h) && h == xxh3)
    json_object_set_new(obj, "image", json_string(relative_to(source, dir)));
}

char *dif__record_for_png(const char *params, const char *const *sources, int n_sources,
                          const char *init_source, uint64_t init_xxh3, const char *mask_source,
                          uint64_t mask_xxh3, const char *png_path) {
  json_t *o = params ? json_loads(params, 0, NULL) : NULL;
  if (!json_is_object(o)) {
    json_decref(o);
    return NULL;
  }
  char folder[4096], canon[PATH_MAX];
  const char *slash = strrchr(png_path, '/');
  if (!slash)
    snprintf(folder, sizeof folder, ".");
  else
    snprintf(folder, sizeof folder, "%.*s", slash == png_path ? 1 : (int)(slash - png_path),
             png_path);
  const char *dir = realpath(folder, canon) ? canon : NULL;
  size_t i;
  json_t *part;
  json_array_foreach(json_object_get(o, "prompt"), i, part) {
    const char *rel = (int)i < n_sources ? relative_to(sources[i], dir) : NULL;
    if (rel && json_object_get(part, "xxh3")) json_object_set_new(part, "image", json_string(rel));
  }
  place(json_object_get(o, "init_image"), init_source, init_xxh3, dir);
  place(json_object_get(o, "mask"), mask_source, mask_xxh3, dir);
  char *text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
  json_decref(o);
  return text;
}

char *dif__record_with_index(const char *record, int32_t index) {
  json_t *o = record ? json_loads(record, 0, NULL) : NULL;
  if (!json_is_object(o)) {
    json_decref(o);
    return NULL;
  }
  json_t *batch = json_object_get(o, "batch");
  if (json_integer_value(batch) > 1 && !json_object_get(o, "index")) {
    /* right after "batch", where a run that kept one image writes it */
    json_t *n = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
      json_object_set(n, key, v);
      if (!strcmp(key, "batch")) json_object_set_new(n, "index", json_integer(index));
    }
    json_decref(o);
    o = n;
  }
  char *text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
  json_decref(o);
  return text;
}

dif_status dif__record_save(const dif__image *img, const char *path, dif__image_format format,
                            const char *record, dif__error *err) {
  char *infotext = record ? dif__record_infotext(record) : NULL;
  dif__image_meta meta = {record, infotext};
  dif_status s = dif__image_save(img, path, format, &meta, err);
  free(infotext);
  return s;
}

static dif_status write_image(const char *fn, const char *path, dif__image_format format,
                              const uint8_t *rgb, int32_t width, int32_t height, int32_t stride,
                              const char *parameters) {
  if (!path) return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "%s: path is NULL", fn);
  dif__image img;
  dif__error err = {0};
  dif_status s = dif__image_from_rgb(rgb, width, height, stride, &img, &err);
  if (!s) s = dif__record_save(&img, path, format, parameters, &err);
  dif__image_free(&img);
  if (s) return dif__thread_fail(s, "%s: %s", fn, err.msg);
  dif__thread_ok();
  return DIF_OK;
}

DIF_API dif_status dif_write_png(const char *path, const uint8_t *rgb, int32_t width,
                                 int32_t height, int32_t stride, const char *parameters) {
  return write_image("dif_write_png", path, DIF__IMAGE_FORMAT_PNG, rgb, width, height, stride,
                     parameters);
}

DIF_API dif_status dif_write_image(const char *path, const uint8_t *rgb, int32_t width,
                                   int32_t height, int32_t stride, const char *parameters) {
  if (path && dif_check_output_format(path)) return DIF_ERR_UNSUPPORTED;
  return write_image("dif_write_image", path, dif__image_format_for_path(path), rgb, width, height,
                     stride, parameters);
}

DIF_API dif_status dif_check_output_format(const char *path) {
  if (!path || !*path)
    return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_check_output_format: %s path",
                            path ? "empty" : "NULL");
  if (dif__image_format_for_path(path) == DIF__IMAGE_FORMAT_UNKNOWN) {
    char name[128];
    return dif__thread_fail(DIF_ERR_UNSUPPORTED,
                            "%s: unknown image format: name the file .png, .jpg, .jpeg or .webp",
                            shown(path, name, sizeof name));
  }
  dif__thread_ok();
  return DIF_OK;
}

/* ---- the model a record was made with ---- */

DIF_API dif_status dif_context_check_record(const dif_context *ctx, const char *json) {
  if (!ctx || !json)
    return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_context_check_record: %s is NULL",
                            ctx ? "json" : "ctx");
  why w = {0};
  json_t *o = parse(json, &w);
  if (!o) return dif__thread_fail(w.status, "%s", w.msg);
  json_t *model = json_object_get(o, "model");
  if (model && check_model(model, &w)) {
    json_decref(o);
    return dif__thread_fail(w.status, "%s", w.msg);
  }
  int n = dif_context_model_file_count(ctx);
  if (n == 0) {
    json_decref(o);
    return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT,
                            "dif_context_check_record: the context has no model loaded");
  }
  size_t i;
  json_t *file;
  dif_status st = DIF_OK;
  json_array_foreach(json_object_get(model, "files"), i, file) {
    uint64_t want;
    parse_xxh3(json_string_value(json_object_get(file, "xxh3")), &want);
    int found = 0;
    for (int j = 0; j < n && !found; j++) {
      uint64_t have;
      dif_context_model_file(ctx, j, NULL, NULL, &have);
      found = have == want;
    }
    if (found) continue;
    /* the loaded file of the same name, if any, for the message */
    const char *name = json_string_value(json_object_get(file, "file")), *have_path;
    uint64_t have = 0;
    int same = -1;
    for (int j = 0; j < n && same < 0; j++) {
      dif_context_model_file(ctx, j, &have_path, NULL, &have);
      if (!strcmp(have_path, name)) same = j;
    }
    char rec_dir[256], file_name[128], loaded[160] = "";
    const char *dir = json_string_value(json_object_get(model, "dir"));
    if (same >= 0)
      snprintf(loaded, sizeof loaded, "; the loaded one's is %016llx", (unsigned long long)have);
    st = dif__thread_fail(DIF_ERR_INVALID_ARGUMENT,
                          "the record was made with another model: the model in \"%s\", whose "
                          "%s has the xxh3 %016llx%s; the loaded model is \"%s\"",
                          dir ? shown(dir, rec_dir, sizeof rec_dir) : "(not named)",
                          shown(name, file_name, sizeof file_name), (unsigned long long)want,
                          loaded, dif__model_folder_dir(ctx->models.folder));
    break;
  }
  json_decref(o);
  if (!st) dif__thread_ok();
  return st;
}

DIF_API dif_status dif_context_apply_record_in(dif_context *ctx, const char *json,
                                               const char *record_dir) {
  if (!ctx)
    return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_context_apply_record: ctx is NULL");
  if (!json)
    return dif__ctx_failf(ctx, DIF_ERR_INVALID_ARGUMENT, "dif_context_apply_record: json is NULL");
  why w = {0};
  json_t *o = parse(json, &w);
  uint64_t seed;
  int has_seed;
  if (o && check_record(o, &seed, &has_seed, &w)) json_decref(o), o = NULL;
  if (!o) return dif__ctx_failf(ctx, w.status, "%s", w.msg);
  /* a record without "precision" predates the fast path: it was exact */
  const char *prec = json_string_value(json_object_get(o, "precision"));
  const dif_precision p = prec && !strcmp(prec, "fast") ? DIF_PRECISION_FAST : DIF_PRECISION_EXACT;
  dif_status s = dif_context_set_precision(ctx, p);
  const json_t *loras = json_object_get(o, "loras");
  char msg[DIF__ERROR_MSG_MAX];
  if (!s && loras && (s = dif__record_apply_loras(ctx, loras, record_dir, msg, sizeof msg)))
    dif__ctx_failf(ctx, s, "%s", msg);
  const json_t *embs = json_object_get(o, "embeddings");
  if (!s && embs && (s = dif__record_apply_embeddings(ctx, embs, record_dir, msg, sizeof msg)))
    dif__ctx_failf(ctx, s, "%s", msg);
  json_decref(o);
  return s;
}

DIF_API dif_status dif_context_apply_record(dif_context *ctx, const char *json) {
  return dif_context_apply_record_in(ctx, json, NULL);
}

DIF_API dif_status dif_check_output_path(const char *path) {
  dif__error err = {0};
  dif_status s = dif__file_check_output(path, &err);
  if (s) return dif__thread_fail(s, "dif_check_output_path: %s", err.msg);
  dif__thread_ok();
  return DIF_OK;
}

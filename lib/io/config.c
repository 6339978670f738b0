/* config.c — JSON configs through jansson (see config.h). */
#include "io/config.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/fileio.h"

struct dif__config {
  json_t *root;
  char *path;
};

static dif_status finish(json_t *root, const json_error_t *je, const char *name, dif__config **out,
                         dif__error *err) {
  if (!root)
    return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: invalid JSON: %s (line %d, column %d)", name,
                     je->text, je->line, je->column);
  if (!json_is_object(root)) {
    json_decref(root);
    return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: top level is not a JSON object", name);
  }
  dif__config *c = calloc(1, sizeof *c);
  char *p = strdup(name);
  if (!c || !p) {
    free(c);
    free(p);
    json_decref(root);
    return dif__fail_oom(err, "config", sizeof *c);
  }
  c->root = root;
  c->path = p;
  *out = c;
  return DIF_OK;
}

/* Python's json module writes float('inf') as the bare tokens Infinity and
 * -Infinity (diffusers saves "lambda_min_clipped": -Infinity in some
 * DPMSolverMultistepScheduler configs); they are not JSON and jansson cannot
 * hold an infinity. Outside strings they are rewritten as marker strings
 * that the number getters read back as ±infinity; NaN is left to fail. */
static const char INF_MARK[] = "\\u0001Infinity", NEG_INF_MARK[] = "\\u0001-Infinity";

static bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* A copy of text[0, len) with the bare infinities quoted (malloc'd; *out_len
 * its length), or NULL when out of memory. */
static char *quote_infinities(const char *text, size_t len, size_t *out_len) {
  static const char word[] = "Infinity";
  const size_t wl = sizeof word - 1;
  /* each input byte gives at most 2 output bytes ("Infinity", 8, becomes 16; "-Infinity" 17) */
  char *o = malloc(2 * len + 1);
  if (!o) return NULL;
  size_t n = 0;
  bool in_str = false;
  for (size_t i = 0; i < len; i++) {
    char c = text[i];
    if (in_str) {
      if (c == '\\' && i + 1 < len) {
        o[n++] = c;
        c = text[++i];
      } else if (c == '"') {
        in_str = false;
      }
    } else if (c == '"') {
      in_str = true;
    } else {
      bool neg = c == '-' && i + 1 < len && text[i + 1] == 'I';
      size_t at = i + (neg ? 1 : 0);
      if ((c == 'I' || neg) && (i == 0 || !is_word_char(text[i - 1])) && len - at >= wl &&
          memcmp(text + at, word, wl) == 0 && (at + wl == len || !is_word_char(text[at + wl]))) {
        n += (size_t)sprintf(o + n, "\"%s\"", neg ? NEG_INF_MARK : INF_MARK);
        i = at + wl - 1;
        continue;
      }
    }
    o[n++] = c;
  }
  *out_len = n;
  return o;
}

/* A JSON number, or one of the infinities above. */
static bool number_of(const json_t *v, double *out) {
  if (json_is_number(v)) {
    *out = json_number_value(v);
    return true;
  }
  const char *str = json_string_value(v); /* NULL if not a string */
  if (str && str[0] == '\x01') {
    if (!strcmp(str + 1, "Infinity")) return *out = INFINITY, true;
    if (!strcmp(str + 1, "-Infinity")) return *out = -INFINITY, true;
  }
  return false;
}

/* A JSON string of the file (not an infinity marker). */
static bool is_string(const json_t *v) {
  return json_is_string(v) && json_string_value(v)[0] != '\x01';
}

static json_t *parse(const char *text, size_t len, json_error_t *je) {
  size_t n = 0;
  char *q = quote_infinities(text, len, &n);
  if (!q) {
    snprintf(je->text, sizeof je->text, "out of memory");
    je->line = je->column = 0;
    return NULL;
  }
  json_t *root = json_loadb(q, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, je);
  free(q);
  return root;
}

dif_status dif__config_load(const char *path, dif__config **out, dif__error *err) {
  *out = NULL;
  int fd;
  struct stat sb;
  dif_status s = dif__file_open_read(path, &fd, &sb, err);
  if (s) return s;
  /* Configs are small; the cap keeps a hostile file from eating memory. */
  if (sb.st_size > DIF__CONFIG_MAX_BYTES) {
    close(fd);
    return dif__fail(err, DIF_ERR_LIMIT, "%s: %lld bytes is larger than the %d-byte config limit",
                     path, (long long)sb.st_size, DIF__CONFIG_MAX_BYTES);
  }
  uint8_t *data = NULL;
  size_t len = 0;
  s = dif__file_read_fd(fd, path, DIF__CONFIG_MAX_BYTES, &data, &len, err);
  close(fd);
  if (s) return s;
  const char *text = data ? (const char *)data : "";
  json_error_t je;
  json_t *root = parse(text, len, &je);
  free(data);
  return finish(root, &je, path, out, err);
}

dif_status dif__config_parse(const char *text, size_t len, const char *name, dif__config **out,
                             dif__error *err) {
  *out = NULL;
  json_error_t je;
  json_t *root = parse(text, len, &je);
  return finish(root, &je, name, out, err);
}

void dif__config_free(dif__config *c) {
  if (!c) return;
  json_decref(c->root);
  free(c->path);
  free(c);
}

const char *dif__config_path(const dif__config *c) { return c->path; }
struct json_t *dif__config_json(const dif__config *c) {
  return c->root;
}

static json_t *get(const dif__config *c, const char *key) {
  json_t *v = json_object_get(c->root, key);
  return json_is_null(v) ? NULL : v;
}

bool dif__config_has(const dif__config *c, const char *key) { return get(c, key) != NULL; }

static dif_status missing(const dif__config *c, const char *key, dif__error *err) {
  return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: missing key '%s'", c->path, key);
}

static dif_status wrong(const dif__config *c, const char *key, const char *want, dif__error *err) {
  return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: key '%s' must be %s", c->path, key, want);
}

dif_status dif__config_int(const dif__config *c, const char *key, int64_t *out, dif__error *err) {
  json_t *v = get(c, key);
  if (!v) return missing(c, key, err);
  if (!json_is_integer(v)) return wrong(c, key, "an integer", err);
  *out = json_integer_value(v);
  return DIF_OK;
}

dif_status dif__config_int_opt(const dif__config *c, const char *key, int64_t dflt, int64_t *out,
                               dif__error *err) {
  if (!get(c, key)) {
    *out = dflt;
    return DIF_OK;
  }
  return dif__config_int(c, key, out, err);
}

dif_status dif__config_num(const dif__config *c, const char *key, double *out, dif__error *err) {
  json_t *v = get(c, key);
  if (!v) return missing(c, key, err);
  if (!number_of(v, out)) return wrong(c, key, "a number", err);
  return DIF_OK;
}

dif_status dif__config_num_opt(const dif__config *c, const char *key, double dflt, double *out,
                               dif__error *err) {
  if (!get(c, key)) {
    *out = dflt;
    return DIF_OK;
  }
  return dif__config_num(c, key, out, err);
}

dif_status dif__config_bool_opt(const dif__config *c, const char *key, bool dflt, bool *out,
                                dif__error *err) {
  json_t *v = get(c, key);
  if (!v) {
    *out = dflt;
    return DIF_OK;
  }
  if (!json_is_boolean(v)) return wrong(c, key, "true or false", err);
  *out = json_is_true(v);
  return DIF_OK;
}

dif_status dif__config_str(const dif__config *c, const char *key, const char **out,
                           dif__error *err) {
  json_t *v = get(c, key);
  if (!v) return missing(c, key, err);
  if (!is_string(v)) return wrong(c, key, "a string", err);
  *out = json_string_value(v);
  return DIF_OK;
}

dif_status dif__config_str_opt(const dif__config *c, const char *key, const char *dflt,
                               const char **out, dif__error *err) {
  if (!get(c, key)) {
    *out = dflt;
    return DIF_OK;
  }
  return dif__config_str(c, key, out, err);
}

static dif_status list_of(const dif__config *c, const char *key, int max, json_t **arr,
                          dif__error *err) {
  json_t *v = get(c, key);
  if (!v) return missing(c, key, err);
  if (!json_is_array(v)) return wrong(c, key, "a list", err);
  if (json_array_size(v) > (size_t)max)
    return dif__fail(err, DIF_ERR_UNSUPPORTED, "%s: key '%s' has %zu entries (at most %d)", c->path,
                     key, json_array_size(v), max);
  *arr = v;
  return DIF_OK;
}

dif_status dif__config_int_list(const dif__config *c, const char *key, int64_t *out, int max,
                                int *n, bool allow_scalar, int n_if_scalar, dif__error *err) {
  json_t *v = get(c, key);
  if (allow_scalar && json_is_integer(v)) {
    if (n_if_scalar > max)
      return dif__fail(err, DIF_ERR_UNSUPPORTED, "%s: key '%s': %d entries (at most %d)", c->path,
                       key, n_if_scalar, max);
    for (int i = 0; i < n_if_scalar; i++) out[i] = json_integer_value(v);
    *n = n_if_scalar;
    return DIF_OK;
  }
  json_t *arr;
  dif_status s = list_of(c, key, max, &arr, err);
  if (s) return s;
  size_t i;
  json_t *x;
  json_array_foreach(arr, i, x) {
    if (!json_is_integer(x)) return wrong(c, key, "a list of integers", err);
    out[i] = json_integer_value(x);
  }
  *n = (int)json_array_size(arr);
  return DIF_OK;
}

dif_status dif__config_str_list(const dif__config *c, const char *key, const char **out, int max,
                                int *n, dif__error *err) {
  json_t *arr;
  dif_status s = list_of(c, key, max, &arr, err);
  if (s) return s;
  size_t i;
  json_t *x;
  json_array_foreach(arr, i, x) {
    if (!is_string(x)) return wrong(c, key, "a list of strings", err);
    out[i] = json_string_value(x);
  }
  *n = (int)json_array_size(arr);
  return DIF_OK;
}

dif_status dif__config_num_list(const dif__config *c, const char *key, double *out, int max, int *n,
                                dif__error *err) {
  json_t *arr;
  dif_status s = list_of(c, key, max, &arr, err);
  if (s) return s;
  size_t i;
  json_t *x;
  json_array_foreach(arr, i, x) {
    if (!number_of(x, &out[i])) return wrong(c, key, "a list of numbers", err);
  }
  *n = (int)json_array_size(arr);
  return DIF_OK;
}

/* config.c — JSON configs through jansson (see config.h). */
#include "io/config.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct dif_config {
  json_t *root;
  char *path;
};

static dif_status finish(json_t *root, const json_error_t *je, const char *name, dif_config **out,
                         dif_error *err) {
  if (!root)
    return dif_fail(err, DIF_ERR_BAD_MODEL, "%s: invalid JSON: %s (line %d, column %d)", name,
                    je->text, je->line, je->column);
  if (!json_is_object(root)) {
    json_decref(root);
    return dif_fail(err, DIF_ERR_BAD_MODEL, "%s: top level is not a JSON object", name);
  }
  dif_config *c = calloc(1, sizeof *c);
  char *p = strdup(name);
  if (!c || !p) {
    free(c);
    free(p);
    json_decref(root);
    return dif_fail_oom(err, "config", sizeof *c);
  }
  c->root = root;
  c->path = p;
  *out = c;
  return DIF_OK;
}

dif_status dif_config_load(const char *path, dif_config **out, dif_error *err) {
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return dif_fail(err, DIF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  /* Configs are small; the cap keeps a hostile file from eating memory. */
  struct stat sb;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    fclose(f);
    return dif_fail(err, DIF_ERR_IO, "%s: not a regular file", path);
  }
  if (sb.st_size > DIF_CONFIG_MAX_BYTES) {
    fclose(f);
    return dif_fail(err, DIF_ERR_LIMIT, "%s: %lld bytes is larger than the %d-byte config limit",
                    path, (long long)sb.st_size, DIF_CONFIG_MAX_BYTES);
  }
  json_error_t je;
  json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
  fclose(f);
  return finish(root, &je, path, out, err);
}

dif_status dif_config_parse(const char *text, size_t len, const char *name, dif_config **out,
                            dif_error *err) {
  *out = NULL;
  json_error_t je;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
  return finish(root, &je, name, out, err);
}

void dif_config_free(dif_config *c) {
  if (!c) return;
  json_decref(c->root);
  free(c->path);
  free(c);
}

const char *dif_config_path(const dif_config *c) { return c->path; }
struct json_t *dif_config_json(const dif_config *c) {
  return c->root;
}

static json_t *get(const dif_config *c, const char *key) {
  json_t *v = json_object_get(c->root, key);
  return json_is_null(v) ? NULL : v;
}

bool dif_config_has(const dif_config *c, const char *key) { return get(c, key) != NULL; }

static dif_status missing(const dif_config *c, const char *key, dif_error *err) {
  return dif_fail(err, DIF_ERR_BAD_MODEL, "%s: missing key '%s'", c->path, key);
}

static dif_status wrong(const dif_config *c, const char *key, const char *want, dif_error *err) {
  return dif_fail(err, DIF_ERR_BAD_MODEL, "%s: key '%s' must be %s", c->path, key, want);
}

dif_status dif_config_int(const dif_config *c, const char *key, int64_t *out, dif_error *err) {
  json_t *v = get(c, key);
  if (!v) return missing(c, key, err);
  if (!json_is_integer(v)) return wrong(c, key, "an integer", err);
  *out = json_integer_value(v);
  return DIF_OK;
}

dif_status dif_config_int_opt(const dif_config *c, const char *key, int64_t dflt, int64_t *out,
                              dif_error *err) {
  if (!get(c, key)) {
    *out = dflt;
    return DIF_OK;
  }
  return dif_config_int(c, key, out, err);
}

dif_status dif_config_num(const dif_config *c, const char *key, double *out, dif_error *err) {
  json_t *v = get(c, key);
  if (!v) return missing(c, key, err);
  if (!json_is_number(v)) return wrong(c, key, "a number", err);
  *out = json_number_value(v);
  return DIF_OK;
}

dif_status dif_config_num_opt(const dif_config *c, const char *key, double dflt, double *out,
                              dif_error *err) {
  if (!get(c, key)) {
    *out = dflt;
    return DIF_OK;
  }
  return dif_config_num(c, key, out, err);
}

dif_status dif_config_bool_opt(const dif_config *c, const char *key, bool dflt, bool *out,
                               dif_error *err) {
  json_t *v = get(c, key);
  if (!v) {
    *out = dflt;
    return DIF_OK;
  }
  if (!json_is_boolean(v)) return wrong(c, key, "true or false", err);
  *out = json_is_true(v);
  return DIF_OK;
}

dif_status dif_config_str(const dif_config *c, const char *key, const char **out, dif_error *err) {
  json_t *v = get(c, key);
  if (!v) return missing(c, key, err);
  if (!json_is_string(v)) return wrong(c, key, "a string", err);
  *out = json_string_value(v);
  return DIF_OK;
}

dif_status dif_config_str_opt(const dif_config *c, const char *key, const char *dflt,
                              const char **out, dif_error *err) {
  if (!get(c, key)) {
    *out = dflt;
    return DIF_OK;
  }
  return dif_config_str(c, key, out, err);
}

static dif_status list_of(const dif_config *c, const char *key, int max, json_t **arr,
                          dif_error *err) {
  json_t *v = get(c, key);
  if (!v) return missing(c, key, err);
  if (!json_is_array(v)) return wrong(c, key, "a list", err);
  if (json_array_size(v) > (size_t)max)
    return dif_fail(err, DIF_ERR_UNSUPPORTED, "%s: key '%s' has %zu entries (at most %d)", c->path,
                    key, json_array_size(v), max);
  *arr = v;
  return DIF_OK;
}

dif_status dif_config_int_list(const dif_config *c, const char *key, int64_t *out, int max, int *n,
                               bool allow_scalar, int n_if_scalar, dif_error *err) {
  json_t *v = get(c, key);
  if (allow_scalar && json_is_integer(v)) {
    if (n_if_scalar > max)
      return dif_fail(err, DIF_ERR_UNSUPPORTED, "%s: key '%s': %d entries (at most %d)", c->path,
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

dif_status dif_config_str_list(const dif_config *c, const char *key, const char **out, int max,
                               int *n, dif_error *err) {
  json_t *arr;
  dif_status s = list_of(c, key, max, &arr, err);
  if (s) return s;
  size_t i;
  json_t *x;
  json_array_foreach(arr, i, x) {
    if (!json_is_string(x)) return wrong(c, key, "a list of strings", err);
    out[i] = json_string_value(x);
  }
  *n = (int)json_array_size(arr);
  return DIF_OK;
}

dif_status dif_config_num_list(const dif_config *c, const char *key, double *out, int max, int *n,
                               dif_error *err) {
  json_t *arr;
  dif_status s = list_of(c, key, max, &arr, err);
  if (s) return s;
  size_t i;
  json_t *x;
  json_array_foreach(arr, i, x) {
    if (!json_is_number(x)) return wrong(c, key, "a list of numbers", err);
    out[i] = json_number_value(x);
  }
  *n = (int)json_array_size(arr);
  return DIF_OK;
}

/* defaults.c — libdif's sample defaults and a model's dif_defaults.json
 * (see defaults.h, docs/model-defaults.md). */
#include "pipelines/defaults.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "io/config.h"
#include "io/fileio.h"
#include "pipelines/settings.h"
#include "samplers/scheduler.h"

#define MAX_SIDE DIF_MAX_OUTPUT_SIDE /* as dif_sample_set_size */

void dif__defaults_init(dif_defaults *d, int64_t side, bool unclip) {
  memset(d, 0, sizeof *d);
  int32_t s = side > 0 && side <= MAX_SIDE ? (int32_t)(side - side % 8) : 512;
  d->width = d->height = s >= 8 ? s : 512;
  d->steps = 20;
  d->guidance = unclip ? 10.0f : 7.5f;
  d->prior_steps = 25;
  d->prior_guidance = 4.0f;
  d->noise_level = 0;
  d->max_noise_level = 999;
}

/* The keys a dif_defaults.json may hold are the rows of the settings table
 * (settings.h) with a defaults_key, checked in their `checked` order. */
static const dif__setting *key_at(int i) { return dif__setting_in_order(i, 0); }

static dif_status check_keys(const dif__config *cfg, dif__error *err) {
  const char *key;
  json_t *value;
  json_object_foreach(dif__config_json(cfg), key, value) {
    (void)value;
    bool known = false;
    for (int i = 0; key_at(i); i++) known = known || !strcmp(key, key_at(i)->defaults_key);
    if (!known) {
      char list[256] = "";
      for (int i = 0, len = 0; key_at(i) && len < (int)sizeof list; i++)
        len += snprintf(list + len, sizeof list - (size_t)len, "%s%s", i ? ", " : "",
                        key_at(i)->defaults_key);
      return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: unknown key '%s' (known: %s)",
                       dif__config_path(cfg), key, list);
    }
  }
  return DIF_OK;
}

/* An optional integer key in lo..hi (and, if multiple > 1, a multiple of it). */
static dif_status int_key(const dif__config *cfg, const char *key, int64_t lo, int64_t hi,
                          int64_t multiple, int32_t *out, dif__error *err) {
  int64_t v;
  dif_status s = dif__config_int_opt(cfg, key, *out, &v, err);
  if (s) return s;
  char multiple_of[48] = "";
  if (multiple > 1)
    snprintf(multiple_of, sizeof multiple_of, "a multiple of %lld in ", (long long)multiple);
  if (v < lo || v > hi || (multiple > 1 && v % multiple))
    return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: key '%s' is %lld; it must be %s%lld..%lld",
                     dif__config_path(cfg), key, (long long)v, multiple_of, (long long)lo,
                     (long long)hi);
  *out = (int32_t)v;
  return DIF_OK;
}

/* An optional guidance scale in lo..hi (as the sample setters). */
static dif_status scale_key(const dif__config *cfg, const char *key, int64_t lo, int64_t hi,
                            float *out, dif__error *err) {
  double v;
  dif_status s = dif__config_num_opt(cfg, key, *out, &v, err);
  if (s) return s;
  if (!isfinite(v) || v < (double)lo || v > (double)hi)
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: key '%s' is %g; it must be a number in %lld..%lld", dif__config_path(cfg),
                     key, v, (long long)lo, (long long)hi);
  *out = (float)v;
  return DIF_OK;
}

/* An optional scheduler name, checked (unknown names list the valid ones). */
static dif_status scheduler_key(const dif__config *cfg, const char *key, char *out, size_t size,
                                dif__error *err) {
  const char *name = NULL;
  dif_status s = dif__config_str_opt(cfg, key, NULL, &name, err);
  if (s || !name) return s;
  dif__error e = {0};
  if (dif__scheduler_check_name(name, &e) || strlen(name) >= size)
    return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: key '%s': %s", dif__config_path(cfg), key,
                     e.status ? e.msg : "name too long");
  snprintf(out, size, "%s", name);
  return DIF_OK;
}

static dif_status read_key(dif_defaults *d, const dif__setting *k, const dif__config *cfg,
                           dif__error *err) {
  char *field = (char *)d + k->defaults;
  const char *key = k->defaults_key, *comment;
  switch (k->kind) {
  case DIF__SETTING_SIZE:
  case DIF__SETTING_STEPS:
  case DIF__SETTING_NOISE_LEVEL:
    return int_key(cfg, key, k->lo, dif__setting_hi(k, d->max_noise_level), k->multiple,
                   (int32_t *)(void *)field, err);
  case DIF__SETTING_SCALE: return scale_key(cfg, key, k->lo, k->hi, (float *)(void *)field, err);
  case DIF__SETTING_SCHEDULER: return scheduler_key(cfg, key, field, sizeof d->scheduler, err);
  case DIF__SETTING_COMMENT: return dif__config_str_opt(cfg, key, NULL, &comment, err);
  default: break; /* a kind dif_defaults.json cannot hold */
  }
  return dif__fail(err, DIF_ERR_INTERNAL, "dif_defaults.json: setting kind %d", (int)k->kind);
}

static dif_status read_file(dif_defaults *d, const dif__config *cfg, dif__error *err) {
  dif_status s = check_keys(cfg, err);
  for (int i = 0; key_at(i) && !s; i++) s = read_key(d, key_at(i), cfg, err);
  return s;
}

void dif__defaults_start(const dif_defaults *d, dif__setting_values *v) {
  for (int i = 0; key_at(i); i++) {
    const dif__setting *k = key_at(i);
    const char *from = (const char *)d + k->defaults;
    if (k->kind == DIF__SETTING_SIZE || k->kind == DIF__SETTING_STEPS ||
        k->kind == DIF__SETTING_NOISE_LEVEL)
      memcpy(dif__setting_field(v, k), from, sizeof(int32_t));
    else if (k->kind == DIF__SETTING_SCALE)
      memcpy(dif__setting_field(v, k), from, sizeof(float));
  }
}

dif_status dif__defaults_load(dif_defaults *d, const char *dir, dif__error *err) {
  char path[sizeof d->path];
  if (snprintf(path, sizeof path, "%s/%s", dir, DIF__DEFAULTS_FILE) >= (int)sizeof path)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "%s: path too long", dir);
  /* The file is optional; anything by its name that is not a regular file
   * (a FIFO, a directory, a dangling link) is refused by dif__config_load. */
  int there = dif__file_exists(path);
  if (there == 0) return DIF_OK;
  if (there < 0) return dif__fail(err, DIF_ERR_IO, "%s: %s", path, strerror(errno));
  dif__config *cfg = NULL;
  dif_status s = dif__config_load(path, &cfg, err);
  if (s) return s;
  dif_defaults tmp = *d; /* all or nothing */
  s = read_file(&tmp, cfg, err);
  dif__config_free(cfg);
  if (s) return s;
  *d = tmp;
  d->from_file = true;
  snprintf(d->path, sizeof d->path, "%s", path);
  return DIF_OK;
}

/* defaults.c — libdif's sample defaults and a model's dif_defaults.json
 * (see defaults.h, docs/model-defaults.md). */
#include "pipelines/defaults.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io/config.h"
#include "io/fileio.h"
#include "samplers/scheduler.h"

#define MAX_SIDE DIF_MAX_OUTPUT_SIDE /* as dif_sample_set_size */

void dif_defaults_init(dif_defaults *d, int64_t side, bool unclip) {
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

/* The keys a dif_defaults.json may hold; "comment" is for people. */
static const char *const known_keys[] = {
    "width",          "height",      "steps",     "guidance", "prior_steps",
    "prior_guidance", "noise_level", "scheduler", "comment",  NULL};

static dif_status check_keys(const dif_config *cfg, dif_error *err) {
  const char *key;
  json_t *value;
  json_object_foreach(dif_config_json(cfg), key, value) {
    (void)value;
    bool known = false;
    for (int i = 0; known_keys[i]; i++) known = known || !strcmp(key, known_keys[i]);
    if (!known)
      return dif_fail(err, DIF_ERR_BAD_MODEL,
                      "%s: unknown key '%s' (known: width, height, steps, guidance, prior_steps, "
                      "prior_guidance, noise_level, scheduler, comment)",
                      dif_config_path(cfg), key);
  }
  return DIF_OK;
}

/* An optional integer key in lo..hi (and, if multiple > 1, a multiple of it). */
static dif_status int_key(const dif_config *cfg, const char *key, int64_t lo, int64_t hi,
                          int64_t multiple, int32_t *out, dif_error *err) {
  int64_t v;
  dif_status s = dif_config_int_opt(cfg, key, *out, &v, err);
  if (s) return s;
  if (v < lo || v > hi || (multiple > 1 && v % multiple))
    return dif_fail(err, DIF_ERR_BAD_MODEL, "%s: key '%s' is %lld; it must be %s%lld..%lld",
                    dif_config_path(cfg), key, (long long)v,
                    multiple > 1 ? "a multiple of 8 in " : "", (long long)lo, (long long)hi);
  *out = (int32_t)v;
  return DIF_OK;
}

/* An optional guidance scale: 0..DIF_MAX_GUIDANCE (as the sample setters). */
static dif_status scale_key(const dif_config *cfg, const char *key, float *out, dif_error *err) {
  double v;
  dif_status s = dif_config_num_opt(cfg, key, *out, &v, err);
  if (s) return s;
  if (!isfinite(v) || v < 0 || v > DIF_MAX_GUIDANCE)
    return dif_fail(err, DIF_ERR_BAD_MODEL, "%s: key '%s' is %g; it must be a number in 0..%d",
                    dif_config_path(cfg), key, v, DIF_MAX_GUIDANCE);
  *out = (float)v;
  return DIF_OK;
}

static dif_status read_file(dif_defaults *d, const dif_config *cfg, dif_error *err) {
  dif_status s;
  const char *sched = NULL, *comment = NULL;
  if ((s = check_keys(cfg, err)) || (s = int_key(cfg, "width", 8, MAX_SIDE, 8, &d->width, err)) ||
      (s = int_key(cfg, "height", 8, MAX_SIDE, 8, &d->height, err)) ||
      (s = int_key(cfg, "steps", 1, DIF_MAX_STEPS, 1, &d->steps, err)) ||
      (s = scale_key(cfg, "guidance", &d->guidance, err)) ||
      (s = int_key(cfg, "prior_steps", 1, DIF_MAX_STEPS, 1, &d->prior_steps, err)) ||
      (s = scale_key(cfg, "prior_guidance", &d->prior_guidance, err)) ||
      (s = int_key(cfg, "noise_level", 0, d->max_noise_level, 1, &d->noise_level, err)) ||
      (s = dif_config_str_opt(cfg, "comment", NULL, &comment, err)) ||
      (s = dif_config_str_opt(cfg, "scheduler", NULL, &sched, err)))
    return s;
  if (sched) {
    dif_error e = {0};
    if (dif_scheduler_check_name(sched, &e) || strlen(sched) >= sizeof d->scheduler)
      return dif_fail(err, DIF_ERR_BAD_MODEL, "%s: key 'scheduler': %s", dif_config_path(cfg),
                      e.status ? e.msg : "name too long");
    snprintf(d->scheduler, sizeof d->scheduler, "%s", sched);
  }
  return DIF_OK;
}

dif_status dif_defaults_load(dif_defaults *d, const char *dir, dif_error *err) {
  char path[sizeof d->path];
  if (snprintf(path, sizeof path, "%s/%s", dir, DIF_DEFAULTS_FILE) >= (int)sizeof path)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT, "%s: path too long", dir);
  /* The file is optional; anything by its name that is not a regular file
   * (a FIFO, a directory, a dangling link) is refused by dif_config_load. */
  int there = dif_file_exists(path);
  if (there == 0) return DIF_OK;
  if (there < 0) return dif_fail(err, DIF_ERR_IO, "%s: %s", path, strerror(errno));
  dif_config *cfg = NULL;
  dif_status s = dif_config_load(path, &cfg, err);
  if (s) return s;
  dif_defaults tmp = *d; /* all or nothing */
  s = read_file(&tmp, cfg, err);
  dif_config_free(cfg);
  if (s) return s;
  *d = tmp;
  d->from_file = true;
  snprintf(d->path, sizeof d->path, "%s", path);
  return DIF_OK;
}

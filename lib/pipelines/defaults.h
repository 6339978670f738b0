/* defaults.h — the settings a new sample starts from: libdif's own defaults,
 * overridden by the model folder's recommended settings in dif_defaults.json
 * (docs/model-defaults.md).
 *
 * The file is optional; every key in it is optional. A key libdif does not
 * know, a value of the wrong type or out of range, or a duplicate key is
 * refused at load with DIF_ERR_BAD_MODEL, naming the file and the key: a
 * model's recommendations are never silently dropped.
 */
#ifndef DIF__PIPELINES_DEFAULTS_H
#define DIF__PIPELINES_DEFAULTS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "pipelines/settings.h"

/* The file's name inside a model folder. */
#define DIF__DEFAULTS_FILE "dif_defaults.json"

typedef struct dif_defaults {
  int32_t width, height;
  int32_t steps;
  float guidance;
  int32_t prior_steps;
  float prior_guidance;
  int32_t noise_level;
  int32_t max_noise_level; /* the model's (dif__models_max_noise_level); init: 999 */
  char scheduler[64];      /* "" = the model's scheduler/ */
  bool from_file;          /* dif_defaults.json was present */
  char path[4096];         /* its path when from_file */
} dif_defaults;

/* libdif's own defaults for a model: `side` is the UNet's sample_size times
 * the VAE's factor (0 if unknown: 512); unclip selects the guidance (10 for
 * Stable unCLIP, 7.5 for Stable Diffusion). */
void dif__defaults_init(dif_defaults *d, int64_t side, bool unclip);

/* Reads <dir>/dif_defaults.json, if it exists, over d. A missing file is
 * not an error (d unchanged); an unreadable or invalid one is. */
dif_status dif__defaults_load(dif_defaults *d, const char *dir, dif__error *err);

/* A new sample's values from d: every number the settings table gives a
 * defaults key (the scheduler stays unset: a run resolves it, sample.c). */
void dif__defaults_start(const dif_defaults *d, dif__setting_values *v);

#endif

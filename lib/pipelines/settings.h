/* settings.h — the sample settings, one row each: what the setters check,
 * the key a PNG record stores it under, the key of dif_defaults.json that
 * recommends it, where a sample keeps it and in which order each reader
 * meets it. Three walkers go over the one table:
 *
 *   api/sample.c      the setters' checks and messages, and the record writer
 *                     (the record's keys in table order);
 *   api/parameters.c  the record's schema (types and integer ranges) and
 *                     dif_sample_apply_record;
 *   pipelines/defaults.c  dif_defaults.json (its known keys, types, ranges)
 *                     and the values a new sample starts from.
 *
 * Adding a sample setting: a field of dif__setting_values (and of
 * dif_defaults if a model may recommend it), a row in settings.c, and its
 * public setter in include/dif.h and api/sample.c (one line over the
 * shared checked store of its kind). A new kind of value (a new check) is
 * a dif__setting_kind and a case in each walker.
 */
#ifndef DIF__PIPELINES_SETTINGS_H
#define DIF__PIPELINES_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

#include "dif.h"

/* What a setting's value is and how it is checked (the setter's range is
 * the dif_defaults.json range: lo..hi, a multiple of `multiple` if > 1). */
typedef enum dif__setting_kind {
  DIF__SETTING_SIZE,        /* int32 side in pixels: width or height (set as a pair) */
  DIF__SETTING_STEPS,       /* int32 step count */
  DIF__SETTING_SCALE,       /* float guidance scale, finite, lo..hi */
  DIF__SETTING_SCHEDULER,   /* a scheduler name (dif__scheduler_check_name) */
  DIF__SETTING_SEED,        /* uint64 seed, stored in the record as a signed integer */
  DIF__SETTING_SEED_U64,    /* the same seed as a decimal string */
  DIF__SETTING_BATCH,       /* int32 image count */
  DIF__SETTING_INDEX,       /* int32 image of a batch kept, -1: all */
  DIF__SETTING_NOISE_LEVEL, /* int32 lo..the model's max_noise_level */
  DIF__SETTING_BLEND,       /* dif_blend, "sum" or "slerp" */
  DIF__SETTING_COMMENT,     /* dif_defaults.json only: a string for people, kept nowhere */
} dif__setting_kind;

/* When the record has the key. */
typedef enum dif__setting_written {
  DIF__WRITTEN_ALWAYS,
  DIF__WRITTEN_KEPT,   /* one image of a batch is kept (index >= 0) */
  DIF__WRITTEN_NOISED, /* the model has a noise level: Stable unCLIP or an x4 upscaler */
  DIF__WRITTEN_UNCLIP, /* Stable unCLIP */
  DIF__WRITTEN_NEVER,
} dif__setting_written;

/* A sample's values of the settings (api/sample.c keeps one). */
typedef struct dif__setting_values {
  int32_t width, height;
  int32_t steps, prior_steps, batch, noise_level;
  int32_t keep; /* the one image of the batch to keep (a record's "index"), or -1 */
  float guidance, prior_guidance;
  char *scheduler, *prior_scheduler; /* owned; NULL: the model's */
  uint64_t seed;
  dif_blend blend;
} dif__setting_values;

typedef struct dif__setting {
  const char *key;          /* the record's key; NULL: not in the record */
  const char *defaults_key; /* dif_defaults.json's; NULL: a model cannot recommend it */
  const char *setter;       /* the public setter (dif.h), named in its messages */
  dif__setting_kind kind;
  int64_t lo, hi;               /* the setter's range; hi < 0: the model's max_noise_level */
  int32_t multiple;             /* the value is a multiple of it (1: any) */
  int64_t record_lo, record_hi; /* integer kinds: what the record's schema accepts */
  dif__setting_written written;
  size_t value;    /* offset of the field in dif__setting_values */
  size_t defaults; /* offset of the field in dif_defaults (with defaults_key) */
  /* The order dif_sample_apply_record sets the settings in and the order
   * dif_defaults.json's keys are checked in (0, 1, ...; -1: not by that
   * walk). Kept from before the table: a record or file with two bad
   * values names the same one first. */
  int8_t applied, checked;
} dif__setting;

extern const dif__setting dif__settings[];
extern const int dif__n_settings;

/* The row whose record key (or, for a comment, defaults key) is key; NULL
 * if none. */
const dif__setting *dif__setting_find(const char *key);

/* The row at position `order` of a walk (applied: 1 = dif_sample_apply_record,
 * 0 = dif_defaults.json), NULL past the last. */
const dif__setting *dif__setting_in_order(int order, int applied);

/* The setter's upper bound of row r (hi, or max_noise_level when hi < 0). */
int64_t dif__setting_hi(const dif__setting *r, int32_t max_noise_level);

/* The field of row r in v (r->value). */
void *dif__setting_field(dif__setting_values *v, const dif__setting *r);

#endif

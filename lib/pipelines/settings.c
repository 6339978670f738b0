/* settings.c — the table of sample settings (settings.h). */
#include "pipelines/settings.h"

#include <limits.h>
#include <string.h>

#include "pipelines/defaults.h"

#define VAL(field) offsetof(dif__setting_values, field)
#define DEF(field) offsetof(dif_defaults, field)

#define ALWAYS DIF__WRITTEN_ALWAYS

/* In the order of the record's keys (and of the "known" keys its messages
 * list). lo..hi (multiple): the setter's range, which dif_defaults.json
 * checks too; record_lo..record_hi: what the record's schema takes for an
 * integer. applied / checked: the order of dif_sample_apply_record and of
 * dif_defaults.json (-1: not in that walk). */
const dif__setting dif__settings[] = {
    {.key = "width",
     .defaults_key = "width",
     .setter = "dif_sample_set_size",
     .kind = DIF__SETTING_SIZE,
     .lo = 8,
     .hi = DIF_MAX_OUTPUT_SIDE,
     .multiple = 8,
     .record_lo = 8,
     .record_hi = DIF_MAX_OUTPUT_SIDE,
     .written = ALWAYS,
     .value = VAL(width),
     .defaults = DEF(width),
     .applied = 0,
     .checked = 0},
    {.key = "height",
     .defaults_key = "height",
     .setter = "dif_sample_set_size",
     .kind = DIF__SETTING_SIZE,
     .lo = 8,
     .hi = DIF_MAX_OUTPUT_SIDE,
     .multiple = 8,
     .record_lo = 8,
     .record_hi = DIF_MAX_OUTPUT_SIDE,
     .written = ALWAYS,
     .value = VAL(height),
     .defaults = DEF(height),
     .applied = -1 /* with width */,
     .checked = 1},
    {.key = "steps",
     .defaults_key = "steps",
     .setter = "dif_sample_set_steps",
     .kind = DIF__SETTING_STEPS,
     .lo = 1,
     .hi = DIF_MAX_STEPS,
     .record_lo = 1,
     .record_hi = DIF_MAX_STEPS,
     .written = ALWAYS,
     .value = VAL(steps),
     .defaults = DEF(steps),
     .applied = 1,
     .checked = 2},
    {.key = "guidance",
     .defaults_key = "guidance",
     .setter = "dif_sample_set_guidance",
     .kind = DIF__SETTING_SCALE,
     .lo = 0,
     .hi = DIF_MAX_GUIDANCE,
     .written = ALWAYS,
     .value = VAL(guidance),
     .defaults = DEF(guidance),
     .applied = 2,
     .checked = 3},
    {.key = "scheduler",
     .defaults_key = "scheduler",
     .setter = "dif_sample_set_scheduler",
     .kind = DIF__SETTING_SCHEDULER,
     .written = ALWAYS,
     .value = VAL(scheduler),
     .defaults = DEF(scheduler),
     .applied = 5,
     .checked = 7},
    {.key = "seed",
     .setter = "dif_sample_set_seed",
     .kind = DIF__SETTING_SEED,
     .record_lo = LLONG_MIN,
     .record_hi = LLONG_MAX,
     .written = ALWAYS,
     .value = VAL(seed),
     .applied = 11,
     .checked = -1},
    {.key = "seed_u64",
     .setter = "dif_sample_set_seed",
     .kind = DIF__SETTING_SEED_U64,
     .written = ALWAYS,
     .value = VAL(seed),
     .applied = -1 /* with seed */,
     .checked = -1},
    {.key = "batch",
     .setter = "dif_sample_set_batch",
     .kind = DIF__SETTING_BATCH,
     .lo = 1,
     .hi = DIF_MAX_BATCH,
     .record_lo = 1,
     .record_hi = DIF_MAX_BATCH,
     .written = ALWAYS,
     .value = VAL(batch),
     .applied = 7,
     .checked = -1},
    {.key = "index",
     .kind = DIF__SETTING_INDEX,
     .lo = 0,
     .hi = DIF_MAX_BATCH - 1,
     .record_lo = 0,
     .record_hi = DIF_MAX_BATCH - 1,
     .written = DIF__WRITTEN_KEPT,
     .value = VAL(keep),
     .applied = 8,
     .checked = -1},
    {.key = "noise_level",
     .defaults_key = "noise_level",
     .setter = "dif_sample_set_noise_level",
     .kind = DIF__SETTING_NOISE_LEVEL,
     .lo = 0,
     .hi = -1 /* the model's */,
     .record_lo = 0,
     .record_hi = 999,
     .written = DIF__WRITTEN_NOISED,
     .value = VAL(noise_level),
     .defaults = DEF(noise_level),
     .applied = 9,
     .checked = 6},
    {.key = "prior_steps",
     .defaults_key = "prior_steps",
     .setter = "dif_sample_set_prior_steps",
     .kind = DIF__SETTING_STEPS,
     .lo = 1,
     .hi = DIF_MAX_STEPS,
     .record_lo = 1,
     .record_hi = DIF_MAX_STEPS,
     .written = DIF__WRITTEN_UNCLIP,
     .value = VAL(prior_steps),
     .defaults = DEF(prior_steps),
     .applied = 3,
     .checked = 4},
    {.key = "prior_guidance",
     .defaults_key = "prior_guidance",
     .setter = "dif_sample_set_prior_guidance",
     .kind = DIF__SETTING_SCALE,
     .lo = 0,
     .hi = DIF_MAX_GUIDANCE,
     .written = DIF__WRITTEN_UNCLIP,
     .value = VAL(prior_guidance),
     .defaults = DEF(prior_guidance),
     .applied = 4,
     .checked = 5},
    {.key = "prior_scheduler",
     .setter = "dif_sample_set_prior_scheduler",
     .kind = DIF__SETTING_SCHEDULER,
     .written = DIF__WRITTEN_UNCLIP,
     .value = VAL(prior_scheduler),
     .applied = 6,
     .checked = -1},
    {.key = "blend",
     .setter = "dif_sample_set_blend",
     .kind = DIF__SETTING_BLEND,
     .written = DIF__WRITTEN_UNCLIP,
     .value = VAL(blend),
     .applied = 10,
     .checked = -1},
    {.defaults_key = "comment",
     .kind = DIF__SETTING_COMMENT,
     .written = DIF__WRITTEN_NEVER,
     .applied = -1,
     .checked = 8},
};
const int dif__n_settings = (int)(sizeof dif__settings / sizeof *dif__settings);

const dif__setting *dif__setting_find(const char *key) {
  for (int i = 0; key && i < dif__n_settings; i++)
    if (dif__settings[i].key && !strcmp(dif__settings[i].key, key)) return &dif__settings[i];
  return NULL;
}

const dif__setting *dif__setting_in_order(int order, int applied) {
  for (int i = 0; order >= 0 && i < dif__n_settings; i++)
    if ((applied ? dif__settings[i].applied : dif__settings[i].checked) == order)
      return &dif__settings[i];
  return NULL;
}

int64_t dif__setting_hi(const dif__setting *r, int32_t max_noise_level) {
  return r->hi < 0 ? max_noise_level : r->hi;
}

void *dif__setting_field(dif__setting_values *v, const dif__setting *r) {
  return (char *)v + r->value;
}

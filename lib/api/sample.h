/* sample.h — what other api files may do to a dif_sample. */
#ifndef DIF__API_SAMPLE_H
#define DIF__API_SAMPLE_H

#include "api/edit.h"
#include "dif.h"
#include "io/image.h"
#include "pipelines/settings.h"

/* Records a failure as the sample's last error and returns st. */
dif_status dif__sample_fail(dif_sample *s, dif_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets the init image from pixels decoded from the file at source, whose
 * bytes have the xxh3-64 xxh3 (for the record). Takes img over (freed on
 * failure). DIF_ERR_BUSY while the sample runs; strength as the setters. */
dif_status dif__sample_set_init_decoded(dif_sample *s, const char *fn, dif__image *img,
                                        const char *source, uint64_t xxh3, float strength);

/* After a run of a batch, keep only image index of it (reproducing one
 * image of a batch from its record); -1 keeps all. dif_sample_set_batch
 * resets it to -1. */
void dif__sample_set_keep(dif_sample *s, int32_t index);

/* The sample's mask and edit (api/edit.c sets them). NULL for NULL. */
dif__sample_edit *dif__sample_edit_of(dif_sample *s);
/* How many times the sample's size the output is: the VAE's factor on an
 * x4 upscaler (its sample size is the low-res picture's), else 1. */
int32_t dif__sample_output_scale(const dif_sample *s);
/* Whether the sample is running (its setters then fail with DIF_ERR_BUSY). */
bool dif__sample_running(const dif_sample *s);

/* The checked stores of the settings table's rows (pipelines/settings.h),
 * under row r's setter name and range, as the public setters: an integer
 * (steps, batch, noise level), a guidance scale, a scheduler name (NULL
 * clears it: the model's). DIF_ERR_BUSY while the sample runs. */
dif_status dif__sample_set_int(dif_sample *s, const dif__setting *r, int32_t v);
dif_status dif__sample_set_scale(dif_sample *s, const dif__setting *r, float v);
dif_status dif__sample_set_name(dif_sample *s, const dif__setting *r, const char *name);

/* The sample's values of the settings (read-only). */
const dif__setting_values *dif__sample_values(const dif_sample *s);

/* Sets the record's keys of the sample's settings on the JSON object o
 * as a run of width x height would: in the table's order,
 * each when the model has it (dif__setting_written). */
void dif__sample_record_settings(const dif_sample *s, json_t *o, int32_t width, int32_t height);

#endif

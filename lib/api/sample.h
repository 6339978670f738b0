/* sample.h — what other api files may do to a dif_sample. */
#ifndef DIF_API_SAMPLE_H
#define DIF_API_SAMPLE_H

#include "api/edit.h"
#include "dif.h"
#include "io/image.h"

/* Records a failure as the sample's last error and returns st. */
dif_status dif_sample_fail(dif_sample *s, dif_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets the init image from pixels decoded from the file at source, whose
 * bytes have the xxh3-64 xxh3 (for the record). Takes img over (freed on
 * failure). DIF_ERR_BUSY while the sample runs; strength as the setters. */
dif_status dif_sample_set_init_decoded(dif_sample *s, const char *fn, dif_image *img,
                                       const char *source, uint64_t xxh3, float strength);

/* After a run of a batch, keep only image index of it (reproducing one
 * image of a batch from its record); -1 keeps all. dif_sample_set_batch
 * resets it to -1. */
void dif_sample_set_keep(dif_sample *s, int32_t index);

/* The sample's mask and edit (api/edit.c sets them). NULL for NULL. */
dif_sample_edit *dif_sample_edit_of(dif_sample *s);
/* How many times the sample's size the output is: the VAE's factor on an
 * x4 upscaler (its sample size is the low-res picture's), else 1. */
int32_t dif_sample_output_scale(const dif_sample *s);
/* Whether the sample is running (its setters then fail with DIF_ERR_BUSY). */
bool dif_sample_running(const dif_sample *s);

#endif

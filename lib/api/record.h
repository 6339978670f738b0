/* record.h — the generation record ("dif:parameters") between api files. */
#ifndef DIF_API_RECORD_H
#define DIF_API_RECORD_H

#include <jansson.h>
#include <stdint.h>

#include "dif.h"
#include "io/image.h"

/* The record `params` (what dif_sample_parameters returns: image files named
 * by their base names) as stored in the PNG at png_path: each image file's
 * path becomes relative to png_path's folder when the file lies in that
 * folder or below it, and stays its base name otherwise. sources[i] is the
 * absolute path of prompt part i's file (NULL for none, n_sources entries);
 * init_source that of the init image, used only while init_xxh3 is the
 * xxh3 the record stores for it; mask_source and mask_xxh3 the same for
 * the mask. Returns a malloc'd string; NULL when out of
 * memory or when params is not a JSON object. */
char *dif_record_for_png(const char *params, const char *const *sources, int n_sources,
                         const char *init_source, uint64_t init_xxh3, const char *mask_source,
                         uint64_t mask_xxh3, const char *png_path);

/* The record with "index" set to index (which image of its batch a file
 * is) when its "batch" is above 1 and it has no "index" yet; a malloc'd
 * string, NULL when out of memory or not a JSON object. */
char *dif_record_with_index(const char *record, int32_t index);

/* The record as AUTOMATIC1111's "parameters" text (infotext.c); malloc'd,
 * NULL when out of memory or when record is not a JSON object. */
char *dif_record_infotext(const char *record);

/* Writes pixels with the record (may be NULL) and its A1111 text to path
 * in format; errors in err. */
dif_status dif_record_save(const dif_image *img, const char *path, dif_image_format format,
                           const char *record, dif_error *err);

/* The record's "loras" (record_lora.c): written from ctx's LoRAs (file
 * base names); placed relative to png_path's folder (a malloc'd copy of
 * record, NULL when out of memory); the schema checked (a message in msg);
 * applied to ctx before loading, files relative to dir, xxh3 checked (on
 * failure ctx has no LoRAs and msg says why). */
void dif_record_add_loras(const dif_context *ctx, json_t *o);
char *dif_record_place_loras(const char *record, const dif_context *ctx, const char *png_path);
dif_status dif_record_check_loras(const json_t *loras, char *msg, size_t n);
dif_status dif_record_apply_loras(dif_context *ctx, const json_t *loras, const char *dir, char *msg,
                                  size_t n);

/* The base name of a path (after its last '/'). */
const char *dif_record_base_name(const char *path);

#endif

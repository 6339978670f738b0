/* record.h — the generation record ("dif:parameters") between api files. */
#ifndef DIF__API_RECORD_H
#define DIF__API_RECORD_H

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
char *dif__record_for_png(const char *params, const char *const *sources, int n_sources,
                          const char *init_source, uint64_t init_xxh3, const char *mask_source,
                          uint64_t mask_xxh3, const char *png_path);

/* The record with "index" set to index (which image of its batch a file
 * is) when its "batch" is above 1 and it has no "index" yet; a malloc'd
 * string, NULL when out of memory or not a JSON object. */
char *dif__record_with_index(const char *record, int32_t index);

/* The record as AUTOMATIC1111's "parameters" text (infotext.c); malloc'd,
 * NULL when out of memory or when record is not a JSON object. */
char *dif__record_infotext(const char *record);

/* Writes pixels with the record (may be NULL) and its A1111 text to path
 * in format; errors in err. */
dif_status dif__record_save(const dif__image *img, const char *path, dif__image_format format,
                            const char *record, dif__error *err);

/* The record's "loras" (record_lora.c): written from ctx's LoRAs (file
 * base names); placed relative to png_path's folder (a malloc'd copy of
 * record, NULL when out of memory); the schema checked (a message in msg);
 * applied to ctx before loading, files relative to dir, xxh3 checked (on
 * failure ctx has no LoRAs and msg says why). */
void dif__record_add_loras(const dif_context *ctx, json_t *o);
char *dif__record_place_loras(const char *record, const dif_context *ctx, const char *png_path);
dif_status dif__record_check_loras(const json_t *loras, char *msg, size_t n);
dif_status dif__record_apply_loras(dif_context *ctx, const json_t *loras, const char *dir,
                                   char *msg, size_t n);

/* The record's "embeddings" (record_embedding.c), as its "loras":
 * [{"file", "xxh3", "token"}], in the order added. */
void dif__record_add_embeddings(const dif_context *ctx, json_t *o);
char *dif__record_place_embeddings(const char *record, const dif_context *ctx,
                                   const char *png_path);
dif_status dif__record_check_embeddings(const json_t *list, char *msg, size_t n);
dif_status dif__record_apply_embeddings(dif_context *ctx, const json_t *list, const char *dir,
                                        char *msg, size_t n);
/* Shared by both (record_lora.c): the record's key[i].file set relative to
 * png_path's folder for each canonical path canon[i] inside it (a malloc'd
 * copy of record); dir/rel with rel relative and inside dir (no ".."),
 * else a message naming key[i]. */
char *dif__record_place_files(const char *record, const char *key, const char *const *canon, int n,
                              const char *png_path);
dif_status dif__record_file_path(const char *dir, const char *rel, const char *key, size_t i,
                                 char *out, size_t size, char *msg, size_t n);

/* The base name of a path (after its last '/'). */
const char *dif__record_base_name(const char *path);

#endif

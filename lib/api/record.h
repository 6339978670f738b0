/* record.h — the generation record ("dif:parameters") between api files. */
#ifndef DIF_API_RECORD_H
#define DIF_API_RECORD_H

#include <stdint.h>

#include "dif.h"

/* The record `params` (what dif_sample_parameters returns: image files named
 * by their base names) as stored in the PNG at png_path: each image file's
 * path becomes relative to png_path's folder when the file lies in that
 * folder or below it, and stays its base name otherwise. sources[i] is the
 * absolute path of prompt part i's file (NULL for none, n_sources entries);
 * init_source that of the init image, used only while init_xxh3 is the
 * xxh3 the record stores for it. Returns a malloc'd string; NULL when out of
 * memory or when params is not a JSON object. */
char *dif_record_for_png(const char *params, const char *const *sources, int n_sources,
                         const char *init_source, uint64_t init_xxh3, const char *png_path);

/* The base name of a path (after its last '/'). */
const char *dif_record_base_name(const char *path);

#endif

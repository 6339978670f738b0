/* config.h — typed access to JSON config files (config.json, scheduler_config.json, ...).
 *
 * Every getter names the file and the key in its error message. "Optional"
 * getters return the default when the key is absent or null, but a present
 * value of the wrong type is still an error: a config is never silently
 * misread.
 */
#ifndef DIF__IO_CONFIG_H
#define DIF__IO_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

typedef struct dif__config dif__config;

/* The largest JSON file read (a CLIP vocab.json is about 2 MB). */
#define DIF__CONFIG_MAX_BYTES (64 * 1024 * 1024)

/* Reads and parses path (duplicate keys rejected). DIF_ERR_IO if unreadable,
 * DIF_ERR_BAD_MODEL if not a JSON object. */
dif_status dif__config_load(const char *path, dif__config **out, dif__error *err);
/* Parses JSON text; name is used in messages. */
dif_status dif__config_parse(const char *text, size_t len, const char *name, dif__config **out,
                             dif__error *err);
void dif__config_free(dif__config *cfg);
const char *dif__config_path(const dif__config *cfg);
bool dif__config_has(const dif__config *cfg, const char *key); /* present and not null */

dif_status dif__config_int(const dif__config *cfg, const char *key, int64_t *out, dif__error *err);
dif_status dif__config_int_opt(const dif__config *cfg, const char *key, int64_t dflt, int64_t *out,
                               dif__error *err);
/* Accepts JSON integers and reals. */
dif_status dif__config_num(const dif__config *cfg, const char *key, double *out, dif__error *err);
dif_status dif__config_num_opt(const dif__config *cfg, const char *key, double dflt, double *out,
                               dif__error *err);
dif_status dif__config_bool_opt(const dif__config *cfg, const char *key, bool dflt, bool *out,
                                dif__error *err);
/* The returned string is owned by cfg. */
dif_status dif__config_str(const dif__config *cfg, const char *key, const char **out,
                           dif__error *err);
dif_status dif__config_str_opt(const dif__config *cfg, const char *key, const char *dflt,
                               const char **out, dif__error *err);
/* An array of integers, or a single integer repeated `n_if_scalar` times when
 * allow_scalar (diffusers' "int or per-block list" keys). At most max items. */
dif_status dif__config_int_list(const dif__config *cfg, const char *key, int64_t *out, int max,
                                int *n, bool allow_scalar, int n_if_scalar, dif__error *err);
/* An array of strings (owned by cfg), at most max. */
dif_status dif__config_str_list(const dif__config *cfg, const char *key, const char **out, int max,
                                int *n, dif__error *err);
/* An array of numbers, at most max. */
dif_status dif__config_num_list(const dif__config *cfg, const char *key, double *out, int max,
                                int *n, dif__error *err);

/* The underlying jansson object (for readers that walk nested objects). */
struct json_t;
struct json_t *dif__config_json(const dif__config *cfg);

#endif

/* config.h — typed access to JSON config files (config.json, scheduler_config.json, ...).
 *
 * Every getter names the file and the key in its error message. "Optional"
 * getters return the default when the key is absent or null, but a present
 * value of the wrong type is still an error: a config is never silently
 * misread.
 */
#ifndef DIF_IO_CONFIG_H
#define DIF_IO_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

typedef struct dif_config dif_config;

/* The largest JSON file read (a CLIP vocab.json is about 2 MB). */
#define DIF_CONFIG_MAX_BYTES (64 * 1024 * 1024)

/* Reads and parses path (duplicate keys rejected). DIF_ERR_IO if unreadable,
 * DIF_ERR_BAD_MODEL if not a JSON object. */
dif_status dif_config_load(const char *path, dif_config **out, dif_error *err);
/* Parses JSON text; name is used in messages. */
dif_status dif_config_parse(const char *text, size_t len, const char *name, dif_config **out,
                            dif_error *err);
void dif_config_free(dif_config *cfg);
const char *dif_config_path(const dif_config *cfg);
bool dif_config_has(const dif_config *cfg, const char *key); /* present and not null */

dif_status dif_config_int(const dif_config *cfg, const char *key, int64_t *out, dif_error *err);
dif_status dif_config_int_opt(const dif_config *cfg, const char *key, int64_t dflt, int64_t *out,
                              dif_error *err);
/* Accepts JSON integers and reals. */
dif_status dif_config_num(const dif_config *cfg, const char *key, double *out, dif_error *err);
dif_status dif_config_num_opt(const dif_config *cfg, const char *key, double dflt, double *out,
                              dif_error *err);
dif_status dif_config_bool_opt(const dif_config *cfg, const char *key, bool dflt, bool *out,
                               dif_error *err);
/* The returned string is owned by cfg. */
dif_status dif_config_str(const dif_config *cfg, const char *key, const char **out, dif_error *err);
dif_status dif_config_str_opt(const dif_config *cfg, const char *key, const char *dflt,
                              const char **out, dif_error *err);
/* An array of integers, or a single integer repeated `n_if_scalar` times when
 * allow_scalar (diffusers' "int or per-block list" keys). At most max items. */
dif_status dif_config_int_list(const dif_config *cfg, const char *key, int64_t *out, int max,
                               int *n, bool allow_scalar, int n_if_scalar, dif_error *err);
/* An array of strings (owned by cfg), at most max. */
dif_status dif_config_str_list(const dif_config *cfg, const char *key, const char **out, int max,
                               int *n, dif_error *err);
/* An array of numbers, at most max. */
dif_status dif_config_num_list(const dif_config *cfg, const char *key, double *out, int max, int *n,
                               dif_error *err);

/* The underlying jansson object (for readers that walk nested objects). */
struct json_t;
struct json_t *dif_config_json(const dif_config *cfg);

#endif

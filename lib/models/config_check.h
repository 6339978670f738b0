/* config_check.h — refusing config values a model loader does not implement.
 *
 * A loader lists the keys it reads or that have no effect (`handled`) and the
 * keys that must hold the one value it implements (`fixed`, as JSON text).
 * Any other key is accepted only when it is null or false (a feature that is
 * off); everything else is an error naming the key and the value. */
#ifndef DIF_MODELS_CONFIG_CHECK_H
#define DIF_MODELS_CONFIG_CHECK_H

#include "core/error.h"
#include "io/config.h"

typedef struct dif_fixed_key {
  const char *key, *value; /* value: JSON text, e.g. "\"silu\"", "null", "1" */
} dif_fixed_key;

dif_status dif_config_check_keys(const dif_config *cfg, const dif_fixed_key *fixed,
                                 const char *const *handled, dif_error *err);

#endif

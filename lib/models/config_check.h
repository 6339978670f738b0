/* config_check.h — refusing config values a model loader does not implement.
 *
 * A loader lists the keys it reads or that have no effect (`handled`) and the
 * keys that must hold the one value it implements (`fixed`, as JSON text).
 * Any other key is accepted only when it is null or false (a feature that is
 * off); everything else is an error naming the key and the value. */
#ifndef DIF__MODELS_CONFIG_CHECK_H
#define DIF__MODELS_CONFIG_CHECK_H

#include "core/error.h"
#include "io/config.h"

typedef struct dif__fixed_key {
  const char *key, *value; /* value: JSON text, e.g. "\"silu\"", "null", "1" */
} dif__fixed_key;

dif_status dif__config_check_keys(const dif__config *cfg, const dif__fixed_key *fixed,
                                  const char *const *handled, dif__error *err);

#endif

/* config_check.c — see config_check.h. */
#include "models/config_check.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int same_value(json_t *a, json_t *b) {
  if (json_is_number(a) && json_is_number(b)) return json_number_value(a) == json_number_value(b);
  return json_equal(a, b);
}

static dif_status refuse(const dif__config *cfg, const char *key, json_t *v, const char *why,
                         dif__error *err) {
  char *got = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
  dif_status s = dif__fail(err, DIF_ERR_UNSUPPORTED, "%s: %s = %.80s %s", dif__config_path(cfg),
                           key, got ? got : "?", why);
  free(got);
  return s;
}

dif_status dif__config_check_keys(const dif__config *cfg, const dif__fixed_key *fixed,
                                  const char *const *handled, dif__error *err) {
  const char *key;
  json_t *v;
  json_object_foreach(dif__config_json(cfg), key, v) {
    int known = 0;
    for (const dif__fixed_key *f = fixed; f->key && !known; f++) {
      if (strcmp(key, f->key) != 0) continue;
      known = 1;
      json_t *want = json_loads(f->value, JSON_DECODE_ANY, NULL);
      /* null means "off" to diffusers, as false does */
      int ok = want && (same_value(v, want) || (json_is_null(v) && json_is_false(want)));
      json_decref(want);
      if (!ok) {
        char why[160];
        snprintf(why, sizeof why, "is not supported (libdif implements %s)", f->value);
        return refuse(cfg, key, v, why, err);
      }
    }
    for (const char *const *h = handled; *h && !known; h++) known = strcmp(*h, key) == 0;
    if (!known && !json_is_null(v) && !json_is_false(v))
      return refuse(cfg, key, v, "is an unknown key (libdif does not implement it)", err);
  }
  return DIF_OK;
}

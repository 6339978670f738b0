/* libFuzzer harness for JSON configs (lib/io/config.c).
 *
 * Every input goes through dif__config_parse; a refused one must leave no
 * config and a message naming the file. On an accepted config every getter
 * (int, num, bool, str, their _opt forms, int/str/num lists with and without
 * scalars) is called on a few fixed diffusers keys and on the first keys of
 * the object itself; each call must succeed or fail with a message starting
 * with the file name, and lists must respect their maximum. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAME "fuzz.json"
#define MAX_LIST 8

static volatile double sink;

static void check(int ok) {
  if (!ok) abort();
}

/* s is the status of a getter: OK, or an error whose message names the file. */
static void checked(dif_status s, const dif__error *err) {
  if (s == DIF_OK) return;
  check(s == DIF_ERR_BAD_MODEL || s == DIF_ERR_UNSUPPORTED);
  check(err->status == s && strncmp(err->msg, NAME ": ", strlen(NAME) + 2) == 0);
}

static void exercise(const dif__config *c, const char *key) {
  dif__error err;
  int64_t i = 0, il[MAX_LIST];
  double d = 0, dl[MAX_LIST];
  bool b = false;
  const char *s = NULL, *sl[MAX_LIST];
  int n = -1;
  double acc = dif__config_has(c, key);
  checked(dif__config_int(c, key, &i, &err), &err);
  checked(dif__config_int_opt(c, key, 3, &i, &err), &err);
  acc += (double)i;
  checked(dif__config_num(c, key, &d, &err), &err);
  checked(dif__config_num_opt(c, key, 0.5, &d, &err), &err);
  acc += d;
  checked(dif__config_bool_opt(c, key, true, &b, &err), &err);
  acc += b;
  checked(dif__config_str(c, key, &s, &err), &err);
  checked(dif__config_str_opt(c, key, "default", &s, &err), &err);
  if (s) acc += (double)strlen(s);
  static const struct {
    bool scalar;
    int n_if_scalar, max;
  } lists[] = {
      {false, 0, MAX_LIST}, {true, 4, MAX_LIST}, {true, MAX_LIST + 1, MAX_LIST}, {false, 0, 1}};
  for (size_t k = 0; k < sizeof lists / sizeof lists[0]; k++) {
    n = -1;
    dif_status st = dif__config_int_list(c, key, il, lists[k].max, &n, lists[k].scalar,
                                         lists[k].n_if_scalar, &err);
    checked(st, &err);
    if (st == DIF_OK) {
      check(n >= 0 && n <= lists[k].max);
      for (int j = 0; j < n; j++) acc += (double)il[j];
    }
  }
  n = -1;
  dif_status st = dif__config_str_list(c, key, sl, MAX_LIST, &n, &err);
  checked(st, &err);
  if (st == DIF_OK) {
    check(n >= 0 && n <= MAX_LIST);
    for (int j = 0; j < n; j++) acc += (double)strlen(sl[j]);
  }
  n = -1;
  st = dif__config_num_list(c, key, dl, MAX_LIST, &n, &err);
  checked(st, &err);
  if (st == DIF_OK) {
    check(n >= 0 && n <= MAX_LIST);
    for (int j = 0; j < n; j++) acc += dl[j];
  }
  sink = acc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dif__config *c = (dif__config *)&sink;
  dif__error err;
  dif_status s = dif__config_parse((const char *)data, size, NAME, &c, &err);
  if (s != DIF_OK) {
    check(c == NULL && s == DIF_ERR_BAD_MODEL);
    check(strncmp(err.msg, NAME ": ", strlen(NAME) + 2) == 0);
    return 0;
  }
  check(c != NULL && strcmp(dif__config_path(c), NAME) == 0);
  static const char *const keys[] = {"_class_name",        "sample_size",
                                     "block_out_channels", "layers_per_block",
                                     "attention_head_dim", "down_block_types",
                                     "beta_start",         "clip_sample",
                                     "trained_betas",      ""};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) exercise(c, keys[i]);
  const char *key;
  json_t *v;
  int seen = 0;
  json_object_foreach(dif__config_json(c), key, v) {
    if (seen++ == 16) break;
    exercise(c, key);
  }
  dif__config_free(c);
  return 0;
}

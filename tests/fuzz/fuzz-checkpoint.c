/* libFuzzer harness for single-file checkpoints (lib/io/checkpoint.c,
 * checkpoint_keys.c and the safetensors views).
 *
 * An input is a safetensors file (dif__st_open_memory); its tensor names and
 * shapes are what the key conversions parse. A refused input must leave no
 * handle and a message. An accepted one is described, then each part is
 * converted with the tiny SD model's configs (layers_per_block, the VAE's up
 * blocks) and every tensor of every view is fetched as float: view ranges
 * must lie inside the buffer, names must be unique and found by name. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile double sink;

static void check(int ok) {
  if (!ok) abort();
}

static void touch_view(dif__safetensors *v, const uint8_t *buf, size_t size) {
  for (size_t i = 0; i < dif__st_count(v); i++) {
    const dif__st_entry *e = dif__st_entry_at(v, i);
    check(dif__st_find(v, e->name) == e);
    const uint8_t *p = dif__st_data(v, e);
    check(p >= buf && e->end >= e->begin && (size_t)(p - buf) + (e->end - e->begin) <= size);
    dif__tensor t;
    dif__error err;
    if (dif__st_get_f32(v, e->name, &t, &err) == DIF_OK) {
      int64_t n = dif__tensor_numel(&t);
      double acc = 0;
      for (int64_t k = 0; k < n; k++) acc += t.data[k];
      sink = acc;
    } else {
      check(err.msg[0] != 0);
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const parts[][2] = {{"unet", DIF_FUZZ_MODEL "/unet"},
                                         {"vae", DIF_FUZZ_MODEL "/vae"},
                                         {"text_encoder", DIF_FUZZ_MODEL "/text_encoder"}};
  dif__safetensors *st = NULL;
  dif__error err = {0};
  if (dif__st_open_memory(data, size, "fuzz.safetensors", &st, &err)) {
    check(st == NULL && err.msg[0] != 0);
    return 0;
  }
  dif__checkpoint *c = NULL;
  if (dif__checkpoint_open_st(st, &c, &err)) {
    check(c == NULL && err.msg[0] != 0);
    return 0;
  }
  const dif__ckpt_info *in = dif__checkpoint_describe(c);
  check(in->family && in->family[0] && in->dtype);
  dif__checkpoint_require_all(c, &err);
  dif__safetensors *views[3] = {NULL, NULL, NULL};
  for (int i = 0; i < 3; i++)
    if (dif__checkpoint_part(c, parts[i][0], parts[i][1], &views[i], &err))
      check(views[i] == NULL && err.msg[0] != 0);
  dif__checkpoint_close(c); /* the views keep the buffer's handle */
  for (int i = 0; i < 3; i++) {
    if (views[i]) touch_view(views[i], data, size);
    dif__st_close(views[i]);
  }
  return 0;
}

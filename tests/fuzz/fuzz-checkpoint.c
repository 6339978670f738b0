/* libFuzzer harness for single-file checkpoints (lib/io/checkpoint.c,
 * checkpoint_keys.c and the safetensors views).
 *
 * An input is a safetensors file (dif_st_open_memory); its tensor names and
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

static void touch_view(dif_safetensors *v, const uint8_t *buf, size_t size) {
  for (size_t i = 0; i < dif_st_count(v); i++) {
    const dif_st_entry *e = dif_st_entry_at(v, i);
    check(dif_st_find(v, e->name) == e);
    const uint8_t *p = dif_st_data(v, e);
    check(p >= buf && e->end >= e->begin && (size_t)(p - buf) + (e->end - e->begin) <= size);
    dif_tensor t;
    dif_error err;
    if (dif_st_get_f32(v, e->name, &t, &err) == DIF_OK) {
      int64_t n = dif_tensor_numel(&t);
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
  dif_safetensors *st = NULL;
  dif_error err = {0};
  if (dif_st_open_memory(data, size, "fuzz.safetensors", &st, &err)) {
    check(st == NULL && err.msg[0] != 0);
    return 0;
  }
  dif_checkpoint *c = NULL;
  if (dif_checkpoint_open_st(st, &c, &err)) {
    check(c == NULL && err.msg[0] != 0);
    return 0;
  }
  const dif_ckpt_info *in = dif_checkpoint_describe(c);
  check(in->family && in->family[0] && in->dtype);
  dif_checkpoint_require_all(c, &err);
  dif_safetensors *views[3] = {NULL, NULL, NULL};
  for (int i = 0; i < 3; i++)
    if (dif_checkpoint_part(c, parts[i][0], parts[i][1], &views[i], &err))
      check(views[i] == NULL && err.msg[0] != 0);
  dif_checkpoint_close(c); /* the views keep the buffer's handle */
  for (int i = 0; i < 3; i++) {
    if (views[i]) touch_view(views[i], data, size);
    dif_st_close(views[i]);
  }
  return 0;
}

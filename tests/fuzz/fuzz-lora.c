/* libFuzzer harness for LoRA files (lib/io/lora.c, lora_merge.c).
 *
 * An input is a safetensors file (dif__st_open_memory) read as a LoRA: its
 * key names (kohya or diffusers/PEFT), shapes, ranks and alphas are what
 * is parsed. A refused input must leave no handle and a message. An
 * accepted one is merged, at weight 0.5, into the tiny SD model's UNet and
 * text encoder weights: either refused with a message and the weights
 * untouched, or every merged weight is finite and has its tensor's size. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/lora.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok) {
  if (!ok) abort();
}

static void merge_into(dif__lora *l, dif__lora_component c, const char *file) {
  dif__safetensors *st = NULL;
  dif__error err = {0};
  check(dif__st_open(file, &st, &err) == DIF_OK);
  dif__lora_use use = {l, 0.5f};
  if (dif__lora_apply(&use, 1, c, st, &err)) {
    check(err.msg[0] != 0);
  } else {
    for (size_t i = 0; i < dif__st_count(st); i++) {
      const dif__st_entry *e = dif__st_entry_at(st, i);
      dif__tensor t;
      if (dif__st_get_f32(st, e->name, &t, &err)) continue;
      check(dif__tensor_numel(&t) == dif__st_numel(e));
      for (int64_t k = 0; k < dif__tensor_numel(&t); k++) check(isfinite(t.data[k]));
    }
  }
  dif__st_close(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dif__safetensors *st = NULL;
  dif__error err = {0};
  if (dif__st_open_memory(data, size, "fuzz-lora.safetensors", &st, &err)) {
    check(st == NULL && err.msg[0] != 0);
    return 0;
  }
  dif__lora *l = NULL;
  if (dif__lora_open_st(st, &l, &err)) {
    check(l == NULL && err.msg[0] != 0);
    return 0;
  }
  merge_into(l, DIF__LORA_UNET, DIF_FUZZ_MODEL "/unet/diffusion_pytorch_model.safetensors");
  merge_into(l, DIF__LORA_TEXT_ENCODER, DIF_FUZZ_MODEL "/text_encoder/model.safetensors");
  dif__lora_close(l);
  return 0;
}

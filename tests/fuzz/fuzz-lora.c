/* libFuzzer harness for LoRA files (lib/io/lora.c, lora_merge.c).
 *
 * An input is a safetensors file (dif_st_open_memory) read as a LoRA: its
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

static void merge_into(dif_lora *l, dif_lora_component c, const char *file) {
  dif_safetensors *st = NULL;
  dif_error err = {0};
  check(dif_st_open(file, &st, &err) == DIF_OK);
  dif_lora_use use = {l, 0.5f};
  if (dif_lora_apply(&use, 1, c, st, &err)) {
    check(err.msg[0] != 0);
  } else {
    for (size_t i = 0; i < dif_st_count(st); i++) {
      const dif_st_entry *e = dif_st_entry_at(st, i);
      dif_tensor t;
      if (dif_st_get_f32(st, e->name, &t, &err)) continue;
      check(dif_tensor_numel(&t) == dif_st_numel(e));
      for (int64_t k = 0; k < dif_tensor_numel(&t); k++) check(isfinite(t.data[k]));
    }
  }
  dif_st_close(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dif_safetensors *st = NULL;
  dif_error err = {0};
  if (dif_st_open_memory(data, size, "fuzz-lora.safetensors", &st, &err)) {
    check(st == NULL && err.msg[0] != 0);
    return 0;
  }
  dif_lora *l = NULL;
  if (dif_lora_open_st(st, &l, &err)) {
    check(l == NULL && err.msg[0] != 0);
    return 0;
  }
  merge_into(l, DIF_LORA_UNET, DIF_FUZZ_MODEL "/unet/diffusion_pytorch_model.safetensors");
  merge_into(l, DIF_LORA_TEXT_ENCODER, DIF_FUZZ_MODEL "/text_encoder/model.safetensors");
  dif_lora_close(l);
  return 0;
}

/* LoRA in fast precision: the merged weights (owned float32 copies,
 * io/lora_merge.c) are what the fast backend packs to bf16, not the file's
 * original weights. The tiny SD with the kohya LoRA at weight 1, drawn in
 * exact and in fast: the fast picture lies near the exact one with the LoRA
 * (bf16 rounding only) and far from the picture without it — the LoRA's
 * change is many times bf16's. Exits 77 (ctest: skipped) with the reason
 * where fast cannot run (no AVX-512, a build without oneDNN). */
#include <stdbool.h>
#include <stdlib.h>

#include "test.h"

#define SD_DIR "golden/models/tiny-sd"
#define KOHYA "fixtures/models/lora/tiny-sd.kohya.safetensors"
#define SIDE 32
#define BYTES (SIDE * SIDE * 3)

static char skip[512];

static dif_status draw(dif_precision precision, bool lora, uint8_t *rgb) {
  dif_context *ctx = NULL;
  dif_prompt *p = NULL;
  dif_sample *s = NULL;
  dif_status st = dif_context_new(&ctx);
  if (!st) st = dif_context_set_threads(ctx, 2);
  if (!st) st = dif_context_set_precision(ctx, precision);
  if (st == DIF_ERR_UNSUPPORTED) snprintf(skip, sizeof skip, "%s", dif_context_last_error(ctx));
  if (!st && lora) st = dif_context_add_lora(ctx, dif__test_path(KOHYA), 1.0f);
  if (!st) st = dif_context_load(ctx, dif__test_path(SD_DIR));
  if (!st) st = dif_prompt_new(&p);
  if (!st) st = dif_prompt_add_text(p, "a red cat on a blue sofa", 1);
  if (!st) st = dif_sample_new(ctx, p, &s);
  if (!st) st = dif_sample_set_size(s, SIDE, SIDE);
  if (!st) st = dif_sample_set_steps(s, 4);
  if (!st) st = dif_sample_set_seed(s, 11);
  if (!st) st = dif_sample_run(s);
  if (!st) st = dif_sample_copy_image(s, 0, rgb, BYTES);
  if (st && !skip[0])
    fprintf(stderr, "draw: %s\n", s ? dif_sample_last_error(s) : dif_context_last_error(ctx));
  dif_sample_free(s);
  dif_prompt_free(p);
  dif_context_free(ctx);
  return st;
}

static double mean_abs(const uint8_t *a, const uint8_t *b) {
  double d = 0;
  for (int i = 0; i < BYTES; i++) d += abs((int)a[i] - (int)b[i]);
  return d / BYTES;
}

static uint8_t exact_lora[BYTES], fast_lora[BYTES], fast_plain[BYTES], exact_plain[BYTES];

TEST(fast_uses_merged_weights) {
  CHECK(draw(DIF_PRECISION_EXACT, true, exact_lora) == DIF_OK);
  CHECK(draw(DIF_PRECISION_EXACT, false, exact_plain) == DIF_OK);
  CHECK(draw(DIF_PRECISION_FAST, false, fast_plain) == DIF_OK);
  CHECK(draw(DIF_PRECISION_FAST, true, fast_lora) == DIF_OK);
  double rounding = mean_abs(fast_lora, exact_lora), lora = mean_abs(exact_plain, exact_lora),
         without = mean_abs(fast_plain, exact_lora), plain = mean_abs(fast_plain, exact_plain);
  printf("mean |difference| in 8-bit levels: fast vs exact with the LoRA %.3f, without it %.3f; "
         "the LoRA's change (exact) %.3f; fast without the LoRA vs exact with it %.3f\n",
         rounding, plain, lora, without);
  /* bf16 rounding on this model is about as large with the LoRA as without
   * (measured below); the LoRA's own change must stand far above it, and
   * the fast LoRA picture must sit with the exact LoRA one. */
  CHECK_MSG(lora > 8 * rounding, "the LoRA's change %.3f is not far above bf16's %.3f", lora,
            rounding);
  CHECK_MSG(without > 8 * rounding, "fast with the LoRA (%.3f) is not nearer than without (%.3f)",
            rounding, without);
  CHECK_MSG(rounding < 3 * plain + 0.5, "bf16 with the LoRA %.3f against %.3f without", rounding,
            plain);
}

int main(void) {
  uint8_t probe[BYTES];
  if (draw(DIF_PRECISION_FAST, false, probe) == DIF_ERR_UNSUPPORTED) {
    printf("skipped: fast precision cannot run here: %s\n", skip);
    return 77;
  }
  RUN(fast_uses_merged_weights);
  return dif__test_finish();
}

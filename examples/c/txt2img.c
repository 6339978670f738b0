/* Text to PNG with libdif: txt2img MODEL_DIR PRIOR_DIR "PROMPT" OUT.png [SEED]
 * MODEL_DIR is a Stable unCLIP folder, PRIOR_DIR a Karlo prior folder, or
 * "-" for none when the model carries its own prior/ (the default model,
 * models/dif-shapes-64, does). */
#include <dif.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s MODEL_DIR PRIOR_DIR PROMPT OUT.png [SEED]\n", argv[0]);
    return 2;
  }
  dif_context *ctx = NULL;
  dif_prompt *prompt = NULL;
  dif_sample *sample = NULL;
  const char *error = NULL; /* libdif's message for the first call that failed */
  if (dif_context_new(&ctx) != DIF_OK || dif_prompt_new(&prompt) != DIF_OK)
    error = dif_last_error();
  else if ((strcmp(argv[2], "-") != 0 && dif_context_set_prior(ctx, argv[2]) != DIF_OK) ||
           dif_context_load(ctx, argv[1]) != DIF_OK)
    error = dif_context_last_error(ctx);
  else if (dif_prompt_add_text(prompt, argv[3], 1.0f) != DIF_OK)
    error = dif_prompt_last_error(prompt);
  else if (dif_sample_new(ctx, prompt, &sample) != DIF_OK)
    error = dif_context_last_error(ctx);
  else if (dif_sample_set_seed(sample, argc > 5 ? strtoull(argv[5], NULL, 10) : 0) ||
           dif_sample_run(sample) || dif_sample_save_png(sample, 0, argv[4]))
    error = dif_sample_last_error(sample);
  if (error)
    fprintf(stderr, "txt2img: %s\n", error);
  else
    printf("wrote %s (%dx%d, seed %llu)\n", argv[4], (int)dif_sample_width(sample),
           (int)dif_sample_height(sample), (unsigned long long)dif_sample_seed(sample));
  dif_sample_free(sample);
  dif_prompt_free(prompt);
  dif_context_free(ctx);
  return error ? 1 : 0;
}

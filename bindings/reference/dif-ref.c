/* dif-ref — the C library's own output, for the bindings' parity tests.
 *
 *   dif-ref OUT.rgb MODEL_DIR [--prior DIR] [--threads N] [--text T [W]]...
 *           [--image FILE [W]]... [--negative T] [--size W H] [--steps N]
 *           [--guidance G] [--prior-steps N] [--prior-guidance G] [--seed S]
 *           [--batch N] [--noise-level N] [--scheduler NAME]
 *
 * Writes every image of the run as RGB8 rows, one after the other, to OUT.rgb
 * and prints "WIDTH HEIGHT COUNT". Exit status 1 with libdif's message on
 * any error. */
#include <dif.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, const char *msg) {
  fprintf(stderr, "dif-ref: %s: %s\n", what, msg);
  return 1;
}

/* The optional weight after --text/--image: the next argument if numeric. */
static float weight_at(int argc, char **argv, int *i) {
  char *end = NULL;
  if (*i + 1 < argc) {
    float w = strtof(argv[*i + 1], &end);
    if (end && *end == '\0' && end != argv[*i + 1]) {
      ++*i;
      return w;
    }
  }
  return 1.0f;
}

int main(int argc, char **argv) {
  if (argc < 3) return fail("usage", "dif-ref OUT.rgb MODEL_DIR [options] (see the source)");
  dif_context *ctx = NULL;
  dif_prompt *p = NULL;
  if (dif_context_new(&ctx) != DIF_OK || dif_prompt_new(&p) != DIF_OK)
    return fail("new", dif_last_error());
  int i;
  for (i = 3; i + 1 < argc; i += 2) { /* context options come first */
    dif_status s;
    if (!strcmp(argv[i], "--prior"))
      s = dif_context_set_prior(ctx, argv[i + 1]);
    else if (!strcmp(argv[i], "--threads"))
      s = dif_context_set_threads(ctx, atoi(argv[i + 1]));
    else
      break;
    if (s != DIF_OK) return fail(argv[i], dif_context_last_error(ctx));
  }
  if (dif_context_load(ctx, argv[2]) != DIF_OK) return fail(argv[2], dif_context_last_error(ctx));
  for (; i < argc; i++) {
    dif_status s = DIF_OK;
    if (!strcmp(argv[i], "--text") && i + 1 < argc) {
      const char *t = argv[++i];
      s = dif_prompt_add_text(p, t, weight_at(argc, argv, &i));
    } else if (!strcmp(argv[i], "--image") && i + 1 < argc) {
      const char *f = argv[++i];
      s = dif_prompt_add_image_file(p, f, weight_at(argc, argv, &i));
    } else if (!strcmp(argv[i], "--negative") && i + 1 < argc) {
      s = dif_prompt_set_negative(p, argv[++i]);
    } else {
      break;
    }
    if (s != DIF_OK) return fail(argv[i], dif_prompt_last_error(p));
  }
  dif_sample *smp = NULL;
  if (dif_sample_new(ctx, p, &smp) != DIF_OK) return fail("sample", dif_context_last_error(ctx));
  for (; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    dif_status s;
    if (!strcmp(k, "--size") && i + 2 < argc)
      s = dif_sample_set_size(smp, atoi(v), atoi(argv[++i + 1]));
    else if (!strcmp(k, "--steps"))
      s = dif_sample_set_steps(smp, atoi(v));
    else if (!strcmp(k, "--guidance"))
      s = dif_sample_set_guidance(smp, strtof(v, NULL));
    else if (!strcmp(k, "--prior-steps"))
      s = dif_sample_set_prior_steps(smp, atoi(v));
    else if (!strcmp(k, "--prior-guidance"))
      s = dif_sample_set_prior_guidance(smp, strtof(v, NULL));
    else if (!strcmp(k, "--seed"))
      s = dif_sample_set_seed(smp, strtoull(v, NULL, 10));
    else if (!strcmp(k, "--batch"))
      s = dif_sample_set_batch(smp, atoi(v));
    else if (!strcmp(k, "--noise-level"))
      s = dif_sample_set_noise_level(smp, atoi(v));
    else if (!strcmp(k, "--scheduler"))
      s = dif_sample_set_scheduler(smp, v);
    else
      return fail(k, "unknown option");
    if (s != DIF_OK) return fail(k, dif_sample_last_error(smp));
  }
  if (i < argc) return fail(argv[i], "option without a value");
  if (dif_sample_run(smp) != DIF_OK) return fail("run", dif_sample_last_error(smp));
  size_t n = dif_sample_image_bytes(smp);
  unsigned char *rgb = malloc(n);
  FILE *out = fopen(argv[1], "wb");
  if (!rgb || !out) return fail(argv[1], "cannot write");
  for (int k = 0; k < dif_sample_image_count(smp); k++) {
    if (dif_sample_copy_image(smp, k, rgb, n) != DIF_OK || fwrite(rgb, 1, n, out) != n)
      return fail("copy", dif_sample_last_error(smp));
  }
  printf("%d %d %d\n", (int)dif_sample_width(smp), (int)dif_sample_height(smp),
         (int)dif_sample_image_count(smp));
  fclose(out);
  free(rgb);
  dif_sample_free(smp);
  dif_prompt_free(p);
  dif_context_free(ctx);
  return 0;
}

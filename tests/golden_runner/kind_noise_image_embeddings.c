/* kind_noise_image_embeddings.c — StableUnCLIPImg2ImgPipeline's
 * noise_image_embeddings (README-diffusers "cases/noise_image_embeddings"):
 * normalise, noise with the DDPM image-noising scheduler at noise_level,
 * unnormalise, append the noise level's timestep embedding.
 *
 * Tolerance: 1e-5 abs, README-diffusers' figure for single components. The
 * noised embedding half is a few float32 element-wise operations and agrees
 * to ~1e-7; the sinusoidal half at noise_level 999 shows up to 1.7e-6:
 * cos(999·f) turns a 1-ulp difference in f = exp(-ln(1e4)·i/16) (PyTorch
 * evaluates exp with SLEEF's vectorised expf, libdif with its own) into
 * one ulp of an argument near 17.8, i.e. ~1.9e-6. The generator case is
 * compared after drawing the noise ourselves (bit-exact). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinds.h"
#include "pipelines/embeds.h"

#define TOL 1e-5

static void run_case(golden *g, const char *name, const dif__safetensors *st) {
  const char *normdir = dif__st_metadata(st, "image_normalizer");
  const char *sched = dif__st_metadata(st, "image_noising_scheduler");
  if (!normdir || !sched) {
    golden_fail(g, name, "metadata lacks image_normalizer / image_noising_scheduler");
    return;
  }
  /* the scheduler reference {"class", "config", "overrides"} */
  dif__config *ref = NULL;
  dif__error err = {0};
  if (dif__config_parse(sched, strlen(sched), "image_noising_scheduler", &ref, &err)) {
    golden_fail(g, name, "%s", err.msg);
    return;
  }
  const char *cls = "DDPMScheduler", *cdir = NULL;
  dif__config_str_opt(ref, "class", cls, &cls, NULL);
  dif__config_str_opt(ref, "config", NULL, &cdir, NULL);
  dif__image_normalizer norm = {0};
  dif__scheduler *noising = NULL;
  int64_t ne, nn, nl, ng;
  float *embeds = golden_tensor_f32(g, name, st, "in.image_embeds", &ne);
  float *noise = golden_tensor_f32(g, name, st, "in.noise", &nn);
  float *level = golden_tensor_f32(g, name, st, "in.noise_level", &nl);
  float *out = NULL;
  if (!cdir || dif__image_normalizer_load(golden_path(g, normdir), &norm, &err) ||
      dif__scheduler_load(cls, golden_path(g, cdir), NULL, &noising, &err)) {
    golden_fail(g, name, "%s", cdir ? err.msg : "scheduler reference has no config");
  } else if (embeds && noise && level && ne == nn) {
    int64_t B = ne / norm.dim;
    out = malloc((size_t)(B * 2 * norm.dim) * sizeof *out);
    if (dif__noise_image_embeddings(&norm, noising, embeds, noise, B, (int)level[0], out, &err))
      golden_fail(g, name, "%s", err.msg);
    else
      golden_check(g, name, "out.class_labels", out, B * 2 * norm.dim, st, TOL, 0);
    /* with generator=Generator().manual_seed(42): the noise is drawn first */
    float *gnoise = dif__st_find(st, "out.class_labels_generator_seed42")
                        ? malloc((size_t)ne * sizeof *gnoise)
                        : NULL;
    if (gnoise) {
      dif__rng rng;
      dif__rng *gens[1] = {&rng};
      dif__rng_seed(&rng, 42);
      dif__randn_tensor(gens, 1, B, norm.dim, gnoise, &err);
      float *want = golden_tensor_f32(g, name, st, "in.generator_seed42_noise", &ng);
      if (want && ng == ne)
        golden_check_bits(g, name, "in.generator_seed42_noise", gnoise, want, ne);
      free(want);
      if (dif__noise_image_embeddings(&norm, noising, embeds, gnoise, B, (int)level[0], out, &err))
        golden_fail(g, name, "%s", err.msg);
      else
        golden_check(g, name, "out.class_labels_generator_seed42", out, B * 2 * norm.dim, st, TOL,
                     0);
      free(gnoise);
    }
  }
  free(embeds);
  free(noise);
  free(level);
  free(out);
  dif__scheduler_free(noising);
  dif__image_normalizer_free(&norm);
  dif__config_free(ref);
}

int golden_kind_noise_image_embeddings(golden *g, const char *dir) {
  return golden_each_case(g, dir, run_case);
}

/* pipeline_run.c — see pipeline_run.h. Tolerances (README-diffusers
 * "Suggested tolerances"; the reference's own noise floor is 0):
 *   randn.draw*                         bit-exact: the generator must match
 *   latents.noise (inpainting)          bit-exact: a draw
 *   ids, timesteps, masks               exact
 *   w_embedding (LCM)                   1e-6 abs: sin/cos of equal arguments
 *   encoder outputs (text, image), the  1e-5 abs: single components
 *   VAE encoder, image preprocessing
 *   per-step tensors (prior and UNet)   1e-4 abs: a free-running C loop with
 *                                       another summation order drifts a little
 *                                       each step
 *   vae.decode.in                       1e-4 / scaling_factor: the final latents
 *                                       divided by the VAE's scaling factor
 *                                       (0.18215), so the latent bound scaled
 *   vae.decode.out, out.images          1e-3 abs: the final [0,1] image */
#include "pipeline_run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int has_suffix(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

static double tolerance(const run_ctx *rc, const char *name, int *bits) {
  *bits = strncmp(name, "randn.", 6) == 0 || strcmp(name, "latents.noise") == 0;
  if (has_suffix(name, ".input_ids") || has_suffix(name, ".timestep") || has_suffix(name, ".t") ||
      has_suffix(name, "attention_mask") || strcmp(name, "preprocess.mask") == 0 ||
      strcmp(name, "mask_latents.mask") == 0 || strcmp(name, "crop.coords") == 0)
    return 0;
  /* 8-bit pictures (the mask crop's): one level, where the float image
   * (within 1e-3) rounds the other way; measured: equal */
  if (has_suffix(name, "_uint8")) return 1.0;
  if (strncmp(name, "text_encoder.", 13) == 0 || strncmp(name, "prior_text_encoder.", 19) == 0 ||
      strncmp(name, "image_encoder.", 14) == 0 || strcmp(name, "unet.encoder_hidden_states") == 0 ||
      strncmp(name, "prior.proj_embedding", 20) == 0 ||
      strncmp(name, "prior.encoder_hidden_states", 27) == 0 || strcmp(name, "vae.encode.in") == 0 ||
      strncmp(name, "vae.encode.latent", 17) == 0 || strncmp(name, "vae.encode.call", 15) == 0 ||
      strcmp(name, "preprocess.image") == 0 || strcmp(name, "mask_latents.masked_image") == 0)
    return 1e-5;
  /* a latent consistency model's guidance embedding (few_step): sin and cos
   * of the same float32 arguments (log and exp are torch's own, bit for
   * bit), so only the C library's sin/cos against SLEEF's 1-ulp ones can
   * differ: 1e-6 is 8 ulp at 1; measured 0 */
  if (strcmp(name, "w_embedding") == 0) return 1e-6;
  if (strcmp(name, "vae.decode.in") == 0) return 1e-4 / rc->scaling_factor;
  if (strcmp(name, "vae.decode.out") == 0 || strcmp(name, "out.images") == 0) return 1e-3;
  return 1e-4;
}

static void mark_seen(run_ctx *rc, const char *name) {
  if (rc->n_seen == rc->cap) {
    rc->cap = rc->cap ? 2 * rc->cap : 64;
    rc->seen = realloc(rc->seen, (size_t)rc->cap * sizeof *rc->seen);
  }
  rc->seen[rc->n_seen++] = strdup(name);
}

static double max_diff(const float *a, const double *b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++)
    if (fabs((double)a[i] - b[i]) > m) m = fabs((double)a[i] - b[i]);
  return m;
}

/* A tensor whose float32 reference is further than tol from the same
 * computation in float64 (the generator then records `<name>.f64_replay`,
 * README-editing.md) is compared with that replay at the same tolerance.
 * The runner checks the claim: the two references must differ by more than
 * tol. Returns 0 when the case has no replay of name. */
static int check_replay(run_ctx *rc, const char *name, const float *data, int64_t n, double tol) {
  char replay[256];
  snprintf(replay, sizeof replay, "%s.f64_replay", name);
  if (!dif__st_find(rc->st, replay)) return 0;
  mark_seen(rc, replay);
  int64_t m1 = 0, m2 = 0;
  double *ref = golden_tensor(rc->g, rc->name, rc->st, name, &m1),
         *exact = golden_tensor(rc->g, rc->name, rc->st, replay, &m2);
  if (ref && exact && m1 == n && m2 == n) {
    float *ref32 = malloc((size_t)n * sizeof *ref32);
    for (int64_t i = 0; ref32 && i < n; i++) ref32[i] = (float)ref[i];
    double d_ref = ref32 ? max_diff(ref32, exact, n) : 0, d_dif = max_diff(data, ref, n);
    free(ref32);
    printf("  note %s %s: the float32 reference is %.3g from its float64 replay (> %g), libdif "
           "%.3g from the float32 reference; compared with the replay\n",
           rc->name, name, d_ref, tol, d_dif);
    if (d_ref <= tol)
      golden_fail(rc->g, rc->name,
                  "%s: a float64 replay is recorded but the reference is within "
                  "%g of it (%.3g): compare with the reference itself",
                  name, tol, d_ref);
    golden_check(rc->g, rc->name, replay, data, n, rc->st, tol, 0);
  } else {
    golden_fail(rc->g, rc->name, "%s / %s: %lld / %lld values, computed %lld", name, replay,
                (long long)m1, (long long)m2, (long long)n);
  }
  free(ref);
  free(exact);
  return 1;
}

void pipeline_on_trace(void *user, const char *name, const float *data, int64_t n) {
  run_ctx *rc = user;
  const dif__st_entry *e = dif__st_find(rc->st, name);
  if (!e) return;
  mark_seen(rc, name);
  int bits;
  double tol = tolerance(rc, name, &bits);
  if (bits) {
    int64_t m;
    float *want = golden_tensor_f32(rc->g, rc->name, rc->st, name, &m);
    if (want && m == n)
      golden_check_bits(rc->g, rc->name, name, data, want, n);
    else if (want)
      golden_fail(rc->g, rc->name, "%s: %lld values, computed %lld", name, (long long)m,
                  (long long)n);
    free(want);
  } else if (!check_replay(rc, name, data, n, tol)) {
    golden_check(rc->g, rc->name, name, data, n, rc->st, tol, 0);
  }
}

const char *pipeline_str(json_t *o, const char *key) {
  return json_string_value(json_object_get(o, key));
}
double pipeline_num(json_t *o, const char *key, double dflt) {
  json_t *v = json_object_get(o, key);
  return json_is_number(v) ? json_number_value(v) : dflt;
}

void pipeline_finish(run_ctx *rc, const char *const *skip, int n_skip) {
  for (size_t i = 0; i < dif__st_count(rc->st); i++) {
    const char *key = dif__st_entry_at(rc->st, i)->name;
    int found = strncmp(key, "in.", 3) == 0;
    for (int j = 0; j < n_skip && !found; j++) found = strncmp(key, skip[j], strlen(skip[j])) == 0;
    for (int j = 0; j < rc->n_seen && !found; j++) found = strcmp(rc->seen[j], key) == 0;
    if (!found) golden_fail(rc->g, rc->name, "libdif never produced '%s'", key);
  }
  for (int j = 0; j < rc->n_seen; j++) free(rc->seen[j]);
  free(rc->seen);
  rc->seen = NULL;
  rc->n_seen = rc->cap = 0;
}

dif_status pipeline_scheduler(golden *g, json_t *set, const char **cls, dif__config **cfg,
                              char **overrides, dif__error *err) {
  json_t *sref = json_object_get(set, "scheduler");
  *cls = NULL;
  *cfg = NULL;
  *overrides = NULL;
  if (!json_is_object(sref)) return DIF_OK;
  *cls = pipeline_str(sref, "class");
  const char *cdir = pipeline_str(sref, "config");
  dif_status s = DIF_OK;
  if (cdir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/scheduler_config.json", golden_path(g, cdir));
    s = dif__config_load(path, cfg, err);
  }
  json_t *ov = json_object_get(sref, "overrides");
  if (json_is_object(ov) && json_object_size(ov)) *overrides = json_dumps(ov, JSON_COMPACT);
  return s;
}

int pipeline_each_run(golden *g, const char *dir, const char *kind, const char *want,
                      pipeline_case_fn fn) {
  char path[4096];
  snprintf(path, sizeof path, "%s/index.json", dir);
  json_error_t je;
  json_t *index = json_load_file(path, 0, &je);
  json_t *runs = json_object_get(index, "runs");
  if (!json_is_array(runs)) {
    golden_fail(g, kind, "%s: no runs[] (%s)", path, index ? "missing" : je.text);
    json_decref(index);
    return 0;
  }
  size_t i, n = 0;
  json_t *run;
  json_array_foreach(runs, i, run) {
    const char *file = pipeline_str(run, "file"), *pipeline = pipeline_str(run, "pipeline");
    if (!file || !pipeline || (want && strcmp(pipeline, want) != 0)) {
      golden_fail(g, kind, "index.json run %zu: no file, or a pipeline other than %s", i,
                  want ? want : "one named");
      continue;
    }
    dif__safetensors *st = golden_open_case(g, dir, file);
    if (st) fn(g, dir, file, pipeline, st);
    dif__st_close(st);
    n++;
  }
  json_decref(index);
  return (int)n;
}

void pipeline_generate(golden *g, const char *name, const dif__models *m, const dif__kctx *k,
                       const dif__request *r, run_ctx *rc, dif_status s, dif__error *err) {
  dif__result res = {0};
  if (!s) s = dif__generate(m, k, r, &res, err);
  if (s) golden_fail(g, name, "%s", err->msg);
  /* every recorded tensor must have been produced (in.* are inputs) */
  if (!s) pipeline_finish(rc, NULL, 0);
  for (int j = 0; j < rc->n_seen; j++) free(rc->seen[j]);
  free(rc->seen);
  dif__result_free(&res);
}

/* The run of the case's settings: SD txt2img, or (an "image" setting)
 * Stable unCLIP image variation with the prompt as its text part, as
 * kind_pipelines.c runs them (kind_lora.c, kind_textual_inversion.c). */
dif_status pipeline_run_settings(golden *g, const char *name, const dif__safetensors *st,
                                 json_t *set, const dif__models *m, const char *const *skip,
                                 int n_skip, dif__error *err) {
  const char *sclass = NULL, *image_file = pipeline_str(set, "image");
  dif__config *scfg = NULL;
  char *overrides = NULL;
  dif__image image = {0};
  dif__part parts[2];
  int n_parts = 0;
  dif_status s = pipeline_scheduler(g, set, &sclass, &scfg, &overrides, err);
  if (!s && image_file && !(s = dif__image_load(golden_path(g, image_file), NULL, &image, err)))
    parts[n_parts++] = (dif__part){DIF__PART_IMAGE, NULL, &image, 1.0f};
  parts[n_parts++] = (dif__part){DIF__PART_TEXT, pipeline_str(set, "prompt"), NULL, 1.0f};
  run_ctx rc = {g, name, st, NULL, 0, 0, m->vae.scaling_factor};
  dif__arena arena;
  dif__arena_init(&arena, 1u << 20);
  /* exact: the fixtures' float32 path (the VAE's by Winograd with --wino) */
  dif__kctx k = golden_pipeline_kctx(g, &arena);
  dif__request r = {
      .parts = parts,
      .n_parts = n_parts,
      .negative = pipeline_str(set, "negative_prompt"),
      .width = (int)pipeline_num(set, "width", 0),
      .height = (int)pipeline_num(set, "height", 0),
      .steps = (int)pipeline_num(set, "num_inference_steps", 0),
      .batch = 1,
      .guidance = (float)pipeline_num(set, "guidance_scale", 7.5),
      .prior_steps = 25,
      .prior_guidance = 4.0f,
      .noise_level = (int)pipeline_num(set, "noise_level", 0),
      .eta = (float)pipeline_num(set, "eta", 0.0),
      .scheduler = sclass,
      .scheduler_cfg = scfg,
      .scheduler_overrides = overrides,
      .seed = (uint64_t)pipeline_num(set, "seed", 0),
      .trace = pipeline_on_trace,
      .trace_user = &rc,
  };
  dif__result res = {0};
  if (!s) s = dif__generate(m, &k, &r, &res, err);
  if (!s) pipeline_finish(&rc, skip, n_skip);
  for (int j = 0; j < rc.n_seen; j++) free(rc.seen[j]);
  free(rc.seen);
  dif__result_free(&res);
  golden_wino_end(g, k.wino);
  dif__arena_free(&arena);
  dif__image_free(&image);
  dif__config_free(scfg);
  free(overrides);
  return s;
}

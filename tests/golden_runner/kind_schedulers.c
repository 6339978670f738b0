/* kind_schedulers.c — scheduler traces (cases/schedulers/<name>.safetensors).
 *
 * Each file's metadata names a scheduler reference {class, config, overrides}
 * (config resolved under the fixture root), num_inference_steps, the
 * step kwargs (eta) and, optionally, set_timesteps' kwargs (LCM's strength). The loop of diffusers
 * is rerun free-running on our own latents: latents = randn(latents_init.shape, Generator(0)) *
 * init_noise_sigma for i, t: x_in = scale_model_input(latents, t) latents =
 * step(step<i>.model_output, t, latents, generator=Generator(123)) The model outputs are the stored
 * ones (replayed). With DIF__GOLDEN_REPLAY=1 in the environment each step starts from the stored
 * step<i>.latent_in instead (to see one step's error without the earlier ones). A step that draws
 * noise uses the stored step<i>.noise0, and the runner checks separately that the scheduler drew
 * exactly in the steps where diffusers did and that Generator(123) reproduces each stored draw bit
 * for bit. add_noise.t<T> is checked against add_noise(original, noise, T).
 *
 * Tolerances:
 *   timesteps         exact: integers or float32 values made by numpy.
 *   noise draws       bit-exact (the generator is a port).
 *   sigmas, init_noise_sigma, latents_init
 *                     exact: float32 casts of the same float64 / float32
 *                     operations diffusers performs.
 *   everything else   1e-6 abs + 1.2e-7 * |ref|: float32 math redone in
 *                     diffusers' order, including torch's SLEEF log/exp and
 *                     LAPACK-order solves; on x86-64 with glibc every trace
 *                     here matches bit for bit (max_abs 0). The relative
 *                     term (one float32 ulp) only matters for |values| > 8
 *                     (latents reach 51 here, where 1 ulp is 3.8e-6) and
 *                     forgives a last-bit difference of another libm's cos
 *                     or log in the tables, nothing more.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinds.h"
#include "samplers/rng.h"
#include "samplers/scheduler.h"

#define VAL_TOL 1e-6
#define VAL_REL 1.2e-7

typedef struct trace {
  golden *g;
  const char *name;
  dif__safetensors *st;
  int64_t n, batch;
} trace;

static int has(const trace *t, const char *key) { return dif__st_find(t->st, key) != NULL; }

static float *tensor(trace *t, const char *key, int64_t want_n) {
  int64_t m = 0;
  float *v = golden_tensor_f32(t->g, t->name, t->st, key, &m);
  if (v && want_n >= 0 && m != want_n) {
    golden_fail(t->g, t->name, "%s has %lld elements, expected %lld", key, (long long)m,
                (long long)want_n);
    free(v);
    return NULL;
  }
  return v;
}

/* Compares got[n] with tensor key (if the fixture has it). */
static void check(trace *t, const char *key, const float *got, int64_t n, double tol) {
  if (has(t, key)) golden_check(t->g, t->name, key, got, n, t->st, tol, tol > 0 ? VAL_REL : 0);
}

static dif_status make_scheduler(trace *t, dif__scheduler **s, dif__error *err) {
  const char *ref = dif__st_metadata(t->st, "scheduler");
  json_error_t je;
  json_t *j = ref ? json_loads(ref, 0, &je) : NULL;
  const char *cls = json_string_value(json_object_get(j, "class"));
  const char *cfg = json_string_value(json_object_get(j, "config"));
  json_t *ovr = json_object_get(j, "overrides");
  dif_status st;
  if (!cls || !cfg || (ovr && !json_is_object(ovr))) {
    st =
        dif__fail(err, DIF_ERR_BAD_MODEL, "metadata 'scheduler' is not {class, config, overrides}");
  } else {
    char *ovr_text = ovr ? json_dumps(ovr, JSON_COMPACT) : NULL;
    st = dif__scheduler_load(cls, golden_path(t->g, cfg), ovr_text, s, err);
    free(ovr_text);
  }
  json_decref(j);
  return st;
}

static double step_eta(const trace *t) {
  const char *kw = dif__st_metadata(t->st, "step_kwargs");
  json_t *j = kw ? json_loads(kw, 0, NULL) : NULL;
  double eta = json_number_value(json_object_get(j, "eta"));
  json_decref(j);
  return eta;
}

/* The optional metadata "set_timesteps_kwargs" {"strength": s} (an
 * LCMScheduler trace as LatentConsistencyModelImg2ImgPipeline sets it up):
 * set_timesteps(steps, strength=s); without it, set_timesteps(steps). */
static dif_status set_timesteps(const trace *t, dif__scheduler *s, int steps, dif__error *err) {
  const char *kw = dif__st_metadata(t->st, "set_timesteps_kwargs");
  json_t *j = kw ? json_loads(kw, 0, NULL) : NULL;
  json_t *strength = json_object_get(j, "strength");
  dif_status st =
      json_is_number(strength)
          ? dif__scheduler_set_timesteps_strength(s, steps, json_number_value(strength), err)
          : dif__scheduler_set_timesteps(s, steps, err);
  json_decref(j);
  return st;
}

static void check_schedule(trace *t, dif__scheduler *s) {
  const int nt = dif__scheduler_num_timesteps(s);
  double *ts = malloc((size_t)nt * sizeof *ts);
  float *tf = malloc((size_t)nt * sizeof *tf);
  for (int i = 0; ts && tf && i < nt; i++) tf[i] = (float)(ts[i] = dif__scheduler_timestep(s, i));
  if (ts && tf) check(t, "timesteps", tf, nt, 0); /* exact */
  for (int i = 0; ts && i < nt; i++)
    if ((double)tf[i] != ts[i])
      golden_fail(t->g, t->name, "timestep %d = %.17g is not a float32 value", i, ts[i]);
  free(ts);
  free(tf);
  int ns = 0;
  const float *sig = dif__scheduler_sigmas(s, &ns);
  if (has(t, "sigmas")) {
    if (sig)
      check(t, "sigmas", sig, ns, 0); /* exact */
    else
      golden_fail(t->g, t->name, "the fixture has sigmas, the scheduler none");
  }
  float ins = dif__scheduler_init_noise_sigma(s);
  check(t, "init_noise_sigma", &ins, 1, 0); /* exact */
}

static void run_trace(golden *g, const char *dir, const char *file) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  trace t = {.g = g, .name = file};
  dif__error err = {0};
  dif__scheduler *s = NULL;
  if (dif__st_open(path, &t.st, &err)) {
    golden_fail(g, file, "%s", err.msg);
    return;
  }
  const char *steps_s = dif__st_metadata(t.st, "num_inference_steps");
  const dif__st_entry *init = dif__st_find(t.st, "latents_init");
  if (!steps_s || !init) {
    golden_fail(g, file, "no num_inference_steps metadata or latents_init tensor");
    goto out;
  }
  if (make_scheduler(&t, &s, &err) || set_timesteps(&t, s, atoi(steps_s), &err)) {
    golden_fail(g, file, "%s", err.msg);
    goto out;
  }
  check_schedule(&t, s);
  t.n = dif__st_numel(init);
  t.batch = init->ndim > 0 ? init->shape[0] : 1;
  float *lat = malloc((size_t)t.n * sizeof *lat), *x_in = malloc((size_t)t.n * sizeof *x_in);
  float *prev = malloc((size_t)t.n * sizeof *prev), *x0 = malloc((size_t)t.n * sizeof *x0);
  float *drawn = malloc((size_t)t.n * sizeof *drawn);
  if (!lat || !x_in || !prev || !x0 || !drawn) {
    golden_fail(g, file, "out of memory");
    goto free_bufs;
  }
  dif__rng gen0, gen123;
  dif__rng_seed(&gen0, 0);
  dif__rng_seed(&gen123, 123);
  dif__rng *gp = &gen123;
  dif__rng_randn(&gen0, lat, t.n);
  const float ins = dif__scheduler_init_noise_sigma(s);
  for (int64_t k = 0; k < t.n; k++) lat[k] = lat[k] * ins;
  check(&t, "latents_init", lat, t.n, 0); /* exact: randn bits times one float */
  const double eta = step_eta(&t);
  const char *rp = getenv("DIF_GOLDEN_REPLAY");
  const bool replay = rp && *rp && strcmp(rp, "0") != 0;
  const int nt = dif__scheduler_num_timesteps(s);
  int i = 0;
  for (; i < nt; i++) {
    char key[64], nkey[64];
    snprintf(key, sizeof key, "step%d.model_output", i);
    if (!has(&t, key)) break;
    snprintf(key, sizeof key, "step%d.latent_in", i);
    check(&t, key, lat, t.n, VAL_TOL);
    if (replay && has(&t, key)) {
      float *li = tensor(&t, key, t.n);
      if (li) memcpy(lat, li, (size_t)t.n * sizeof *lat);
      free(li);
    }
    if (dif__scheduler_scale_model_input(s, i, lat, x_in, t.n, &err)) {
      golden_fail(g, file, "step %d: %s", i, err.msg);
      break;
    }
    snprintf(key, sizeof key, "step%d.model_input", i);
    check(&t, key, x_in, t.n, VAL_TOL);
    snprintf(key, sizeof key, "step%d.model_output", i);
    float *mo = tensor(&t, key, t.n);
    snprintf(nkey, sizeof nkey, "step%d.noise0", i);
    float *noise = has(&t, nkey) ? tensor(&t, nkey, t.n) : NULL;
    if (!mo) {
      free(noise);
      break;
    }
    dif__step_args a = {.model_output = mo,
                        .sample = lat,
                        .prev_sample = prev,
                        .pred_original = x0,
                        .n = t.n,
                        .batch = (int)t.batch,
                        .gens = &gp,
                        .n_gens = 1,
                        .noise = noise,
                        .eta = eta};
    dif_status st = dif__scheduler_step(s, i, &a, &err);
    if (!st && a.drew_noise != (noise != NULL))
      golden_fail(g, file, "step %d: the scheduler %s noise, diffusers %s", i,
                  a.drew_noise ? "drew" : "drew no", noise ? "did" : "did not");
    if (!st && noise && a.drew_noise) {
      dif__rng_randn(&gen123, drawn, t.n); /* what Generator(123) gives at this point */
      golden_check_bits(g, file, nkey, drawn, noise, t.n);
    }
    free(mo);
    free(noise);
    if (st) {
      golden_fail(g, file, "step %d: %s", i, err.msg);
      break;
    }
    snprintf(key, sizeof key, "step%d.pred_original_sample", i);
    if (has(&t, key)) {
      if (a.wrote_pred_original)
        check(&t, key, x0, t.n, VAL_TOL);
      else
        golden_fail(g, file, "step %d: no pred_original_sample", i);
    }
    snprintf(key, sizeof key, "step%d.prev_sample", i);
    check(&t, key, prev, t.n, VAL_TOL);
    memcpy(lat, prev, (size_t)t.n * sizeof *lat);
  }
  if (i != nt) golden_fail(g, file, "trace has %d steps, the schedule %d", i, nt);
  check(&t, "latents_final", lat, t.n, VAL_TOL);

  /* add_noise.t<T>: add_noise(add_noise.original, add_noise.noise, T) */
  float *orig = has(&t, "add_noise.original") ? tensor(&t, "add_noise.original", t.n) : NULL;
  float *an = has(&t, "add_noise.noise") ? tensor(&t, "add_noise.noise", t.n) : NULL;
  for (size_t e = 0; orig && an && e < dif__st_count(t.st); e++) {
    const char *name = dif__st_entry_at(t.st, e)->name;
    if (strncmp(name, "add_noise.t", 11) != 0 || strstr(name, ".timestep")) continue;
    char tkey[128];
    snprintf(tkey, sizeof tkey, "%s.timestep", name);
    float *tv = tensor(&t, tkey, 1);
    if (!tv) continue;
    if (dif__scheduler_add_noise(s, orig, an, tv[0], t.n, prev, &err))
      golden_fail(g, file, "%s: %s", name, err.msg);
    else
      check(&t, name, prev, t.n, VAL_TOL);
    free(tv);
  }
  free(orig);
  free(an);
free_bufs:
  free(lat);
  free(x_in);
  free(prev);
  free(x0);
  free(drawn);
out:
  dif__scheduler_free(s);
  dif__st_close(t.st);
}

int golden_kind_schedulers(golden *g, const char *dir) {
  size_t n;
  char **files = golden_list(dir, ".safetensors", &n);
  for (size_t i = 0; i < n; i++) run_trace(g, dir, files[i]);
  golden_free_list(files, n);
  return (int)n;
}

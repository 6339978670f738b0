/* sched_config.c — from_config semantics (see sched_config.h). The
 * per-class key lists and defaults (the rows in scheduler.c) are those of the
 * __init__ signatures of diffusers v0.26.3
 * src/diffusers/schedulers/scheduling_*.py. */
#include "samplers/sched_config.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "samplers/sched_internal.h"

typedef struct src {
  const dif__config *cfg, *ovr;
  json_t *use_defaults;     /* cfg's _use_default_values list or NULL */
  const dif__config *class; /* the class's own defaults (its row's `defaults`) */
} src;

/* Where key's value comes from: the overrides, the config, or NULL for the
 * class default. */
static const dif__config *from(const src *s, const char *key) {
  if (s->ovr && json_object_get(dif__config_json(s->ovr), key)) return s->ovr;
  if (!s->cfg || !json_object_get(dif__config_json(s->cfg), key)) return NULL;
  size_t i;
  json_t *v;
  json_array_foreach(s->use_defaults, i, v) {
    if (json_is_string(v) && strcmp(json_string_value(v), key) == 0) return NULL;
  }
  return s->cfg;
}

static dif_status get_int(const src *s, const char *key, int64_t dflt, int64_t *out,
                          dif__error *err) {
  dif_status st = dif__config_int_opt(s->class, key, dflt, &dflt, err);
  if (st) return st;
  const dif__config *c = from(s, key);
  if (!c) return *out = dflt, DIF_OK;
  return dif__config_int_opt(c, key, dflt, out, err);
}

static dif_status get_num(const src *s, const char *key, double dflt, double *out,
                          dif__error *err) {
  dif_status st = dif__config_num_opt(s->class, key, dflt, &dflt, err);
  if (st) return st;
  const dif__config *c = from(s, key);
  if (!c) return *out = dflt, DIF_OK;
  return dif__config_num_opt(c, key, dflt, out, err);
}

/* A number or null: *has says whether a number was given. */
static dif_status get_opt_num(const src *s, const char *key, bool *has, double *out,
                              dif__error *err) {
  const dif__config *c = from(s, key);
  *has = c && dif__config_has(c, key);
  if (!*has) return DIF_OK;
  return dif__config_num(c, key, out, err);
}

static dif_status get_bool(const src *s, const char *key, bool dflt, bool *out, dif__error *err) {
  dif_status st = dif__config_bool_opt(s->class, key, dflt, &dflt, err);
  if (st) return st;
  const dif__config *c = from(s, key);
  if (!c) return *out = dflt, DIF_OK;
  return dif__config_bool_opt(c, key, dflt, out, err);
}

/* A string that must be one of names[] (NULL-terminated); *out = its index.
 * Absent or null gives the class default, else dflt. */
static dif_status get_enum(const src *s, const char *key, const char *dflt,
                           const char *const *names, int *out, dif__error *err) {
  dif_status st = dif__config_str_opt(s->class, key, dflt, &dflt, err);
  if (st) return st;
  const dif__config *c = from(s, key);
  const char *v = dflt;
  if (c && (st = dif__config_str_opt(c, key, dflt, &v, err))) return st;
  for (int i = 0; names[i]; i++)
    if (strcmp(v, names[i]) == 0) return *out = i, DIF_OK;
  char list[256] = "";
  for (int i = 0; names[i]; i++) {
    strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
    strncat(list, names[i], sizeof list - strlen(list) - 1);
  }
  return dif__fail(err, DIF_ERR_UNSUPPORTED, "%s: %s \"%s\" is not supported (valid: %s)",
                   c ? dif__config_path(c) : "scheduler", key, v, list);
}

static dif_status get_trained_betas(const src *s, dif__sched_config *o, dif__error *err) {
  const dif__config *c = from(s, "trained_betas");
  if (!c || !dif__config_has(c, "trained_betas")) return DIF_OK;
  json_t *arr = json_object_get(dif__config_json(c), "trained_betas");
  size_t n = json_array_size(arr);
  if (!json_is_array(arr) || n == 0)
    return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: trained_betas must be a non-empty list",
                     dif__config_path(c));
  o->trained_betas = malloc(n * sizeof *o->trained_betas);
  if (!o->trained_betas) return dif__fail_oom(err, "trained_betas", n * sizeof(double));
  int got = 0;
  dif_status st = dif__config_num_list(c, "trained_betas", o->trained_betas, (int)n, &got, err);
  o->n_trained_betas = got;
  return st;
}

/* The file (or "scheduler" for a class default) a key's value came from. */
static const char *where(const src *s, const char *key) {
  const dif__config *c = from(s, key);
  return c ? dif__config_path(c) : "scheduler";
}

/* A beta is a per-step noise variance: 1 - beta is a factor of
 * alphas_cumprod, so a beta outside (0, 1) makes alphas_cumprod zero,
 * negative or growing, and the schedule's square roots and divisions give
 * NaN or infinity. Refused when the config is read (at load), naming the
 * file and the key. Only the values the schedule uses are checked: betas
 * that rescale_betas_zero_snr computes end at 1 by design. */
static dif_status check_betas(const src *s, const dif__sched_config *o, dif__error *err) {
  if (o->trained_betas) {
    for (int64_t i = 0; i < o->n_trained_betas; i++) {
      double b = o->trained_betas[i];
      if (!(b > 0 && b < 1))
        return dif__fail(err, DIF_ERR_BAD_MODEL,
                         "%s: trained_betas[%lld] = %g is outside (0, 1) (a beta is a noise "
                         "variance per step)",
                         where(s, "trained_betas"), (long long)i, b);
    }
    return DIF_OK;
  }
  if (o->beta_schedule == DIF__BETA_COSINE) return DIF_OK; /* computed, capped at 0.999 */
  const char *keys[2] = {"beta_start", "beta_end"};
  double v[2] = {o->beta_start, o->beta_end};
  for (int i = 0; i < 2; i++)
    if (!(v[i] > 0 && v[i] < 1))
      return dif__fail(err, DIF_ERR_BAD_MODEL,
                       "%s: %s = %g is outside (0, 1) (a beta is a noise variance per step)",
                       where(s, keys[i]), keys[i], v[i]);
  return DIF_OK;
}

static const char *const pred_names[] = {"epsilon", "v_prediction", "sample", NULL};
static const char *const beta_names[] = {"linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid",
                                         NULL};
static const char *const spacing_names[] = {"linspace", "leading", "trailing", NULL};
/* In dif__variance order after DIF__VAR_NONE. */
static const char *const variance_names[] = {
    "fixed_small", "fixed_small_log", "fixed_large", "fixed_large_log",
    "learned",     "learned_range",   NULL};
static const char *const algo_names[] = {"dpmsolver++",   "dpmsolver", "sde-dpmsolver++",
                                         "sde-dpmsolver", "deis",      NULL};
static const char *const solver_names[] = {"midpoint", "heun", "bh1", "bh2", "logrho", NULL};

/* The noise schedule: num_train_timesteps, the betas and their schedule. */
static dif_status resolve_betas(const dif__sched_class *cls, const src *s, dif__sched_config *o,
                                dif__error *err) {
  dif_status st;
  const unsigned k = cls->keys;
  int e;
  if ((st = get_int(s, "num_train_timesteps", 1000, &o->num_train_timesteps, err))) return st;
  if (o->num_train_timesteps < 1 || o->num_train_timesteps > DIF__SCHED_MAX_TRAIN_TIMESTEPS)
    return dif__fail(err, DIF_ERR_UNSUPPORTED, "%s: num_train_timesteps %lld is outside 1..%d",
                     where(s, "num_train_timesteps"), (long long)o->num_train_timesteps,
                     DIF__SCHED_MAX_TRAIN_TIMESTEPS);
  if (k & DIF__SCHED_K_BETAS) {
    if ((st = get_num(s, "beta_start", 0.0001, &o->beta_start, err))) return st;
    if ((st = get_num(s, "beta_end", 0.02, &o->beta_end, err))) return st;
  }
  if ((st = get_enum(s, "beta_schedule", "linear", beta_names, &e, err))) return st;
  o->beta_schedule = (dif__beta)e;
  if (k & DIF__SCHED_K_BETAS) {
    if ((st = get_trained_betas(s, o, err))) return st;
    if (!o->trained_betas || o->n_trained_betas == o->num_train_timesteps)
      if ((st = check_betas(s, o, err))) return st;
  } else if (o->beta_schedule != DIF__BETA_COSINE) { /* UnCLIPScheduler */
    return dif__fail(err, DIF_ERR_UNSUPPORTED, "%s only supports beta_schedule squaredcos_cap_v2",
                     cls->name);
  }
  if (o->beta_schedule == DIF__BETA_SIGMOID && !(k & DIF__SCHED_K_SIGMOID))
    return dif__fail(err, DIF_ERR_UNSUPPORTED,
                     "%s: beta_schedule sigmoid is only for DDPMScheduler", cls->name);
  if (o->trained_betas && o->n_trained_betas != o->num_train_timesteps)
    return dif__fail(err, DIF_ERR_BAD_MODEL, "scheduler: %lld trained_betas for %lld timesteps",
                     (long long)o->n_trained_betas, (long long)o->num_train_timesteps);
  return DIF_OK;
}

/* LCMScheduler's own keys: the distillation schedule's length and the
 * boundary condition's timestep factor. */
static dif_status resolve_lcm(const dif__sched_class *cls, const src *s, dif__sched_config *o,
                              dif__error *err) {
  dif_status st;
  if (!(cls->keys & DIF__SCHED_K_LCM)) return DIF_OK;
  if ((st = get_int(s, "original_inference_steps", 50, &o->original_inference_steps, err)) ||
      (st = get_num(s, "timestep_scaling", 10.0, &o->timestep_scaling, err)))
    return st;
  /* diffusers refuses more original steps than training timesteps in
   * set_timesteps; a non-positive count divides by zero there. */
  if (o->original_inference_steps < 1 || o->original_inference_steps > o->num_train_timesteps)
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: original_inference_steps %lld must be in 1..%lld (num_train_timesteps)",
                     where(s, "original_inference_steps"), (long long)o->original_inference_steps,
                     (long long)o->num_train_timesteps);
  if (!isfinite(o->timestep_scaling))
    return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: timestep_scaling must be finite",
                     where(s, "timestep_scaling"));
  return DIF_OK;
}

/* What a step does with the model output: prediction type, clipping and
 * thresholding, timestep spacing, variance (DDIM, DDPM, PNDM, UnCLIP). */
static dif_status resolve_step(const dif__sched_class *cls, const src *s, dif__sched_config *o,
                               dif__error *err) {
  dif_status st;
  const unsigned k = cls->keys;
  int e;
  /* prediction_type: every class has it. */
  if ((st = get_enum(s, "prediction_type", "epsilon", pred_names, &e, err))) return st;
  o->prediction_type = (dif__pred_type)e;

  if (k & DIF__SCHED_K_CLIP) { /* DDIM, DDPM and UnCLIP all default to clip_sample True, range 1 */
    if ((st = get_bool(s, "clip_sample", true, &o->clip_sample, err))) return st;
    if ((st = get_num(s, "clip_sample_range", 1.0, &o->clip_sample_range, err))) return st;
  }
  if (k & DIF__SCHED_K_ALPHA_ONE)
    if ((st = get_bool(s, "set_alpha_to_one", false, &o->set_alpha_to_one, err))) return st;
  if (k & DIF__SCHED_K_OFFSET) {
    if ((st = get_int(s, "steps_offset", 0, &o->steps_offset, err))) return st;
    if ((st = get_enum(s, "timestep_spacing", "linspace", spacing_names, &e, err))) return st;
    o->timestep_spacing = (dif__spacing)e;
  } else {
    o->timestep_spacing = DIF__SPACING_LEADING; /* UnCLIP has its own spacing */
  }
  if (k & DIF__SCHED_K_THRESH) {
    if ((st = get_bool(s, "thresholding", false, &o->thresholding, err))) return st;
    if ((st = get_num(s, "dynamic_thresholding_ratio", 0.995, &o->dynamic_thresholding_ratio, err)))
      return st;
    if ((st = get_num(s, "sample_max_value", 1.0, &o->sample_max_value, err))) return st;
  }
  if (k & DIF__SCHED_K_RESCALE)
    if ((st = get_bool(s, "rescale_betas_zero_snr", false, &o->rescale_betas_zero_snr, err)))
      return st;
  if (k & DIF__SCHED_K_VARIANCE) {
    /* A null class default is None (DPMSolver's): kept unless a value is given. */
    const dif__config *c = from(s, "variance_type");
    json_t *d = json_object_get(dif__config_json(s->class), "variance_type");
    if (json_is_null(d) && !(c && dif__config_has(c, "variance_type"))) {
      o->variance_type = DIF__VAR_NONE;
    } else {
      if ((st = get_enum(s, "variance_type", "fixed_small_log", variance_names, &e, err)))
        return st;
      o->variance_type = (dif__variance)(e + 1);
    }
  }
  if (k & DIF__SCHED_K_PRK)
    if ((st = get_bool(s, "skip_prk_steps", false, &o->skip_prk_steps, err))) return st;
  return resolve_lcm(cls, s, o, err);
}

/* The sigma schedule of the Euler, DPM and LMS families. */
static dif_status resolve_sigmas(const dif__sched_class *cls, const src *s, dif__sched_config *o,
                                 dif__error *err) {
  dif_status st;
  const unsigned k = cls->keys;
  int e;
  if (k & DIF__SCHED_K_EULER) {
    static const char *const interp_names[] = {"linear", "log_linear", NULL};
    static const char *const type_names[] = {"discrete", "continuous", NULL};
    if ((st = get_enum(s, "interpolation_type", "linear", interp_names, &e, err))) return st;
    o->interpolation_log_linear = e == 1;
    if ((st = get_opt_num(s, "sigma_min", &o->has_sigma_min, &o->sigma_min, err))) return st;
    if ((st = get_opt_num(s, "sigma_max", &o->has_sigma_max, &o->sigma_max, err))) return st;
    if ((st = get_enum(s, "timestep_type", "discrete", type_names, &e, err))) return st;
    o->timestep_continuous = e == 1;
  }
  if (k & DIF__SCHED_K_KARRAS)
    if ((st = get_bool(s, "use_karras_sigmas", false, &o->use_karras_sigmas, err))) return st;
  return DIF_OK;
}

/* The multistep solvers' settings: order and type, DPM-Solver's and UniPC's own. */
static dif_status resolve_solver(const dif__sched_class *cls, const src *s, dif__sched_config *o,
                                 dif__error *err) {
  dif_status st;
  const unsigned k = cls->keys;
  int e;
  if (k & DIF__SCHED_K_SOLVER) {
    if ((st = get_int(s, "solver_order", 2, &o->solver_order, err))) return st;
    if (o->solver_order < 1 || o->solver_order > 3)
      return dif__fail(err, DIF_ERR_UNSUPPORTED, "%s: solver_order %lld (1 to 3 supported)",
                       cls->name, (long long)o->solver_order);
    if ((st = get_enum(s, "solver_type", "midpoint", solver_names, &e, err))) return st;
    /* As diffusers: DPM maps logrho/bh1/bh2 to midpoint, UniPC maps
     * midpoint/heun/logrho to bh2. */
    if (k & DIF__SCHED_K_DPM)
      o->solver_type = e == DIF__SOLVER_HEUN ? DIF__SOLVER_HEUN : DIF__SOLVER_MIDPOINT;
    else
      o->solver_type = e == DIF__SOLVER_BH1 ? DIF__SOLVER_BH1 : DIF__SOLVER_BH2;
    if ((st = get_bool(s, "lower_order_final", true, &o->lower_order_final, err))) return st;
  }
  if (k & DIF__SCHED_K_DPM) {
    if ((st = get_enum(s, "algorithm_type", "dpmsolver++", algo_names, &e, err))) return st;
    o->algorithm_type = e == 4 ? DIF__ALGO_DPMSOLVERPP : (dif__dpm_algo)e; /* deis -> dpmsolver++ */
    if ((st = get_bool(s, "euler_at_final", false, &o->euler_at_final, err))) return st;
    if ((st = get_bool(s, "use_lu_lambdas", false, &o->use_lu_lambdas, err))) return st;
    static const char *const final_names[] = {"zero", "sigma_min", NULL};
    if ((st = get_enum(s, "final_sigmas_type", "zero", final_names, &e, err))) return st;
    o->final_sigmas_zero = e == 0;
    if ((st = get_num(s, "lambda_min_clipped", -INFINITY, &o->lambda_min_clipped, err))) return st;
    if (o->final_sigmas_zero && o->algorithm_type != DIF__ALGO_DPMSOLVERPP &&
        o->algorithm_type != DIF__ALGO_SDE_DPMSOLVERPP)
      return dif__fail(err, DIF_ERR_UNSUPPORTED,
                       "DPMSolverMultistepScheduler: final_sigmas_type zero needs algorithm_type "
                       "dpmsolver++ or sde-dpmsolver++");
  }
  if (k & DIF__SCHED_K_UNIPC) {
    if ((st = get_bool(s, "predict_x0", true, &o->predict_x0, err))) return st;
    const dif__config *c = from(s, "disable_corrector");
    if (c && dif__config_has(c, "disable_corrector"))
      if ((st = dif__config_int_list(c, "disable_corrector", o->disable_corrector,
                                     DIF__SCHED_MAX_DISABLE, &o->n_disable_corrector, false, 0,
                                     err)))
        return st;
    c = from(s, "solver_p");
    if (c && dif__config_has(c, "solver_p"))
      return dif__fail(err, DIF_ERR_UNSUPPORTED,
                       "UniPCMultistepScheduler: solver_p is not supported");
  }
  return DIF_OK;
}

static dif_status resolve(const dif__sched_class *cls, const src *s, dif__sched_config *o,
                          dif__error *err) {
  dif_status st;
  o->cls = cls;
  if ((st = resolve_betas(cls, s, o, err))) return st;
  if ((st = resolve_step(cls, s, o, err))) return st;
  if ((st = resolve_sigmas(cls, s, o, err))) return st;
  if ((st = resolve_solver(cls, s, o, err))) return st;
  /* Combinations diffusers rejects when stepping; refused up front here. */
  if (cls->ops->check)
    if ((st = cls->ops->check(o, err))) return st;
  if (o->variance_type == DIF__VAR_LEARNED || o->variance_type == DIF__VAR_LEARNED_RANGE)
    return dif__fail(err, DIF_ERR_UNSUPPORTED,
                     "%s: variance_type learned/learned_range (a model that predicts its variance) "
                     "is not supported",
                     cls->name);
  return DIF_OK;
}

dif_status dif__sched_config_resolve(const dif__sched_class *cls, const dif__config *cfg,
                                     const dif__config *ovr, dif__sched_config *out,
                                     dif__error *err) {
  memset(out, 0, sizeof *out);
  if (!cls) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "scheduler: no class");
  const char *dflt = cls->defaults ? cls->defaults : "{}";
  src s = {cfg, ovr, NULL, NULL};
  dif__config *class_defaults = NULL;
  dif_status st = dif__config_parse(dflt, strlen(dflt), "scheduler", &class_defaults, err);
  if (st) return st;
  s.class = class_defaults;
  if (cfg) {
    json_t *u = json_object_get(dif__config_json(cfg), "_use_default_values");
    s.use_defaults = json_is_array(u) ? u : NULL;
  }
  st = resolve(cls, &s, out, err);
  dif__config_free(class_defaults);
  if (st) dif__sched_config_clear(out);
  return st;
}

void dif__sched_config_clear(dif__sched_config *c) {
  free(c->trained_betas);
  c->trained_betas = NULL;
  c->n_trained_betas = 0;
}

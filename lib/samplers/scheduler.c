/* scheduler.c — the table of scheduler classes, creating schedulers by name,
 * the shared tables, accessors, argument checks and dispatch to the
 * per-class sched_<class>.c. */
#include "samplers/scheduler.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "samplers/sched_internal.h"
#include "samplers/schedule.h"

/* ---- the classes ----
 *
 * One row per scheduler class: its diffusers name, its short names (with the
 * settings they imply), the __init__ keys it reads, its defaults that differ
 * from the common ones, and its functions (sched_<class>.c). Adding a
 * scheduler is a sched_<class>.c defining dif__sched_<class>_ops and a row
 * here; every list of names (messages, dif_scheduler_names, `dif generate
 * --help`) comes from this table. */

#define K(x) DIF__SCHED_K_##x
#define DPMPP "\"algorithm_type\": \"dpmsolver++\", \"solver_order\": 2"

static const dif__sched_class classes[] = {
    {"DDIMScheduler",
     {{"ddim", NULL}},
     K(BETAS) | K(CLIP) | K(ALPHA_ONE) | K(OFFSET) | K(THRESH) | K(RESCALE),
     "{\"set_alpha_to_one\": true, \"timestep_spacing\": \"leading\"}",
     &dif__sched_ddim_ops},
    {"DDPMScheduler",
     {{"ddpm", NULL}},
     K(BETAS) | K(CLIP) | K(OFFSET) | K(THRESH) | K(RESCALE) | K(VARIANCE) | K(SIGMOID),
     "{\"timestep_spacing\": \"leading\", \"variance_type\": \"fixed_small\"}",
     &dif__sched_ddpm_ops},
    {"PNDMScheduler",
     {{"pndm", NULL}},
     K(BETAS) | K(ALPHA_ONE) | K(OFFSET) | K(PRK),
     "{\"timestep_spacing\": \"leading\"}",
     &dif__sched_pndm_ops},
    {"EulerDiscreteScheduler",
     {{"euler", NULL}},
     K(BETAS) | K(OFFSET) | K(RESCALE) | K(EULER) | K(KARRAS),
     NULL,
     &dif__sched_euler_ops},
    {"EulerAncestralDiscreteScheduler",
     {{"euler_a", NULL}},
     K(BETAS) | K(OFFSET) | K(RESCALE),
     NULL,
     &dif__sched_euler_a_ops},
    {"DPMSolverMultistepScheduler",
     {{"dpmpp_2m", "{" DPMPP "}"}, {"dpmpp_2m_karras", "{" DPMPP ", \"use_karras_sigmas\": true}"}},
     K(BETAS) | K(OFFSET) | K(THRESH) | K(KARRAS) | K(SOLVER) | K(DPM) | K(VARIANCE),
     "{\"variance_type\": null, \"solver_type\": \"midpoint\"}",
     &dif__sched_dpm_ops},
    {"LMSDiscreteScheduler",
     {{"lms", NULL}},
     K(BETAS) | K(OFFSET) | K(KARRAS),
     NULL,
     &dif__sched_lms_ops},
    {"UniPCMultistepScheduler",
     {{"unipc", NULL}},
     K(BETAS) | K(OFFSET) | K(THRESH) | K(KARRAS) | K(SOLVER) | K(UNIPC),
     "{\"solver_type\": \"bh2\"}",
     &dif__sched_unipc_ops},
    {"LCMScheduler",
     {{"lcm", NULL}},
     K(BETAS) | K(CLIP) | K(ALPHA_ONE) | K(OFFSET) | K(THRESH) | K(RESCALE) | K(LCM),
     "{\"beta_start\": 0.00085, \"beta_end\": 0.012, \"beta_schedule\": \"scaled_linear\", "
     "\"clip_sample\": false, \"set_alpha_to_one\": true, \"timestep_spacing\": \"leading\"}",
     &dif__sched_lcm_ops},
    {"UnCLIPScheduler", /* num_train_timesteps, beta_schedule (cosine only) */
     {{"unclip", NULL}},
     K(CLIP) | K(VARIANCE),
     "{\"beta_schedule\": \"squaredcos_cap_v2\", \"variance_type\": \"fixed_small_log\"}",
     &dif__sched_unclip_ops},
};

#undef DPMPP
#undef K

#define N_CLASSES (sizeof classes / sizeof *classes)

const dif__sched_class *dif__sched_find(const char *name, const dif__sched_alias **alias) {
  if (alias) *alias = NULL;
  if (!name) return NULL;
  for (size_t i = 0; i < N_CLASSES; i++)
    if (strcmp(name, classes[i].name) == 0) return &classes[i];
  for (size_t i = 0; i < N_CLASSES; i++)
    for (int j = 0; j < DIF__SCHED_MAX_ALIASES && classes[i].aliases[j].name; j++)
      if (strcasecmp(name, classes[i].aliases[j].name) == 0) {
        if (alias) *alias = &classes[i].aliases[j];
        return &classes[i];
      }
  return NULL;
}

char *dif__sched_names(char *buf, size_t size, bool short_only) {
  size_t len = 0;
  buf[0] = '\0';
#define ADD(name)                                                                                  \
  if (len < size) len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? ", " : "", name)
  for (size_t i = 0; i < N_CLASSES && !short_only; i++) ADD(classes[i].name);
  for (size_t i = 0; i < N_CLASSES; i++)
    for (int j = 0; j < DIF__SCHED_MAX_ALIASES && classes[i].aliases[j].name; j++)
      ADD(classes[i].aliases[j].name);
#undef ADD
  return buf;
}

const char *dif__scheduler_class_for(const char *name) {
  const dif__sched_class *c = dif__sched_find(name, NULL);
  return c ? c->name : NULL;
}

dif_status dif__scheduler_check_name(const char *name, dif__error *err) {
  if (dif__sched_find(name, NULL)) return DIF_OK;
  char names[512];
  return dif__fail(err, DIF_ERR_UNSUPPORTED, "unknown scheduler \"%s\" (valid: %s)",
                   name ? name : "(null)", dif__sched_names(names, sizeof names, false));
}

/* ---- creating one ---- */

/* The overrides as a config: the short name's implied keys, then the
 * caller's JSON object on top. */
static dif_status parse_overrides(const char *text, const char *implied, dif__config **out,
                                  dif__error *err) {
  *out = NULL;
  dif__config *user = NULL;
  if (text && *text) {
    dif_status st = dif__config_parse(text, strlen(text), "scheduler overrides", &user, err);
    if (st) return st;
  }
  if (!implied) return *out = user, DIF_OK;
  dif_status st = dif__config_parse(implied, strlen(implied), "scheduler overrides", out, err);
  if (!st && user && json_object_update(dif__config_json(*out), dif__config_json(user)) != 0)
    st = dif__fail(err, DIF_ERR_OUT_OF_MEMORY, "out of memory merging scheduler overrides");
  dif__config_free(user);
  if (st) {
    dif__config_free(*out);
    *out = NULL;
  }
  return st;
}

dif_status dif__scheduler_create(const char *name, const dif__config *cfg, const char *overrides,
                                 dif__scheduler **out, dif__error *err) {
  if (!out) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "scheduler: out is NULL");
  *out = NULL;
  const dif__sched_alias *alias;
  const dif__sched_class *cls = dif__sched_find(name, &alias);
  if (!cls) return dif__scheduler_check_name(name, err);
  dif__config *ovr = NULL;
  dif_status st = parse_overrides(overrides, alias ? alias->implies : NULL, &ovr, err);
  if (st) return st;
  dif__scheduler *s = calloc(1, sizeof *s);
  if (!s) {
    dif__config_free(ovr);
    return dif__fail_oom(err, "scheduler", sizeof *s);
  }
  st = dif__sched_config_resolve(cls, cfg, ovr, &s->cfg, err);
  dif__config_free(ovr);
  if (st) {
    free(s);
    return st;
  }
  s->ops = cls->ops;
  s->T = s->cfg.num_train_timesteps;
  s->betas = malloc((size_t)s->T * sizeof(float));
  s->alphas = malloc((size_t)s->T * sizeof(float));
  s->alphas_cumprod = malloc((size_t)s->T * sizeof(float));
  if (!s->betas || !s->alphas || !s->alphas_cumprod) {
    size_t bytes = 3 * (size_t)s->T * sizeof(float);
    dif__scheduler_free(s);
    return dif__fail_oom(err, "scheduler tables", bytes);
  }
  dif__sched_betas(&s->cfg, s->betas);
  dif__sched_alphas(s->betas, s->T, s->alphas, s->alphas_cumprod);
  s->final_alpha_cumprod = s->cfg.set_alpha_to_one ? 1.0f : s->alphas_cumprod[0];
  s->init_noise_sigma = 1.0f;
  s->step_index = -1;
  if (s->ops->init && (st = s->ops->init(s, err))) {
    dif__scheduler_free(s);
    return st;
  }
  *out = s;
  return DIF_OK;
}

dif_status dif__scheduler_load(const char *name, const char *folder, const char *overrides,
                               dif__scheduler **out, dif__error *err) {
  if (!folder) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "scheduler: folder is NULL");
  size_t len = strlen(folder) + sizeof "/scheduler_config.json";
  char *path = malloc(len);
  if (!path) return dif__fail_oom(err, "path", len);
  snprintf(path, len, "%s/scheduler_config.json", folder);
  dif__config *cfg = NULL;
  dif_status st = dif__config_load(path, &cfg, err);
  free(path);
  if (!st) st = dif__scheduler_create(name, cfg, overrides, out, err);
  dif__config_free(cfg);
  return st;
}

void dif__scheduler_free(dif__scheduler *s) {
  if (!s) return;
  dif__sched_config_clear(&s->cfg);
  free(s->betas);
  free(s->alphas);
  free(s->alphas_cumprod);
  free(s->timesteps);
  free(s->sigmas);
  for (int i = 0; i < DIF__SCHED_MAX_BUFS; i++) free(s->buf[i]);
  free(s);
}

const char *dif__scheduler_class_name(const dif__scheduler *s) { return s->cfg.cls->name; }
int64_t dif__scheduler_num_train_timesteps(const dif__scheduler *s) { return s->T; }
const float *dif__scheduler_alphas_cumprod(const dif__scheduler *s) { return s->alphas_cumprod; }
int dif__scheduler_num_timesteps(const dif__scheduler *s) { return s->n_timesteps; }
double dif__scheduler_timestep(const dif__scheduler *s, int i) {
  return i >= 0 && i < s->n_timesteps ? s->timesteps[i] : NAN;
}
const float *dif__scheduler_sigmas(const dif__scheduler *s, int *n) {
  if (n) *n = s->n_sigmas;
  return s->n_sigmas ? s->sigmas : NULL;
}
float dif__scheduler_init_noise_sigma(const dif__scheduler *s) { return s->init_noise_sigma; }

dif_status dif__sched_alloc_schedule(dif__scheduler *s, int n_timesteps, int n_sigmas,
                                     dif__error *err) {
  free(s->timesteps);
  free(s->sigmas);
  s->timesteps = malloc((size_t)(n_timesteps > 0 ? n_timesteps : 1) * sizeof(double));
  s->sigmas = n_sigmas > 0 ? malloc((size_t)n_sigmas * sizeof(float)) : NULL;
  s->n_timesteps = s->n_sigmas = 0;
  if (!s->timesteps || (n_sigmas > 0 && !s->sigmas))
    return dif__fail_oom(err, "timesteps", (size_t)n_timesteps * sizeof(double));
  s->n_timesteps = n_timesteps;
  s->n_sigmas = n_sigmas;
  return DIF_OK;
}

dif_status dif__sched_buffers(dif__scheduler *s, int count, int64_t n, dif__error *err) {
  if (s->n != n) {
    for (int i = 0; i < DIF__SCHED_MAX_BUFS; i++) {
      free(s->buf[i]);
      s->buf[i] = NULL;
    }
    s->n = n;
  }
  for (int i = 0; i < count; i++)
    if (!s->buf[i] && !(s->buf[i] = calloc((size_t)n, sizeof(float))))
      return dif__fail_oom(err, "scheduler state", (size_t)n * sizeof(float));
  return DIF_OK;
}

dif_status dif__sched_t_index(const dif__scheduler *s, double t, int64_t *idx, dif__error *err) {
  if (!(t >= 0 && t < (double)s->T) || t != floor(t))
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "%s: timestep %g is not an integer in [0, %lld)", dif__scheduler_class_name(s),
                     t, (long long)s->T);
  *idx = (int64_t)t;
  return DIF_OK;
}

dif_status dif__sched_locate(dif__scheduler *s, double t, bool last_if_missing, dif__error *err) {
  int first = -1, second = -1;
  for (int i = 0; i < s->n_timesteps; i++)
    if (s->timesteps[i] == t) {
      if (first < 0)
        first = i;
      else if (second < 0)
        second = i;
    }
  if (second >= 0)
    s->step_index = second;
  else if (first >= 0)
    s->step_index = first;
  else if (last_if_missing)
    s->step_index = s->n_timesteps - 1;
  else
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "%s: timestep %g is not in the schedule",
                     dif__scheduler_class_name(s), t);
  return DIF_OK;
}

dif_status dif__sched_spacing_ddim(const dif__scheduler *s, int steps, double *out,
                                   dif__error *err) {
  const int64_t T = s->T;
  if (s->cfg.timestep_spacing == DIF__SPACING_LINSPACE) {
    dif__np_linspace(0, (double)(T - 1), steps, out);
    for (int i = 0; i < steps / 2; i++) { /* [::-1] */
      double x = out[i];
      out[i] = out[steps - 1 - i];
      out[steps - 1 - i] = x;
    }
    for (int i = 0; i < steps; i++) out[i] = dif__np_round(out[i]);
  } else if (s->cfg.timestep_spacing == DIF__SPACING_LEADING) {
    const int64_t ratio = T / steps;
    for (int i = 0; i < steps; i++)
      out[i] = (double)((int64_t)(steps - 1 - i) * ratio + s->cfg.steps_offset);
  } else {
    const double ratio = (double)T / (double)steps;
    if (dif__np_arange_len((double)T, 0, -ratio) != steps)
      return dif__fail(err, DIF_ERR_UNSUPPORTED, "%s: trailing spacing gives %lld timesteps for %d",
                       dif__scheduler_class_name(s),
                       (long long)dif__np_arange_len((double)T, 0, -ratio), steps);
    dif__np_arange((double)T, -ratio, steps, out);
    for (int i = 0; i < steps; i++) out[i] = (double)(int64_t)dif__np_round(out[i]) - 1;
  }
  return DIF_OK;
}

static dif_status set_timesteps(dif__scheduler *s, int steps, double strength, dif__error *err) {
  if (!s) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "scheduler is NULL");
  if (!(strength > 0 && strength <= 1))
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "img2img strength %g must be in (0, 1]",
                     strength);
  if (strength != 1 && !s->ops->strength_in_set_timesteps)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "%s: set_timesteps takes no strength (only LCMScheduler's does)",
                     dif__scheduler_class_name(s));
  if (steps < 1 || steps > s->T)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "%s: num_inference_steps %d must be in [1, %lld] (num_train_timesteps)",
                     dif__scheduler_class_name(s), steps, (long long)s->T);
  s->step_index = -1;
  s->counter = 0;
  s->lower_order_nums = 0;
  s->this_order = 0;
  s->n_hist = 0;
  s->have_last = false;
  s->cur_model_output_is_zero = 1;
  s->num_inference_steps = steps;
  s->strength = strength;
  dif_status st = s->ops->set_timesteps(s, steps, err);
  if (st) {
    s->num_inference_steps = 0;
    s->n_timesteps = s->n_sigmas = 0;
  }
  return st;
}

dif_status dif__scheduler_set_timesteps(dif__scheduler *s, int steps, dif__error *err) {
  return set_timesteps(s, steps, 1.0, err);
}

dif_status dif__scheduler_set_timesteps_strength(dif__scheduler *s, int steps, double strength,
                                                 dif__error *err) {
  return set_timesteps(s, steps, strength, err);
}

bool dif__scheduler_takes_strength(const dif__scheduler *s) {
  return s && s->ops->strength_in_set_timesteps;
}

static dif_status check_ready(const dif__scheduler *s, int i, dif__error *err) {
  if (!s) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "scheduler is NULL");
  if (s->num_inference_steps == 0)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "%s: set_timesteps was not called",
                     dif__scheduler_class_name(s));
  if (i < 0 || i >= s->n_timesteps)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "%s: step %d is outside [0, %d)",
                     dif__scheduler_class_name(s), i, s->n_timesteps);
  return DIF_OK;
}

dif_status dif__scheduler_scale_model_input(dif__scheduler *s, int i, const float *sample,
                                            float *out, int64_t n, dif__error *err) {
  dif_status st = check_ready(s, i, err);
  if (st) return st;
  if (!sample || !out || n < 1)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "scale_model_input: bad tensor arguments");
  if (s->ops->scale) return s->ops->scale(s, i, sample, out, n, err);
  if (out != sample) memcpy(out, sample, (size_t)n * sizeof *out);
  return DIF_OK;
}

dif_status dif__scheduler_step(dif__scheduler *s, int i, dif__step_args *a, dif__error *err) {
  dif_status st = check_ready(s, i, err);
  if (st) return st;
  if (!a || !a->model_output || !a->sample || !a->prev_sample || a->n < 1)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "step: bad tensor arguments");
  if (a->batch <= 0) a->batch = 1;
  if (a->n % a->batch != 0)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "step: %lld elements do not split in %d items",
                     (long long)a->n, a->batch);
  if (s->n && s->n != a->n && (s->n_hist > 0 || s->have_last || s->counter > 0))
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "%s: tensor size changed from %lld to %lld in one run",
                     dif__scheduler_class_name(s), (long long)s->n, (long long)a->n);
  a->drew_noise = a->wrote_pred_original = false;
  return s->ops->step(s, i, a, err);
}

dif_status dif__scheduler_add_noise(const dif__scheduler *s, const float *x, const float *noise,
                                    double t, int64_t n, float *out, dif__error *err) {
  if (!s || !x || !noise || !out || n < 1)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "add_noise: bad arguments");
  if (s->ops->add_noise) return s->ops->add_noise(s, x, noise, t, n, out, err);
  int64_t ti = 0;
  dif_status st = dif__sched_t_index(s, t, &ti, err);
  if (st) return st;
  const float ac = s->alphas_cumprod[ti];
  const float sa = sqrtf(ac), sb = sqrtf(1.0f - ac);
  for (int64_t k = 0; k < n; k++) out[k] = sa * x[k] + sb * noise[k];
  return DIF_OK;
}

dif_status dif__scheduler_img2img_start(const dif__scheduler *s, int steps, double strength,
                                        int *first, int *steps_run, dif__error *err) {
  if (!s || !first || !steps_run)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "img2img_start: bad arguments");
  if (!(strength >= 0 && strength <= 1))
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "img2img strength %g must be in [0, 1]",
                     strength);
  if (steps != s->num_inference_steps)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "img2img_start: set_timesteps(%d) must come first (have %d)", steps,
                     s->num_inference_steps);
  int init = (int)((double)steps * strength); /* int() truncates */
  if (init > steps) init = steps;
  int t_start = steps - init > 0 ? steps - init : 0;
  const int order = 1; /* every class here has order 1 */
  if (t_start * order >= s->n_timesteps)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "img2img strength %g with %d steps leaves no denoising step", strength, steps);
  *first = t_start * order;
  *steps_run = steps - t_start;
  return DIF_OK;
}

dif_status dif__sched_noise(dif__step_args *a, float *out, dif__error *err) {
  if (a->noise) {
    if (out != a->noise) memcpy(out, a->noise, (size_t)a->n * sizeof *out);
  } else {
    if (!a->gens || a->n_gens < 1)
      return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                       "this step draws noise: give a generator (or the noise to use)");
    dif_status st = dif__randn_tensor(a->gens, a->n_gens, a->batch, a->n / a->batch, out, err);
    if (st) return st;
  }
  if (a->noise_out && a->noise_out != out) memcpy(a->noise_out, out, (size_t)a->n * sizeof *out);
  a->drew_noise = true;
  return DIF_OK;
}

void dif__sigma_to_alpha_sigma(float sigma, float *alpha_t, float *sigma_t) {
  *alpha_t = 1.0f / sqrtf(sigma * sigma + 1.0f);
  *sigma_t = sigma * *alpha_t;
}

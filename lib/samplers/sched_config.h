/* sched_config.h — a scheduler's resolved settings: diffusers'
 * `<Class>.from_config(config, **overrides)` for diffusers v0.26.3.
 *
 * Each key the class knows comes from the overrides if given there (a JSON
 * null there means "None"), else from the config unless the config lists it in
 * `_use_default_values`, else the class default. Keys the class does not know
 * are ignored, like diffusers does. Enumerated strings are checked; an
 * unknown value is DIF_ERR_UNSUPPORTED naming the key and the valid values.
 */
#ifndef DIF__SAMPLERS_SCHED_CONFIG_H
#define DIF__SAMPLERS_SCHED_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/config.h"

/* The keys a class's __init__ accepts, in groups (a row's `keys`). Every
 * class has num_train_timesteps, beta_schedule and prediction_type. */
enum {
  DIF__SCHED_K_BETAS = 1 << 0,     /* beta_start, beta_end, trained_betas (else: cosine only) */
  DIF__SCHED_K_CLIP = 1 << 1,      /* clip_sample, clip_sample_range */
  DIF__SCHED_K_ALPHA_ONE = 1 << 2, /* set_alpha_to_one */
  DIF__SCHED_K_OFFSET = 1 << 3,    /* steps_offset, timestep_spacing */
  DIF__SCHED_K_THRESH = 1 << 4,    /* thresholding, dynamic_thresholding_ratio, sample_max_value */
  DIF__SCHED_K_RESCALE = 1 << 5,   /* rescale_betas_zero_snr */
  DIF__SCHED_K_VARIANCE = 1 << 6,  /* variance_type */
  DIF__SCHED_K_PRK = 1 << 7,       /* skip_prk_steps */
  DIF__SCHED_K_EULER = 1 << 8,     /* interpolation_type, sigma_min, sigma_max, timestep_type */
  DIF__SCHED_K_KARRAS = 1 << 9,    /* use_karras_sigmas */
  DIF__SCHED_K_SOLVER = 1 << 10,   /* solver_order, solver_type, lower_order_final */
  DIF__SCHED_K_DPM = 1 << 11,      /* algorithm_type, euler_at_final, use_lu_lambdas,
                                     final_sigmas_type, lambda_min_clipped */
  DIF__SCHED_K_UNIPC = 1 << 12,    /* predict_x0, disable_corrector, solver_p */
  DIF__SCHED_K_SIGMOID = 1 << 13,  /* accepts beta_schedule "sigmoid" */
  DIF__SCHED_K_LCM = 1 << 14,      /* original_inference_steps, timestep_scaling */
};

/* A short name (case-insensitive) and the settings it implies: a JSON
 * object text applied under the caller's overrides, or NULL. */
typedef struct dif__sched_alias {
  const char *name;
  const char *implies;
} dif__sched_alias;

#define DIF__SCHED_MAX_ALIASES 2

struct dif__sched_ops;

/* One scheduler class: a row of the table in scheduler.c. */
typedef struct dif__sched_class {
  const char *name;                                 /* diffusers class name, exact */
  dif__sched_alias aliases[DIF__SCHED_MAX_ALIASES]; /* short names; unused ones NULL */
  unsigned keys;                                    /* DIF__SCHED_K_* */
  /* The class's __init__ defaults where they differ from the common ones
   * (JSON object text, NULL for none); a null value means None. */
  const char *defaults;
  const struct dif__sched_ops *ops; /* sched_<class>.c */
} dif__sched_class;

typedef enum { DIF__PRED_EPSILON, DIF__PRED_V, DIF__PRED_SAMPLE } dif__pred_type;
typedef enum {
  DIF__BETA_LINEAR,
  DIF__BETA_SCALED_LINEAR,
  DIF__BETA_COSINE,
  DIF__BETA_SIGMOID
} dif__beta;
typedef enum { DIF__SPACING_LINSPACE, DIF__SPACING_LEADING, DIF__SPACING_TRAILING } dif__spacing;
typedef enum {
  DIF__VAR_NONE, /* DPMSolver's variance_type None */
  DIF__VAR_FIXED_SMALL,
  DIF__VAR_FIXED_SMALL_LOG,
  DIF__VAR_FIXED_LARGE,
  DIF__VAR_FIXED_LARGE_LOG,
  DIF__VAR_LEARNED,
  DIF__VAR_LEARNED_RANGE
} dif__variance;
typedef enum {
  DIF__ALGO_DPMSOLVERPP,
  DIF__ALGO_DPMSOLVER,
  DIF__ALGO_SDE_DPMSOLVERPP,
  DIF__ALGO_SDE_DPMSOLVER
} dif__dpm_algo;
typedef enum {
  DIF__SOLVER_MIDPOINT,
  DIF__SOLVER_HEUN,
  DIF__SOLVER_BH1,
  DIF__SOLVER_BH2
} dif__solver;

#define DIF__SCHED_MAX_DISABLE 64
/* The most training timesteps a config may have (Stable Diffusion and Karlo
 * have 1000): bounds every table built from it. */
#define DIF__SCHED_MAX_TRAIN_TIMESTEPS 100000

typedef struct dif__sched_config {
  const dif__sched_class *cls;
  int64_t num_train_timesteps;
  double beta_start, beta_end;
  dif__beta beta_schedule;
  double *trained_betas; /* owned; NULL = None */
  int64_t n_trained_betas;
  bool clip_sample;
  double clip_sample_range;
  bool set_alpha_to_one;
  int64_t steps_offset;
  dif__pred_type prediction_type;
  bool thresholding;
  double dynamic_thresholding_ratio, sample_max_value;
  dif__spacing timestep_spacing;
  bool rescale_betas_zero_snr;
  dif__variance variance_type;
  bool skip_prk_steps;               /* PNDM */
  bool interpolation_log_linear;     /* Euler: interpolation_type "log_linear" */
  bool use_karras_sigmas;            /* Euler, DPM, LMS, UniPC */
  bool has_sigma_min, has_sigma_max; /* Euler */
  double sigma_min, sigma_max;
  bool timestep_continuous;     /* Euler: timestep_type "continuous" */
  int64_t solver_order;         /* DPM, UniPC */
  dif__dpm_algo algorithm_type; /* DPM */
  dif__solver solver_type;      /* DPM: midpoint/heun; UniPC: bh1/bh2 */
  bool lower_order_final, euler_at_final, use_lu_lambdas;
  bool final_sigmas_zero;    /* DPM final_sigmas_type "zero" (else "sigma_min") */
  double lambda_min_clipped; /* DPM */
  bool predict_x0;           /* UniPC */
  int64_t disable_corrector[DIF__SCHED_MAX_DISABLE];
  int n_disable_corrector;
  int64_t original_inference_steps; /* LCM */
  double timestep_scaling;          /* LCM */
} dif__sched_config;

/* The class for a diffusers class name (exact) or a short name
 * (case-insensitive); *alias gets the short name's row entry (NULL for a
 * class name). NULL if unknown. */
const dif__sched_class *dif__sched_find(const char *name, const dif__sched_alias **alias);
/* Every class name, then every short name, ", " between them, into buf
 * (cut to size); short_only leaves the class names out. Returns buf. */
char *dif__sched_names(char *buf, size_t size, bool short_only);

/* Resolves cls's settings from cfg (may be NULL: all defaults) and ovr (may
 * be NULL). Betas (beta_start, beta_end, trained_betas) the schedule uses
 * must be finite and in (0, 1): DIF_ERR_BAD_MODEL naming the file and key. Free with
 * dif__sched_config_clear. */
dif_status dif__sched_config_resolve(const dif__sched_class *cls, const dif__config *cfg,
                                     const dif__config *ovr, dif__sched_config *out,
                                     dif__error *err);
void dif__sched_config_clear(dif__sched_config *c);

#endif

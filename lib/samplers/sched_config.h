/* sched_config.h — a scheduler's resolved settings: diffusers'
 * `<Class>.from_config(config, **overrides)` for diffusers v0.26.3.
 *
 * Each key the class knows comes from the overrides if given there (a JSON
 * null there means "None"), else from the config unless the config lists it in
 * `_use_default_values`, else the class default. Keys the class does not know
 * are ignored, like diffusers does. Enumerated strings are checked; an
 * unknown value is DIF_ERR_UNSUPPORTED naming the key and the valid values.
 */
#ifndef DIF_SAMPLERS_SCHED_CONFIG_H
#define DIF_SAMPLERS_SCHED_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/config.h"

/* The keys a class's __init__ accepts, in groups (a row's `keys`). Every
 * class has num_train_timesteps, beta_schedule and prediction_type. */
enum {
  DIF_SCHED_K_BETAS = 1 << 0,     /* beta_start, beta_end, trained_betas (else: cosine only) */
  DIF_SCHED_K_CLIP = 1 << 1,      /* clip_sample, clip_sample_range */
  DIF_SCHED_K_ALPHA_ONE = 1 << 2, /* set_alpha_to_one */
  DIF_SCHED_K_OFFSET = 1 << 3,    /* steps_offset, timestep_spacing */
  DIF_SCHED_K_THRESH = 1 << 4,    /* thresholding, dynamic_thresholding_ratio, sample_max_value */
  DIF_SCHED_K_RESCALE = 1 << 5,   /* rescale_betas_zero_snr */
  DIF_SCHED_K_VARIANCE = 1 << 6,  /* variance_type */
  DIF_SCHED_K_PRK = 1 << 7,       /* skip_prk_steps */
  DIF_SCHED_K_EULER = 1 << 8,     /* interpolation_type, sigma_min, sigma_max, timestep_type */
  DIF_SCHED_K_KARRAS = 1 << 9,    /* use_karras_sigmas */
  DIF_SCHED_K_SOLVER = 1 << 10,   /* solver_order, solver_type, lower_order_final */
  DIF_SCHED_K_DPM = 1 << 11,      /* algorithm_type, euler_at_final, use_lu_lambdas,
                                     final_sigmas_type, lambda_min_clipped */
  DIF_SCHED_K_UNIPC = 1 << 12,    /* predict_x0, disable_corrector, solver_p */
  DIF_SCHED_K_SIGMOID = 1 << 13,  /* accepts beta_schedule "sigmoid" */
};

/* A short name (case-insensitive) and the settings it implies: a JSON
 * object text applied under the caller's overrides, or NULL. */
typedef struct dif_sched_alias {
  const char *name;
  const char *implies;
} dif_sched_alias;

#define DIF_SCHED_MAX_ALIASES 2

struct dif_sched_ops;

/* One scheduler class: a row of the table in scheduler.c. */
typedef struct dif_sched_class {
  const char *name;                               /* diffusers class name, exact */
  dif_sched_alias aliases[DIF_SCHED_MAX_ALIASES]; /* short names; unused ones NULL */
  unsigned keys;                                  /* DIF_SCHED_K_* */
  /* The class's __init__ defaults where they differ from the common ones
   * (JSON object text, NULL for none); a null value means None. */
  const char *defaults;
  const struct dif_sched_ops *ops; /* sched_<class>.c */
} dif_sched_class;

typedef enum { DIF_PRED_EPSILON, DIF_PRED_V, DIF_PRED_SAMPLE } dif_pred_type;
typedef enum {
  DIF_BETA_LINEAR,
  DIF_BETA_SCALED_LINEAR,
  DIF_BETA_COSINE,
  DIF_BETA_SIGMOID
} dif_beta;
typedef enum { DIF_SPACING_LINSPACE, DIF_SPACING_LEADING, DIF_SPACING_TRAILING } dif_spacing;
typedef enum {
  DIF_VAR_NONE, /* DPMSolver's variance_type None */
  DIF_VAR_FIXED_SMALL,
  DIF_VAR_FIXED_SMALL_LOG,
  DIF_VAR_FIXED_LARGE,
  DIF_VAR_FIXED_LARGE_LOG,
  DIF_VAR_LEARNED,
  DIF_VAR_LEARNED_RANGE
} dif_variance;
typedef enum {
  DIF_ALGO_DPMSOLVERPP,
  DIF_ALGO_DPMSOLVER,
  DIF_ALGO_SDE_DPMSOLVERPP,
  DIF_ALGO_SDE_DPMSOLVER
} dif_dpm_algo;
typedef enum { DIF_SOLVER_MIDPOINT, DIF_SOLVER_HEUN, DIF_SOLVER_BH1, DIF_SOLVER_BH2 } dif_solver;

#define DIF_SCHED_MAX_DISABLE 64
/* The most training timesteps a config may have (Stable Diffusion and Karlo
 * have 1000): bounds every table built from it. */
#define DIF_SCHED_MAX_TRAIN_TIMESTEPS 100000

typedef struct dif_sched_config {
  const dif_sched_class *cls;
  int64_t num_train_timesteps;
  double beta_start, beta_end;
  dif_beta beta_schedule;
  double *trained_betas; /* owned; NULL = None */
  int64_t n_trained_betas;
  bool clip_sample;
  double clip_sample_range;
  bool set_alpha_to_one;
  int64_t steps_offset;
  dif_pred_type prediction_type;
  bool thresholding;
  double dynamic_thresholding_ratio, sample_max_value;
  dif_spacing timestep_spacing;
  bool rescale_betas_zero_snr;
  dif_variance variance_type;
  bool skip_prk_steps;               /* PNDM */
  bool interpolation_log_linear;     /* Euler: interpolation_type "log_linear" */
  bool use_karras_sigmas;            /* Euler, DPM, LMS, UniPC */
  bool has_sigma_min, has_sigma_max; /* Euler */
  double sigma_min, sigma_max;
  bool timestep_continuous;    /* Euler: timestep_type "continuous" */
  int64_t solver_order;        /* DPM, UniPC */
  dif_dpm_algo algorithm_type; /* DPM */
  dif_solver solver_type;      /* DPM: midpoint/heun; UniPC: bh1/bh2 */
  bool lower_order_final, euler_at_final, use_lu_lambdas;
  bool final_sigmas_zero;    /* DPM final_sigmas_type "zero" (else "sigma_min") */
  double lambda_min_clipped; /* DPM */
  bool predict_x0;           /* UniPC */
  int64_t disable_corrector[DIF_SCHED_MAX_DISABLE];
  int n_disable_corrector;
} dif_sched_config;

/* The class for a diffusers class name (exact) or a short name
 * (case-insensitive); *alias gets the short name's row entry (NULL for a
 * class name). NULL if unknown. */
const dif_sched_class *dif_sched_find(const char *name, const dif_sched_alias **alias);
/* Every class name, then every short name, ", " between them, into buf
 * (cut to size); short_only leaves the class names out. Returns buf. */
char *dif_sched_names(char *buf, size_t size, bool short_only);

/* Resolves cls's settings from cfg (may be NULL: all defaults) and ovr (may
 * be NULL). Betas (beta_start, beta_end, trained_betas) the schedule uses
 * must be finite and in (0, 1): DIF_ERR_BAD_MODEL naming the file and key. Free with
 * dif_sched_config_clear. */
dif_status dif_sched_config_resolve(const dif_sched_class *cls, const dif_config *cfg,
                                    const dif_config *ovr, dif_sched_config *out, dif_error *err);
void dif_sched_config_clear(dif_sched_config *c);

#endif

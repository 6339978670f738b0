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
#include <stdint.h>

#include "core/error.h"
#include "io/config.h"

typedef enum dif_sched_class {
  DIF_SCHED_DDIM,
  DIF_SCHED_DDPM,
  DIF_SCHED_PNDM,
  DIF_SCHED_EULER,
  DIF_SCHED_EULER_A,
  DIF_SCHED_DPM,
  DIF_SCHED_LMS,
  DIF_SCHED_UNIPC,
  DIF_SCHED_UNCLIP,
  DIF_SCHED_CLASS_COUNT
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
  dif_sched_class cls;
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

/* diffusers class name of cls ("DDIMScheduler", ...). */
const char *dif_sched_class_name(dif_sched_class cls);
/* Class for a diffusers class name or a short name (ddim, euler_a, ...);
 * *karras is set for names that imply use_karras_sigmas (dpmpp_2m_karras).
 * Returns false if unknown. */
bool dif_sched_lookup(const char *name, dif_sched_class *cls, bool *karras, bool *dpmpp);
/* "DDIMScheduler, DDPMScheduler, ..., ddim, euler, ..." for error messages. */
const char *dif_sched_valid_names(void);

/* Resolves cls's settings from cfg (may be NULL: all defaults) and ovr (may
 * be NULL). Betas (beta_start, beta_end, trained_betas) the schedule uses
 * must be finite and in (0, 1): DIF_ERR_BAD_MODEL naming the file and key. Free with
 * dif_sched_config_clear. */
dif_status dif_sched_config_resolve(dif_sched_class cls, const dif_config *cfg,
                                    const dif_config *ovr, dif_sched_config *out, dif_error *err);
void dif_sched_config_clear(dif_sched_config *c);

#endif

/* The full denoising loops of diffusers' own scheduler tests
 * (tests/schedulers/test_scheduler_*.py at v0.26.3), with their dummy model
 * sample * t / (t + 1), their deterministic sample and noise, and their
 * expected sum / mean of |sample| and tolerances. They reach the code paths
 * the golden traces do not: PNDM's Runge–Kutta warm-up, DDIM eta with
 * set_alpha_to_one, 1000-step DDPM, Euler / LMS Karras sigmas (fractional
 * timesteps through sigma_to_t), img2img-style starts in the middle of a
 * schedule, DPM-Solver thresholding and Lu lambdas, UniPC with Karras
 * sigmas, UnCLIP with skipped timesteps. */
#include "samplers/scheduler.h"
#include "test.h"

#define N 768 /* batch 4, channels 3, 8 x 8 */

typedef enum { PLAIN, SCALED } loop_kind;

typedef struct loop_case {
  const char *name, *cls, *config, *overrides; /* overrides: the test's config.update(...) */
  int steps;
  loop_kind kind;
  int t_start; /* -1: from the start, else add_noise at timesteps[t_start] first */
  double eta;
  double sum, mean; /* expected; sum NAN: not checked */
  double sum_tol;
} loop_case;

/* dummy_sample_deter / dummy_noise_deter: arange(768) (flipped for the
 * noise) / 768 laid out as (C, H, W, B) and permuted to (B, C, H, W). */
static void deter(float *x, bool flip) {
  for (int b = 0; b < 4; b++)
    for (int c = 0; c < 3; c++)
      for (int h = 0; h < 8; h++)
        for (int w = 0; w < 8; w++) {
          int src = ((c * 8 + h) * 8 + w) * 4 + b;
          float v = (float)(flip ? N - 1 - src : src);
          x[((b * 3 + c) * 8 + h) * 8 + w] = v / (float)N;
        }
}

static void run(const loop_case *lc) {
  dif__error err = {0};
  dif__config *cfg = NULL;
  dif__scheduler *s = NULL;
  CHECK(dif__config_parse(lc->config, strlen(lc->config), lc->name, &cfg, &err) == DIF_OK);
  CHECK_MSG(dif__scheduler_create(lc->cls, cfg, lc->overrides, &s, &err) == DIF_OK, "%s: %s",
            lc->name, err.msg);
  dif__config_free(cfg);
  if (!s) return;
  CHECK(dif__scheduler_set_timesteps(s, lc->steps, &err) == DIF_OK);
  static float x[N], noise[N], mo[N], x_in[N];
  deter(x, false);
  if (lc->kind == SCALED)
    for (int k = 0; k < N; k++) x[k] = x[k] * dif__scheduler_init_noise_sigma(s);
  dif__rng gen;
  dif__rng_seed(&gen, 0); /* torch.manual_seed(0) */
  dif__rng *gp = &gen;
  int first = 0;
  if (lc->t_start >= 0) {
    first = lc->t_start;
    deter(noise, true);
    CHECK(dif__scheduler_add_noise(s, x, noise, dif__scheduler_timestep(s, first), N, x, &err) ==
          DIF_OK);
  }
  for (int i = first; i < dif__scheduler_num_timesteps(s); i++) {
    const float t = (float)dif__scheduler_timestep(s, i);
    if (lc->kind == SCALED) {
      CHECK(dif__scheduler_scale_model_input(s, i, x, x, N, &err) == DIF_OK);
    }
    memcpy(x_in, x, sizeof x);
    for (int k = 0; k < N; k++) mo[k] = x_in[k] * t / (t + 1.0f);
    dif__step_args a = {.model_output = mo,
                        .sample = x,
                        .prev_sample = x,
                        .n = N,
                        .batch = 4,
                        .gens = &gp,
                        .n_gens = 1,
                        .eta = lc->eta};
    if (dif__scheduler_step(s, i, &a, &err) != DIF_OK) {
      CHECK_MSG(0, "%s step %d: %s", lc->name, i, err.msg);
      break;
    }
  }
  double sum = 0;
  for (int k = 0; k < N; k++) sum += fabs((double)x[k]);
  const double mean = sum / N;
  /* The expected sums are torch float32 reductions: allow their rounding
   * (about 1e-6 relative) on top of the tests' absolute tolerance. */
  if (!isnan(lc->sum))
    CHECK_MSG(fabs(sum - lc->sum) < lc->sum_tol + 1e-6 * lc->sum, "%s: sum %.6f, want %.6f",
              lc->name, sum, lc->sum);
  CHECK_MSG(fabs(mean - lc->mean) < 1e-3, "%s: mean %.6f, want %.6f", lc->name, mean, lc->mean);
  dif__scheduler_free(s);
}

#define LIN                                                                                        \
  "\"num_train_timesteps\": 1000, \"beta_start\": 0.0001, \"beta_end\": 0.02, "                    \
  "\"beta_schedule\": \"linear\""
#define LIN1100                                                                                    \
  "\"num_train_timesteps\": 1100, \"beta_start\": 0.0001, \"beta_end\": 0.02, "                    \
  "\"beta_schedule\": \"linear\""
#define DPM                                                                                        \
  LIN ", \"solver_order\": 2, \"prediction_type\": \"epsilon\", \"thresholding\": false, "         \
      "\"sample_max_value\": 1.0, \"algorithm_type\": \"dpmsolver++\", \"solver_type\": "          \
      "\"midpoint\", \"lower_order_final\": false, \"euler_at_final\": false, "                    \
      "\"variance_type\": null, \"final_sigmas_type\": \"sigma_min\""
#define UNIPC LIN ", \"solver_order\": 2, \"solver_type\": \"bh2\""
#define UNCLIP                                                                                     \
  "\"num_train_timesteps\": 1000, \"variance_type\": \"fixed_small_log\", "                        \
  "\"clip_sample\": true, \"clip_sample_range\": 1.0, \"prediction_type\": \"epsilon\""

static const loop_case cases[] = {
    {"ddim", "DDIMScheduler", "{" LIN "}", "{\"clip_sample\": true}", 10, PLAIN, -1, 0, 172.0067,
     0.223967, 1e-2},
    {"ddim_v", "DDIMScheduler", "{" LIN "}",
     "{\"clip_sample\": true, \"prediction_type\": \"v_prediction\"}", 10, PLAIN, -1, 0, 52.5302,
     0.0684, 1e-2},
    {"ddim_alpha_one", "DDIMScheduler", "{" LIN "}",
     "{\"clip_sample\": true, \"set_alpha_to_one\": true, \"beta_start\": 0.01}", 10, PLAIN, -1, 0,
     149.8295, 0.1951, 1e-2},
    {"ddim_no_alpha_one", "DDIMScheduler", "{" LIN "}",
     "{\"clip_sample\": true, \"set_alpha_to_one\": false, \"beta_start\": 0.01}", 10, PLAIN, -1, 0,
     149.0784, 0.1941, 1e-2},
    {"ddim_with_noise", "DDIMScheduler", "{" LIN "}", "{\"clip_sample\": true}", 10, PLAIN, 8, 0,
     354.5418, 0.4616, 1e-2},
    {"pndm_prk", "PNDMScheduler", "{" LIN "}", NULL, 10, PLAIN, -1, 0, 198.1318, 0.2580, 1e-2},
    {"pndm_prk_v", "PNDMScheduler", "{" LIN "}", "{\"prediction_type\": \"v_prediction\"}", 10,
     PLAIN, -1, 0, 67.3986, 0.0878, 1e-2},
    {"pndm_alpha_one", "PNDMScheduler", "{" LIN "}",
     "{\"set_alpha_to_one\": true, \"beta_start\": 0.01}", 10, PLAIN, -1, 0, 230.0399, 0.2995,
     1e-2},
    {"pndm_no_alpha_one", "PNDMScheduler", "{" LIN "}",
     "{\"set_alpha_to_one\": false, \"beta_start\": 0.01}", 10, PLAIN, -1, 0, 186.9482, 0.2434,
     1e-2},
    {"ddpm_1000", "DDPMScheduler", "{" LIN "}",
     "{\"variance_type\": \"fixed_small\", \"clip_sample\": true}", 1000, PLAIN, -1, 0, 258.9606,
     0.3372, 1e-2},
    {"ddpm_1000_v", "DDPMScheduler", "{" LIN "}",
     "{\"variance_type\": \"fixed_small\", \"clip_sample\": true, \"prediction_type\": "
     "\"v_prediction\"}",
     1000, PLAIN, -1, 0, 202.0296, 0.2631, 1e-2},
    {"ddpm_with_noise", "DDPMScheduler", "{" LIN "}",
     "{\"variance_type\": \"fixed_small\", \"clip_sample\": true}", 1000, PLAIN, 998, 0, 387.9466,
     0.5051, 1e-2},
    {"euler", "EulerDiscreteScheduler", "{" LIN1100 "}", NULL, 10, SCALED, -1, 0, 10.0807, 0.0131,
     1e-2},
    {"euler_v", "EulerDiscreteScheduler", "{" LIN1100 "}",
     "{\"prediction_type\": \"v_prediction\"}", 10, SCALED, -1, 0, 0.0002, 2.2676e-06, 1e-2},
    {"euler_karras", "EulerDiscreteScheduler", "{" LIN1100 "}", "{\"use_karras_sigmas\": true}", 10,
     SCALED, -1, 0, 124.52299499511719, 0.16213932633399963, 1e-2},
    {"euler_with_noise", "EulerDiscreteScheduler", "{" LIN1100 "}", NULL, 10, SCALED, 8, 0,
     57062.9297, 74.3007, 1e-2},
    {"euler_a", "EulerAncestralDiscreteScheduler", "{" LIN1100 "}", NULL, 10, SCALED, -1, 0,
     152.3192, 0.1983, 1e-2},
    {"euler_a_v", "EulerAncestralDiscreteScheduler", "{" LIN1100 "}",
     "{\"prediction_type\": \"v_prediction\"}", 10, SCALED, -1, 0, 108.4439, 0.1412, 1e-2},
    {"euler_a_with_noise", "EulerAncestralDiscreteScheduler", "{" LIN1100 "}", NULL, 10, SCALED, 8,
     0, 56163.0508, 73.1290, 1e-2},
    {"lms", "LMSDiscreteScheduler", "{" LIN1100 "}", NULL, 10, SCALED, -1, 0, 1006.388, 1.31, 1e-2},
    {"lms_v", "LMSDiscreteScheduler", "{" LIN1100 "}", "{\"prediction_type\": \"v_prediction\"}",
     10, SCALED, -1, 0, 0.0017, 2.2676e-06, 1e-2},
    {"lms_karras", "LMSDiscreteScheduler", "{" LIN1100 "}", "{\"use_karras_sigmas\": true}", 10,
     SCALED, -1, 0, 3812.9927, 4.9648, 2e-2},
    {"lms_with_noise", "LMSDiscreteScheduler", "{" LIN1100 "}", NULL, 10, SCALED, 8, 0, 27663.6895,
     36.0204, 1e-2},
    {"dpm", "DPMSolverMultistepScheduler", "{" DPM "}", NULL, 10, PLAIN, -1, 0, NAN, 0.3301, 0},
    {"dpm_with_noise", "DPMSolverMultistepScheduler", "{" DPM "}", NULL, 10, PLAIN, 5, 0, 318.4111,
     0.4146, 1e-2},
    {"dpm_thresholding", "DPMSolverMultistepScheduler", "{" DPM "}",
     "{\"thresholding\": true, \"dynamic_thresholding_ratio\": 0.87, \"sample_max_value\": 0.5}",
     10, PLAIN, -1, 0, NAN, 1.1364, 0},
    {"dpm_v", "DPMSolverMultistepScheduler", "{" DPM "}", "{\"prediction_type\": \"v_prediction\"}",
     10, PLAIN, -1, 0, NAN, 0.2251, 0},
    {"dpm_karras_v", "DPMSolverMultistepScheduler", "{" DPM "}",
     "{\"prediction_type\": \"v_prediction\", \"use_karras_sigmas\": true}", 10, PLAIN, -1, 0, NAN,
     0.2096, 0},
    {"dpm_lu_v", "DPMSolverMultistepScheduler", "{" DPM "}",
     "{\"prediction_type\": \"v_prediction\", \"use_lu_lambdas\": true}", 10, PLAIN, -1, 0, NAN,
     0.1554, 0},
    {"unipc", "UniPCMultistepScheduler", "{" UNIPC "}", NULL, 10, PLAIN, -1, 0, NAN, 0.2464, 0},
    {"unipc_karras", "UniPCMultistepScheduler", "{" UNIPC "}", "{\"use_karras_sigmas\": true}", 10,
     PLAIN, -1, 0, NAN, 0.2925, 0},
    {"unipc_v", "UniPCMultistepScheduler", "{" UNIPC "}", "{\"prediction_type\": \"v_prediction\"}",
     10, PLAIN, -1, 0, NAN, 0.1014, 0},
    {"unipc_karras_v", "UniPCMultistepScheduler", "{" UNIPC "}",
     "{\"prediction_type\": \"v_prediction\", \"use_karras_sigmas\": true}", 10, PLAIN, -1, 0, NAN,
     0.1966, 0},
    {"unipc_with_noise", "UniPCMultistepScheduler", "{" UNIPC "}", NULL, 10, PLAIN, 8, 0, 315.5757,
     0.4109, 1e-2},
    {"unclip_1000", "UnCLIPScheduler", "{" UNCLIP "}", NULL, 1000, PLAIN, -1, 0, 252.2682495,
     0.3284743, 1e-2},
    {"unclip_25", "UnCLIPScheduler", "{" UNCLIP "}", NULL, 25, PLAIN, -1, 0, 258.2044983, 0.3362038,
     1e-2},
};

TEST(diffusers_full_loops) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run(&cases[i]);
}

int main(void) {
  RUN(diffusers_full_loops);
  return dif__test_finish();
}

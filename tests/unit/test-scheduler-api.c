/* Scheduler selection and configuration: names (and the error listing the
 * valid ones), from_config semantics (overrides, class defaults,
 * _use_default_values, ignored keys, nulls), validation, img2img strength,
 * argument and state errors, thresholding, the LMS integral. */
#include "samplers/sched_config.h"
#include "samplers/sched_internal.h"
#include "samplers/scheduler.h"
#include "test.h"

static const char *unclip_dir(void) {
  return dif__test_path("golden/models/tiny-unclip/scheduler");
}

/* from_config of the class `name` names (its short name's implied settings
 * are not applied: dif__scheduler_create does that). */
static dif_status resolve(const char *name, const char *cfg_json, const char *ovr_json,
                          dif__sched_config *out, dif__error *err) {
  const dif__sched_class *cls = dif__sched_find(name, NULL);
  dif__config *cfg = NULL, *ovr = NULL;
  dif_status st = DIF_OK;
  if (cfg_json) st = dif__config_parse(cfg_json, strlen(cfg_json), "cfg", &cfg, err);
  if (!st && ovr_json) st = dif__config_parse(ovr_json, strlen(ovr_json), "ovr", &ovr, err);
  if (!st) st = dif__sched_config_resolve(cls, cfg, ovr, out, err);
  dif__config_free(cfg);
  dif__config_free(ovr);
  return st;
}

static void check_timesteps(dif__scheduler *s, const double *want, int n) {
  CHECK_MSG(dif__scheduler_num_timesteps(s) == n, "%d timesteps, want %d",
            dif__scheduler_num_timesteps(s), n);
  for (int i = 0; i < n && i < dif__scheduler_num_timesteps(s); i++)
    CHECK_MSG(dif__scheduler_timestep(s, i) == want[i], "timestep %d = %g, want %g", i,
              dif__scheduler_timestep(s, i), want[i]);
}

TEST(names) {
  static const char *const pairs[][2] = {
      {"ddim", "DDIMScheduler"},
      {"ddpm", "DDPMScheduler"},
      {"pndm", "PNDMScheduler"},
      {"euler", "EulerDiscreteScheduler"},
      {"euler_a", "EulerAncestralDiscreteScheduler"},
      {"dpmpp_2m", "DPMSolverMultistepScheduler"},
      {"dpmpp_2m_karras", "DPMSolverMultistepScheduler"},
      {"lms", "LMSDiscreteScheduler"},
      {"unipc", "UniPCMultistepScheduler"},
      {"unclip", "UnCLIPScheduler"},
      {"lcm", "LCMScheduler"},
      {"Euler_A", "EulerAncestralDiscreteScheduler"},
      {"UnCLIPScheduler", "UnCLIPScheduler"},
      {"LMSDiscreteScheduler", "LMSDiscreteScheduler"},
  };
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    const char *c = dif__scheduler_class_for(pairs[i][0]);
    CHECK_MSG(c && strcmp(c, pairs[i][1]) == 0, "%s -> %s", pairs[i][0], c ? c : "NULL");
  }
  CHECK(dif__scheduler_class_for("ddimscheduler") == NULL); /* class names are exact */
  CHECK(dif__scheduler_class_for(NULL) == NULL);
  dif__error err = {0};
  CHECK(dif__scheduler_check_name("unipc", &err) == DIF_OK);
  CHECK_STATUS(dif__scheduler_check_name("heun", &err), DIF_ERR_UNSUPPORTED, err.msg,
               "unknown scheduler \"heun\"");
  static const char *const listed[] = {"DDIMScheduler",
                                       "DDPMScheduler",
                                       "PNDMScheduler",
                                       "EulerDiscreteScheduler",
                                       "EulerAncestralDiscreteScheduler",
                                       "DPMSolverMultistepScheduler",
                                       "LMSDiscreteScheduler",
                                       "UniPCMultistepScheduler",
                                       "UnCLIPScheduler",
                                       "LCMScheduler",
                                       "lcm",
                                       "ddim",
                                       "euler_a",
                                       "dpmpp_2m_karras",
                                       "lms",
                                       "pndm",
                                       "ddpm",
                                       "unipc"};
  for (size_t i = 0; i < sizeof listed / sizeof listed[0]; i++)
    CHECK_MSG(strstr(err.msg, listed[i]) != NULL, "error does not list %s: %s", listed[i], err.msg);
  /* The list comes from the table of classes: class names, then short names. */
  CHECK_MSG(!strcmp(err.msg,
                    "unknown scheduler \"heun\" (valid: DDIMScheduler, DDPMScheduler, "
                    "PNDMScheduler, EulerDiscreteScheduler, EulerAncestralDiscreteScheduler, "
                    "DPMSolverMultistepScheduler, LMSDiscreteScheduler, UniPCMultistepScheduler, "
                    "LCMScheduler, UnCLIPScheduler, ddim, ddpm, pndm, euler, euler_a, dpmpp_2m, "
                    "dpmpp_2m_karras, lms, unipc, lcm, unclip)"),
            "%s", err.msg);
  const char *names = dif_scheduler_names();
  CHECK_MSG(!strcmp(names,
                    "ddim, ddpm, pndm, euler, euler_a, dpmpp_2m, dpmpp_2m_karras, lms, unipc, lcm, "
                    "unclip"),
            "%s", names);
  CHECK(dif_scheduler_names() == names);
  /* Every short name and class name the list gives is accepted. */
  char list[512];
  dif__sched_names(list, sizeof list, false);
  for (char *tok = strtok(list, ", "); tok; tok = strtok(NULL, ", "))
    CHECK_MSG(dif__scheduler_class_for(tok) != NULL, "%s is listed but unknown", tok);
  dif__scheduler *s = (dif__scheduler *)&err;
  CHECK_STATUS(dif__scheduler_create("k_dpm_2", NULL, NULL, &s, &err), DIF_ERR_UNSUPPORTED, err.msg,
               "valid:");
  CHECK(s == NULL);
}

TEST(class_defaults_without_config) {
  dif__error err = {0};
  dif__scheduler *s = NULL;
  CHECK(dif__scheduler_create("DDIMScheduler", NULL, NULL, &s, &err) == DIF_OK);
  CHECK(dif__scheduler_set_timesteps(s, 10, &err) == DIF_OK);
  /* leading, steps_offset 0; linear 1e-4 .. 0.02; set_alpha_to_one True */
  const double want[] = {900, 800, 700, 600, 500, 400, 300, 200, 100, 0};
  check_timesteps(s, want, 10);
  CHECK(s->final_alpha_cumprod == 1.0f);
  CHECK(s->betas[0] == 0.0001f && s->betas[999] == 0.02f);
  CHECK(dif__scheduler_init_noise_sigma(s) == 1.0f);
  CHECK(dif__scheduler_sigmas(s, NULL) == NULL);
  dif__scheduler_free(s);

  dif__sched_config c;
  CHECK(resolve("euler", NULL, NULL, &c, &err) == DIF_OK);
  CHECK(c.timestep_spacing == DIF__SPACING_LINSPACE && !c.use_karras_sigmas && !c.has_sigma_min);
  dif__sched_config_clear(&c);
  CHECK(resolve("pndm", NULL, NULL, &c, &err) == DIF_OK);
  CHECK(!c.skip_prk_steps && !c.set_alpha_to_one && c.timestep_spacing == DIF__SPACING_LEADING);
  CHECK(resolve("ddpm", NULL, NULL, &c, &err) == DIF_OK);
  CHECK(c.variance_type == DIF__VAR_FIXED_SMALL && c.clip_sample);
  CHECK(resolve("dpmpp_2m", NULL, NULL, &c, &err) == DIF_OK);
  CHECK(c.solver_order == 2 && c.algorithm_type == DIF__ALGO_DPMSOLVERPP && c.final_sigmas_zero &&
        c.lower_order_final && c.variance_type == DIF__VAR_NONE && isinf(c.lambda_min_clipped));
  CHECK(resolve("unipc", NULL, NULL, &c, &err) == DIF_OK);
  CHECK(c.solver_type == DIF__SOLVER_BH2 && c.predict_x0 && c.n_disable_corrector == 0);
  CHECK(resolve("unclip", NULL, NULL, &c, &err) == DIF_OK);
  CHECK(c.variance_type == DIF__VAR_FIXED_SMALL_LOG && c.clip_sample &&
        c.clip_sample_range == 1.0 && c.beta_schedule == DIF__BETA_COSINE);
}

/* diffusers saves DPMSolverMultistepScheduler configs with a bare
 * "lambda_min_clipped": -Infinity (Python's json, not JSON): it must load. */
TEST(python_infinity_in_a_config) {
  dif__error err = {0};
  dif__sched_config c;
  CHECK(resolve("dpmpp_2m",
                "{\"_class_name\": \"DPMSolverMultistepScheduler\", \"lambda_min_clipped\": "
                "-Infinity, \"solver_order\": 2}",
                NULL, &c, &err) == DIF_OK);
  CHECK(isinf(c.lambda_min_clipped) && c.lambda_min_clipped < 0);
  dif__sched_config_clear(&c);
  CHECK(resolve("dpmpp_2m", "{\"lambda_min_clipped\": -5.1}", NULL, &c, &err) == DIF_OK);
  CHECK(c.lambda_min_clipped == -5.1);
  dif__sched_config_clear(&c);
}

TEST(from_config_precedence) {
  dif__error err = {0};
  dif__sched_config c;
  const char *cfg =
      "{\"_class_name\": \"DDIMScheduler\", \"prediction_type\": \"v_prediction\", "
      "\"timestep_spacing\": \"trailing\", \"sigma_min\": 0.1, \"clip_sample\": "
      "false, \"made_up_key\": [1, 2], \"_use_default_values\": [\"timestep_spacing\"]}";
  /* overrides win; _use_default_values keys take the class default; unknown
   * keys are ignored; a null override means None. */
  CHECK(resolve("euler", cfg, "{\"prediction_type\": \"epsilon\", \"sigma_min\": null}", &c,
                &err) == DIF_OK);
  CHECK(c.prediction_type == DIF__PRED_EPSILON);
  CHECK(c.timestep_spacing == DIF__SPACING_LINSPACE);
  CHECK(!c.has_sigma_min);
  CHECK(resolve("euler", cfg, NULL, &c, &err) == DIF_OK);
  CHECK(c.prediction_type == DIF__PRED_V && c.has_sigma_min && c.sigma_min == 0.1);
  /* clip_sample is a DDIM key: kept for DDIM, irrelevant for Euler */
  CHECK(resolve("ddim", cfg, NULL, &c, &err) == DIF_OK);
  CHECK(!c.clip_sample && c.timestep_spacing == DIF__SPACING_LEADING);
  /* class-specific mappings as diffusers */
  CHECK(resolve("dpmpp_2m", "{\"solver_type\": \"bh2\", \"algorithm_type\": \"deis\"}", NULL, &c,
                &err) == DIF_OK);
  CHECK(c.solver_type == DIF__SOLVER_MIDPOINT && c.algorithm_type == DIF__ALGO_DPMSOLVERPP);
  CHECK(resolve("unipc", "{\"solver_type\": \"midpoint\", \"disable_corrector\": [0, 3]}", NULL, &c,
                &err) == DIF_OK);
  CHECK(c.solver_type == DIF__SOLVER_BH2 && c.n_disable_corrector == 2 &&
        c.disable_corrector[1] == 3);
}

TEST(config_errors) {
  dif__error err = {0};
  dif__sched_config c;
  CHECK_STATUS(resolve("ddim", "{\"beta_schedule\": \"cosine\"}", NULL, &c, &err),
               DIF_ERR_UNSUPPORTED, err.msg,
               "beta_schedule \"cosine\" is not supported (valid: linear, scaled_linear, "
               "squaredcos_cap_v2, sigmoid)");
  CHECK_STATUS(resolve("ddim", "{\"steps_offset\": \"1\"}", NULL, &c, &err), DIF_ERR_BAD_MODEL,
               err.msg, "steps_offset");
  CHECK_STATUS(resolve("euler", NULL, "{\"timestep_spacing\": \"quadratic\"}", &c, &err),
               DIF_ERR_UNSUPPORTED, err.msg, "leading");
  CHECK_STATUS(resolve("pndm", "{\"prediction_type\": \"sample\"}", NULL, &c, &err),
               DIF_ERR_UNSUPPORTED, err.msg, "PNDMScheduler");
  CHECK_STATUS(resolve("unclip", "{\"beta_schedule\": \"linear\"}", NULL, &c, &err),
               DIF_ERR_UNSUPPORTED, err.msg, "squaredcos_cap_v2");
  CHECK_STATUS(resolve("ddpm", "{\"variance_type\": \"learned_range\"}", NULL, &c, &err),
               DIF_ERR_UNSUPPORTED, err.msg, "learned");
  CHECK_STATUS(resolve("dpmpp_2m",
                       "{\"algorithm_type\": \"sde-dpmsolver++\", "
                       "\"solver_order\": 3}",
                       NULL, &c, &err),
               DIF_ERR_UNSUPPORTED, err.msg, "third-order");
  CHECK_STATUS(resolve("ddim", "{\"trained_betas\": [0.1, 0.2]}", NULL, &c, &err),
               DIF_ERR_BAD_MODEL, err.msg, "2 trained_betas for 1000");
  dif__scheduler *s = NULL;
  CHECK_STATUS(dif__scheduler_create("ddim", NULL, "{not json", &s, &err), DIF_ERR_BAD_MODEL,
               err.msg, "scheduler overrides");
  CHECK_STATUS(dif__scheduler_load("ddim", "/nonexistent", NULL, &s, &err), DIF_ERR_IO, err.msg,
               "scheduler_config.json");
}

TEST(short_names_imply_settings) {
  dif__error err = {0};
  dif__scheduler *s = NULL;
  CHECK(dif__scheduler_load("dpmpp_2m_karras", unclip_dir(), NULL, &s, &err) == DIF_OK);
  CHECK(s && s->cfg.use_karras_sigmas && s->cfg.algorithm_type == DIF__ALGO_DPMSOLVERPP);
  CHECK(dif__scheduler_set_timesteps(s, 10, &err) == DIF_OK);
  const double karras[] = {999, 916, 815, 687, 523, 327, 146, 41, 7, 0}; /* as the fixtures */
  check_timesteps(s, karras, 10);
  dif__scheduler_free(s);
  /* the caller's overrides win over the implied ones */
  CHECK(dif__scheduler_load("dpmpp_2m_karras", unclip_dir(), "{\"use_karras_sigmas\": false}", &s,
                            &err) == DIF_OK);
  CHECK(s && !s->cfg.use_karras_sigmas);
  dif__scheduler_free(s);
  CHECK(dif__scheduler_load("dpmpp_2m", unclip_dir(), "{\"solver_order\": 3}", &s, &err) == DIF_OK);
  CHECK(s && s->cfg.solver_order == 3 && !s->cfg.use_karras_sigmas);
  dif__scheduler_free(s);
}

TEST(timestep_lists_from_diffusers_tests) {
  dif__error err = {0};
  dif__scheduler *s = NULL;
  /* test_scheduler_pndm.py test_steps_offset (PRK warm-up, steps_offset 1) */
  CHECK(dif__scheduler_create("PNDMScheduler", NULL, "{\"steps_offset\": 1}", &s, &err) == DIF_OK);
  CHECK(dif__scheduler_set_timesteps(s, 10, &err) == DIF_OK);
  const double prk[] = {901, 851, 851, 801, 801, 751, 751, 701, 701, 651,
                        651, 601, 601, 501, 401, 301, 201, 101, 1};
  check_timesteps(s, prk, 19);
  dif__scheduler_free(s);
  /* test_scheduler_ddim.py test_steps_offset */
  CHECK(dif__scheduler_create("DDIMScheduler", NULL, "{\"steps_offset\": 1}", &s, &err) == DIF_OK);
  CHECK(dif__scheduler_set_timesteps(s, 5, &err) == DIF_OK);
  const double ddim[] = {801, 601, 401, 201, 1};
  check_timesteps(s, ddim, 5);
  /* trailing and linspace */
  dif__scheduler_free(s);
  CHECK(dif__scheduler_create("DDIMScheduler", NULL, "{\"timestep_spacing\": \"trailing\"}", &s,
                              &err) == DIF_OK);
  CHECK(dif__scheduler_set_timesteps(s, 3, &err) == DIF_OK);
  const double trailing[] = {999, 666, 332}; /* round(arange(1000, 0, -333.33)) - 1 */
  check_timesteps(s, trailing, 3);
  dif__scheduler_free(s);
  CHECK(dif__scheduler_create("EulerDiscreteScheduler", NULL, NULL, &s, &err) == DIF_OK);
  CHECK(dif__scheduler_set_timesteps(s, 4, &err) == DIF_OK);
  const double lin[] = {999, 666, 333, 0};
  check_timesteps(s, lin, 4);
  dif__scheduler_free(s);
  CHECK(dif__scheduler_create("EulerDiscreteScheduler", NULL, NULL, &s, &err) == DIF_OK);
  CHECK(dif__scheduler_set_timesteps(s, 25, &err) == DIF_OK);
  CHECK(dif__scheduler_timestep(s, 1) == (double)(float)(999.0 - 999.0 / 24)); /* float32 value */
  dif__scheduler_free(s);
}

TEST(img2img_strength) {
  dif__error err = {0};
  dif__scheduler *s = NULL;
  int first = -1, run = -1;
  CHECK(dif__scheduler_load("PNDMScheduler", dif__test_path("golden/models/tiny-sd/scheduler"),
                            NULL, &s, &err) == DIF_OK);
  CHECK(dif__scheduler_set_timesteps(s, 5, &err) == DIF_OK); /* 801 601 601 401 201 1 */
  CHECK(dif__scheduler_img2img_start(s, 5, 0.6, &first, &run, &err) == DIF_OK);
  CHECK(first == 2 && run == 3 && dif__scheduler_timestep(s, first) == 601);
  CHECK(dif__scheduler_img2img_start(s, 5, 1.0, &first, &run, &err) == DIF_OK);
  CHECK(first == 0 && run == 5);
  CHECK(dif__scheduler_img2img_start(s, 5, 0.75, &first, &run, &err) == DIF_OK);
  CHECK(first == 2 && run == 3); /* int(3.75) = 3 */
  /* int(5 * 0.1) = 0: diffusers keeps timesteps[5:] = [1] (PNDM's extra
   * entry), running one call while reporting 0 steps. */
  CHECK(dif__scheduler_img2img_start(s, 5, 0.1, &first, &run, &err) == DIF_OK);
  CHECK(first == 5 && run == 0);
  CHECK_STATUS(dif__scheduler_img2img_start(s, 5, 1.5, &first, &run, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "[0, 1]");
  CHECK_STATUS(dif__scheduler_img2img_start(s, 4, 0.5, &first, &run, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "set_timesteps(4)");
  dif__scheduler_free(s);
  CHECK(dif__scheduler_create("ddim", NULL, NULL, &s, &err) == DIF_OK);
  CHECK(dif__scheduler_set_timesteps(s, 10, &err) == DIF_OK);
  CHECK_STATUS(dif__scheduler_img2img_start(s, 10, 0.05, &first, &run, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "leaves no denoising step");
  CHECK(dif__scheduler_img2img_start(s, 10, 0.3, &first, &run, &err) == DIF_OK);
  CHECK(first == 7 && run == 3 && dif__scheduler_timestep(s, first) == 200);
  dif__scheduler_free(s);
}

TEST(argument_and_state_errors) {
  dif__error err = {0};
  dif__scheduler *s = NULL;
  float x[8] = {0}, y[8];
  dif__step_args a = {.model_output = x, .sample = x, .prev_sample = y, .n = 8};
  CHECK(dif__scheduler_create("ddpm", NULL, NULL, &s, &err) == DIF_OK);
  CHECK_STATUS(dif__scheduler_step(s, 0, &a, &err), DIF_ERR_INVALID_ARGUMENT, err.msg,
               "set_timesteps was not called");
  CHECK_STATUS(dif__scheduler_set_timesteps(s, 0, &err), DIF_ERR_INVALID_ARGUMENT, err.msg,
               "[1, 1000]");
  CHECK_STATUS(dif__scheduler_set_timesteps(s, 1001, &err), DIF_ERR_INVALID_ARGUMENT, err.msg,
               "1001");
  CHECK(dif__scheduler_set_timesteps(s, 10, &err) == DIF_OK);
  CHECK_STATUS(dif__scheduler_step(s, 10, &a, &err), DIF_ERR_INVALID_ARGUMENT, err.msg,
               "outside [0, 10)");
  /* DDPM at t > 0 draws noise: it needs a generator (or the noise) */
  CHECK_STATUS(dif__scheduler_step(s, 0, &a, &err), DIF_ERR_INVALID_ARGUMENT, err.msg, "generator");
  float noise[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  a.noise = noise;
  CHECK(dif__scheduler_step(s, 0, &a, &err) == DIF_OK && a.drew_noise);
  a.batch = 3;
  CHECK_STATUS(dif__scheduler_step(s, 0, &a, &err), DIF_ERR_INVALID_ARGUMENT, err.msg,
               "do not split");
  dif__scheduler_free(s);
  /* a multistep scheduler refuses a size change within one run */
  CHECK(dif__scheduler_create("unipc", NULL, NULL, &s, &err) == DIF_OK);
  CHECK(dif__scheduler_set_timesteps(s, 10, &err) == DIF_OK);
  a = (dif__step_args){.model_output = x, .sample = x, .prev_sample = y, .n = 8};
  CHECK(dif__scheduler_step(s, 0, &a, &err) == DIF_OK);
  a.n = 4;
  CHECK_STATUS(dif__scheduler_step(s, 1, &a, &err), DIF_ERR_INVALID_ARGUMENT, err.msg,
               "size changed");
  CHECK(dif__scheduler_set_timesteps(s, 10, &err) == DIF_OK); /* a new run may change it */
  CHECK(dif__scheduler_step(s, 0, &a, &err) == DIF_OK);
  dif__scheduler_free(s);
  /* add_noise of a sigma scheduler needs a timestep of the schedule */
  CHECK(dif__scheduler_create("euler", NULL, NULL, &s, &err) == DIF_OK);
  CHECK(dif__scheduler_set_timesteps(s, 10, &err) == DIF_OK);
  CHECK_STATUS(dif__scheduler_add_noise(s, x, x, 500.5, 8, y, &err), DIF_ERR_INVALID_ARGUMENT,
               err.msg, "500.5");
  CHECK(dif__scheduler_add_noise(s, x, x, dif__scheduler_timestep(s, 3), 8, y, &err) == DIF_OK);
  dif__scheduler_free(s);
}

TEST(per_item_generators_in_a_step) {
  /* Euler ancestral with a batch of 2 and one generator per item draws item
   * b's noise from generator b, as randn_tensor with a list. */
  dif__error err = {0};
  dif__scheduler *s = NULL;
  enum { M = 40 };
  static float x[2 * M], y[2 * M], used[2 * M], ref[M];
  CHECK(dif__scheduler_create("euler_a", NULL, NULL, &s, &err) == DIF_OK);
  CHECK(dif__scheduler_set_timesteps(s, 5, &err) == DIF_OK);
  dif__rng g[2];
  dif__rng *gp[2] = {&g[0], &g[1]};
  dif__rng_seed(&g[0], 7);
  dif__rng_seed(&g[1], 8);
  dif__step_args a = {.model_output = x,
                      .sample = x,
                      .prev_sample = y,
                      .n = 2 * M,
                      .batch = 2,
                      .gens = gp,
                      .n_gens = 2,
                      .noise_out = used};
  CHECK(dif__scheduler_step(s, 0, &a, &err) == DIF_OK && a.drew_noise);
  dif__rng r;
  dif__rng_seed(&r, 8);
  dif__rng_randn(&r, ref, M);
  CHECK(memcmp(used + M, ref, sizeof ref) == 0);
  dif__scheduler_free(s);
}

TEST(dynamic_thresholding) {
  /* torch.quantile(|x|, 0.5) of |x| = 0 .. 9 is 4.5; clamp to [1, 8]; then
   * x = clamp(x, -s, s) / s. A second row with small values uses s = 1. */
  float x[20];
  for (int i = 0; i < 10; i++) x[i] = (float)(i % 2 ? -i : i);
  for (int i = 10; i < 20; i++) x[i] = 0.1f * (float)(i - 10) - 0.5f;
  dif__error err = {0};
  CHECK(dif__sched_threshold(x, 20, 2, 0.5, 8.0, &err) == DIF_OK);
  CHECK(x[2] == 2.0f / 4.5f && x[9] == -1.0f && x[4] == 4.0f / 4.5f);
  CHECK(fabsf(x[10] - -0.5f) < 1e-7f);
  for (int i = 0; i < 10; i++) x[i] = (float)i;
  CHECK(dif__sched_threshold(x, 10, 1, 0.995, 0.5, &err) == DIF_OK); /* max < 1: s = max */
  CHECK(x[0] == 0.0f && x[1] == 1.0f && x[9] == 1.0f);
}

TEST(rescale_betas_zero_snr) {
  dif__error err = {0};
  dif__scheduler *s = NULL, *r = NULL;
  CHECK(dif__scheduler_load("ddim", unclip_dir(), NULL, &s, &err) == DIF_OK);
  CHECK(dif__scheduler_load("ddim", unclip_dir(), "{\"rescale_betas_zero_snr\": true}", &r, &err) ==
        DIF_OK);
  /* zero terminal SNR: the last alphas_cumprod is 0, the first unchanged
   * (up to float rounding) */
  CHECK(r->alphas_cumprod[999] == 0.0f);
  CHECK(fabsf(r->alphas_cumprod[0] - s->alphas_cumprod[0]) < 1e-6f);
  dif__scheduler_free(s);
  dif__scheduler_free(r);
  /* Euler replaces it by 2**-24: the largest sigma is sqrt(2**24 - 1) */
  CHECK(
      dif__scheduler_load("euler", unclip_dir(),
                          "{\"rescale_betas_zero_snr\": true, \"timestep_spacing\": \"trailing\"}",
                          &r, &err) == DIF_OK);
  CHECK(dif__scheduler_set_timesteps(r, 10, &err) == DIF_OK);
  CHECK(fabsf(dif__scheduler_init_noise_sigma(r) - 4096.0f) < 1e-2f);
  dif__scheduler_free(r);
}

TEST(lms_coefficients) {
  /* order 1: the integral of 1 over [s0, s1]; order 2, current 0: the
   * integral of (tau - s[t-1]) / (s[t] - s[t-1]) — closed forms. */
  const float sig[] = {4.0f, 2.5f, 1.0f, 0.0f};
  double c = dif__lms_coefficient(sig, 4, 1, 0, 0);
  CHECK(fabs(c - (2.5 - 4.0)) < 1e-12);
  c = dif__lms_coefficient(sig, 4, 2, 1, 0); /* t = 1: basis of s[1] over [s1, s2] */
  const double a = 2.5, b = 1.0, p = 4.0;
  const double want = ((b - p) * (b - p) - (a - p) * (a - p)) / 2 / (a - p);
  CHECK_MSG(fabs(c - want) < 1e-6, "%.9g vs %.9g", c, want);
}

/* LCMScheduler: its class defaults, set_timesteps with and without the
 * strength (the values diffusers v0.26.3 gives, as the fixture traces), the
 * SD img2img trimming, and the requests it refuses. */
TEST(lcm_schedule) {
  dif__error err = {0};
  dif__scheduler *s = NULL;
  int first = -1, run = -1;
  CHECK(dif__scheduler_create("lcm", NULL, NULL, &s, &err) == DIF_OK);
  CHECK(s && s->cfg.original_inference_steps == 50 && s->cfg.timestep_scaling == 10.0 &&
        s->cfg.set_alpha_to_one && !s->cfg.clip_sample &&
        s->cfg.beta_schedule == DIF__BETA_SCALED_LINEAR && s->final_alpha_cumprod == 1.0f);
  CHECK(dif__scheduler_takes_strength(s));
  CHECK(dif__scheduler_set_timesteps(s, 4, &err) == DIF_OK);
  const double four[] = {999, 759, 499, 259};
  check_timesteps(s, four, 4);
  CHECK(dif__scheduler_img2img_start(s, 4, 0.5, &first, &run, &err) == DIF_OK);
  CHECK(first == 2 && run == 2); /* StableDiffusionImg2ImgPipeline + LCMScheduler: 499, 259 */
  CHECK(dif__scheduler_set_timesteps_strength(s, 4, 0.6, &err) == DIF_OK);
  const double strong[] = {599, 459, 299, 159}; /* LatentConsistencyModelImg2ImgPipeline */
  check_timesteps(s, strong, 4);
  CHECK(dif__scheduler_set_timesteps(s, 1, &err) == DIF_OK);
  const double one[] = {999};
  check_timesteps(s, one, 1);
  CHECK_STATUS(dif__scheduler_set_timesteps(s, 51, &err), DIF_ERR_INVALID_ARGUMENT, err.msg,
               "51 steps need at least as many distillation timesteps");
  CHECK_STATUS(dif__scheduler_set_timesteps_strength(s, 4, 0.05, &err), DIF_ERR_INVALID_ARGUMENT,
               err.msg, "x strength 0.05 gives 2");
  CHECK_STATUS(dif__scheduler_set_timesteps_strength(s, 4, 0, &err), DIF_ERR_INVALID_ARGUMENT,
               err.msg, "strength 0 must be in (0, 1]");
  CHECK_STATUS(dif__scheduler_set_timesteps_strength(s, 4, 1.5, &err), DIF_ERR_INVALID_ARGUMENT,
               err.msg, "(0, 1]");
  CHECK(dif__scheduler_num_timesteps(s) == 0); /* a refused call leaves no schedule */
  dif__scheduler_free(s);
  /* 20 original steps of 1000: every 50th, 8 of them; steps above 20 refused */
  CHECK(dif__scheduler_create("LCMScheduler", NULL, "{\"original_inference_steps\": 20}", &s,
                              &err) == DIF_OK);
  CHECK(dif__scheduler_set_timesteps(s, 8, &err) == DIF_OK);
  const double eight[] = {999, 899, 749, 649, 499, 399, 249, 149};
  check_timesteps(s, eight, 8);
  dif__scheduler_free(s);
  CHECK(dif__scheduler_create("ddim", NULL, NULL, &s, &err) == DIF_OK);
  CHECK(!dif__scheduler_takes_strength(s));
  CHECK_STATUS(dif__scheduler_set_timesteps_strength(s, 4, 0.5, &err), DIF_ERR_INVALID_ARGUMENT,
               err.msg, "DDIMScheduler: set_timesteps takes no strength");
  CHECK(dif__scheduler_set_timesteps_strength(s, 4, 1.0, &err) == DIF_OK);
  dif__scheduler_free(s);
  dif__sched_config c;
  CHECK_STATUS(resolve("lcm", "{\"original_inference_steps\": 0}", NULL, &c, &err),
               DIF_ERR_BAD_MODEL, err.msg, "cfg: original_inference_steps 0 must be in 1..1000");
  CHECK_STATUS(resolve("lcm", NULL, "{\"original_inference_steps\": 2000}", &c, &err),
               DIF_ERR_BAD_MODEL, err.msg, "ovr: original_inference_steps 2000");
  CHECK_STATUS(resolve("lcm", "{\"timestep_scaling\": \"10\"}", NULL, &c, &err), DIF_ERR_BAD_MODEL,
               err.msg, "timestep_scaling");
  CHECK_STATUS(resolve("lcm", "{\"timestep_spacing\": \"even\"}", NULL, &c, &err),
               DIF_ERR_UNSUPPORTED, err.msg, "timestep_spacing \"even\"");
}

int main(void) {
  RUN(names);
  RUN(class_defaults_without_config);
  RUN(python_infinity_in_a_config);
  RUN(from_config_precedence);
  RUN(config_errors);
  RUN(short_names_imply_settings);
  RUN(timestep_lists_from_diffusers_tests);
  RUN(img2img_strength);
  RUN(argument_and_state_errors);
  RUN(per_item_generators_in_a_step);
  RUN(dynamic_thresholding);
  RUN(rescale_betas_zero_snr);
  RUN(lms_coefficients);
  RUN(lcm_schedule);
  return dif__test_finish();
}

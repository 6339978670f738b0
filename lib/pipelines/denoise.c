/* denoise.c — the one denoising loop (denoise.h). */
#include "pipelines/denoise.h"

#include <stdlib.h>
#include <string.h>

#include "pipelines/gen.h"

/* out[rows, n] = u + g · (c - u) in float32, as PyTorch computes CFG. */
static void guide(const float *u, const float *c, float scale, int64_t n, float *out) {
  for (int64_t i = 0; i < n; i++) out[i] = u[i] + scale * (c[i] - u[i]);
}

typedef struct loop_bufs {
  float *x_in, *pred, *drawn;
  int64_t NB, n_in;
} loop_bufs;

/* The model input [NB, n + concat_n]: each item's latents through
 * scale_model_input, then its concat part. */
static dif_status model_input(gen *g, const dif__loop *l, loop_bufs *b, int i) {
  for (int64_t j = 0; j < b->NB; j++) {
    float *x = b->x_in + j * b->n_in;
    memcpy(x, l->lat + (j % l->B) * l->n, (size_t)l->n * sizeof *x);
    if (!l->concat) continue;
    memcpy(x + l->n, l->concat + j * l->concat_n, (size_t)l->concat_n * sizeof *x);
  }
  if (!l->concat)
    return dif__scheduler_scale_model_input(l->sch, i, b->x_in, b->x_in, b->NB * l->n, g->err);
  dif_status s = DIF_OK;
  for (int64_t j = 0; j < b->NB && !s; j++)
    s = dif__scheduler_scale_model_input(l->sch, i, b->x_in + j * b->n_in, b->x_in + j * b->n_in,
                                         l->n, g->err);
  return s;
}

/* Step i of the loop (j = i - first of n_run). */
static dif_status loop_step(gen *g, const dif__loop *l, loop_bufs *b, int i) {
  int j = i - l->first, n_run = dif__scheduler_num_timesteps(l->sch) - l->first;
  int64_t B = l->B, n = l->n;
  dif_status s = gen_cancelled(g);
  if (!s) s = model_input(g, l, b, i);
  if (s) return s;
  float t = (float)dif__scheduler_timestep(l->sch, i);
  if ((s = l->model(l->model_user, b->x_in, b->NB, t, b->pred, g->err))) return s;
  if ((s = gen_check_finite(g, b->pred, b->NB * n,
                            "%s produced non-finite values at %s %d of %d (timestep %g)",
                            l->model_name, l->step_name, j + 1, n_run, (double)t)))
    return s;
  gen_trace(g, b->x_in, b->NB * b->n_in, "%s%d.%s", l->call, j, l->input);
  gen_trace(g, &t, 1, "%s%d.timestep", l->call, j);
  gen_trace(g, b->pred, b->NB * n, "%s%d.%s", l->call, j, l->output);
  if (b->NB > B) guide(b->pred, b->pred + B * n, l->guidance, B * n, b->pred);
  gen_trace(g, b->pred, B * n, "%s%d.%s", l->step, j, l->step_output);
  gen_trace(g, &t, 1, "%s%d.timestep", l->step, j);
  dif__step_args a = {.model_output = b->pred,
                      .sample = l->lat,
                      .prev_sample = l->lat,
                      .n = B * n,
                      .batch = (int)B,
                      .gens = g->gens,
                      .n_gens = 1,
                      .eta = l->eta,
                      .noise_out = b->drawn};
  if ((s = dif__scheduler_step(l->sch, i, &a, g->err))) return s;
  gen_step_drew(g, &a);
  if ((s = gen_check_finite(
           g, l->lat, B * n,
           "%s became non-finite at %s %d of %d (timestep %g) after guidance %g and the %s step",
           l->latents_name, l->step_name, j + 1, n_run, (double)t, (double)l->guidance,
           dif__scheduler_class_name(l->sch))))
    return s;
  gen_trace(g, l->lat, B * n, "%s%d.prev_sample", l->step, j);
  if (l->hook && (s = l->hook(l->hook_user, i, l->lat, g->err))) return s;
  gen_trace(g, l->lat, B * n, "%s.step%d.latents", l->callback, j);
  gen_trace(g, &t, 1, "%s.step%d.t", l->callback, j);
  return gen_stepped(g);
}

dif_status dif__denoise(gen *g, const dif__loop *l) {
  loop_bufs b = {.NB = l->cfg ? 2 * l->B : l->B, .n_in = l->n + l->concat_n};
  b.x_in = gen_floats(g, b.NB * b.n_in, "model input");
  b.pred = gen_floats(g, b.NB * l->n, "model output");
  b.drawn = gen_floats(g, l->B * l->n, "step noise");
  dif_status s = (!b.x_in || !b.pred || !b.drawn) ? DIF_ERR_OUT_OF_MEMORY : DIF_OK;
  int n_t = s ? 0 : dif__scheduler_num_timesteps(l->sch);
  for (int i = l->first; i < n_t && !s; i++) s = loop_step(g, l, &b, i);
  free(b.x_in);
  free(b.pred);
  free(b.drawn);
  return s;
}

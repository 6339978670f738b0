/* gen_util.c — what every block of a generation uses (gen.h): tracing,
 * random draws in diffusers' order, progress and cancelling, finiteness
 * checks, allocation with a message. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "pipelines/gen.h"

void gen_trace(gen *g, const float *x, int64_t n, const char *fmt, ...) {
  if (!g->r->trace) return;
  char name[128];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  g->r->trace(g->r->trace_user, name, x, n);
}

void gen_trace_ints(gen *g, const int32_t *x, int64_t n, const char *name) {
  if (!g->r->trace) return;
  float *f = malloc((size_t)n * sizeof *f);
  if (!f) return;
  for (int64_t i = 0; i < n; i++) f[i] = (float)x[i];
  g->r->trace(g->r->trace_user, name, f, n);
  free(f);
}

bool gen_cfg(const gen *g) { return g->r->guidance > 1.0f && !g->m->unet.time_cond_dim; }

dif_status gen_cancelled(gen *g) {
  if (g->r->cancel && atomic_load(g->r->cancel))
    return dif__fail(g->err, DIF_ERR_CANCELLED, "cancelled after %d of %d steps", g->step,
                     g->total);
  return DIF_OK;
}

dif_status gen_stepped(gen *g) {
  g->step++;
  if (g->r->on_step && g->r->on_step(g->r->step_user, g->step, g->total)) {
    if (g->r->cancel) atomic_store(g->r->cancel, 1);
    return dif__fail(g->err, DIF_ERR_CANCELLED,
                     "cancelled by the progress callback at step %d of %d", g->step, g->total);
  }
  return DIF_OK;
}

dif_status gen_draw(gen *g, float *out, int64_t batch, int64_t item) {
  dif_status s = dif__randn_tensor(g->gens, 1, batch, item, out, g->err);
  if (!s) gen_trace(g, out, batch * item, "randn.draw%d", g->draws);
  g->draws++;
  return s;
}

void gen_step_drew(gen *g, const dif__step_args *a) {
  if (!a->drew_noise) return;
  if (a->noise_out) gen_trace(g, a->noise_out, a->n, "randn.draw%d", g->draws);
  g->draws++;
}

/* ---- finiteness ----
 *
 * A NaN or an infinity anywhere (broken weights, a hostile config, an
 * overflowing guidance) spreads to every later value and would end as a black
 * picture, through a float-to-integer cast of NaN that C leaves undefined.
 * Each network's output and the latents after each step are scanned instead
 * (a pass over a buffer is negligible next to the network that filled it),
 * and the first non-finite value ends the run with DIF_ERR_NON_FINITE naming
 * the component and the step.
 *
 * Weights are not scanned at load. A scan is one more pass over every
 * weight (measured: about 0.1 s per 400 MB of float32 already in memory on
 * the development machine, so about 1 s more per load of a 4 GB model, for
 * every user, for a fault a broken file rarely has), while a NaN or infinite
 * weight shows in the output of the network that holds it on its first
 * call, which these checks catch and name (tests/unit/test-api-numbers.c
 * poisons a tensor of each component). */
dif_status gen_check_finite(gen *g, const float *x, int64_t n, const char *fmt, ...) {
  int64_t i = dif__first_nonfinite(x, n);
  if (i < 0) return DIF_OK;
  char what[320];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return dif__fail(g->err, DIF_ERR_NON_FINITE, "%s (%s at value %lld of %lld)", what,
                   isnan(x[i]) ? "NaN" : "infinity", (long long)i, (long long)n);
}

void *gen_alloc(gen *g, int64_t n, size_t size, const char *what) {
  void *p = malloc((size_t)(n > 0 ? n : 1) * size);
  if (!p) dif__fail_oom(g->err, what, (size_t)n * size);
  return p;
}

float *gen_floats(gen *g, int64_t n, const char *what) {
  return gen_alloc(g, n, sizeof(float), what);
}

int32_t *gen_ints(gen *g, int64_t n, const char *what) {
  return gen_alloc(g, n, sizeof(int32_t), what);
}

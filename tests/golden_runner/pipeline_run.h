/* pipeline_run.h — what the whole-pipeline kinds (pipelines, inpaint, upscale)
 * share: comparing every tensor a dif__generate run traces with the case's
 * tensor of that name at the pipeline tolerances, the case's scheduler
 * reference, and the check that every recorded tensor was produced. */
#ifndef DIF__GOLDEN_PIPELINE_RUN_H
#define DIF__GOLDEN_PIPELINE_RUN_H

#include <jansson.h>

#include "golden.h"
#include "io/config.h"
#include "pipelines/generate.h"

typedef struct run_ctx {
  golden *g;
  const char *name;
  const dif__safetensors *st;
  char **seen; /* names compared */
  int n_seen, cap;
  float scaling_factor; /* the VAE's */
} run_ctx;

/* dif__request.trace for a run_ctx. */
void pipeline_on_trace(void *user, const char *name, const float *data, int64_t n);
/* Fails the case for each tensor of the case libdif never produced (in.*
 * are inputs, and names starting with one of skip[n_skip] are left out),
 * then frees what rc holds. */
void pipeline_finish(run_ctx *rc, const char *const *skip, int n_skip);

/* Runs r on m (unless s is already a failure, which it reports), fails the
 * case on an error, else checks that every recorded tensor was produced
 * (pipeline_finish); frees rc's list of names. r traces into rc. */
void pipeline_generate(golden *g, const char *name, const dif__models *m, const dif__kctx *k,
                       const dif__request *r, run_ctx *rc, dif_status s, dif__error *err);

/* The settings' "scheduler" reference {class, config, overrides}: *cls (or
 * NULL), *cfg (loaded, or NULL), *overrides (JSON text, or NULL; free). */
dif_status pipeline_scheduler(golden *g, json_t *set, const char **cls, dif__config **cfg,
                              char **overrides, dif__error *err);

/* Runs fn on every case listed in dir/index.json's runs[] ({file,
 * pipeline}; want non-NULL: the pipeline every run must name), the case
 * file opened; failures are the kind's (named kind). Returns the number of
 * runs, 0 when index.json has none (the runner then fails the kind). */
typedef void (*pipeline_case_fn)(golden *g, const char *dir, const char *file, const char *pipeline,
                                 const dif__safetensors *st);
int pipeline_each_run(golden *g, const char *dir, const char *kind, const char *want,
                      pipeline_case_fn fn);

/* The run of a case's settings (prompt, negative_prompt, size, steps,
 * guidance, seed, scheduler; with "image": Stable unCLIP image variation
 * with the prompt as its text part) on m, every traced tensor checked and
 * every recorded one required but those starting with skip[n_skip]. */
dif_status pipeline_run_settings(golden *g, const char *name, const dif__safetensors *st,
                                 json_t *set, const dif__models *m, const char *const *skip,
                                 int n_skip, dif__error *err);

const char *pipeline_str(json_t *o, const char *key);
double pipeline_num(json_t *o, const char *key, double dflt);

#endif

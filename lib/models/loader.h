/* loader.h — the steps every model loader takes, once.
 *
 * A network loads from a diffusers component folder in the same order:
 * <dir>/config.json (its `_class_name` one of `classes`) read into the model
 * and checked, then the weights file opened, then every tensor the model
 * needs bound through a dif_wloader (models/weights.h); on any failure the
 * model is freed and the message is the failing step's. A model module
 * fills a dif_model_loader with its two steps and calls dif_model_load:
 *
 *   static const dif_model_loader vae_loader = {classes, read_config, build, free_vae};
 *   dif_status dif_vae_load(const char *dir, dif_vae *v, dif_error *err) {
 *     memset(v, 0, sizeof *v);
 *     return dif_model_load(dir, &vae_loader, v, &v->weights, err);
 *   }
 */
#ifndef DIF_MODELS_LOADER_H
#define DIF_MODELS_LOADER_H

#include "core/error.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "models/weights.h"

typedef struct dif_model_loader {
  const char *const *classes; /* NULL-terminated `_class_name`s it accepts */
  /* Settings from the config into model, with their range checks. */
  dif_status (*read_config)(void *model, const dif_config *cfg, dif_error *err);
  /* The model's tensors through wl (whose first failure sticks: return
   * wl->status); cfg is still open. */
  dif_status (*build)(void *model, const dif_config *cfg, dif_wloader *wl);
  void (*free)(void *model); /* after a failure: closes *weights too */
} dif_model_loader;

/* Runs the steps for the component folder dir; *weights is where model
 * keeps its open weights file (a field of model). */
dif_status dif_model_load(const char *dir, const dif_model_loader *l, void *model,
                          dif_safetensors **weights, dif_error *err);

#endif

/* loader.c — config, weights, build: the steps every model loader takes
 * (see loader.h). */
#include "models/loader.h"

#include "io/component.h"

dif_status dif_model_load(const char *dir, const dif_model_loader *l, void *model,
                          dif_safetensors **weights, dif_error *err) {
  dif_config *cfg = NULL;
  dif_status s = dif_component_config(dir, "config.json", l->classes, &cfg, err);
  if (!s) s = l->read_config(model, cfg, err);
  if (!s) s = dif_component_weights(dir, weights, err);
  if (!s) {
    dif_wloader wl = {*weights, err, DIF_OK};
    s = l->build(model, cfg, &wl);
  }
  dif_config_free(cfg);
  if (s) l->free(model);
  return s;
}

/* loader.c — config, weights, build: the steps every model loader takes
 * (see loader.h). */
#include "models/loader.h"

#include "io/component.h"

dif_status dif__model_load(const char *dir, const dif__model_loader *l, void *model,
                           dif__safetensors **weights, dif__error *err) {
  dif__config *cfg = NULL;
  dif_status s = dif__component_config(dir, "config.json", l->classes, &cfg, err);
  if (!s) s = l->read_config(model, cfg, err);
  if (!s) s = dif__component_weights(dir, weights, err);
  if (!s) {
    dif__wloader wl = {*weights, err, DIF_OK};
    s = l->build(model, cfg, &wl);
  }
  dif__config_free(cfg);
  if (s) l->free(model);
  return s;
}

/* component.h — one component folder of a diffusers model (unet/, vae/, ...).
 *
 * Model loaders in lib/models take the component's folder path, so they work
 * on a whole model folder's subfolder and on a loose component alike (the
 * golden fixtures name component folders directly).
 */
#ifndef DIF_IO_COMPONENT_H
#define DIF_IO_COMPONENT_H

#include "core/error.h"
#include "io/checkpoint.h"
#include "io/config.h"
#include "io/lora.h"
#include "io/safetensors.h"

/* Loads <dir>/<file>; a `_class_name`, if present, must be in classes
 * (NULL-terminated; NULL accepts any class libdif knows). */
dif_status dif_component_config(const char *dir, const char *file, const char *const *classes,
                                dif_config **out, dif_error *err);
/* Opens <dir>/diffusion_pytorch_model.safetensors or <dir>/model.safetensors
 * — or, while a checkpoint is bound on this thread and dir is
 * "<root>/unet", "<root>/vae" or "<root>/text_encoder", that part of the
 * checkpoint (dif_checkpoint_part, laid out by dir's config.json). */
dif_status dif_component_weights(const char *dir, dif_safetensors **out, dif_error *err);

/* Binds a single-file checkpoint to the component folders under root (a
 * diffusers folder giving the configs) for the loads that follow on this
 * thread, so the model loaders read its parts unchanged; NULL unbinds.
 * pipelines/models.c binds around one model load. Neither is copied. */
void dif_component_bind_checkpoint(dif_checkpoint *c, const char *root);

/* Binds LoRAs (io/lora.h) to the unet and text_encoder folders under root
 * for the loads that follow on this thread: dif_component_weights merges
 * them into the weights it opens there (all or nothing; a failure is its
 * failure). n 0 unbinds. Neither is copied. */
void dif_component_bind_loras(const dif_lora_use *uses, int n, const char *root);

#endif

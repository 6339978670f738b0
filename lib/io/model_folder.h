/* model_folder.h — a diffusers model folder on disk.
 *
 * A folder holds `model_index.json` (optional: a folder of loose parts such
 * as Karlo's prior has none) and one subfolder per component (`unet/`,
 * `vae/`, `text_encoder/`, `tokenizer/`, `scheduler/`, ...), each with a
 * `config.json` / `scheduler_config.json` / `preprocessor_config.json` or
 * tokenizer files, and weights in `diffusion_pytorch_model.safetensors` or
 * `model.safetensors`.
 *
 * Classes named in model_index.json and in a component's `_class_name` must
 * be ones libdif knows; anything else is refused by name at open / load.
 * Every weight file opened through the folder is fingerprinted (xxh3-64 while
 * validating) and listed by dif_model_folder_file_at — the model identity.
 */
#ifndef DIF_IO_MODEL_FOLDER_H
#define DIF_IO_MODEL_FOLDER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "io/config.h"
#include "io/safetensors.h"

typedef struct dif_model_folder dif_model_folder;

typedef struct dif_model_file {
  const char *path; /* relative to the folder, e.g. "unet/diffusion_pytorch_model.safetensors" */
  uint64_t size;
  uint64_t xxh3;
} dif_model_file;

/* Opens dir: it must be a directory; model_index.json, if present, must name
 * a known pipeline and known component classes. */
dif_status dif_model_folder_open(const char *dir, dif_model_folder **out, dif_error *err);
void dif_model_folder_free(dif_model_folder *mf);

const char *dif_model_folder_dir(const dif_model_folder *mf);
/* model_index.json (pipeline settings such as max_noise_level), or NULL
 * when the folder has none. */
const dif_config *dif_model_folder_index(const dif_model_folder *mf);
/* model_index.json's _class_name, or NULL when the folder has no index. */
const char *dif_model_folder_pipeline(const dif_model_folder *mf);
/* True if the component's subfolder exists (and, if there is an index, it
 * does not list the component as null). */
bool dif_model_folder_has(const dif_model_folder *mf, const char *component);

/* Loads <dir>/<component>/<file> as a config. If the config has a
 * `_class_name` it must be one of `classes` (a NULL-terminated list; NULL
 * means any known class): otherwise DIF_ERR_UNSUPPORTED naming it and the
 * classes that would fit. */
dif_status dif_model_folder_config(dif_model_folder *mf, const char *component, const char *file,
                                   const char *const *classes, dif_config **out, dif_error *err);

/* Opens the component's weights (diffusion_pytorch_model.safetensors or
 * model.safetensors) and records its fingerprint. */
dif_status dif_model_folder_weights(dif_model_folder *mf, const char *component,
                                    dif_safetensors **out, dif_error *err);

/* Builds "<dir>/<component>/<file>" into buf (truncation is an error). */
dif_status dif_model_folder_path(const dif_model_folder *mf, const char *component,
                                 const char *file, char *buf, size_t size, dif_error *err);

/* Adds an already opened weight file of a component to the identity list. */
void dif_model_folder_record(dif_model_folder *mf, const char *component,
                             const dif_safetensors *st);

size_t dif_model_folder_file_count(const dif_model_folder *mf);
const dif_model_file *dif_model_folder_file_at(const dif_model_folder *mf, size_t i);

/* True if libdif knows the class name (any component or pipeline). */
bool dif_known_class(const char *name);

#endif

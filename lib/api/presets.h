/* presets.h — the config folder a single-file checkpoint loads with: the one
 * the user named (dif_context_set_config: a folder, or a preset's name), or
 * the preset its tensors and file name choose (io/checkpoint.h). libdif's
 * presets are diffusers folders without weights in models/presets/<name>
 * (installed under ${datadir}/dif/models/presets; $DIF_PRESETS_DIR
 * overrides), made by tests/oracle/make_presets.py. */
#ifndef DIF__API_PRESETS_H
#define DIF__API_PRESETS_H

#include "api/context.h"

/* *out (malloc'd, the caller frees) = the config folder for checkpoint file,
 * with ctx's config setting (NULL: chosen from the file, logged at INFO).
 * Errors name the setting as given or the file: DIF_ERR_INVALID_ARGUMENT (no
 * such folder or preset, with the presets' names; no preset fits the file),
 * DIF_ERR_IO / DIF_ERR_BAD_MODEL / DIF_ERR_UNSUPPORTED (the file itself),
 * DIF_ERR_OUT_OF_MEMORY. */
dif_status dif__config_for_checkpoint(const dif_context *ctx, const char *file, char **out,
                                      dif__error *err);

/* Adds to a load's error that the configs came from the preset in folder
 * config, chosen from the file, and how to give the model's own. */
void dif__preset_explain(const char *config, dif__error *err);

/* The presets folder, or NULL where libdif's presets are not installed. */
const char *dif__presets_dir(void);

#endif

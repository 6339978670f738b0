/* model_folder.c — opening diffusers model folders (see model_folder.h). */
#include "io/model_folder.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/component.h"
#include "io/fileio.h"

/* Weight files recorded: one per component, and a folder has at most 9 (the
 * unCLIP pipeline with its prior), so this bound is never reached. */
#define MAX_FILES 32

struct dif__model_folder {
  char *dir;
  dif__config *index; /* NULL when there is no model_index.json */
  dif__model_file files[MAX_FILES];
  size_t n_files;
};

/* Every class libdif can load, and the pipelines whose folders it opens.
 * StableDiffusionSafetyChecker is accepted in an index and never loaded. */
static const char *const known_pipelines[] = {"StableUnCLIPPipeline",
                                              "StableUnCLIPImg2ImgPipeline",
                                              "StableDiffusionPipeline",
                                              "StableDiffusionImg2ImgPipeline",
                                              "StableDiffusionInpaintPipeline",
                                              "StableDiffusionUpscalePipeline",
                                              "LatentConsistencyModelPipeline",
                                              "LatentConsistencyModelImg2ImgPipeline",
                                              NULL};
static const char *const known_classes[] = {"UNet2DConditionModel",
                                            "AutoencoderKL",
                                            "CLIPTextModel",
                                            "CLIPTextModelWithProjection",
                                            "CLIPVisionModelWithProjection",
                                            "CLIPTokenizer",
                                            "CLIPTokenizerFast",
                                            "CLIPImageProcessor",
                                            "CLIPFeatureExtractor",
                                            "StableUnCLIPImageNormalizer",
                                            "PriorTransformer",
                                            "DDIMScheduler",
                                            "DDPMScheduler",
                                            "PNDMScheduler",
                                            "EulerDiscreteScheduler",
                                            "EulerAncestralDiscreteScheduler",
                                            "DPMSolverMultistepScheduler",
                                            "LMSDiscreteScheduler",
                                            "UniPCMultistepScheduler",
                                            "LCMScheduler",
                                            "UnCLIPScheduler",
                                            "StableDiffusionSafetyChecker",
                                            NULL};

static bool in_list(const char *const *list, const char *name) {
  for (; *list; list++)
    if (strcmp(*list, name) == 0) return true;
  return false;
}

bool dif__known_class(const char *name) {
  return name && (in_list(known_classes, name) || in_list(known_pipelines, name));
}

static bool is_dir(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static dif_status check_index(const dif__config *idx, dif__error *err) {
  const char *pipe;
  dif_status s = dif__config_str(idx, "_class_name", &pipe, err);
  if (s) return s;
  if (!in_list(known_pipelines, pipe))
    return dif__fail(err, DIF_ERR_UNSUPPORTED,
                     "%s: unknown pipeline class '%s' (libdif opens StableUnCLIPPipeline, "
                     "StableUnCLIPImg2ImgPipeline, StableDiffusionPipeline, "
                     "StableDiffusionImg2ImgPipeline, StableDiffusionInpaintPipeline, "
                     "StableDiffusionUpscalePipeline, LatentConsistencyModelPipeline and "
                     "LatentConsistencyModelImg2ImgPipeline folders)",
                     dif__config_path(idx), pipe);
  const char *key;
  json_t *v;
  json_object_foreach(dif__config_json(idx), key, v) {
    if (key[0] == '_' || !json_is_array(v)) continue; /* _diffusers_version, flags */
    json_t *cls = json_array_get(v, 1);
    if (json_is_null(cls)) continue; /* component absent (e.g. safety_checker) */
    if (!json_is_string(cls))
      return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: component '%s' must be [library, class]",
                       dif__config_path(idx), key);
    if (!dif__known_class(json_string_value(cls)))
      return dif__fail(err, DIF_ERR_UNSUPPORTED, "%s: component '%s' has unknown class '%s'",
                       dif__config_path(idx), key, json_string_value(cls));
  }
  return DIF_OK;
}

dif_status dif__model_folder_open(const char *dir, dif__model_folder **out, dif__error *err) {
  *out = NULL;
  if (!is_dir(dir))
    return dif__fail(err, DIF_ERR_IO, "%s: not a model folder (not a directory)", dir);
  dif__model_folder *mf = calloc(1, sizeof *mf);
  if (!mf || !(mf->dir = strdup(dir))) {
    free(mf);
    return dif__fail_oom(err, "model folder", sizeof *mf);
  }
  char path[4096];
  if ((size_t)snprintf(path, sizeof path, "%s/model_index.json", dir) >= sizeof path) {
    dif__model_folder_free(mf);
    return dif__fail(err, DIF_ERR_LIMIT, "path too long (at most %zu bytes): %s", sizeof path - 1,
                     dir);
  }
  if (dif__file_exists(path) != 0) { /* optional; anything else there is refused */
    dif_status s = dif__config_load(path, &mf->index, err);
    if (!s) s = check_index(mf->index, err);
    if (s) {
      dif__model_folder_free(mf);
      return s;
    }
  }
  *out = mf;
  return DIF_OK;
}

void dif__model_folder_free(dif__model_folder *mf) {
  if (!mf) return;
  for (size_t i = 0; i < mf->n_files; i++) free((char *)mf->files[i].path);
  dif__config_free(mf->index);
  free(mf->dir);
  free(mf);
}

const char *dif__model_folder_dir(const dif__model_folder *mf) { return mf->dir; }

const dif__config *dif__model_folder_index(const dif__model_folder *mf) { return mf->index; }

const char *dif__model_folder_pipeline(const dif__model_folder *mf) {
  const char *p = NULL;
  if (mf->index) dif__config_str_opt(mf->index, "_class_name", NULL, &p, NULL);
  return p;
}

dif_status dif__model_folder_path(const dif__model_folder *mf, const char *component,
                                  const char *file, char *buf, size_t size, dif__error *err) {
  int n = file ? snprintf(buf, size, "%s/%s/%s", mf->dir, component, file)
               : snprintf(buf, size, "%s/%s", mf->dir, component);
  if (n < 0 || (size_t)n >= size)
    return dif__fail(err, DIF_ERR_LIMIT, "path too long (at most %zu bytes): %s/%s",
                     size ? size - 1 : 0, mf->dir, component);
  return DIF_OK;
}

bool dif__model_folder_has(const dif__model_folder *mf, const char *component) {
  char path[4096];
  if (dif__model_folder_path(mf, component, NULL, path, sizeof path, NULL)) return false;
  if (!is_dir(path)) return false;
  if (mf->index) {
    json_t *v = json_object_get(dif__config_json(mf->index), component);
    if (json_is_array(v) && json_is_null(json_array_get(v, 1))) return false;
  }
  return true;
}

dif_status dif__model_folder_config(dif__model_folder *mf, const char *component, const char *file,
                                    const char *const *classes, dif__config **out,
                                    dif__error *err) {
  *out = NULL;
  char dir[4096];
  dif_status s = dif__model_folder_path(mf, component, NULL, dir, sizeof dir, err);
  return s ? s : dif__component_config(dir, file, classes, out, err);
}

dif_status dif__model_folder_weights(dif__model_folder *mf, const char *component,
                                     dif__safetensors **out, dif__error *err) {
  *out = NULL;
  char dir[4096];
  dif_status s = dif__model_folder_path(mf, component, NULL, dir, sizeof dir, err);
  if (!s) s = dif__component_weights(dir, out, err);
  if (s) return s;
  dif__model_folder_record(mf, component, *out);
  return DIF_OK;
}

void dif__model_folder_record(dif__model_folder *mf, const char *component,
                              const dif__safetensors *st) {
  if (mf->n_files >= MAX_FILES) return;
  const char *path = dif__st_path(st);
  const char *base = strrchr(path, '/');
  char rel[512];
  snprintf(rel, sizeof rel, "%s/%s", component, base ? base + 1 : path);
  dif__model_file *f = &mf->files[mf->n_files];
  if (!(f->path = strdup(rel))) return;
  f->size = dif__st_file_size(st);
  f->xxh3 = dif__st_xxh3(st);
  mf->n_files++;
}

size_t dif__model_folder_file_count(const dif__model_folder *mf) { return mf->n_files; }
const dif__model_file *dif__model_folder_file_at(const dif__model_folder *mf, size_t i) {
  return i < mf->n_files ? &mf->files[i] : NULL;
}

/* load.c — dif_context_load: open, validate and fingerprint a model folder. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/context.h"
#include "io/component.h"

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void unload(dif_context *ctx) {
  for (int i = 0; i < ctx->n_weights; i++) {
    dif_st_close(ctx->weights[i]);
    free(ctx->weight_component[i]);
    ctx->weights[i] = NULL;
    ctx->weight_component[i] = NULL;
  }
  ctx->n_weights = 0;
  dif_model_folder_free(ctx->model);
  ctx->model = NULL;
}

/* Component subfolders holding weights, sorted by name. */
static dif_status list_components(const char *dir, char ***out, int *n, dif_error *err) {
  *out = NULL;
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) return dif_fail(err, DIF_ERR_IO, "%s: cannot list the model folder", dir);
  char **names = calloc(DIF_CTX_MAX_COMPONENTS, sizeof *names);
  if (!names) {
    closedir(d);
    return dif_fail_oom(err, "component list", DIF_CTX_MAX_COMPONENTS);
  }
  struct dirent *de;
  dif_status s = DIF_OK;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    char path[4096];
    struct stat sb;
    int has = 0;
    for (int i = 0; i < 2 && !has; i++) {
      snprintf(path, sizeof path, "%s/%s/%s", dir, de->d_name,
               i ? "model.safetensors" : "diffusion_pytorch_model.safetensors");
      has = stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
    }
    if (!has) continue;
    if (*n == DIF_CTX_MAX_COMPONENTS) {
      s = dif_fail(err, DIF_ERR_LIMIT, "%s: more than %d components with weights", dir,
                   DIF_CTX_MAX_COMPONENTS);
      break;
    }
    if (!(names[*n] = strdup(de->d_name))) {
      s = dif_fail_oom(err, "component name", strlen(de->d_name));
      break;
    }
    (*n)++;
  }
  closedir(d);
  qsort(names, (size_t)*n, sizeof *names, cmp_str);
  *out = names;
  return s;
}

DIF_API dif_status dif_context_load(dif_context *ctx, const char *model_dir) {
  if (!ctx) return dif_thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_context_load: ctx is NULL");
  if (!model_dir)
    return dif_ctx_failf(ctx, DIF_ERR_INVALID_ARGUMENT, "dif_context_load: model_dir is NULL");
  if (ctx->model)
    return dif_ctx_failf(ctx, DIF_ERR_BUSY,
                         "dif_context_load: a model is already loaded (%s); use a new context",
                         dif_model_folder_dir(ctx->model));
  dif_error err = {0};
  dif_status s = dif_model_folder_open(model_dir, &ctx->model, &err);
  char **names = NULL;
  int n = 0;
  if (!s) s = list_components(model_dir, &names, &n, &err);
  for (int i = 0; !s && i < n; i++) {
    dif_ctx_log(ctx, DIF_LOG_INFO, "loading %s/%s (%d of %d)", model_dir, names[i], i + 1, n);
    char dir[4096];
    s = dif_model_folder_path(ctx->model, names[i], NULL, dir, sizeof dir, &err);
    dif_config *cfg = NULL;
    if (!s) s = dif_component_config(dir, "config.json", NULL, &cfg, &err);
    dif_config_free(cfg);
    if (!s) s = dif_model_folder_weights(ctx->model, names[i], &ctx->weights[ctx->n_weights], &err);
    if (!s) {
      ctx->weight_component[ctx->n_weights++] = names[i];
      names[i] = NULL;
    }
  }
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
  if (!s && n == 0)
    s = dif_fail(&err, DIF_ERR_BAD_MODEL, "%s: no component folder with weights", model_dir);
  if (s) {
    unload(ctx);
    return dif_ctx_fail(ctx, &err);
  }
  for (int i = 0; i < ctx->n_weights; i++) {
    const dif_model_file *f = dif_model_folder_file_at(ctx->model, (size_t)i);
    dif_ctx_log(ctx, DIF_LOG_INFO, "%s: %llu bytes, xxh3 %016llx", f->path,
                (unsigned long long)f->size, (unsigned long long)f->xxh3);
  }
  ctx->loaded = 1;
  dif_ctx_pool(ctx);
  dif_ctx_ok(ctx);
  return DIF_OK;
}

DIF_API int dif_context_model_file_count(const dif_context *ctx) {
  return ctx && ctx->model ? (int)dif_model_folder_file_count(ctx->model) : 0;
}

DIF_API dif_status dif_context_model_file(const dif_context *ctx, int i, const char **path,
                                          uint64_t *size, uint64_t *xxh3) {
  if (!ctx) return dif_thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_context_model_file: ctx is NULL");
  if (i < 0 || i >= dif_context_model_file_count(ctx))
    return dif_thread_fail(DIF_ERR_INVALID_ARGUMENT,
                           "dif_context_model_file: index %d out of range (model has %d files)", i,
                           dif_context_model_file_count(ctx));
  const dif_model_file *f = dif_model_folder_file_at(ctx->model, (size_t)i);
  if (path) *path = f->path;
  if (size) *size = f->size;
  if (xxh3) *xxh3 = f->xxh3;
  return DIF_OK;
}

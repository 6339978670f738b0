/* presets.c — config folders for single-file checkpoints (see presets.h). */
#include "api/presets.h"

#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/data_dir.h"
#include "io/checkpoint.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char root[PATH_MAX];

static bool is_dir(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool is_presets_root(const char *dir) {
  char path[PATH_MAX + 32];
  struct stat sb;
  snprintf(path, sizeof path, "%s/README.md", dir);
  return is_dir(dir) && stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static void look(void) {
  dif__data_dir_find("DIF_PRESETS_DIR", "presets", is_presets_root, root, sizeof root);
}

const char *dif__presets_dir(void) {
  pthread_once(&once, look);
  return root[0] ? root : NULL;
}

/* A preset's name: lower-case letters, digits, '-', '.', not starting with '.'. */
static bool preset_syntax(const char *s) {
  if (!*s || *s == '.' || strlen(s) > 64) return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '.'))
      return false;
  return true;
}

static bool preset_path(const char *name, char *out, size_t size) {
  const char *dir = dif__presets_dir();
  if (!dir || !preset_syntax(name)) return false;
  if ((size_t)snprintf(out, size, "%s/%s/model_index.json", dir, name) >= size) return false;
  struct stat sb;
  if (stat(out, &sb) != 0 || !S_ISREG(sb.st_mode)) return false;
  *strrchr(out, '/') = '\0'; /* the folder */
  return true;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "sd15, sd21, …" — the installed presets, sorted, or a note that none are. */
static void preset_names(char *out, size_t size) {
  const char *dir = dif__presets_dir();
  DIR *d = dir ? opendir(dir) : NULL;
  snprintf(out, size, "%s", d ? "" : "libdif's presets are not installed");
  if (!d) return;
  const char *names[64];
  char store[64][72], path[PATH_MAX];
  size_t n = 0;
  for (struct dirent *e; n < 64 && (e = readdir(d));)
    if (strlen(e->d_name) < sizeof store[0] && preset_path(e->d_name, path, sizeof path)) {
      snprintf(store[n], sizeof store[n], "%s", e->d_name);
      names[n] = store[n];
      n++;
    }
  closedir(d);
  qsort(names, n, sizeof *names, by_name);
  for (size_t i = 0, used = 0; i < n && used < size; i++)
    used += (size_t)snprintf(out + used, size - used, "%s%s", i ? ", " : "", names[i]);
}

/* The setting as given: an existing folder, else a preset's name. */
static dif_status named(const char *config, char *out, size_t size, dif__error *err) {
  if (is_dir(config)) {
    snprintf(out, size, "%s", config);
    return DIF_OK;
  }
  if (preset_path(config, out, size)) return DIF_OK;
  char names[600];
  preset_names(names, sizeof names);
  return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                   "config '%s' is neither a folder nor one of libdif's presets (%s)", config,
                   names);
}

/* The preset the checkpoint's tensors and name choose. */
static dif_status chosen(const dif_context *ctx, const char *file, char *out, size_t size,
                         dif__error *err) {
  dif__checkpoint *c;
  dif_status s = dif__checkpoint_open(file, &c, err);
  if (s) return s;
  const char *why, *name = dif__checkpoint_preset(c, &why);
  char family[96];
  snprintf(family, sizeof family, "%s", dif__checkpoint_describe(c)->family);
  dif__checkpoint_close(c);
  if (!name)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "%s is a single-file %s checkpoint: %s", file,
                     family, why);
  if (!preset_path(name, out, size)) {
    char names[600];
    preset_names(names, sizeof names);
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "%s is a single-file %s checkpoint for libdif's preset %s, which is not "
                     "installed (%s): give its diffusers folder with --config DIR",
                     file, family, name, names);
  }
  dif__ctx_log(ctx, DIF_LOG_INFO,
               "%s: %s checkpoint, configs, tokenizer and scheduler from libdif's preset %s "
               "(%s); --config NAME or DIR chooses another",
               file, family, name, why);
  return DIF_OK;
}

dif_status dif__config_for_checkpoint(const dif_context *ctx, const char *file, char **out,
                                      dif__error *err) {
  char path[PATH_MAX];
  *out = NULL;
  dif_status s = ctx->config_dir ? named(ctx->config_dir, path, sizeof path, err)
                                 : chosen(ctx, file, path, sizeof path, err);
  if (s) return s;
  if (!(*out = strdup(path))) return dif__fail_oom(err, "config folder name", strlen(path) + 1);
  return DIF_OK;
}

void dif__preset_explain(const char *config, dif__error *err) {
  const char *name = strrchr(config, '/');
  size_t used = strlen(err->msg);
  snprintf(err->msg + used, sizeof err->msg - used,
           " (configs from libdif's preset %s, chosen from the file: for another model give its "
           "diffusers folder with --config DIR)",
           name ? name + 1 : config);
}

/* data_dir.c — where libdif's data lives (see data_dir.h). */
#include "api/data_dir.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dif.h"

#ifndef DIF_MODELS_DIR
#define DIF_MODELS_DIR ""
#endif
#ifndef DIF_SOURCE_MODELS_DIR
#define DIF_SOURCE_MODELS_DIR ""
#endif
#ifndef DIF_LIB_TO_MODELS_DIR
#define DIF_LIB_TO_MODELS_DIR ""
#endif
#ifndef DIF_BIN_TO_MODELS_DIR
#define DIF_BIN_TO_MODELS_DIR ""
#endif

/* <folder of the object that holds this code>/<rel>/<sub>, made canonical,
 * or "". */
static void beside_library(const char *rel, const char *sub, char *out, size_t size) {
  Dl_info info;
  char dir[PATH_MAX], joined[2 * PATH_MAX + 2];
  out[0] = '\0';
  if (!rel[0] || !dladdr((void *)&dif_default_model_dir, &info) || !info.dli_fname ||
      !realpath(info.dli_fname, dir))
    return;
  char *slash = strrchr(dir, '/');
  if (!slash) return;
  *slash = '\0';
  snprintf(joined, sizeof joined, "%s/%s/%s", dir, rel, sub);
  char canon[PATH_MAX];
  if (realpath(joined, canon) && strlen(canon) < size) snprintf(out, size, "%s", canon);
}

static void under(const char *root, const char *sub, char *out, size_t size) {
  out[0] = '\0';
  if (root[0] && (size_t)snprintf(out, size, "%s/%s", root, sub) >= size) out[0] = '\0';
}

bool dif__data_dir_find(const char *env_name, const char *sub, bool (*ok)(const char *dir),
                        char *out, size_t size) {
  const char *env = env_name ? getenv(env_name) : NULL;
  char from_lib[PATH_MAX], from_bin[PATH_MAX], installed[PATH_MAX], source[PATH_MAX];
  beside_library(DIF_LIB_TO_MODELS_DIR, sub, from_lib, sizeof from_lib);
  beside_library(DIF_BIN_TO_MODELS_DIR, sub, from_bin, sizeof from_bin);
  under(DIF_MODELS_DIR, sub, installed, sizeof installed);
  under(DIF_SOURCE_MODELS_DIR, sub, source, sizeof source);
  const char *candidates[] = {env ? env : "", from_lib, from_bin, installed, source};
  for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++)
    if (candidates[i][0] && ok(candidates[i]) && strlen(candidates[i]) < size) {
      snprintf(out, size, "%s", candidates[i]);
      return true;
    }
  if (size) out[0] = '\0';
  return false;
}

/* default_model.c — where libdif's default model (dif-shapes-64) lives.
 *
 * Looked up once, in order:
 *   1. $DIF_MODEL_DIR;
 *   2. next to the library itself: <the folder libdif was loaded from>/
 *      DIF_LIB_TO_MODEL_DIR, the install layout's path from the library
 *      folder (or, for a static library, the program's folder) to
 *      ${datadir}/dif/models/dif-shapes-64, so an installed tree that was
 *      moved (`cmake --install --prefix X`, DESTDIR packaging) still finds it;
 *   3. the configured install folder, DIF_DEFAULT_MODEL_DIR;
 *   4. the source tree the library was built from, DIF_SOURCE_MODEL_DIR.
 * A folder counts if it holds a model_index.json. */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dif.h"

#ifndef DIF_DEFAULT_MODEL_DIR
#define DIF_DEFAULT_MODEL_DIR ""
#endif
#ifndef DIF_SOURCE_MODEL_DIR
#define DIF_SOURCE_MODEL_DIR ""
#endif
#ifndef DIF_LIB_TO_MODEL_DIR
#define DIF_LIB_TO_MODEL_DIR ""
#endif
#ifndef DIF_BIN_TO_MODEL_DIR
#define DIF_BIN_TO_MODEL_DIR ""
#endif

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char found[PATH_MAX];

static int is_model(const char *dir) {
  char path[PATH_MAX + 32];
  struct stat sb;
  snprintf(path, sizeof path, "%s/model_index.json", dir);
  return dir[0] && stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* <folder of the object that holds this code>/<rel>, made canonical, or "". */
static void beside_library(const char *rel, char *out, size_t size) {
  Dl_info info;
  char dir[PATH_MAX], joined[2 * PATH_MAX + 2];
  out[0] = '\0';
  if (!rel[0] || !dladdr((void *)&dif_default_model_dir, &info) || !info.dli_fname ||
      !realpath(info.dli_fname, dir))
    return;
  char *slash = strrchr(dir, '/');
  if (!slash) return;
  *slash = '\0';
  snprintf(joined, sizeof joined, "%s/%s", dir, rel);
  char canon[PATH_MAX];
  if (realpath(joined, canon) && strlen(canon) < size) snprintf(out, size, "%s", canon);
}

static void look(void) {
  const char *env = getenv("DIF_MODEL_DIR");
  char from_lib[PATH_MAX], from_bin[PATH_MAX];
  beside_library(DIF_LIB_TO_MODEL_DIR, from_lib, sizeof from_lib);
  beside_library(DIF_BIN_TO_MODEL_DIR, from_bin, sizeof from_bin);
  const char *candidates[] = {env ? env : "", from_lib, from_bin, DIF_DEFAULT_MODEL_DIR,
                              DIF_SOURCE_MODEL_DIR};
  for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++)
    if (is_model(candidates[i]) && strlen(candidates[i]) < sizeof found) {
      snprintf(found, sizeof found, "%s", candidates[i]);
      return;
    }
}

DIF_API const char *dif_default_model_dir(void) {
  pthread_once(&once, look);
  return found[0] ? found : NULL;
}

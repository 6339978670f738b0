/* default_model.c — where libdif's default model lives. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "dif.h"

#ifndef DIF_DEFAULT_MODEL_DIR
#define DIF_DEFAULT_MODEL_DIR ""
#endif
#ifndef DIF_SOURCE_MODEL_DIR
#define DIF_SOURCE_MODEL_DIR ""
#endif

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char found[4096];

static int is_model(const char *dir) {
  char path[4200];
  struct stat sb;
  snprintf(path, sizeof path, "%s/model_index.json", dir);
  return dir[0] && stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static void look(void) {
  const char *env = getenv("DIF_MODEL_DIR");
  const char *candidates[] = {env ? env : "", DIF_DEFAULT_MODEL_DIR, DIF_SOURCE_MODEL_DIR};
  for (int i = 0; i < 3; i++)
    if (is_model(candidates[i])) {
      snprintf(found, sizeof found, "%s", candidates[i]);
      return;
    }
}

DIF_API const char *dif_default_model_dir(void) {
  pthread_once(&once, look);
  return found[0] ? found : NULL;
}

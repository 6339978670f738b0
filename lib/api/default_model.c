/* default_model.c — where libdif's default model (dif-shapes-64) lives:
 * $DIF_MODEL_DIR, else models/dif-shapes-64 where libdif's data is
 * (data_dir.h says where it looks). A folder counts if it holds a
 * model_index.json. */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>

#include "api/data_dir.h"
#include "dif.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char found[PATH_MAX];

static bool is_model(const char *dir) {
  char path[PATH_MAX + 32];
  struct stat sb;
  snprintf(path, sizeof path, "%s/model_index.json", dir);
  return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static void look(void) {
  dif__data_dir_find("DIF_MODEL_DIR", "dif-shapes-64", is_model, found, sizeof found);
}

DIF_API const char *dif_default_model_dir(void) {
  pthread_once(&once, look);
  return found[0] ? found : NULL;
}

#include "dif.h"

#define DIF_STR2(x) #x
#define DIF_STR(x) DIF_STR2(x)

DIF_API int dif_version(void) { return DIF_VERSION_NUMBER; }

DIF_API const char *dif_version_string(void) {
  return DIF_STR(DIF_VERSION_MAJOR) "." DIF_STR(DIF_VERSION_MINOR) "." DIF_STR(DIF_VERSION_PATCH);
}

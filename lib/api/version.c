#include "dif.h"

#define DIF__STR2(x) #x
#define DIF__STR(x) DIF__STR2(x)

DIF_API int dif_version(void) { return DIF_VERSION_NUMBER; }

DIF_API const char *dif_version_string(void) {
  return DIF__STR(DIF_VERSION_MAJOR) "." DIF__STR(DIF_VERSION_MINOR) "." DIF__STR(
      DIF_VERSION_PATCH);
}

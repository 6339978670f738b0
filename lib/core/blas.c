#include "core/blas.h"

#include <cblas.h>

const char *dif_blas_corename(void) {
  const char *name = openblas_get_corename();
  return name ? name : "unknown";
}

void dif_blas_set_threads(int n) { openblas_set_num_threads(n); }

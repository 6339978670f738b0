/* A program built against the *installed* libdif (pkg-config or
 * find_package), shared and static: it must compile, link and run. */
#include <dif.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  if (dif_version() != DIF_VERSION_NUMBER) {
    fprintf(stderr, "header %d != library %d\n", DIF_VERSION_NUMBER, dif_version());
    return 1;
  }
  dif_context *ctx = NULL;
  if (dif_context_new(&ctx) != DIF_OK) {
    fprintf(stderr, "dif_context_new: %s\n", dif_last_error());
    return 1;
  }
  dif_status st = dif_context_set_threads(ctx, -5);
  int ok = st == DIF_ERR_INVALID_ARGUMENT && strlen(dif_context_last_error(ctx)) > 0;
  printf("libdif %s, BLAS core %s, error path: %s\n", dif_version_string(), dif_blas_core(),
         dif_context_last_error(ctx));
  dif_context_free(ctx);
  return ok ? 0 : 1;
}

/* kind_image_normalizer.c — StableUnCLIPImageNormalizer scale / unscale.
 *
 * Tolerance: 1e-6 abs. The operations are one subtract and one divide (or one
 * multiply and one add) per element in float32, exactly as PyTorch orders
 * them, so the result should be bit-identical; 1e-6 only allows for a
 * compiler contracting a*b+c into an FMA. */
#include <stdlib.h>

#include <stdio.h>

#include "kinds.h"
#include "models/image_normalizer.h"

int golden_kind_image_normalizer(golden *g, const char *dir) {
  size_t n;
  char **files = golden_list(dir, ".safetensors", &n);
  for (size_t i = 0; i < n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, files[i]);
    dif__error err = {0};
    dif__safetensors *st = NULL;
    dif__image_normalizer norm = {0};
    if (dif__st_open(path, &st, &err)) {
      golden_fail(g, files[i], "%s", err.msg);
      continue;
    }
    const char *model = dif__st_metadata(st, "model");
    if (!model || dif__image_normalizer_load(golden_path(g, model), &norm, &err)) {
      golden_fail(g, files[i], "%s", model ? err.msg : "no 'model' in metadata");
      dif__st_close(st);
      continue;
    }
    int64_t cnt;
    float *in = golden_tensor_f32(g, files[i], st, "in.embeds", &cnt);
    float *out = malloc((size_t)cnt * sizeof *out);
    if (in && out) {
      int64_t rows = cnt / norm.dim;
      golden_check(g, files[i], "mean", norm.mean, norm.dim, st, 0, 0);
      golden_check(g, files[i], "std", norm.std, norm.dim, st, 0, 0);
      dif__image_normalizer_scale(&norm, in, rows, out);
      golden_check(g, files[i], "out.scale", out, cnt, st, 1e-6, 0);
      dif__image_normalizer_unscale(&norm, in, rows, out);
      golden_check(g, files[i], "out.unscale", out, cnt, st, 1e-6, 0);
      dif__image_normalizer_scale(&norm, in, rows, out);
      dif__image_normalizer_unscale(&norm, out, rows, out);
      golden_check(g, files[i], "out.unscale_scale", out, cnt, st, 1e-6, 0);
    }
    free(in);
    free(out);
    dif__image_normalizer_free(&norm);
    dif__st_close(st);
  }
  golden_free_list(files, n);
  return (int)n;
}

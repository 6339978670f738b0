/* kind_rng.c — torch.randn / diffusers randn_tensor parity (cases/rng).
 *
 * Each *.json in the folder holds a "cases" list; every case gives a seed (or
 * a list of seeds), a shape and the expected float32 values as IEEE-754 hex
 * "bits". Kinds:
 *   "torch.randn"                                 one fresh generator per case
 *   "diffusers randn_tensor(list of generators)"  one generator per batch item
 *   "sequential torch.randn on one generator"     draws 0, 1, ... continue one
 *                                                 generator, in file order
 * The sibling <stem>.safetensors, if present, holds the same tensors under the
 * case names and is compared too.
 *
 * Tolerance: none — bit-exact. The generator is a port, not an
 * approximation; one differing bit means a different stream.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/config.h"
#include "kinds.h"
#include "samplers/rng.h"

#define MAX_GENS 16

static int64_t shape_numel(json_t *shape, int64_t *batch) {
  int64_t n = 1;
  *batch = 1;
  size_t i;
  json_t *v;
  json_array_foreach(shape, i, v) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) return -1;
    if (i == 0) *batch = json_integer_value(v);
    n *= json_integer_value(v);
  }
  return n;
}

static float *parse_bits(json_t *bits, int64_t n) {
  if (!json_is_array(bits) || (int64_t)json_array_size(bits) != n) return NULL;
  float *w = malloc((size_t)(n ? n : 1) * sizeof *w);
  for (int64_t i = 0; w && i < n; i++) {
    const char *h = json_string_value(json_array_get(bits, (size_t)i));
    char *end = NULL;
    unsigned long u = h ? strtoul(h, &end, 16) : 0;
    if (!h || *end || u > 0xffffffffUL) {
      free(w);
      return NULL;
    }
    uint32_t b = (uint32_t)u;
    memcpy(&w[i], &b, sizeof b);
  }
  return w;
}

/* Computes one case into got[n]; seq is the generator carried between the
 * draws of a "sequential" series. Returns 0 and a reason on failure. */
static int run_case(json_t *c, dif__rng *seq, float *got, int64_t n, int64_t batch,
                    const char **why) {
  const char *kind = json_string_value(json_object_get(c, "kind"));
  if (!kind) return *why = "no 'kind'", 0;
  if (strcmp(kind, "torch.randn") == 0 || strncmp(kind, "sequential", 10) == 0) {
    json_t *seed = json_object_get(c, "seed");
    if (!json_is_integer(seed)) return *why = "no integer 'seed'", 0;
    int64_t draw = json_integer_value(json_object_get(c, "draw"));
    if (strcmp(kind, "torch.randn") == 0 || draw == 0)
      dif__rng_seed(seq, (uint64_t)json_integer_value(seed));
    else if (dif__rng_initial_seed(seq) != (uint64_t)json_integer_value(seed))
      return *why = "sequential draw does not follow draw 0 of the same seed", 0;
    dif__rng_randn(seq, got, n);
    return 1;
  }
  if (strncmp(kind, "diffusers randn_tensor", 22) == 0) {
    json_t *seeds = json_object_get(c, "seeds");
    size_t ng = json_array_size(seeds);
    if (ng < 1 || ng > MAX_GENS) return *why = "bad 'seeds'", 0;
    dif__rng gens[MAX_GENS];
    dif__rng *gp[MAX_GENS];
    for (size_t i = 0; i < ng; i++) {
      dif__rng_seed(&gens[i], (uint64_t)json_integer_value(json_array_get(seeds, i)));
      gp[i] = &gens[i];
    }
    dif__error err = {0};
    if (dif__randn_tensor(gp, (int)ng, batch, batch ? n / batch : 0, got, &err))
      return *why = "randn_tensor failed", 0;
    return 1;
  }
  return *why = "unknown case kind", 0;
}

static void run_file(golden *g, const char *dir, const char *file) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  dif__error err = {0};
  dif__config *cfg = NULL;
  if (dif__config_load(path, &cfg, &err)) {
    golden_fail(g, file, "%s", err.msg);
    return;
  }
  /* The sibling safetensors file with the same stem, if any. */
  char stpath[4096];
  snprintf(stpath, sizeof stpath, "%s", path);
  size_t len = strlen(stpath);
  dif__safetensors *st = NULL;
  if (len > 5 && snprintf(stpath + len - 5, sizeof stpath - (len - 5), ".safetensors") > 0) {
    FILE *f = fopen(stpath, "rb");
    if (f) {
      fclose(f);
      if (dif__st_open(stpath, &st, &err)) golden_fail(g, file, "%s", err.msg);
    }
  }
  json_t *cases = json_object_get(dif__config_json(cfg), "cases");
  if (!json_is_array(cases) || json_array_size(cases) == 0) golden_fail(g, file, "no 'cases' list");
  dif__rng seq;
  dif__rng_seed(&seq, 0);
  size_t i;
  json_t *c;
  json_array_foreach(cases, i, c) {
    const char *name = json_string_value(json_object_get(c, "name"));
    char label[256];
    snprintf(label, sizeof label, "%s", name ? name : "(unnamed)");
    int64_t batch;
    int64_t n = shape_numel(json_object_get(c, "shape"), &batch);
    float *want = n >= 0 ? parse_bits(json_object_get(c, "bits"), n) : NULL;
    float *got = want ? malloc((size_t)(n ? n : 1) * sizeof *got) : NULL;
    const char *why = "bad 'shape' or 'bits'";
    if (got && run_case(c, &seq, got, n, batch, &why)) {
      golden_check_bits(g, label, "bits", got, want, n);
      if (st && name && dif__st_find(st, name)) {
        int64_t m = 0;
        float *stv = golden_tensor_f32(g, label, st, name, &m);
        if (stv && m == n)
          golden_check_bits(g, label, "safetensors", got, stv, n);
        else if (stv)
          golden_fail(g, label, "safetensors has %lld elements", (long long)m);
        free(stv);
      }
    } else {
      golden_fail(g, label, "%s", why);
    }
    free(want);
    free(got);
  }
  dif__st_close(st);
  dif__config_free(cfg);
}

int golden_kind_rng(golden *g, const char *dir) {
  size_t n;
  char **files = golden_list(dir, ".json", &n);
  for (size_t i = 0; i < n; i++) run_file(g, dir, files[i]);
  golden_free_list(files, n);
  return (int)n;
}

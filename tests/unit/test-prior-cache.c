/* The prior's text-token cache (dif__prior_cache_build + dif__prior_forward
 * with in.cache): a step that runs only the last four tokens gives what the
 * whole forward gives, for several steps on one cache, per-item timesteps
 * and different text padding per batch item, batch items sharing one
 * text's cache (CFG over a batch); and its argument checks. The
 * whole forward itself is checked against diffusers by the golden runner
 * (cases/prior), and the cached one by the unCLIP pipeline fixtures. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/prior.h"
#include "ops_test_util.h"

static dif__prior prior;

/* Largest |a - b| over n values, and largest |b|. */
static void diff(const float *a, const float *b, int64_t n, double *d, double *mag) {
  *d = 0;
  *mag = 0;
  for (int64_t i = 0; i < n; i++) {
    double e = fabs((double)a[i] - (double)b[i]), m = fabs((double)b[i]);
    *d = e > *d ? e : *d;
    *mag = m > *mag ? m : *mag;
  }
}

typedef struct hooked {
  int64_t block0_n; /* floats seen by the transformer_blocks.0 hook */
} hooked;

static void on_hook(void *user, const char *name, const float *data, int64_t n) {
  (void)data;
  if (strcmp(name, "transformer_blocks.0") == 0) ((hooked *)user)->block0_n = n;
}

TEST(cached_steps_match_the_whole_forward) {
  const int64_t B = 3, E = prior.embed_dim, N = prior.n_embeddings;
  const int lengths[3] = {5, 77, 12}; /* text tokens kept per item (the rest is padding) */
  float *enc = frand((size_t)(B * N * E), 1, -1, 1), *proj = frand((size_t)(B * E), 2, -1, 1);
  int32_t mask[3 * 77];
  for (int64_t b = 0; b < B; b++)
    for (int64_t j = 0; j < N; j++) mask[b * N + j] = j < lengths[b];
  float *full = fbuf((size_t)(B * E)), *cached = fbuf((size_t)(B * E));
  kenv e;
  kenv_init(&e, 2);
  dif__error err;
  dif__error_clear(&err);
  dif__prior_cache cache;
  CHECK(dif__prior_cache_build(&prior, &e.k, enc, mask, B, &cache, &err) == DIF_OK);
  /* Several steps on the one cache, as a denoising loop runs them: new noisy
   * embeddings, one timestep for all items or one per item. */
  const float steps[4][3] = {{999, 999, 999}, {640, 640, 640}, {3, 500, 999}, {0, 0, 0}};
  for (int st = 0; st < 4; st++) {
    float *x = frand((size_t)(B * E), 10 + (uint64_t)st, -2, 2);
    int64_t nt = st == 2 ? B : 1;
    dif__prior_input in = {x, steps[st], nt, proj, enc, mask, B, NULL, NULL, NULL};
    CHECK(dif__prior_forward(&prior, &e.k, &in, full, &err) == DIF_OK);
    hooked h = {0};
    in.cache = &cache;
    in.hook = on_hook;
    in.hook_user = &h;
    in.encoder_hidden = NULL; /* not read with a cache */
    in.attention_mask = NULL;
    CHECK(dif__prior_forward(&prior, &e.k, &in, cached, &err) == DIF_OK);
    CHECK(h.block0_n == B * prior.n_extra * prior.inner); /* the last four tokens only */
    double d, mag;
    diff(cached, full, B * E, &d, &mag);
    /* The same float32 operations on every row; only the matrix products'
     * row counts differ (4·B instead of 81·B), which may change how BLAS
     * blocks and so the last bits of a sum: a few ulps through 2 layers. */
    CHECK_MSG(mag > 0.01 && d <= 1e-5 * (1 + mag), "step %d: max |diff| %g, max |out| %g", st, d,
              mag);
    free(x);
  }
  dif__prior_cache_free(&cache);
  dif__prior_cache_free(&cache); /* freeing twice is harmless */
  kenv_free(&e);
  free(enc), free(proj), free(full), free(cached);
}

/* CFG over a batch: items [uncond × 2, cond × 2] on a cache of the two texts
 * give what the whole forward gives on the four items. */
TEST(items_share_their_text_cache) {
  const int64_t E = prior.embed_dim, N = prior.n_embeddings, n = 2, B = 2 * n;
  float *texts = frand((size_t)(2 * N * E), 5, -1, 1), *enc = fbuf((size_t)(B * N * E));
  int32_t tmask[2 * 77], mask[4 * 77];
  for (int64_t j = 0; j < N; j++) tmask[j] = j < 2, tmask[N + j] = j < 9;
  for (int64_t b = 0; b < B; b++) {
    memcpy(enc + b * N * E, texts + b / n * N * E, (size_t)(N * E) * sizeof *enc);
    memcpy(mask + b * N, tmask + b / n * N, (size_t)N * sizeof *mask);
  }
  float *x = frand((size_t)(B * E), 6, -2, 2), *proj = frand((size_t)(B * E), 7, -1, 1);
  float *full = fbuf((size_t)(B * E)), *cached = fbuf((size_t)(B * E));
  kenv e;
  kenv_init(&e, 2);
  dif__error err;
  dif__error_clear(&err);
  const float t = 321;
  dif__prior_input in = {x, &t, 1, proj, enc, mask, B, NULL, NULL, NULL};
  CHECK(dif__prior_forward(&prior, &e.k, &in, full, &err) == DIF_OK);
  dif__prior_cache cache;
  CHECK(dif__prior_cache_build(&prior, &e.k, texts, tmask, 2, &cache, &err) == DIF_OK);
  in.cache = &cache;
  CHECK(dif__prior_forward(&prior, &e.k, &in, cached, &err) == DIF_OK);
  double d, mag;
  diff(cached, full, B * E, &d, &mag);
  CHECK_MSG(mag > 0.01 && d <= 1e-5 * (1 + mag), "max |diff| %g, max |out| %g", d, mag);
  dif__prior_cache_free(&cache);
  kenv_free(&e);
  free(texts), free(enc), free(x), free(proj), free(full), free(cached);
}

TEST(cache_argument_checks) {
  const int64_t E = prior.embed_dim, N = prior.n_embeddings;
  float *enc = frand((size_t)(2 * N * E), 1, -1, 1), *v = frand((size_t)(2 * E), 2, -1, 1);
  float *out = fbuf((size_t)(2 * E));
  int32_t mask[2 * 77];
  for (int64_t j = 0; j < 2 * N; j++) mask[j] = 1;
  kenv e;
  kenv_init(&e, 1);
  dif__error err;
  dif__error_clear(&err);
  dif__prior_cache cache;
  CHECK_STATUS(dif__prior_cache_build(&prior, &e.k, enc, NULL, 2, &cache, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "attention mask");
  CHECK(cache.k == NULL && cache.v == NULL && cache.mask == NULL);
  CHECK_STATUS(dif__prior_cache_build(&prior, &e.k, enc, mask, 0, &cache, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "batch 0");
  CHECK(dif__prior_cache_build(&prior, &e.k, enc, mask, 2, &cache, &err) == DIF_OK);
  const float t = 10;
  dif__prior_input in = {v, &t, 1, v, NULL, NULL, 1, NULL, NULL, &cache};
  CHECK_STATUS(dif__prior_forward(&prior, &e.k, &in, out, &err), DIF_ERR_INVALID_ARGUMENT, err.msg,
               "batch 1 is not a multiple of the cache's 2 texts");
  dif__prior_cache_free(&cache);
  kenv_free(&e);
  free(enc), free(v), free(out);
}

int main(void) {
  dif__error err;
  dif__error_clear(&err);
  if (dif__prior_load(dif__test_path("golden/models/tiny-karlo-prior/prior"), &prior, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  RUN(cached_steps_match_the_whole_forward);
  RUN(items_share_their_text_cache);
  RUN(cache_argument_checks);
  dif__prior_free(&prior);
  return dif__test_finish();
}

/* Lifetimes a host can get wrong (issue 13, item 9): a sample keeps its
 * context alive, so freeing the context before its samples — also while a
 * sample runs on another thread — is no use-after-free (run under ASan in
 * tools/test's ASan step) and the samples keep working. And the scratch a
 * context keeps between samples (dif__ctx_take_arena / give_arena): a
 * sample run again after another of a different size gives the same bytes
 * (nothing a sample left in the kept scratch reaches the next), the arena
 * comes back empty and consolidated into one block as large as the largest
 * run's peak, each run measures its own peak, and at most DIF__CTX_ARENAS
 * are kept (the rest freed at once, the kept ones by
 * dif_context_release_scratch, after which a run gives the same bytes
 * again, or with the context: no leak under ASan); the embeddings'
 * functions take and give back the same arenas. The weights' packed forms
 * (fast's bf16 copies, the Winograd transforms) are freed by
 * dif_context_release_packed between runs, never during one (busy), also
 * against a sample running on another thread. Under AddressSanitizer
 * the arena poisons what it has not handed out (core/arena.c): checked
 * byte by byte here through ASan's own query, so a pointer kept past its
 * release is reported when used. */
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include "api/context.h"
#include "test.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifdef UNDER_ASAN
#include <sanitizer/asan_interface.h>
#define POISONED(p) (__asan_address_is_poisoned(p) != 0)
#define READABLE(p) (__asan_address_is_poisoned(p) == 0)
#else /* not checked: see arena_poisons_what_it_takes_back */
#define POISONED(p) ((void)(p), true)
#define READABLE(p) ((void)(p), true)
#endif

#define SD "golden/models/tiny-sd"

static dif_context *load(void) {
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  dif_status s = dif_context_load(ctx, dif__test_path(SD));
  CHECK_MSG(s == DIF_OK, "%s", dif_context_last_error(ctx));
  return ctx;
}

static dif_sample *sample_of(dif_context *ctx, const char *text) {
  dif_prompt *p = NULL;
  dif_sample *s = NULL;
  CHECK(dif_prompt_new(&p) == DIF_OK);
  CHECK(dif_prompt_add_text(p, text, 1.0f) == DIF_OK);
  CHECK(dif_sample_new(ctx, p, &s) == DIF_OK);
  dif_prompt_free(p);
  if (s) {
    CHECK(dif_sample_set_size(s, 32, 32) == DIF_OK);
    CHECK(dif_sample_set_steps(s, 3) == DIF_OK);
  }
  return s;
}

/* The pixels of a finished sample, or NULL. */
static uint8_t *pixels(dif_sample *s) {
  size_t n = dif_sample_image_bytes(s);
  uint8_t *px = n ? malloc(n) : NULL;
  if (px && dif_sample_copy_image(s, 0, px, n) != DIF_OK) free(px), px = NULL;
  return px;
}

TEST(sample_outlives_its_context) {
  dif_context *ctx = load();
  dif_sample *ref = sample_of(ctx, "a red cat"), *s = sample_of(ctx, "a red cat");
  if (!ref || !s) return;
  CHECK(dif_sample_run(ref) == DIF_OK);
  dif_context_free(ctx); /* the caller is done with the context; s is not */
  CHECK(dif_sample_set_seed(s, 0) == DIF_OK);
  dif_status st = dif_sample_run(s);
  CHECK_MSG(st == DIF_OK, "%s", dif_sample_last_error(s));
  uint8_t *a = pixels(ref), *b = pixels(s);
  CHECK(a && b && memcmp(a, b, dif_sample_image_bytes(s)) == 0);
  CHECK(dif_sample_parameters(s)[0] == '{');
  free(a), free(b);
  dif_sample_free(ref);
  dif_sample_free(s); /* the last reference: frees the context (ASan: no leak) */
}

TEST(context_freed_while_a_sample_runs) {
  dif_context *ctx = load();
  dif_sample *s = sample_of(ctx, "a lighthouse"), *t = sample_of(ctx, "a boat");
  if (!s || !t) return;
  CHECK(dif_sample_set_steps(s, 40) == DIF_OK);
  CHECK(dif_sample_start(s) == DIF_OK);
  dif_context_free(ctx);
  CHECK(dif_sample_wait(s) == DIF_OK);
  CHECK(dif_sample_image_count(s) == 1);
  dif_sample_free(s);
  CHECK(dif_sample_run(t) == DIF_OK); /* t still holds the context */
  dif_sample_free(t);
}

TEST(context_freed_then_running_sample_freed) {
  dif_context *ctx = load();
  dif_sample *s = sample_of(ctx, "a lighthouse");
  if (!s) return;
  CHECK(dif_sample_set_steps(s, 200) == DIF_OK);
  CHECK(dif_sample_start(s) == DIF_OK);
  dif_context_free(ctx);
  dif_sample_free(s); /* cancels, waits, then frees the context */
}

TEST(samples_reuse_the_contexts_scratch) {
  dif_context *ctx = load();
  dif_sample *a = sample_of(ctx, "a red cat"), *b = sample_of(ctx, "a blue dog by the sea");
  if (!a || !b) {
    dif_sample_free(a), dif_sample_free(b), dif_context_free(ctx);
    return;
  }
  CHECK(dif_sample_set_size(b, 48, 40) == DIF_OK); /* other, larger shapes in the same scratch */
  CHECK(dif_sample_set_seed(a, 7) == DIF_OK && dif_sample_set_seed(b, 8) == DIF_OK);
  CHECK(ctx->n_arenas == 0);
  CHECK(dif_sample_run(a) == DIF_OK);
  uint8_t *first = pixels(a);
  CHECK(ctx->n_arenas == 1); /* kept for the next sample */
  const dif__arena *kept = ctx->n_arenas == 1 ? ctx->arenas[0] : NULL;
  if (!kept) {
    free(first), dif_sample_free(a), dif_sample_free(b), dif_context_free(ctx);
    return;
  }
  const size_t peak_a = dif__arena_peak(kept);
  /* one block of the run's peak (the first block, 16 MiB, may be larger) */
  CHECK(kept->used_total == 0 && peak_a > 0);
  CHECK(dif__arena_capacity(kept) == (peak_a > kept->min_block ? peak_a : kept->min_block));
  CHECK(dif_sample_run(b) == DIF_OK);
  CHECK(ctx->n_arenas == 1 && ctx->arenas[0] == kept); /* the same one, reused */
  const size_t peak_b = dif__arena_peak(kept), cap_b = dif__arena_capacity(kept);
  CHECK_MSG(peak_b > peak_a, "48x40 run's scratch %zu, 32x32 run's %zu", peak_b, peak_a);
  CHECK(cap_b == (peak_b > kept->min_block ? peak_b : kept->min_block));
  CHECK(dif_sample_run(a) == DIF_OK);
  CHECK(dif__arena_peak(kept) == peak_a);    /* its own peak again */
  CHECK(dif__arena_capacity(kept) == cap_b); /* the larger block stays */
  uint8_t *again = pixels(a);
  CHECK_MSG(first && again && memcmp(first, again, dif_sample_image_bytes(a)) == 0,
            "a sample run again on the kept scratch gives other bytes");
  free(again);
  /* released while the model stays: the next run makes a fresh arena */
  size_t freed = 0;
  CHECK(dif_context_release_scratch(ctx, &freed) == DIF_OK);
  CHECK_MSG(freed == cap_b && ctx->n_arenas == 0, "released %zu bytes of %zu kept", freed, cap_b);
  CHECK(dif_context_release_scratch(ctx, &freed) == DIF_OK && freed == 0); /* none left */
  CHECK(dif_context_release_scratch(ctx, NULL) == DIF_OK);
  CHECK(dif_sample_run(a) == DIF_OK);
  CHECK(ctx->n_arenas == 1 && dif__arena_peak(ctx->arenas[0]) == peak_a);
  again = pixels(a);
  CHECK_MSG(first && again && memcmp(first, again, dif_sample_image_bytes(a)) == 0,
            "a sample run after dif_context_release_scratch gives other bytes");
  free(first), free(again);
  kept = ctx->n_arenas == 1 ? ctx->arenas[0] : NULL;
  /* more arenas at once than are kept: the extra one is freed when given back */
  dif__arena *taken[DIF__CTX_ARENAS + 1];
  for (int i = 0; i <= DIF__CTX_ARENAS; i++) {
    taken[i] = dif__ctx_take_arena(ctx);
    CHECK(taken[i] != NULL);
    if (taken[i]) CHECK(dif__arena_alloc(taken[i], 1000, NULL) != NULL); /* in use */
  }
  CHECK(taken[0] == kept && ctx->n_arenas == 0);
  for (int i = 0; i <= DIF__CTX_ARENAS; i++) dif__ctx_give_arena(ctx, taken[i]);
  CHECK(ctx->n_arenas == DIF__CTX_ARENAS);
  for (int i = 0; i < ctx->n_arenas; i++) CHECK(ctx->arenas[i]->used_total == 0);
  dif__ctx_give_arena(ctx, NULL); /* a no-op */
  CHECK(ctx->n_arenas == DIF__CTX_ARENAS);
  dif_sample_free(a);
  dif_sample_free(b);
  dif_context_free(ctx); /* frees the kept arenas (ASan: no leak) */
}

/* dif_context_encode_text takes its scratch from the same kept arenas:
 * with none kept it makes one and gives it back; then it reuses that one,
 * and a sample's run after it too; the embedding is the same each time. */
TEST(embeddings_take_the_kept_scratch) {
  dif_context *ctx = load();
  size_t n = 0;
  CHECK(dif_context_encode_text(ctx, "a red cat", DIF_EMBED_TEXT_HIDDEN, NULL, &n) == DIF_OK);
  float *e1 = calloc(n ? n : 1, sizeof *e1), *e2 = calloc(n ? n : 1, sizeof *e2);
  CHECK(n > 0 && e1 && e2 && ctx->n_arenas == 0);
  dif_sample *a = sample_of(ctx, "a red cat");
  if (n > 0 && e1 && e2 && a) {
    CHECK(dif_context_encode_text(ctx, "a red cat", DIF_EMBED_TEXT_HIDDEN, e1, &n) == DIF_OK);
    CHECK(ctx->n_arenas == 1); /* given back and kept */
    const dif__arena *kept = ctx->n_arenas == 1 ? ctx->arenas[0] : NULL;
    CHECK(kept && dif__arena_peak(kept) > 0);
    CHECK(dif_context_encode_text(ctx, "a red cat", DIF_EMBED_TEXT_HIDDEN, e2, &n) == DIF_OK);
    CHECK(ctx->n_arenas == 1 && ctx->arenas[0] == kept); /* the same one again */
    CHECK_MSG(memcmp(e1, e2, n * sizeof *e1) == 0, "the embedding differs on the kept scratch");
    CHECK(dif_sample_run(a) == DIF_OK);
    CHECK(ctx->n_arenas == 1 && ctx->arenas[0] == kept); /* and a sample's run after it */
  }
  free(e1), free(e2);
  dif_sample_free(a);
  dif_context_free(ctx);
}

/* What the context holds of the weights' packed forms (fast's bf16, the
 * Winograd transforms), in bytes. */
static size_t packed_bytes(dif_context *ctx) {
  dif__fast_stats f;
  dif__wino_stats w;
  dif__fast_get_stats(ctx->fast, &f);
  dif__wino_get_stats(ctx->wino, &w);
  return f.bytes + w.bytes;
}

/* A progress callback that tries dif_context_release_packed from inside the
 * run: refused (busy), nothing freed. */
typedef struct release_try {
  dif_context *ctx;
  dif_status status;
  size_t freed, held;
  int calls, runs, cancel;
} release_try;

static int release_during_run(int32_t step, int32_t total, void *user) {
  (void)step, (void)total;
  release_try *t = user;
  if (t->calls++ == 0) {
    t->held = packed_bytes(t->ctx);
    t->freed = 1;
    t->runs = t->ctx->runs; /* this run's count */
    t->status = dif_context_release_packed(t->ctx, &t->freed);
    if (packed_bytes(t->ctx) != t->held) t->status = DIF_ERR_INTERNAL; /* freed while busy */
  }
  return t->cancel;
}

/* Embeddings computed on another thread while the main one releases. */
typedef struct embed_loop {
  dif_context *ctx;
  float *want, *got;
  size_t n;
  int rounds, differ, failed;
} embed_loop;

static void *embed_rounds(void *arg) {
  embed_loop *e = arg;
  for (int i = 0; i < e->rounds; i++) {
    size_t n = e->n;
    if (dif_context_encode_text(e->ctx, "a red cat", DIF_EMBED_TEXT_HIDDEN, e->got, &n) != DIF_OK)
      e->failed++;
    else if (memcmp(e->got, e->want, e->n * sizeof *e->got) != 0)
      e->differ++;
  }
  return NULL;
}

/* dif_context_release_packed frees the packed weights between runs (the
 * next run packs them again and draws the same pixels), refuses while a
 * run goes on, and races safely with a sample running on another thread
 * (ASan, TSan: no use of a freed weight). In fast where this CPU runs it
 * (its bf16 copies), and in exact (the VAE's Winograd weights where a
 * backend has them). */
static void check_release_packed(dif_precision precision) {
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  if (!ctx) return;
  const char *name = dif_precision_name(precision);
  if (dif_context_set_precision(ctx, precision) != DIF_OK) {
    printf("  %s: cannot run on this CPU (%s): not checked in %s\n", name,
           dif_context_last_error(ctx), name);
    dif_context_free(ctx);
    return;
  }
  dif_status st = dif_context_load(ctx, dif__test_path(SD));
  CHECK_MSG(st == DIF_OK, "%s", dif_context_last_error(ctx));
  dif_sample *a = st ? NULL : sample_of(ctx, "a red cat");
  if (!a) {
    dif_context_free(ctx);
    return;
  }
  size_t freed = 1;
  CHECK(dif_context_release_packed(ctx, &freed) == DIF_OK && freed == 0); /* nothing packed yet */
  CHECK(dif_sample_run(a) == DIF_OK);
  CHECK(ctx->runs == 0);
  uint8_t *first = pixels(a);
  const size_t held = packed_bytes(ctx);
  if (precision == DIF_PRECISION_FAST)
    CHECK_MSG(held > 0, "fast: a run packed no weights");
  else if (ctx->wino)
    CHECK_MSG(held > 0, "exact: the VAE's Winograd weights were not made");
  printf("  %s: %zu bytes of packed weights%s\n", name, held,
         precision == DIF_PRECISION_EXACT && !ctx->wino
             ? " (no backend has float32 Winograd convolutions here: nothing to release)"
             : "");
  CHECK(dif_context_release_packed(ctx, &freed) == DIF_OK);
  /* at least what was packed (a convolution may have added a layout) */
  CHECK_MSG(freed >= held && packed_bytes(ctx) == 0, "%s: released %zu of %zu bytes", name, freed,
            held);
  CHECK(dif_context_release_packed(ctx, &freed) == DIF_OK && freed == 0); /* none left */
  CHECK(dif_context_release_packed(ctx, NULL) == DIF_OK);
  /* packed again by the next run: the same pixels */
  release_try t = {ctx, DIF_OK, 0, 0, 0, 0, 0};
  CHECK(dif_sample_set_progress(a, release_during_run, &t) == DIF_OK);
  CHECK(dif_sample_run(a) == DIF_OK);
  CHECK_MSG(t.calls > 0 && t.status == DIF_ERR_BUSY && t.freed == 0 && t.runs == 1,
            "%s: dif_context_release_packed during a run gave %s, freed %zu (%d runs)", name,
            dif_status_string(t.status), t.freed, t.runs);
  CHECK(ctx->runs == 0);
  CHECK(strstr(dif_context_last_error(ctx), "going on") != NULL);
  CHECK_MSG(packed_bytes(ctx) == held, "%s: packed %zu bytes again, %zu the first time", name,
            packed_bytes(ctx), held);
  uint8_t *again = pixels(a);
  CHECK_MSG(first && again && memcmp(first, again, dif_sample_image_bytes(a)) == 0,
            "%s: a run after dif_context_release_packed gives other bytes", name);
  free(again);
  /* a cancelled run counts itself out too: released after it */
  release_try c = {ctx, DIF_OK, 0, 0, 0, 0, 1};
  CHECK(dif_sample_set_progress(a, release_during_run, &c) == DIF_OK);
  CHECK(dif_sample_run(a) == DIF_ERR_CANCELLED);
  CHECK(c.status == DIF_ERR_BUSY && ctx->runs == 0);
  CHECK(dif_context_release_packed(ctx, NULL) == DIF_OK && packed_bytes(ctx) == 0);
  /* embeddings on another thread: each holds the weights while it runs */
  embed_loop e = {ctx, NULL, NULL, 0, 20, 0, 0};
  CHECK(dif_context_encode_text(ctx, "a red cat", DIF_EMBED_TEXT_HIDDEN, NULL, &e.n) == DIF_OK);
  e.want = calloc(e.n ? e.n : 1, sizeof *e.want), e.got = calloc(e.n ? e.n : 1, sizeof *e.got);
  pthread_t th;
  if (e.n && e.want && e.got &&
      dif_context_encode_text(ctx, "a red cat", DIF_EMBED_TEXT_HIDDEN, e.want, &e.n) == DIF_OK &&
      pthread_create(&th, NULL, embed_rounds, &e) == 0) {
    for (int i = 0; i < 200; i++) {
      const dif_status r = dif_context_release_packed(ctx, NULL);
      CHECK(r == DIF_OK || r == DIF_ERR_BUSY);
      usleep(100);
    }
    pthread_join(th, NULL);
    CHECK_MSG(e.failed == 0 && e.differ == 0,
              "%s: embeddings raced by dif_context_release_packed: %d failed, %d differ", name,
              e.failed, e.differ);
  } else {
    CHECK_MSG(0, "%s: the embeddings' race did not start", name);
  }
  free(e.want), free(e.got);
  CHECK(ctx->runs == 0);
  /* against a sample running on another thread: each call is refused or
   * frees what the run has not begun to use; the run draws the same */
  CHECK(dif_sample_set_progress(a, NULL, NULL) == DIF_OK);
  CHECK(dif_sample_start(a) == DIF_OK);
  int busy = 0, released = 0;
  for (;;) {
    const dif_status r = dif_context_release_packed(ctx, NULL);
    CHECK(r == DIF_OK || r == DIF_ERR_BUSY);
    busy += r == DIF_ERR_BUSY, released += r == DIF_OK;
    if (dif_sample_poll(a, NULL, NULL) != DIF_ERR_BUSY) break;
    usleep(100); /* a few thousand calls in a run, also under the sanitizers */
  }
  CHECK(dif_sample_wait(a) == DIF_OK);
  again = pixels(a);
  CHECK_MSG(first && again && memcmp(first, again, dif_sample_image_bytes(a)) == 0,
            "%s: a run raced by dif_context_release_packed gives other bytes", name);
  printf("  %s: released between runs, refused during one; raced a running sample (%d calls "
         "refused, %d released)\n",
         name, busy, released);
  free(first), free(again);
  dif_sample_free(a);
  dif_context_free(ctx); /* what the last run packed: freed with it (ASan: no leak) */
}

TEST(packed_weights_released_between_runs) {
  check_release_packed(DIF_PRECISION_FAST);
  check_release_packed(DIF_PRECISION_EXACT);
}

TEST(arena_poisons_what_it_takes_back) {
#ifndef UNDER_ASAN
  printf("  not under AddressSanitizer: the poisoning is checked in tools/test's ASan step\n");
#endif
  dif__arena a;
  dif__arena_init(&a, 4096);
  unsigned char *x = dif__arena_alloc(&a, 100, NULL);
  CHECK(x != NULL);
  if (!x) return;
  CHECK(READABLE(x) && READABLE(x + 99));
  CHECK(POISONED(x + 128)); /* past the (64-aligned) allocation: not handed out */
  dif__arena_mark m = dif__arena_get_mark(&a);
  unsigned char *y = dif__arena_alloc(&a, 64, NULL);
  CHECK(y == x + 128 && READABLE(y));
  dif__arena_release(&a, m);
  CHECK(POISONED(y) && READABLE(x)); /* released; the earlier allocation is still in use */
  unsigned char *z = dif__arena_alloc(&a, 10000, NULL); /* a new block */
  CHECK(z && READABLE(z) && READABLE(z + 9999));
  dif__arena_release(&a, m);
  CHECK(z && POISONED(z));
  y = dif__arena_alloc(&a, 256, NULL);
  dif__arena_release_keeping(&a, m, y, 256); /* released, but still readable */
  CHECK(y && READABLE(y) && READABLE(y + 255));
  unsigned char *k = dif__arena_alloc(&a, 64, NULL); /* what the keeper moves them into */
  CHECK(k == y && READABLE(k) && READABLE(y + 255));
  dif__arena_release(&a, m); /* takes back the kept bytes past k's too */
  CHECK(POISONED(y) && POISONED(y + 64) && POISONED(y + 255));
  y = dif__arena_alloc(&a, 256, NULL);
  dif__arena_release_keeping(&a, m, y, 256);
  CHECK(y && READABLE(y + 255));
  /* 128 bytes + the 10000 (10048 aligned) of z: the peak. The reset frees
   * both blocks and makes one of exactly that (not 4096 + 10048), all poisoned, the
   * bytes kept readable above included. */
  const size_t peak = dif__arena_peak(&a);
  CHECK_MSG(peak == 128 + 10048, "peak %zu", peak);
  dif__arena_reset(&a);
  CHECK(a.used_total == 0 && dif__arena_capacity(&a) == peak); /* not 4096 + 10048 */
  unsigned char *w = dif__arena_alloc(&a, 64, NULL);
  CHECK(w && READABLE(w) && POISONED(w + 64));
  m = dif__arena_get_mark(&a);
  unsigned char *v = dif__arena_alloc(&a, 256, NULL);
  dif__arena_release_keeping(&a, m, v, 256);
  CHECK(v && READABLE(v + 255));
  dif__arena_reset(&a); /* the one block kept: its kept bytes poisoned too */
  CHECK(dif__arena_capacity(&a) == peak && POISONED(w) && v && POISONED(v + 255));
  dif__arena_free(&a);
}

/* Whole runs whose arena grows from small blocks (a dozen chained, each
 * older block's dead tail given back down to a page, so that a read of
 * dead scratch reads zeros, and bytes kept readable across a chaining:
 * the first block's size moves where in the run each chaining falls): the
 * same pixels as a run on the kept block. */
TEST(runs_on_a_growing_arena_draw_the_same) {
  dif_context *ctx = load();
  dif_sample *a = sample_of(ctx, "a red cat");
  if (!a) {
    dif_context_free(ctx);
    return;
  }
  CHECK(dif_sample_set_seed(a, 7) == DIF_OK);
  CHECK(dif_sample_run(a) == DIF_OK);
  uint8_t *ref = pixels(a);
  const size_t drop_min = dif__arena_drop_min;
  dif__arena_drop_min = 4096;
  for (size_t first = 4096; first <= 160 * 1024; first += 4096 + first / 4) {
    CHECK(dif_context_release_scratch(ctx, NULL) == DIF_OK);
    dif__arena *small = malloc(sizeof *small);
    CHECK(small != NULL);
    if (!small) break;
    dif__arena_init(small, first);
    dif__ctx_give_arena(ctx, small); /* kept empty: the next run grows it */
    CHECK(ctx->n_arenas == 1 && ctx->arenas[0] == small && dif__arena_capacity(small) == 0);
    CHECK(dif_sample_run(a) == DIF_OK);
    uint8_t *got = pixels(a);
    CHECK_MSG(ref && got && memcmp(ref, got, dif_sample_image_bytes(a)) == 0,
              "a run on an arena grown from blocks of %zu bytes gives other pixels", first);
    free(got);
  }
  dif__arena_drop_min = drop_min;
  free(ref);
  dif_sample_free(a);
  dif_context_free(ctx);
}

/* How many of the whole pages inside [p, p + n) are resident (mincore). */
static size_t resident_pages(const void *p, size_t n, size_t *pages) {
  const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
  const uintptr_t lo = ((uintptr_t)p + pg - 1) / pg * pg, hi = ((uintptr_t)p + n) / pg * pg;
  *pages = hi > lo ? (size_t)((hi - lo) / pg) : 0;
  if (!*pages) return 0;
  unsigned char *vec = calloc(*pages, 1);
  size_t r = 0;
  if (vec && mincore((void *)lo, hi - lo, vec) == 0)
    for (size_t i = 0; i < *pages; i++) r += vec[i] & 1;
  free(vec);
  return r;
}

#define ALL_RESIDENT(p, n) (resident_pages((p), (n), &pages) == pages && pages > 0)
#define NONE_RESIDENT(p, n) (resident_pages((p), (n), &pages) == 0 && pages > 0)

/* Once a newer block is chained, an older block's tail is dead until the
 * reset, and its pages go back to the OS (core/arena.c, block_drop_tail):
 * what lives below the offset stays, the head's pages stay (the next pass
 * reuses them), and bytes a release keeps readable keep their values. */
TEST(arena_gives_back_dead_pages) {
  const size_t MiB = (size_t)1 << 20;
  size_t pages = 0;
  dif__arena a;
  dif__arena_init(&a, 8 * MiB);
  const dif__arena_mark m0 = dif__arena_get_mark(&a); /* before any block */
  unsigned char *x = dif__arena_alloc(&a, 6 * MiB, NULL);
  CHECK(x != NULL);
  if (!x) return;
  memset(x, 1, 6 * MiB);
  dif__arena_release(&a, m0);
  CHECK(ALL_RESIDENT(x, 6 * MiB)); /* the head: its pages are kept for the next pass */
  unsigned char *y = dif__arena_alloc(&a, MiB, NULL);
  CHECK(y == x);
  memset(y, 2, MiB);
  const dif__arena_mark m1 = dif__arena_get_mark(&a);
  unsigned char *k = dif__arena_alloc(&a, 2 * MiB, NULL);
  memset(k, 3, 2 * MiB);
  unsigned char *z = dif__arena_alloc(&a, 6 * MiB, NULL); /* does not fit: a new block */
  CHECK(z != NULL && (z < x || z >= x + 8 * MiB));
  if (!z) return;
  memset(z, 4, 6 * MiB);
  CHECK_MSG(NONE_RESIDENT(k + 2 * MiB, 3 * MiB), /* y, k: 3 MiB; x touched 6 */
            "the old block's dead tail: %zu of %zu pages still resident",
            resident_pages(k + 2 * MiB, 3 * MiB, &pages), pages);
  CHECK(ALL_RESIDENT(y, 3 * MiB) && y[0] == 2 && y[MiB - 1] == 2 && k[0] == 3);
  dif__arena_release_keeping(&a, m1, k, 2 * MiB); /* k lies in the old block, past m1 */
  CHECK_MSG(k[0] == 3 && k[2 * MiB - 1] == 3 && y[MiB - 1] == 2,
            "bytes kept readable lost their values");
  CHECK(ALL_RESIDENT(z, 6 * MiB)); /* the head */
  /* z was allocated after m1, so that release emptied the head too. Bytes
   * kept readable in the head, then an allocation that chains a new block
   * (as keep_level_output allocates where it moves them to): kept */
  const dif__arena_mark m2 = dif__arena_get_mark(&a);
  unsigned char *h = dif__arena_alloc(&a, 8 * MiB, NULL); /* the head (16 MiB), where z was */
  CHECK(h == z);
  if (h != z) return;
  memset(h, 5, 8 * MiB);
  dif__arena_release_keeping(&a, m2, h, 8 * MiB);
  unsigned char *t = dif__arena_alloc(&a, 20 * MiB, NULL); /* does not fit: a new block */
  CHECK(t != NULL && (t + 20 * MiB <= h || t >= h + 16 * MiB));
  CHECK_MSG(h[0] == 5 && h[4 * MiB] == 5 && h[8 * MiB - 1] == 5,
            "bytes kept readable in the old head lost their values when a block was chained");
  dif__arena_release(&a, m0); /* every block emptied: all but the newest dead now */
  CHECK(NONE_RESIDENT(y, 3 * MiB) && NONE_RESIDENT(h, 8 * MiB));
  dif__arena_reset(&a);                       /* one block of the peak */
  CHECK(dif__arena_capacity(&a) == 21 * MiB); /* y (1 MiB), then t (20) */
  dif__arena_free(&a);
}

int main(void) {
  RUN(sample_outlives_its_context);
  RUN(context_freed_while_a_sample_runs);
  RUN(context_freed_then_running_sample_freed);
  RUN(samples_reuse_the_contexts_scratch);
  RUN(embeddings_take_the_kept_scratch);
  RUN(packed_weights_released_between_runs);
  RUN(arena_poisons_what_it_takes_back);
  RUN(arena_gives_back_dead_pages);
  RUN(runs_on_a_growing_arena_draw_the_same);
  return dif__test_finish();
}

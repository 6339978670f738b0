/* main.c — dif-golden [--channels-last] [--wino | --wino-backend NAME] CASES ROOT [ROOT...]: run
 * golden cases against libdif.
 *
 * CASES is either one kind's folder (its name is a known kind, e.g.
 * cases/unet) or a folder of kind folders (e.g. cases/); the ROOTs hold the
 * models/ and tokenizers/ that cases name, searched in order (the cases in
 * tests/fixtures name their own models and tests/golden's). Exit status: 0 when every check
 * passed, 1 on a mismatch, 2 on an unknown kind or a usage error.
 *
 * --wino runs the VAE's 3x3 convolutions by float32 Winograd, as a context
 * in the precision exact does (core/backend.h: oneDNN's on AVX-512, else
 * openblas's), against the same tolerances; --wino-backend NAME on that
 * backend's (openblas: as an AVX2 CPU runs them, on any CPU). Exit status
 * 77 (skipped), saying why, where none runs here. --channels-last runs the
 * VAE and the UNet on channels-last activations (golden.h).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/backend.h"
#include "golden.h"

static const golden_kind *find_kind(const char *name) {
  for (const golden_kind *k = golden_kinds; k->name; k++)
    if (strcmp(k->name, name) == 0) return k;
  return NULL;
}

static const char *base_name(const char *path) {
  static char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  size_t n = strlen(buf);
  while (n > 1 && buf[n - 1] == '/') buf[--n] = '\0';
  const char *slash = strrchr(buf, '/');
  return slash ? slash + 1 : buf;
}

static int run_kind(golden *g, const golden_kind *k, const char *dir) {
  printf("== kind %s (%s)\n", k->name, dir);
  int before = g->checks_failed;
  int cases = k->run(g, dir);
  g->cases += cases;
  if (cases == 0) {
    printf("  FAIL %s: no cases found in %s\n", k->name, dir);
    g->checks_failed++;
  }
  return g->checks_failed == before;
}

/* --wino (name NULL) or --wino-backend name: the Winograd backend, or 77
 * (skipped) saying why not. */
static int wino_setup(golden *g, const char *name) {
  char why[256];
  const dif__backend *b =
      name ? dif__backend_wino_named(name, why, sizeof why) : dif__backend_wino(why, sizeof why);
  if (!b) {
    printf("dif-golden --wino: skipped, %s\n", why);
    return 77;
  }
  g->wino = b;
  printf("dif-golden --wino: the VAE's 3x3 convolutions by float32 Winograd on %s (%s)\n", b->name,
         b->isa());
  return 0;
}

/* --wino: how many weights ran by Winograd; a failure when none did (a VAE
 * that never reached the backend would pass as today's code). */
static void wino_report(golden *g) {
  printf("dif-golden --wino: %lld weights by Winograd (summed over the cases), %lld refused\n",
         (long long)g->wino_weights, (long long)g->wino_refused);
  if (g->wino_weights == 0) {
    printf("  FAIL --wino: no convolution ran by Winograd\n");
    g->checks_failed++;
  }
}

int main(int argc, char **argv) {
  const bool channels_last = argc > 1 && strcmp(argv[1], "--channels-last") == 0;
  argc -= channels_last, argv += channels_last;
  const bool wino_named = argc > 2 && strcmp(argv[1], "--wino-backend") == 0;
  const char *wino_name = wino_named ? argv[2] : NULL;
  const bool wino = wino_named || (argc > 1 && strcmp(argv[1], "--wino") == 0);
  argc -= wino + wino_named, argv += wino + wino_named;
  if (argc < 3) {
    fprintf(stderr, "usage: dif-golden [--channels-last] [--wino | --wino-backend NAME] CASES "
                    "ROOT [ROOT...]\n"
                    "  --channels-last: the VAE and the UNet on channels-last maps\n"
                    "  --wino: the VAE's 3x3 convolutions by float32 Winograd (exit 77 where\n"
                    "          no backend has them)\n"
                    "  --wino-backend NAME: the same on that backend's (openblas, onednn)\n"
                    "  CASES: a cases/ folder or one kind's folder\n"
                    "  ROOT: a fixture root holding models/ and tokenizers/ (first match wins)\n");
    return 2;
  }
  golden g = {
      .roots = (const char *const *)argv + 2, .n_roots = argc - 2, .channels_last = channels_last};
  const int ws = wino ? wino_setup(&g, wino_name) : 0;
  if (ws) return ws;
  dif__arena arena;
  dif__arena_init(&arena, 1 << 20);
  dif__error err;
  if (dif__pool_new(dif__cpu_count(), &g.k.pool, &err)) g.k.pool = NULL; /* serial fallback */
  g.k.arena = &arena;
  g.k.fast = NULL; /* the exact path, explicitly: every tolerance here is float32's */
  g.k.channels_last = channels_last;
  struct stat sb;
  if (stat(argv[1], &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    fprintf(stderr, "dif-golden: %s is not a directory\n", argv[1]);
    return 2;
  }
  int unknown = 0;
  const golden_kind *k = find_kind(base_name(argv[1]));
  if (k) {
    run_kind(&g, k, argv[1]);
  } else {
    DIR *d = opendir(argv[1]);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0;
    while (d && (de = readdir(d))) {
      char full[4096];
      snprintf(full, sizeof full, "%s/%s", argv[1], de->d_name);
      if (de->d_name[0] == '.' || stat(full, &sb) != 0 || !S_ISDIR(sb.st_mode)) continue;
      char **nn = realloc(names, (n + 1) * sizeof *names);
      if (!nn) break;
      names = nn;
      names[n++] = strdup(de->d_name);
    }
    if (d) closedir(d);
    for (size_t i = 0; i + 1 < n; i++) /* sort for a stable report */
      for (size_t j = i + 1; j < n; j++)
        if (strcmp(names[i], names[j]) > 0) {
          char *t = names[i];
          names[i] = names[j];
          names[j] = t;
        }
    if (n == 0) {
      fprintf(stderr, "dif-golden: %s has no kind folders and is not a known kind\n", argv[1]);
      unknown++;
    }
    for (size_t i = 0; i < n; i++) {
      const golden_kind *ki = find_kind(names[i]);
      char dir[4096];
      snprintf(dir, sizeof dir, "%s/%s", argv[1], names[i]);
      if (!ki) {
        printf("== kind %s: UNKNOWN case kind (libdif's runner knows:", names[i]);
        for (const golden_kind *kk = golden_kinds; kk->name; kk++) printf(" %s", kk->name);
        printf(")\n");
        unknown++;
      } else {
        run_kind(&g, ki, dir);
      }
      free(names[i]);
    }
    free(names);
  }
  if (g.wino) wino_report(&g);
  printf("dif-golden: %d cases, %d checks passed, %d failed, %d unknown kinds", g.cases,
         g.checks_passed, g.checks_failed, unknown);
  printf("\n");
  dif__pool_free(g.k.pool);
  dif__arena_free(&arena);
  if (unknown) return 2;
  return g.checks_failed ? 1 : 0;
}

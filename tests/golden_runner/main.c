/* main.c — dif-golden CASES ROOT [ROOT...]: run golden cases against libdif.
 *
 * CASES is either one kind's folder (its name is a known kind, e.g.
 * cases/unet) or a folder of kind folders (e.g. cases/); the ROOTs hold the
 * models/ and tokenizers/ that cases name, searched in order (the cases in
 * tests/fixtures name their own models and tests/golden's). Exit status: 0 when every check
 * passed, 1 on a mismatch, 2 on an unknown kind or a usage error.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: dif-golden CASES ROOT [ROOT...]\n"
                    "  CASES: a cases/ folder or one kind's folder\n"
                    "  ROOT: a fixture root holding models/ and tokenizers/ (first match wins)\n");
    return 2;
  }
  golden g = {.roots = (const char *const *)argv + 2, .n_roots = argc - 2};
  dif_arena arena;
  dif_arena_init(&arena, 1 << 20);
  dif_error err;
  if (dif_pool_new(dif_cpu_count(), &g.k.pool, &err)) g.k.pool = NULL; /* serial fallback */
  g.k.arena = &arena;
  g.k.fast = NULL; /* the exact path, explicitly: every tolerance here is float32's */
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
  printf("dif-golden: %d cases, %d checks passed, %d failed, %d unknown kinds", g.cases,
         g.checks_passed, g.checks_failed, unknown);
  printf("\n");
  dif_pool_free(g.k.pool);
  dif_arena_free(&arena);
  if (unknown) return 2;
  return g.checks_failed ? 1 : 0;
}

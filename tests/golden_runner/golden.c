/* golden.c — comparison, listing and path helpers of the golden runner. */
#include "golden.h"

#include "core/backend.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int golden_check_vals(golden *g, const char *case_name, const char *what, const float *got,
                      const double *want, int64_t n, double abs_tol, double rel_tol) {
  double max_abs = 0, num = 0, den = 0;
  int64_t bad = 0, worst = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)got[i] - want[i]);
    if (isnan(got[i]) != isnan(want[i]))
      d = INFINITY;
    else if (isnan(want[i]))
      d = 0;
    if (!(d <= abs_tol + rel_tol * fabs(want[i]))) bad++;
    if (d > max_abs) {
      max_abs = d;
      worst = i;
    }
    if (isfinite(d)) num += d * d;
    den += want[i] * want[i];
  }
  double nmse = den > 0 ? num / den : num;
  int ok = bad == 0;
  printf("  %-4s %s %s: max_abs=%.3g nmse=%.3g tol=%.1g+%.1g*|ref| n=%lld", ok ? "ok" : "FAIL",
         case_name, what, max_abs, nmse, abs_tol, rel_tol, (long long)n);
  if (!ok)
    printf(" bad=%lld worst[%lld]: got %.9g want %.9g", (long long)bad, (long long)worst,
           (double)got[worst], want[worst]);
  printf("\n");
  if (ok)
    g->checks_passed++;
  else
    g->checks_failed++;
  return ok;
}

int golden_check(golden *g, const char *case_name, const char *key, const float *got, int64_t n,
                 const dif__safetensors *st, double abs_tol, double rel_tol) {
  int64_t m = 0;
  double *want = golden_tensor(g, case_name, st, key, &m);
  if (!want) return 0;
  int ok;
  if (m != n) {
    golden_fail(g, case_name, "%s: expected %lld elements, computed %lld", key, (long long)m,
                (long long)n);
    ok = 0;
  } else {
    ok = golden_check_vals(g, case_name, key, got, want, n, abs_tol, rel_tol);
  }
  free(want);
  return ok;
}

int golden_check_bits(golden *g, const char *case_name, const char *what, const float *got,
                      const float *want, int64_t n) {
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < n; i++)
    if (memcmp(&got[i], &want[i], sizeof(float)) != 0) {
      bad++;
      if (first < 0) first = i;
    }
  int ok = bad == 0;
  printf("  %-4s %s %s: bit-exact n=%lld", ok ? "ok" : "FAIL", case_name, what, (long long)n);
  if (!ok)
    printf(" mismatches=%lld first[%lld]: got %.9g want %.9g", (long long)bad, (long long)first,
           (double)got[first], (double)want[first]);
  printf("\n");
  if (ok)
    g->checks_passed++;
  else
    g->checks_failed++;
  return ok;
}

void golden_fail(golden *g, const char *case_name, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("  FAIL %s: ", case_name);
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  g->checks_failed++;
}

double *golden_tensor(golden *g, const char *case_name, const dif__safetensors *st, const char *key,
                      int64_t *n) {
  const dif__st_entry *e = dif__st_find(st, key);
  if (!e) {
    golden_fail(g, case_name, "fixture has no tensor '%s'", key);
    return NULL;
  }
  *n = dif__st_numel(e);
  double *v = malloc((size_t)(*n ? *n : 1) * sizeof *v);
  if (!v) {
    golden_fail(g, case_name, "out of memory reading '%s'", key);
    return NULL;
  }
  dif__st_to_f64(st, e, v);
  return v;
}

float *golden_tensor_f32(golden *g, const char *case_name, const dif__safetensors *st,
                         const char *key, int64_t *n) {
  double *d = golden_tensor(g, case_name, st, key, n);
  if (!d) return NULL;
  float *f = malloc((size_t)(*n ? *n : 1) * sizeof *f);
  if (f)
    for (int64_t i = 0; i < *n; i++) f[i] = (float)d[i];
  else
    golden_fail(g, case_name, "out of memory reading '%s'", key);
  free(d);
  return f;
}

const char *golden_path(const golden *g, const char *rel) {
  static char slots[8][4096];
  static int next;
  char *buf = slots[next++ % 8];
  /* The first root that has rel (new fixtures in tests/fixtures also name
   * the tiny models of tests/golden); the first root when none has it, so
   * that a message names the expected place. */
  for (int i = 0; i < g->n_roots; i++) {
    snprintf(buf, sizeof slots[0], "%s/%s", g->roots[i], rel);
    if (access(buf, F_OK) == 0) return buf;
  }
  snprintf(buf, sizeof slots[0], "%s/%s", g->roots[0], rel);
  return buf;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

char **golden_list(const char *dir, const char *suffix, size_t *n) {
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) return NULL;
  size_t cap = 16;
  char **list = malloc(cap * sizeof *list);
  struct dirent *de;
  while (list && (de = readdir(d))) {
    size_t len = strlen(de->d_name), sl = strlen(suffix);
    if (de->d_name[0] == '.' || len < sl || strcmp(de->d_name + len - sl, suffix) != 0) continue;
    char full[4096];
    snprintf(full, sizeof full, "%s/%s", dir, de->d_name);
    struct stat sb;
    if (stat(full, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
    if (*n == cap) {
      char **nl = realloc(list, (cap *= 2) * sizeof *list);
      if (!nl) break;
      list = nl;
    }
    list[(*n)++] = strdup(de->d_name);
  }
  closedir(d);
  if (list) qsort(list, *n, sizeof *list, cmp_str);
  return list;
}

void golden_free_list(char **list, size_t n) {
  for (size_t i = 0; i < n; i++) free(list[i]);
  free(list);
}

char *golden_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = sz >= 0 ? malloc((size_t)sz + 1) : NULL;
  if (buf && fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  if (buf) {
    buf[sz] = '\0';
    if (len) *len = (size_t)sz;
  }
  return buf;
}

dif__safetensors *golden_open_case(golden *g, const char *dir, const char *file) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  dif__error err = {0};
  dif__safetensors *st = NULL;
  if (dif__st_open(path, &st, &err)) golden_fail(g, file, "%s", err.msg);
  return st;
}

int golden_each_case(golden *g, const char *dir, golden_case_fn run) {
  size_t n;
  char **files = golden_list(dir, ".safetensors", &n);
  for (size_t i = 0; i < n; i++) {
    dif__safetensors *st = golden_open_case(g, dir, files[i]);
    if (st) run(g, files[i], st);
    dif__st_close(st);
  }
  golden_free_list(files, n);
  return (int)n;
}

void golden_on_hook(void *user, const char *module, const float *data, int64_t n) {
  golden_hooks *h = user;
  char key[160];
  snprintf(key, sizeof key, "hook.%s", module);
  if (dif__st_find(h->st, key)) golden_check(h->g, h->name, key, data, n, h->st, h->tol, 0);
}

dif__wino *golden_wino_begin(golden *g) {
  dif__wino *w = NULL;
  dif__error err;
  if (g->wino && dif__wino_new(g->wino, &w, &err))
    printf("  note: no Winograd state for this case: %s\n", err.msg);
  return w;
}

dif__kctx golden_pipeline_kctx(golden *g, dif__arena *arena) {
  return (dif__kctx){.pool = g->k.pool,
                     .arena = arena,
                     .wino = golden_wino_begin(g),
                     .wino_nets_max_cc = g->wino ? DIF__WINO_NETS_MAX_CC : 0,
                     .channels_last = g->channels_last};
}

void golden_wino_end(golden *g, dif__wino *w) {
  if (!w) return;
  dif__wino_stats st;
  dif__wino_get_stats(w, &st);
  g->wino_weights += st.weights;
  g->wino_refused += st.refused;
  dif__wino_free(w);
}

/* A host that runs its own BLAS while it uses libdif (issue 13, item 2).
 *
 * One thread of the host loops on a 48×48 cblas_sgemm; meanwhile its main
 * thread calls libdif for the first time (dif_blas_core, dif_context_new,
 * dif_context_load, dif_context_info). No libdif call may change OpenBLAS's
 * process-wide state under that thread: before the fix the first call
 * swapped OpenBLAS's kernel table (gotoblas_dynamic_quit/init) and crashed
 * such hosts about once in 150 runs.
 *
 * The hazard only exists on CPUs that OpenBLAS misjudges (e.g. Emerald
 * Rapids → Prescott). To test it on every CPU, the children interpose
 * openblas_get_corename and report "Prescott" (DIF__TEST_FAKE_CORE): the
 * library then believes OpenBLAS chose slow kernels, which is exactly when
 * it used to switch. Each run is a fresh process (the check runs once per
 * process); each child checks deterministically that the kernel table
 * pointer and OPENBLAS_CORETYPE are unchanged, and the parent counts
 * crashes. 1000 runs (100 under the sanitizers, whose start-up is slow). */
#include <cblas.h>
#include <dlfcn.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

#ifdef DIF_TEST_QUICK
#define RUNS 100
#else
#define RUNS 1000
#endif

extern char **environ;

/* libdif (linked statically into this program) calls this one. */
char *openblas_get_corename(void) {
  static char fake[32];
  const char *f = getenv("DIF_TEST_FAKE_CORE");
  if (f) {
    snprintf(fake, sizeof fake, "%s", f);
    return fake;
  }
  char *(*real)(void);
  void *sym = dlsym(RTLD_NEXT, "openblas_get_corename");
  memcpy(&real, &sym, sizeof sym);
  return real ? real() : (char *)"unknown";
}

static atomic_int stop, products;

static void *host_blas(void *arg) {
  (void)arg;
  enum { N = 48 };
  static float A[N * N], B[N * N], C[N * N];
  for (int i = 0; i < N * N; i++) A[i] = (float)(i % 7) - 3.0f, B[i] = (float)(i % 5) - 2.0f;
  while (!atomic_load(&stop)) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0f, A, N, B, N, 0.0f, C, N);
    atomic_fetch_add(&products, 1);
  }
  return NULL;
}

/* One run; exit status 0 = nothing changed, 3 = the table or the
 * environment changed (message on stderr). */
static int child(const char *model) {
  void **table = dlsym(RTLD_DEFAULT, "gotoblas");
  void *before = table ? *table : NULL;
  const char *env = getenv("OPENBLAS_CORETYPE");
  char env_before[64];
  snprintf(env_before, sizeof env_before, "%s", env ? env : "(unset)");
  pthread_t t;
  if (pthread_create(&t, NULL, host_blas, NULL)) return 4;
  while (atomic_load(&products) < 2) sched_yield(); /* the host is inside its BLAS loop */
  (void)dif_blas_core();
  dif_context *ctx = NULL;
  int rc = 0;
  if (dif_context_new(&ctx) != DIF_OK || dif_context_load(ctx, model) != DIF_OK) {
    fprintf(stderr, "load: %s\n", ctx ? dif_context_last_error(ctx) : dif_last_error());
    rc = 5;
  }
  (void)dif_context_info(ctx);
  dif_context_free(ctx);
  atomic_store(&stop, 1);
  pthread_join(t, NULL);
  env = getenv("OPENBLAS_CORETYPE");
  if (table && *table != before) {
    fprintf(stderr, "libdif changed OpenBLAS's kernel table under the host's thread\n");
    rc = 3;
  }
  if (strcmp(env ? env : "(unset)", env_before) != 0) {
    fprintf(stderr, "libdif changed OPENBLAS_CORETYPE\n");
    rc = 3;
  }
  return rc;
}

TEST(host_blas_survives_first_libdif_calls) {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  CHECK(n > 0);
  if (n <= 0) return;
  self[n] = '\0';
  setenv("DIF_TEST_FAKE_CORE", "Prescott", 1);
  int crashes = 0, changed = 0, other = 0;
  for (int i = 0; i < RUNS; i++) {
    char *argv[] = {self, (char *)"--child", NULL};
    pid_t pid;
    if (posix_spawn(&pid, self, NULL, NULL, argv, environ) != 0) {
      other++;
      continue;
    }
    int st;
    if (waitpid(pid, &st, 0) != pid) {
      other++;
      continue;
    }
    if (WIFSIGNALED(st))
      crashes++;
    else if (WEXITSTATUS(st) == 3)
      changed++;
    else if (WEXITSTATUS(st) != 0)
      other++;
  }
  unsetenv("DIF_TEST_FAKE_CORE");
  printf("  %d runs: %d crashed, %d changed OpenBLAS's state, %d failed otherwise\n", RUNS, crashes,
         changed, other);
  CHECK(crashes == 0);
  CHECK(changed == 0);
  CHECK(other == 0);
}

int main(int argc, char **argv) {
  if (argc == 2 && !strcmp(argv[1], "--child"))
    return child(DIF_TEST_DATA "/golden/models/tiny-sd");
  RUN(host_blas_survives_first_libdif_calls);
  return dif__test_finish();
}

/* core/blas.h: the kernel-set check. The bad case (an OpenBLAS that picked
 * SSE kernels on an AVX2/AVX-512 CPU) is simulated by switching to Prescott
 * by hand; the library's check must only report it (no libdif call changes
 * OpenBLAS's process-wide state), and the opt-in switch (dif_blas_setup's)
 * must switch back to the best set for this CPU; products stay correct
 * throughout. Under OPENBLAS_CORETYPE (the coretype matrix in
 * tests/CMakeLists.txt) OpenBLAS must run exactly that set. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "core/blas.h"
#include "ops_test_util.h"

/* dif__gemm on a ragged shape against a double reference. */
static double gemm_nmse(void) {
  const int64_t M = 67, N = 45, K = 33;
  float *A = frand((size_t)(M * K), 1, -1, 1), *B = frand((size_t)(K * N), 2, -1, 1);
  float *C = fbuf((size_t)(M * N));
  double *R = dbuf((size_t)(M * N));
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      double s = 0;
      for (int64_t l = 0; l < K; l++) s += (double)A[i * K + l] * B[l * N + j];
      R[i * N + j] = s;
    }
  dif__gemm(false, false, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N);
  double e = dif__test_nmse(C, R, (size_t)(M * N));
  free(A), free(B), free(C), free(R);
  return e;
}

TEST(core_is_runnable_and_judged) {
  const char *name = dif__blas_corename();
  CHECK(name && *name);
  dif__isa have = dif__blas_core_isa(name), cpu = dif__cpu_isa();
  CHECK(gemm_nmse() <= NMSE_MAX);
  if (have == DIF__ISA_UNKNOWN || cpu == DIF__ISA_UNKNOWN) return; /* not an x86 OpenBLAS */
  CHECK_MSG(have <= cpu, "kernel set %s needs more than this CPU has", name);
  CHECK(dif__blas_runnable());
  const char *user = getenv("OPENBLAS_CORETYPE");
  if (user) {
    CHECK_MSG(strcasecmp(name, user) == 0, "OPENBLAS_CORETYPE=%s but OpenBLAS runs %s", user, name);
    CHECK(dif__blas_note() == NULL); /* the user's runnable choice is not judged */
  } else if (dif__blas_best_core(cpu) && have < cpu) {
    /* OpenBLAS misjudged this CPU: reported, not changed */
    CHECK(dif__blas_note() && dif__blas_recommended_coretype());
  }
}

TEST(reports_prescott_and_switches_only_when_asked) {
  if (getenv("OPENBLAS_CORETYPE")) return; /* the user's choice is respected */
  char start[64];
  snprintf(start, sizeof start, "%s", dif__blas_corename());
  dif__isa cpu = dif__cpu_isa();
  if (dif__blas_core_isa(start) == DIF__ISA_UNKNOWN || cpu <= DIF__ISA_SSE) return;
  if (!dif__blas_switch_core("Prescott")) {
    fprintf(stderr, "  (this BLAS cannot be switched: skipped)\n");
    return;
  }
  CHECK(strcasecmp(dif__blas_corename(), "Prescott") == 0);
  CHECK(gemm_nmse() <= NMSE_MAX); /* the forced set works too */
  dif__blas_recheck();            /* the library's own check: it reports, changes nothing */
  const char *note = dif__blas_note(), *rec = dif__blas_recommended_coretype();
  CHECK_MSG(strcasecmp(dif__blas_corename(), "Prescott") == 0, "the check switched to %s",
            dif__blas_corename());
  CHECK(note && strstr(note, "Prescott") && strstr(note, "OPENBLAS_CORETYPE="));
  CHECK(rec && strcasecmp(rec, dif__blas_best_core(cpu)) == 0);
  CHECK(gemm_nmse() <= NMSE_MAX);
  CHECK(dif_blas_setup(0) == DIF_OK); /* the opt-in */
  CHECK_MSG(strcasecmp(dif__blas_corename(), dif__blas_best_core(cpu)) == 0, "after setup: %s",
            dif__blas_corename());
  CHECK(dif__blas_note() == NULL && dif__blas_recommended_coretype() == NULL);
  CHECK(gemm_nmse() <= NMSE_MAX);
}

TEST(setup_arguments) {
  CHECK(dif_blas_setup(-1) == DIF_ERR_INVALID_ARGUMENT);
  CHECK(strstr(dif_last_error(), "threads"));
  CHECK(dif_blas_setup(DIF_MAX_THREADS + 1) == DIF_ERR_LIMIT);
  const int before = dif__blas_threads();
  CHECK(dif_blas_setup(0) == DIF_OK);
  CHECK(dif__blas_threads() == before); /* 0 leaves the thread count */
  CHECK(dif_blas_setup(1) == DIF_OK);
  CHECK(dif__blas_threads() == 1);
  CHECK(gemm_nmse() <= NMSE_MAX);
  dif__blas_set_threads(before);
}

TEST(core_isa_table) {
  CHECK(dif__blas_core_isa("SkylakeX") == DIF__ISA_AVX512);
  CHECK(dif__blas_core_isa("zen") == DIF__ISA_AVX2);
  CHECK(dif__blas_core_isa("Haswell") == DIF__ISA_AVX2);
  CHECK(dif__blas_core_isa("Sandybridge") == DIF__ISA_AVX);
  CHECK(dif__blas_core_isa("Prescott") == DIF__ISA_SSE);
  CHECK(dif__blas_core_isa("ARMV8") == DIF__ISA_UNKNOWN);
  CHECK(dif__blas_core_isa(NULL) == DIF__ISA_UNKNOWN);
  CHECK(dif__blas_best_core(DIF__ISA_SSE) == NULL);
  CHECK(strcmp(dif__blas_best_core(DIF__ISA_AVX512), "SkylakeX") == 0);
}

/* CPU time, in seconds, that the process's threads other than the caller
 * used so far (Linux: each thread's CPU clock, from its id). */
static double other_threads_cpu(void) {
  const long self = (long)syscall(SYS_gettid);
  double sum = 0;
  DIR *d = opendir("/proc/self/task");
  if (!d) return -1;
  for (struct dirent *e; (e = readdir(d));) {
    const long tid = atol(e->d_name);
    if (tid <= 0 || tid == self) continue;
    /* MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED): the kernel's per-thread clock id */
    const clockid_t c = (clockid_t)((~(unsigned long)tid << 3) | 6);
    struct timespec t;
    if (clock_gettime(c, &t) == 0) sum += (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
  }
  closedir(d);
  return sum;
}

/* dif_blas_setup makes OpenBLAS's idle threads sleep right after a product:
 * over the 100 ms after one, they use (almost) no CPU. Without it they poll
 * on sched_yield for ~0.1 s and take most of a core each. A timeout the user
 * set (OPENBLAS_THREAD_TIMEOUT) is kept and not judged. */
TEST(setup_makes_idle_threads_sleep) {
  CHECK(dif_blas_setup(0) == DIF_OK);
  const char *idle = dif__blas_idle_threads();
  if (getenv("OPENBLAS_THREAD_TIMEOUT")) {
    CHECK_MSG(strstr(idle, "environment's OPENBLAS_THREAD_TIMEOUT"), "blas_idle_threads: %s", idle);
    return;
  }
  if (openblas_get_parallel() != 1) {
    fprintf(stderr, "  (not OpenBLAS's pthreads build: no threads of its own; skipped)\n");
    return;
  }
  CHECK_MSG(strstr(idle, "sleep right after"), "blas_idle_threads: %s", idle);
  const int threads = dif__blas_threads();
  if (threads < 2) {
    fprintf(stderr, "  (OpenBLAS runs one thread here: nothing idles; skipped)\n");
    return;
  }
  CHECK(gemm_nmse() <= NMSE_MAX);
  /* a product big enough for OpenBLAS to use every thread */
  const int64_t n = 512;
  float *a = frand((size_t)(n * n), 3, -1, 1), *c = fbuf((size_t)(n * n));
  dif__gemm(false, false, n, n, n, 1.0f, a, n, a, n, 0.0f, c, n);
  const double before = other_threads_cpu();
  const struct timespec pause = {0, 100 * 1000 * 1000};
  nanosleep(&pause, NULL);
  const double used = other_threads_cpu() - before;
  CHECK(before >= 0);
  /* polling threads use up to (threads - 1) × 0.1 s here; sleeping ones
   * ~0 (0.02 s leaves room for a sanitizer's own thread) */
  CHECK_MSG(used < 0.02, "OpenBLAS's %d idle threads used %.3f s of CPU in 0.1 s", threads - 1,
            used);
  free(a), free(c);
}

int main(void) {
  RUN(core_is_runnable_and_judged);
  RUN(reports_prescott_and_switches_only_when_asked);
  RUN(setup_arguments);
  RUN(setup_makes_idle_threads_sleep);
  RUN(core_isa_table);
  return dif__test_finish();
}

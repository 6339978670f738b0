/* core/blas.h: the kernel-set check. The bad case (an OpenBLAS that picked
 * SSE kernels on an AVX2/AVX-512 CPU) is simulated by switching to Prescott
 * by hand; the library's check must only report it (no libdif call changes
 * OpenBLAS's process-wide state), and the opt-in switch (dif_blas_setup's)
 * must switch back to the best set for this CPU; products stay correct
 * throughout. Under OPENBLAS_CORETYPE (the coretype matrix in
 * tests/CMakeLists.txt) OpenBLAS must run exactly that set. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

int main(void) {
  RUN(core_is_runnable_and_judged);
  RUN(reports_prescott_and_switches_only_when_asked);
  RUN(setup_arguments);
  RUN(core_isa_table);
  return dif__test_finish();
}

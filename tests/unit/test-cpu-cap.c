/* DIF_MAX_CPU_ISA (core/blas.h): libdif runs as on a CPU with no more than
 * the named ISA, everywhere it chooses by the CPU — its SIMD kernels, the
 * fused attention's builds, the Winograd backend, oneDNN's ISA (and so
 * fast) — and says so in the CPU's description and the load log; a value it
 * does not know is ignored and said to be. Read once per process, so ctest
 * runs this program once per value (tests/CMakeLists.txt): the expectation
 * comes from the environment, checked against the uncapped CPU. tools/test
 * runs the whole release suite under DIF_MAX_CPU_ISA=avx2 on AVX-512 CPUs,
 * as an AVX2-only machine would run it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/attn_fused.h"
#include "core/backend.h"
#include "core/blas.h"
#include "core/kern_simd.h"
#include "test.h"

/* What the environment asks (DIF__ISA_UNKNOWN: unset or not a level). */
static dif__isa asked(bool *bogus) {
  const char *v = getenv("DIF_MAX_CPU_ISA");
  *bogus = false;
  if (!v || !*v) return DIF__ISA_UNKNOWN;
  if (!strcasecmp(v, "avx512")) return DIF__ISA_AVX512;
  if (!strcasecmp(v, "avx2")) return DIF__ISA_AVX2;
  if (!strcasecmp(v, "avx")) return DIF__ISA_AVX;
  if (!strcasecmp(v, "sse")) return DIF__ISA_SSE;
  *bogus = true;
  return DIF__ISA_UNKNOWN;
}

TEST(level_and_note) {
  bool bogus;
  const dif__isa want = asked(&bogus), cpu = dif__cpu_isa_uncapped();
  CHECK(dif__cpu_isa_cap() == want);
  const dif__isa expect =
      want != DIF__ISA_UNKNOWN && cpu != DIF__ISA_UNKNOWN && want < cpu ? want : cpu;
  CHECK_MSG(dif__cpu_isa() == expect, "dif__cpu_isa() %d, expected %d (CPU %d, cap %d)",
            (int)dif__cpu_isa(), (int)expect, (int)cpu, (int)want);
  const char *note = dif__cpu_isa_env_note();
  const char *v = getenv("DIF_MAX_CPU_ISA");
  if (!v || !*v) {
    CHECK(note == NULL);
  } else {
    CHECK(note && strstr(note, "DIF_MAX_CPU_ISA="));
    CHECK_MSG(note && (strstr(note, "ignored") != NULL) == bogus, "note: %s",
              note ? note : "(none)");
    printf("note: %s\n", note ? note : "(none)");
  }
  char d[256];
  dif__cpu_describe(d, sizeof d);
  printf("CPU: %s\n", d);
  if (want != DIF__ISA_UNKNOWN && cpu != DIF__ISA_UNKNOWN && want < cpu)
    CHECK_MSG(strstr(d, "(DIF_MAX_CPU_ISA)") != NULL, "%s", d);
  if (want == DIF__ISA_UNKNOWN) CHECK_MSG(strstr(d, "DIF_MAX_CPU_ISA") == NULL, "%s", d);
  /* the cap never makes OpenBLAS's own kernels unrunnable */
  CHECK(dif__blas_runnable());
}

TEST(kernels_follow_the_cap) {
  const dif__isa isa = dif__cpu_isa();
  if (isa != DIF__ISA_UNKNOWN && isa < DIF__ISA_AVX2) CHECK(dif__simd_level() == 0);
  char why[160] = "";
  if (isa != DIF__ISA_UNKNOWN && isa < DIF__ISA_AVX512) {
    CHECK(!dif__attn_fused_runs(DIF__ATTN_FUSED_AVX512BF16, why, sizeof why));
    printf("AVX512-BF16 attention: %s\n", why);
  }
  if (dif__cpu_isa_cap() != DIF__ISA_UNKNOWN) {
    CHECK(!dif__attn_fused_runs(DIF__ATTN_FUSED_AMX, why, sizeof why));
    CHECK_MSG(strstr(why, "DIF_MAX_CPU_ISA") || strstr(why, "build has no"), "%s", why);
    CHECK(dif__attn_fused_best() != DIF__ATTN_FUSED_AMX);
  }
  /* the portable builds run under every cap */
  CHECK(dif__attn_fused_runs(DIF__ATTN_FUSED_PORTABLE, NULL, 0));
}

TEST(backends_follow_the_cap) {
  const dif__isa isa = dif__cpu_isa();
  const dif__backend *w = dif__backend_wino(NULL, 0);
  if (isa != DIF__ISA_UNKNOWN && isa < DIF__ISA_AVX512)
    CHECK_MSG(!w || strcmp(w->name, "onednn") != 0, "oneDNN's Winograd below AVX-512");
  const dif__backend *on = dif__backend_find("onednn");
  char why[256] = "";
  if (!on || !on->supports(DIF__DTYPE_F32, why, sizeof why)) {
    printf("onednn: not here (%s)\n", on ? why : "not in this build");
    return;
  }
  printf("oneDNN ISA: %s\n", on->isa());
  if (isa != DIF__ISA_UNKNOWN && isa < DIF__ISA_AVX512) {
    CHECK(!on->supports(DIF__DTYPE_BF16, why, sizeof why));
    CHECK(!on->native(DIF__DTYPE_BF16));
    CHECK(strstr(on->isa(), "avx512") == NULL);
    CHECK(dif__backend_fast_native(NULL, 0) == NULL);
  }
  if (dif__cpu_isa_cap() != DIF__ISA_UNKNOWN)
    CHECK(!on->bf16_tiles || !on->bf16_tiles()); /* every cap excludes AMX */
}

/* dif__cpu_avx512_split against /proc/cpuinfo's vendor and family (Linux):
 * AMD family 25 (Zen 4) with AVX-512 under the cap, nothing else. */
TEST(avx512_split) {
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) {
    printf("/proc/cpuinfo: not here, avx512_split unchecked\n");
    return;
  }
  char line[512];
  int family = -1;
  bool amd = false, seen_vendor = false;
  while (fgets(line, sizeof line, f) && (family < 0 || !seen_vendor)) {
    if (!strncmp(line, "vendor_id", 9)) {
      seen_vendor = true;
      amd = strstr(line, "AuthenticAMD") || strstr(line, "HygonGenuine");
    }
    if (!strncmp(line, "cpu family", 10)) {
      const char *c = strchr(line, ':');
      family = c ? atoi(c + 1) : -1;
    }
  }
  fclose(f);
  const bool want = dif__cpu_isa() >= DIF__ISA_AVX512 && amd && family == 25;
  printf("vendor %s, family %d: AVX-512 %s\n", amd ? "AMD" : "other", family,
         dif__cpu_avx512_split() ? "in 256-bit halves" : "full width or absent");
  CHECK_MSG(dif__cpu_avx512_split() == want, "dif__cpu_avx512_split() %d, expected %d",
            dif__cpu_avx512_split(), want);
}

int main(void) {
  RUN(level_and_note);
  RUN(kernels_follow_the_cap);
  RUN(backends_follow_the_cap);
  RUN(avx512_split);
  return dif__test_finish();
}

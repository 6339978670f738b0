/* coretype-run CORE PROGRAM [ARGS...] — runs PROGRAM with OpenBLAS forced to
 * the kernel set CORE (OPENBLAS_CORETYPE=CORE), or exits 77 ("skipped", a
 * ctest SKIP_RETURN_CODE) saying why when this CPU cannot run that set: an
 * OpenBLAS kernel set cannot be emulated, so e.g. SkylakeX is tested only on
 * AVX-512 machines and says so elsewhere. Used by the coretype matrix in
 * tests/CMakeLists.txt. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/blas.h"

static const char *isa_name(dif__isa isa) {
  static const char *const names[] = {"SSE", "AVX", "AVX2", "AVX-512"};
  return isa >= DIF__ISA_SSE && isa <= DIF__ISA_AVX512 ? names[isa] : "an unknown ISA";
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: coretype-run CORE PROGRAM [ARGS...]\n");
    return 2;
  }
  const dif__isa need = dif__blas_core_isa(argv[1]), cpu = dif__cpu_isa();
  if (need == DIF__ISA_UNKNOWN) {
    fprintf(stderr, "coretype-run: unknown OpenBLAS kernel set '%s'\n", argv[1]);
    return 2;
  }
  if (cpu == DIF__ISA_UNKNOWN || need > cpu) {
    printf("SKIP: the %s kernels need %s; this CPU has %s\n", argv[1], isa_name(need),
           isa_name(cpu));
    return 77;
  }
  setenv("OPENBLAS_CORETYPE", argv[1], 1);
  execv(argv[2], argv + 2);
  perror(argv[2]);
  return 2;
}

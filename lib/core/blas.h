/* blas.h — facts about the BLAS library libdif runs on, and (only when a
 * program asks) making it run its fast kernels.
 *
 * OpenBLAS built with DYNAMIC_ARCH (Debian's, for one) picks a kernel set
 * ("core") from the CPU model at load time. A CPU newer than the library
 * can fall through its tables: OpenBLAS 0.3.21 sends Intel family 6 model
 * 0xCF (Emerald Rapids: AVX-512 + AMX) to the SSE3 "Prescott" kernels, about
 * 5× slower than "SkylakeX". dif__blas_init() checks the choice against what
 * this CPU and OS really support (CPUID, XGETBV) and says so; it changes
 * nothing. dif__blas_use_best_core() switches the kernel set the way OpenBLAS
 * itself would with OPENBLAS_CORETYPE — process-wide, so only for a program
 * that calls it before any thread may run BLAS (public: dif_blas_setup).
 */
#ifndef DIF__CORE_BLAS_H
#define DIF__CORE_BLAS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

/* Runs the check once per process (reads CPUID and OpenBLAS's choice,
 * changes nothing). Thread-safe, cheap after the first call. */
void dif__blas_init(void);

/* OpenBLAS's name for the kernel set in use ("SkylakeX", "Prescott", ...),
 * after dif__blas_init; "unknown" for another BLAS. */
const char *dif__blas_corename(void);

/* What dif__blas_init found, as a sentence for the log (a static string), or
 * NULL when the kernels in use are the best this CPU supports (or nothing
 * is known, or they are the user's OPENBLAS_CORETYPE and runnable). */
const char *dif__blas_note(void);

/* The OPENBLAS_CORETYPE value that would give faster (or, when the set in
 * use cannot run here, runnable) kernels, else NULL. */
const char *dif__blas_recommended_coretype(void);

/* False when the kernel set in use needs an ISA this CPU/OS lacks (a wrong
 * OPENBLAS_CORETYPE): the first product would die with SIGILL. Thread-safe. */
bool dif__blas_runnable(void);

/* Switches to the recommended kernel set, if any (process-wide; NOT safe
 * while any thread of the process may run BLAS). True if the kernels in use
 * are then the best known for this CPU; msg gets a sentence saying what was
 * done or why it failed ("" when nothing was to do). */
bool dif__blas_use_best_core(char *msg, size_t size);

/* Makes sure OpenBLAS's per-thread working buffers exist before a run
 * (blas.c says why: OpenBLAS spins forever when it cannot allocate them).
 * DIF_ERR_OUT_OF_MEMORY if the address space for them is not there. Cheap
 * once done for the current thread count. Thread-safe. */
dif_status dif__blas_reserve(dif__error *err);

/* OpenBLAS's thread count (process-wide; setting it is NOT safe while any
 * thread may run BLAS — only dif_blas_setup does). */
void dif__blas_set_threads(int n);
int dif__blas_threads(void);

/* Makes OpenBLAS's idle worker threads sleep right after each product
 * instead of polling for ~0.1 s against libdif's own threads, as
 * OPENBLAS_THREAD_TIMEOUT=4 at start-up would (blas.c says why and how);
 * kept when the user set OPENBLAS_THREAD_TIMEOUT. Process-wide: NOT safe
 * while any thread may run BLAS (only dif_blas_setup calls it). False, with
 * a sentence in msg, when this BLAS cannot do it. */
bool dif__blas_sleep_idle_threads(char *msg, size_t size);

/* What OpenBLAS's idle threads do, for dif_context_info ("blas_idle_threads"):
 * a static sentence. */
const char *dif__blas_idle_threads(void);

/* ---- internals, exposed for tests and the bench ---- */

/* SIMD level of an x86 CPU as the OS enables it. */
typedef enum dif__isa {
  DIF__ISA_UNKNOWN = -1, /* not x86, or not a core name we know */
  DIF__ISA_SSE = 0,      /* SSE2/SSE3 kernels */
  DIF__ISA_AVX = 1,      /* AVX (Sandybridge, Bulldozer family) */
  DIF__ISA_AVX2 = 2,     /* AVX2 + FMA (Haswell, Zen) */
  DIF__ISA_AVX512 = 3,   /* AVX-512 F/VL with zmm state enabled (SkylakeX, Cooperlake) */
} dif__isa;

/* What this CPU and OS run, capped by the environment variable
 * DIF_MAX_CPU_ISA (read once per process; "avx512", "avx2", "avx" or
 * "sse", any case): libdif then behaves as on a CPU with no more than that
 * (and no AMX, which is above every cap) — its own SIMD kernels, the fused attention's builds, the
 * Winograd backend's choice, and oneDNN (dnnl_set_max_cpu_isa at its first use), so that an AVX-512
 * machine runs the suite as an AVX2-only one would (tools/test does). OpenBLAS's kernels are not
 * libdif's to cap: set OPENBLAS_CORETYPE too. A value that is none of those is ignored, and
 * dif__cpu_isa_env_note() says so. */
dif__isa dif__cpu_isa(void);
/* What the CPU itself runs (CPUID and XGETBV), whatever DIF_MAX_CPU_ISA says. */
dif__isa dif__cpu_isa_uncapped(void);
/* True on an AVX-512 CPU (under DIF_MAX_CPU_ISA) that runs each 512-bit
 * FMA as two 256-bit halves, so that AVX-512 code has no more FMA
 * throughput than AVX2 code: AMD family 0x19 (Zen 4). Kernels of libdif's
 * own with an AVX2 build only then compete with OpenBLAS's AVX-512 ones on
 * even terms (core/attn_f32.h). */
bool dif__cpu_avx512_split(void);
/* The cap DIF_MAX_CPU_ISA sets (DIF__ISA_UNKNOWN: none), and what the load
 * log says of it ("DIF_MAX_CPU_ISA=avx2: ...", or that a value was
 * ignored); NULL when unset. */
dif__isa dif__cpu_isa_cap(void);
const char *dif__cpu_isa_env_note(void);
/* What an OpenBLAS kernel set needs (DIF__ISA_UNKNOWN for names not known). */
dif__isa dif__blas_core_isa(const char *corename);
/* The OpenBLAS core name libdif would pick for an ISA level on this CPU's
 * vendor ("SkylakeX", "Zen", "Haswell", "Sandybridge"), NULL for SSE. */
const char *dif__blas_best_core(dif__isa isa);

/* Test hook: switches OpenBLAS to the named kernel set with no checks (as
 * OPENBLAS_CORETYPE=name would at start-up). False if this BLAS cannot be
 * switched. Only while no BLAS call runs. */
bool dif__blas_switch_core(const char *name);
/* Test hook: runs the check of dif__blas_init again (ignoring that it ran). */
void dif__blas_recheck(void);

#endif

/* blas.c — the BLAS library's kernel choice (see blas.h).
 *
 * libdif never changes OpenBLAS's process-wide state on its own: the kernel
 * table and the thread count belong to the whole process, and a host thread
 * may be inside its own cblas_sgemm at any moment (swapping the table under
 * it crashed such a host: issue 13). The library only judges the choice
 * (dif__blas_note, dif__blas_recommended_coretype, dif__blas_runnable); a
 * program that owns its process opts in to changing it with dif_blas_setup
 * (include/dif.h), at its start, as the dif command does.
 *
 * How the switch works. A DYNAMIC_ARCH OpenBLAS keeps the active kernel
 * table in the exported pointer `gotoblas`, set at load time by
 * gotoblas_dynamic_init() (driver/others/dynamic.c), which reads
 * OPENBLAS_CORETYPE, else CPUID, and then calls the chosen table's init()
 * (which sets its blocking parameters from the cache sizes). Both
 * gotoblas_dynamic_init and gotoblas_dynamic_quit (`gotoblas = NULL`) are
 * exported. To switch we do exactly what a start-up with OPENBLAS_CORETYPE
 * would: quit, set the variable, init, and remove the variable again. We
 * never write into the table ourselves, so nothing depends on the layout of
 * gotoblas_t, which changes between OpenBLAS versions.
 *
 * Why that is safe when no BLAS call runs: the GEMM drivers read the table
 * (kernels, P/Q/R blocking, alignment) through `gotoblas` at every call; the
 * per-thread buffers are a fixed BUFFER_SIZE that every table of the library
 * fits (any of them may be picked at start-up); the thread server holds no
 * table state between calls. So a switch between two BLAS calls is a
 * start-up choice made late. The hazard is another thread running a BLAS
 * call (or reading the environment) at that moment — hence the opt-in.
 *
 * What is judged: whether OpenBLAS's choice needs less than the CPU and OS
 * support (CPUID and XGETBV: AVX needs the OS to save ymm, AVX-512 zmm
 * state too), and whether it needs more (an OPENBLAS_CORETYPE naming a set
 * this CPU cannot run would crash with SIGILL at the first product; loading
 * a model refuses that). The symbols are looked up in the library that
 * provides cblas_sgemm; with another BLAS (or a non-DYNAMIC_ARCH OpenBLAS)
 * nothing can be switched and the note says what to do.
 */
#include "core/blas.h"

#include "core/error.h"
#include "core/ops.h"

#include <cblas.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define DIF__X86 1
#endif

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char note[256];
static const char *recommended;

/* ---- the CPU ---- */

#ifdef DIF__X86
static unsigned long long xgetbv0(void) {
  unsigned eax, edx;
  __asm__ __volatile__(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0));
  return ((unsigned long long)edx << 32) | eax;
}

static bool cpu_is_amd(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return false;
  char v[13];
  memcpy(v, &b, 4);
  memcpy(v + 4, &d, 4);
  memcpy(v + 8, &c, 4);
  v[12] = '\0';
  return strcmp(v, "AuthenticAMD") == 0 || strcmp(v, "HygonGenuine") == 0;
}
#endif

static dif__isa cpu_isa_read(void) {
#ifdef DIF__X86
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return DIF__ISA_UNKNOWN;
  const bool sse3 = c & (1u << 0), fma = c & (1u << 12), osxsave = c & (1u << 27),
             avx = c & (1u << 28);
  if (!(osxsave && avx)) return sse3 ? DIF__ISA_SSE : DIF__ISA_UNKNOWN;
  const unsigned long long xcr0 = xgetbv0();
  if ((xcr0 & 6) != 6) return DIF__ISA_SSE; /* the OS does not save ymm */
  unsigned a7 = 0, b7 = 0, c7 = 0, d7 = 0;
  if (!__get_cpuid_count(7, 0, &a7, &b7, &c7, &d7)) return DIF__ISA_AVX;
  const bool avx2 = b7 & (1u << 5), avx512f = b7 & (1u << 16), avx512vl = b7 & (1u << 31);
  if (!(avx2 && fma)) return DIF__ISA_AVX;
  if (avx512f && avx512vl && (xcr0 & 0xe0) == 0xe0) return DIF__ISA_AVX512;
  return DIF__ISA_AVX2;
#else
  return DIF__ISA_UNKNOWN;
#endif
}

/* The CPU's level and DIF_MAX_CPU_ISA, read once per process (blas.h):
 * asked per attention call, and CPUID leaves a virtual machine. */
static pthread_once_t cap_once = PTHREAD_ONCE_INIT;
static dif__isa cpu_level = DIF__ISA_UNKNOWN, cap = DIF__ISA_UNKNOWN;
static char cap_note[160];

static void cap_read(void) {
  cpu_level = cpu_isa_read();
  const char *v = getenv("DIF_MAX_CPU_ISA");
  if (!v || !*v) return;
  static const struct {
    const char *name;
    dif__isa isa;
  } caps[] = {{"sse", DIF__ISA_SSE},
              {"avx", DIF__ISA_AVX},
              {"avx2", DIF__ISA_AVX2},
              {"avx512", DIF__ISA_AVX512}};
  for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++)
    if (strcasecmp(v, caps[i].name) == 0) {
      cap = caps[i].isa;
      snprintf(cap_note, sizeof cap_note,
               "DIF_MAX_CPU_ISA=%s: libdif and oneDNN run as on a CPU with no more than %s and "
               "no AMX",
               v, caps[i].name);
      return;
    }
  snprintf(cap_note, sizeof cap_note,
           "DIF_MAX_CPU_ISA=%.40s%s is none of avx512, avx2, avx, sse: ignored", v,
           strlen(v) > 40 ? "..." : "");
}

dif__isa dif__cpu_isa_uncapped(void) {
  pthread_once(&cap_once, cap_read);
  return cpu_level;
}

/* AMD family 0x19, read once (CPUID traps to the hypervisor in a VM) */
static pthread_once_t family_once = PTHREAD_ONCE_INIT;
static bool amd_family_19;

static void family_read(void) {
#ifdef DIF__X86
  unsigned a, b, c, d;
  if (!cpu_is_amd() || !__get_cpuid(1, &a, &b, &c, &d)) return;
  const unsigned family = ((a >> 8) & 0xf) + (((a >> 8) & 0xf) == 0xf ? (a >> 20) & 0xff : 0);
  amd_family_19 = family == 0x19; /* Zen 3 and Zen 4; Zen 5 (0x1a) has full-width 512-bit units */
#endif
}

bool dif__cpu_avx512_split(void) {
  if (dif__cpu_isa() < DIF__ISA_AVX512) return false; /* Zen 3 has none */
  pthread_once(&family_once, family_read);
  return amd_family_19;
}

dif__isa dif__cpu_isa_cap(void) {
  pthread_once(&cap_once, cap_read);
  return cap;
}

const char *dif__cpu_isa_env_note(void) {
  pthread_once(&cap_once, cap_read);
  return cap_note[0] ? cap_note : NULL;
}

dif__isa dif__cpu_isa(void) {
  const dif__isa cpu = dif__cpu_isa_uncapped(), c = dif__cpu_isa_cap();
  return c != DIF__ISA_UNKNOWN && cpu != DIF__ISA_UNKNOWN && c < cpu ? c : cpu;
}

dif__isa dif__blas_core_isa(const char *name) {
  static const struct {
    const char *name;
    dif__isa isa;
  } cores[] = {
      {"SkylakeX", DIF__ISA_AVX512},
      {"Cooperlake", DIF__ISA_AVX512},
      {"SapphireRapids", DIF__ISA_AVX512},
      {"Haswell", DIF__ISA_AVX2},
      {"Zen", DIF__ISA_AVX2},
      {"Sandybridge", DIF__ISA_AVX},
      {"Bulldozer", DIF__ISA_AVX},
      {"Piledriver", DIF__ISA_AVX},
      {"Steamroller", DIF__ISA_AVX},
      {"Excavator", DIF__ISA_AVX},
      {"Prescott", DIF__ISA_SSE},
      {"Core2", DIF__ISA_SSE},
      {"Penryn", DIF__ISA_SSE},
      {"Dunnington", DIF__ISA_SSE},
      {"Nehalem", DIF__ISA_SSE},
      {"Atom", DIF__ISA_SSE},
      {"Barcelona", DIF__ISA_SSE},
      {"Opteron", DIF__ISA_SSE},
      {"Opteron_SSE3", DIF__ISA_SSE},
      {"Nano", DIF__ISA_SSE},
      {"Bobcat", DIF__ISA_SSE},
      {"Katmai", DIF__ISA_SSE},
      {"Coppermine", DIF__ISA_SSE},
      {"Northwood", DIF__ISA_SSE},
      {"Banias", DIF__ISA_SSE},
      {"Athlon", DIF__ISA_SSE},
  };
  if (!name) return DIF__ISA_UNKNOWN;
  for (size_t i = 0; i < sizeof cores / sizeof cores[0]; i++)
    if (strcasecmp(name, cores[i].name) == 0) return cores[i].isa;
  return DIF__ISA_UNKNOWN;
}

const char *dif__blas_best_core(dif__isa isa) {
  switch (isa) {
  case DIF__ISA_AVX512: return "SkylakeX";
#ifdef DIF__X86
  case DIF__ISA_AVX2: return cpu_is_amd() ? "Zen" : "Haswell";
#else
  case DIF__ISA_AVX2: return "Haswell";
#endif
  case DIF__ISA_AVX: return "Sandybridge";
  default: return NULL;
  }
}

/* ---- the library ---- */

typedef void (*void_fn)(void);

typedef struct openblas_syms {
  void **gotoblas;
  void_fn dynamic_init, dynamic_quit;
} openblas_syms;

/* The library that provides cblas_sgemm (loaded: libdif links it), to look
 * up its other entry points in; NULL if it cannot be found. dlclose it after
 * (the library stays loaded). */
static void *blas_library(void) {
  Dl_info info;
  if (!dladdr((void *)(uintptr_t)&cblas_sgemm, &info) || !info.dli_fname) return NULL;
  return dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
}

/* The switching entry points of the library that provides cblas_sgemm. */
static bool find_syms(openblas_syms *s) {
  void *h = blas_library();
  if (!h) return false;
  s->gotoblas = (void **)dlsym(h, "gotoblas");
  /* POSIX guarantees that a dlsym result converts to a function pointer. */
  void *i = dlsym(h, "gotoblas_dynamic_init"), *q = dlsym(h, "gotoblas_dynamic_quit");
  memcpy(&s->dynamic_init, &i, sizeof i);
  memcpy(&s->dynamic_quit, &q, sizeof q);
  dlclose(h); /* the library stays loaded: libdif links it */
  return s->gotoblas && *s->gotoblas && i && q;
}

const char *dif__blas_corename(void) {
  dif__blas_init();
  const char *name = openblas_get_corename();
  return name ? name : "unknown";
}

bool dif__blas_switch_core(const char *name) {
  openblas_syms s;
  if (!name || !find_syms(&s)) return false;
  const char *user = getenv("OPENBLAS_CORETYPE");
  char saved[64] = "";
  if (user) snprintf(saved, sizeof saved, "%s", user);
  setenv("OPENBLAS_CORETYPE", name, 1);
  s.dynamic_quit();
  s.dynamic_init();
  if (user)
    setenv("OPENBLAS_CORETYPE", saved, 1);
  else
    unsetenv("OPENBLAS_CORETYPE");
  const char *now = openblas_get_corename();
  return now && strcasecmp(now, name) == 0;
}

/* Judges OpenBLAS's kernel choice against this CPU; changes nothing. */
static void check(void) {
  note[0] = '\0';
  recommended = NULL;
  const char *core = openblas_get_corename();
  const dif__isa have = dif__blas_core_isa(core), cpu = dif__cpu_isa();
  if (have == DIF__ISA_UNKNOWN || cpu == DIF__ISA_UNKNOWN) return; /* nothing we can judge */
  const char *best = dif__blas_best_core(cpu);
  const char *user = getenv("OPENBLAS_CORETYPE");
  if (have <= cpu && (user || have >= cpu || !best)) return; /* runnable; best or user's choice */
  recommended = best ? best : "Prescott";
  if (have > dif__cpu_isa_uncapped())
    snprintf(note, sizeof note,
             "OpenBLAS runs the %s kernels, which this CPU/OS cannot run; set "
             "OPENBLAS_CORETYPE=%s",
             core, recommended);
  else if (have > cpu) /* runnable, above DIF_MAX_CPU_ISA */
    snprintf(note, sizeof note,
             "OpenBLAS runs the %s kernels, above DIF_MAX_CPU_ISA's cap; set "
             "OPENBLAS_CORETYPE=%s to run as such a CPU would",
             core, recommended);
  else
    snprintf(note, sizeof note,
             "OpenBLAS runs the %s kernels, slower than this CPU supports; set "
             "OPENBLAS_CORETYPE=%s before the program starts, or call dif_blas_setup() at its "
             "start",
             core, recommended);
}

void dif__blas_init(void) { pthread_once(&once, check); }

void dif__blas_recheck(void) {
  dif__blas_init();
  check();
}

const char *dif__blas_note(void) {
  dif__blas_init();
  return note[0] ? note : NULL;
}

const char *dif__blas_recommended_coretype(void) {
  dif__blas_init();
  return recommended;
}

bool dif__blas_runnable(void) {
  const dif__isa have = dif__blas_core_isa(openblas_get_corename()),
                 cpu = dif__cpu_isa_uncapped(); /* DIF_MAX_CPU_ISA does not make them fault */
  return have == DIF__ISA_UNKNOWN || cpu == DIF__ISA_UNKNOWN || have <= cpu;
}

bool dif__blas_use_best_core(char *msg, size_t size) {
  if (size) msg[0] = '\0';
  dif__blas_recheck();
  if (!recommended) return true; /* already the best (or nothing known) */
  const char *was = openblas_get_corename(), *target = recommended;
  char from[32];
  snprintf(from, sizeof from, "%s", was ? was : "unknown");
  if (!dif__blas_switch_core(target)) {
    snprintf(msg, size,
             "OpenBLAS runs the %s kernels and cannot switch them to %s (not a DYNAMIC_ARCH "
             "build?); set OPENBLAS_CORETYPE=%s before the program starts",
             from, target, target);
    return false;
  }
  snprintf(msg, size, "OpenBLAS chose the %s kernels; switched to %s", from,
           openblas_get_corename());
  dif__blas_recheck();
  return true;
}

/* ---- OpenBLAS's idle threads ----
 *
 * After each product the worker threads of a pthreads OpenBLAS (Debian's
 * libopenblas0-pthread) keep polling for the next one, calling sched_yield,
 * for 2^28 cycles (~0.1 s: THREAD_TIMEOUT in driver/others/blas_server.c)
 * before they sleep on a condition variable. libdif's pool runs its own
 * kernels right after products (Winograd transforms, norms, the fused
 * attention) on as many threads as there are cores, so a polling worker
 * takes a core from them. Zen 3, 2 cores, exact VAE decode 512²: 8.2–9.6 s
 * with the default, 7.0–7.3 s with workers that sleep at once; a UNet step
 * and the prior unchanged, the text encoder ~0.05 s slower
 * (docs/performance.md). OpenBLAS's own knob is OPENBLAS_THREAD_TIMEOUT
 * (log2 of the cycles; 4 is its minimum), read once at load
 * (openblas_read_env) and applied when it starts its threads
 * (blas_thread_init). The opt-in does what a start with the variable set
 * would: set it, re-read the environment, stop the threads and start them
 * again (blas_thread_shutdown_ / blas_thread_init, which OpenBLAS itself runs
 * around every fork()), then restore the environment (OpenBLAS keeps the
 * timeout it applied; the threads' working buffers are reused). A timeout the
 * user set is kept. All three entry points are exported by OpenBLAS 0.3.x. */
#define IDLE_TIMEOUT "4"

typedef int (*int_fn)(void);

/* What dif__blas_idle_threads says; NULL: OpenBLAS's default. */
static _Atomic(const char *) idle_state = NULL;
static const char idle_by_env[] = "as the environment's OPENBLAS_THREAD_TIMEOUT says";

bool dif__blas_sleep_idle_threads(char *msg, size_t size) {
  if (size) msg[0] = '\0';
  const char *user = getenv("OPENBLAS_THREAD_TIMEOUT");
  if (user) {
    atomic_store(&idle_state, idle_by_env);
    return true;
  }
  if (openblas_get_parallel() != 1) { /* sequential or OpenMP: no polling threads of its own */
    atomic_store(&idle_state, "none of OpenBLAS's own (not its pthreads build)");
    return true;
  }
  void *h = blas_library();
  void *r = h ? dlsym(h, "openblas_read_env") : NULL,
       *q = h ? dlsym(h, "blas_thread_shutdown_") : NULL,
       *i = h ? dlsym(h, "blas_thread_init") : NULL;
  if (h) dlclose(h);
  if (!r || !q || !i) {
    snprintf(msg, size,
             "OpenBLAS's threads poll ~0.1 s after each product and this BLAS cannot restart "
             "them; set OPENBLAS_THREAD_TIMEOUT=%s before the program starts",
             IDLE_TIMEOUT);
    return false;
  }
  void_fn read_env;
  int_fn shutdown, init;
  memcpy(&read_env, &r, sizeof r);
  memcpy(&shutdown, &q, sizeof q);
  memcpy(&init, &i, sizeof i);
  setenv("OPENBLAS_THREAD_TIMEOUT", IDLE_TIMEOUT, 1);
  read_env();
  shutdown();
  init();
  unsetenv("OPENBLAS_THREAD_TIMEOUT");
  read_env();
  atomic_store(&idle_state, "sleep right after each product (dif_blas_setup)");
  return true;
}

const char *dif__blas_idle_threads(void) {
  const char *s = atomic_load(&idle_state);
  if (s) return s;
  /* read at OpenBLAS's start; a program (the Python package) may set it before */
  return getenv("OPENBLAS_THREAD_TIMEOUT")
             ? idle_by_env
             : "poll for ~0.1 s after each product (OpenBLAS's default; see dif_blas_setup)";
}

/* ---- OpenBLAS's working buffers ----
 *
 * OpenBLAS gives each thread that runs a large product a buffer of
 * BUFFER_SIZE (128 MiB of address space in Debian's 0.3.21 x86-64 build:
 * driver/others/memory.c, seen as a 128 MiB + 4 KiB malloc/mmap), taken
 * when the thread first needs it and kept for the life of the process.
 * When that allocation fails (e.g. under `ulimit -v`), blas_memory_alloc
 * retries forever: the process spins at 100 % CPU and cannot even exit,
 * since exit joins the spinning thread. So libdif never lets OpenBLAS meet
 * a failing allocation: dif__blas_reserve first checks that the address
 * space for every thread's buffer is there (one PROT_NONE mapping of that
 * size, released at once), then runs one product large enough to involve
 * every OpenBLAS thread, so all the buffers exist before libdif allocates
 * anything for a run. Calls are serialised (call_lock in gemm.c) so that
 * concurrent samples never make OpenBLAS take a second caller buffer. */
#define SLOT_BYTES ((size_t)129 << 20) /* BUFFER_SIZE + alignment slack, per thread */

static pthread_mutex_t reserve_lock = PTHREAD_MUTEX_INITIALIZER;
static int reserved_threads; /* OpenBLAS threads whose buffers exist */

/* The warm-up for `threads` OpenBLAS threads (their buffers' address space
 * probed first). */
static dif_status warm_up(int threads, dif__error *err) {
  /* The warm-up product: n × n × n, split over every thread by OpenBLAS. */
  const int n = threads * 256 < 512 ? 512 : threads * 256 > 2048 ? 2048 : threads * 256;
  float *a = calloc((size_t)n * n, sizeof *a), *c = calloc((size_t)n * n, sizeof *c);
  const size_t need = (size_t)threads * SLOT_BYTES;
  void *probe =
      a && c ? mmap(NULL, need, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
             : MAP_FAILED;
  dif_status st = DIF_OK;
  if (probe == MAP_FAILED) {
    st = dif__fail(err, DIF_ERR_OUT_OF_MEMORY,
                   "out of memory: the BLAS library needs %zu MiB of address space for its "
                   "working buffers (%d thread%s), and not that much is left (a memory limit?)",
                   need >> 20, threads, threads == 1 ? "" : "s");
  } else {
    munmap(probe, need);
    dif__gemm(false, false, n, n, n, 1.0f, a, n, a, n, 0.0f, c, n);
  }
  free(a);
  free(c);
  return st;
}

dif_status dif__blas_reserve(dif__error *err) {
  pthread_mutex_lock(&reserve_lock);
  const int threads = openblas_get_num_threads() > 0 ? openblas_get_num_threads() : 1;
  dif_status st = DIF_OK;
  if (threads > reserved_threads && !(st = warm_up(threads, err))) reserved_threads = threads;
  pthread_mutex_unlock(&reserve_lock);
  return st;
}

void dif__blas_set_threads(int n) { openblas_set_num_threads(n); }

int dif__blas_threads(void) { return openblas_get_num_threads(); }

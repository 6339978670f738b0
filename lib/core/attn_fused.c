/* attn_fused.c — the fused bf16 attention's choice of build, the CPU and OS
 * checks for the native ones, and the portable build: attn_fused_impl.h with
 * VDPBF16PS and VCVTNEPS2BF16 modelled in plain C (attn_fused_lanes_c.h). The
 * portable builds are what the tests run on every CPU; the models use the
 * best native build (attn_fused_avx512.c, attn_fused_amx.c) and keep the
 * unfused path where none runs.
 */
#include "core/attn_fused.h"

#include "core/blas.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(DIF_HAVE_AMX_KERNELS)
#include <cpuid.h>
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

bool dif__attn_fused_fits(const dif__attention_params *p) {
  return p && !p->mask && !p->causal && p->scale > 0.0f && p->dim >= 1 &&
         p->dim <= DIF__ATTN_FUSED_DIM_MAX;
}

static bool avx512bf16_runs(void) {
#if defined(DIF_HAVE_AVX512BF16_KERNELS)
  /* AVX-512 F/VL with the OS's zmm state, under DIF_MAX_CPU_ISA; and BF16 */
  __builtin_cpu_init();
  return dif__cpu_isa() >= DIF__ISA_AVX512 && __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

#if defined(DIF_HAVE_AMX_KERNELS)
/* AMX's state: CPUID (AMX-TILE, AMX-BF16), the OS's XCR0 (XTILECFG and
 * XTILEDATA, bits 17 and 18), and on Linux the process's permission to use
 * tile data, which Linux grants on request (arch_prctl ARCH_REQ_XCOMP_PERM,
 * 0x1023, for XFEATURE_XTILEDATA, 18; Linux 5.16 and later) and without which
 * the first tile instruction raises SIGILL. oneDNN asks the same for its own
 * AMX kernels; asking twice is harmless. Asked once per process. */
enum { AMX_UNKNOWN, AMX_RUNS, AMX_NO_CPU, AMX_NO_OS, AMX_REFUSED, AMX_CAPPED };
static atomic_int amx_state, amx_errno;

static int amx_probe(void) {
  if (dif__cpu_isa_cap() != DIF__ISA_UNKNOWN) return AMX_CAPPED; /* any cap excludes AMX */
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!avx512bf16_runs() || !__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 22)) ||
      !(d & (1u << 24)))
    return AMX_NO_CPU;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return AMX_NO_OS; /* OSXSAVE */
  unsigned lo, hi;
  __asm__ __volatile__(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0)); /* xgetbv */
  (void)hi;
  if ((lo & 0x60000u) != 0x60000u) return AMX_NO_OS;
#if defined(__linux__)
  if (syscall(SYS_arch_prctl, 0x1023, 18) != 0) {
    atomic_store(&amx_errno, errno);
    return AMX_REFUSED;
  }
#endif
  return AMX_RUNS;
}
#endif

bool dif__attn_fused_runs(dif__attn_fused_isa isa, char *why, size_t why_size) {
  const char *no = NULL;
  char buf[128];
  switch (isa) {
  case DIF__ATTN_FUSED_PORTABLE:
  case DIF__ATTN_FUSED_TILES_MODEL:
#if !defined(__GNUC__)
    no = "the portable builds need GCC or Clang";
#endif
    break;
  case DIF__ATTN_FUSED_AVX512BF16:
#if defined(DIF_HAVE_AVX512BF16_KERNELS)
    if (!avx512bf16_runs())
      no = dif__cpu_isa_cap() != DIF__ISA_UNKNOWN && dif__cpu_isa_cap() < DIF__ISA_AVX512
               ? "DIF_MAX_CPU_ISA excludes AVX-512"
               : "the CPU has no AVX512-BF16";
#else
    no = "this build has no AVX512-BF16 kernels (compiler or target)";
#endif
    break;
  case DIF__ATTN_FUSED_AMX: {
#if defined(DIF_HAVE_AMX_KERNELS)
    int s = atomic_load(&amx_state);
    if (s == AMX_UNKNOWN) {
      s = amx_probe();
      atomic_store(&amx_state, s);
    }
    if (s == AMX_CAPPED)
      no = "DIF_MAX_CPU_ISA excludes AMX";
    else if (s == AMX_NO_CPU)
      no = "the CPU has no AMX-BF16 (with AVX512-BF16)";
    else if (s == AMX_NO_OS)
      no = "the OS does not enable AMX's tile state (XCR0)";
    else if (s == AMX_REFUSED) {
      snprintf(buf, sizeof buf, "Linux refused the permission to use AMX tiles (arch_prctl: %s)",
               strerror(atomic_load(&amx_errno)));
      no = buf;
    }
#else
    no = "this build has no AMX kernels (compiler or target)";
#endif
    break;
  }
  default: no = "no such build";
  }
  if (why && why_size) snprintf(why, why_size, "%s", no ? no : "");
  return !no;
}

/* DIF_FUSED_ATTENTION, read once per process: the highest build the models
 * may take (2 AMX, the default; 1 AVX512-BF16; 0 none: the unfused path),
 * and what the load log says of it. */
static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static int env_cap = 2;
static char env_note[160];

static void env_read(void) {
  const char *v = getenv("DIF_FUSED_ATTENTION");
  if (!v || !*v) return;
  static const char *const names[] = {"unfused", "avx512bf16", "amx"};
  for (int i = 0; i < 3; i++)
    if (strcmp(v, names[i]) == 0) {
      env_cap = i;
      snprintf(env_note, sizeof env_note, "DIF_FUSED_ATTENTION=%s: %s", names[i],
               i == 2   ? "the best build (as when unset)"
               : i == 1 ? "never the AMX build"
                        : "every attention unfused (fast's products on the fast backend, "
                          "exact's on OpenBLAS)");
      return;
    }
  snprintf(env_note, sizeof env_note,
           "DIF_FUSED_ATTENTION=%.40s%s is none of amx, avx512bf16, unfused: ignored", v,
           strlen(v) > 40 ? "..." : "");
}

const char *dif__attn_fused_env_note(void) {
  pthread_once(&env_once, env_read);
  return env_note[0] ? env_note : NULL;
}

dif__attn_fused_isa dif__attn_fused_best(void) {
  pthread_once(&env_once, env_read);
  if (env_cap >= 2 && dif__attn_fused_runs(DIF__ATTN_FUSED_AMX, NULL, 0))
    return DIF__ATTN_FUSED_AMX;
  if (env_cap >= 1 && dif__attn_fused_runs(DIF__ATTN_FUSED_AVX512BF16, NULL, 0))
    return DIF__ATTN_FUSED_AVX512BF16;
  return DIF__ATTN_FUSED_PORTABLE;
}

bool dif__attn_fused_enabled(void) {
  pthread_once(&env_once, env_read);
  return env_cap > 0;
}

bool dif__attn_fused_native(void) { return dif__attn_fused_best() != DIF__ATTN_FUSED_PORTABLE; }

const char *dif__attn_fused_isa_name(dif__attn_fused_isa isa) {
  switch (isa) {
  case DIF__ATTN_FUSED_PORTABLE: return "portable";
  case DIF__ATTN_FUSED_TILES_MODEL: return "AMX tile model";
  case DIF__ATTN_FUSED_AVX512BF16: return "AVX512-BF16";
  case DIF__ATTN_FUSED_AMX: return "AMX";
  }
  return "unknown";
}

dif_status dif__attn_fused(const dif__kctx *k, const dif__attention_params *p, const float *q,
                           const float *kk, const float *v, float *out, dif__attn_fused_isa isa,
                           dif__error *err) {
  if (!k || !k->arena || !dif__attn_fused_fits(p) || !q || !kk || !v || !out)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "fused attention: NULL argument, a mask, causal, a scale <= 0 or a head "
                     "dimension over %d",
                     DIF__ATTN_FUSED_DIM_MAX);
  char why[160];
  if (!dif__attn_fused_runs(isa, why, sizeof why))
    return dif__fail(err, DIF_ERR_UNSUPPORTED, "fused attention's %s build: %s",
                     dif__attn_fused_isa_name(isa), why);
  if (p->tq == 0) return DIF_OK;
  switch (isa) {
#if defined(DIF_HAVE_AVX512BF16_KERNELS)
  case DIF__ATTN_FUSED_AVX512BF16: return dif__attn_fused_avx512bf16(k, p, q, kk, v, out, err);
#endif
#if defined(DIF_HAVE_AMX_KERNELS)
  case DIF__ATTN_FUSED_AMX: return dif__attn_fused_amx(k, p, q, kk, v, out, err);
#endif
#if defined(__GNUC__)
  case DIF__ATTN_FUSED_TILES_MODEL: return dif__attn_fused_tiles_model(k, p, q, kk, v, out, err);
#endif
  default: return dif__attn_fused_portable(k, p, q, kk, v, out, err);
  }
}

#if defined(__GNUC__)

#include "core/attn_fused_lanes_c.h"

#define AF(name) name##_portable
#include "core/attn_fused_impl.h"

#else

dif_status dif__attn_fused_portable(const dif__kctx *k, const dif__attention_params *p,
                                    const float *q, const float *kk, const float *v, float *out,
                                    dif__error *err) {
  (void)k, (void)p, (void)q, (void)kk, (void)v, (void)out;
  return dif__fail(err, DIF_ERR_UNSUPPORTED, "fused attention: needs GCC or Clang");
}

#endif

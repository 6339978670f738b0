/* backend.c — the backend registry, the argument checks every call gets,
 * and a description of the CPU for messages (see backend.h). */
#include "core/backend.h"

#include <stdio.h>
#include <string.h>

#include "core/blas.h"
#include "core/ops_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define DIF__X86 1
#endif

/* ---- the registry: one row per backend ---- */

static const dif__backend_row rows[] = {
    {"openblas", &dif__backend_openblas, NULL},
#ifdef DIF_HAVE_ONEDNN
    {"onednn", &dif__backend_onednn, NULL},
#else
    {"onednn", NULL,
     "this libdif was built without oneDNN (libdnnl-dev was not found when it was configured; "
     "tools/install-deps installs it)"},
#endif
};
#define N_ROWS ((int)(sizeof rows / sizeof rows[0]))

int dif__backend_count(void) { return N_ROWS; }

const dif__backend_row *dif__backend_row_at(int i) {
  return i >= 0 && i < N_ROWS ? &rows[i] : NULL;
}

const dif__backend *dif__backend_find(const char *name) {
  if (!name) return NULL;
  for (int i = 0; i < N_ROWS; i++)
    if (rows[i].backend && strcmp(rows[i].name, name) == 0) return rows[i].backend;
  return NULL;
}

/* ---- argument checks ---- */

static bool is_math(dif__dtype t) { return t == DIF__DTYPE_F32 || t == DIF__DTYPE_BF16; }

static dif_status check_math(const dif__backend *b, dif__dtype math, dif__error *err) {
  if (!is_math(math))
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "backend %s: products are computed in f32 or bf16, not %s", b->name,
                     dif__dtype_name(math));
  char why[256] = "";
  if (!b->supports(math, why, sizeof why))
    return dif__fail(err, DIF_ERR_UNSUPPORTED, "backend %s: no %s products here: %s", b->name,
                     dif__dtype_name(math), why);
  return DIF_OK;
}

static dif_status check_dims(const char *what, const int64_t *d, int nd, dif__error *err) {
  for (int i = 0; i < nd; i++) {
    if (d[i] < 0)
      return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "%s: negative size %lld", what,
                       (long long)d[i]);
    if (d[i] > DIF__GEMM_DIM_MAX)
      return dif__fail(err, DIF_ERR_LIMIT, "%s: size %lld exceeds the limit of %d", what,
                       (long long)d[i], DIF__GEMM_DIM_MAX);
  }
  return DIF_OK;
}

dif_status dif__backend_pack(const dif__backend *b, const dif__kctx *kx, dif__dtype math,
                             dif__dtype src, const void *w, int64_t n, int64_t k, int64_t m_hint,
                             dif__packed **out, dif__error *err) {
  if (!out) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "backend pack: out is NULL");
  *out = NULL;
  if (!b || !w) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "backend pack: NULL argument");
  if (src != DIF__DTYPE_F32 && src != DIF__DTYPE_F16 && src != DIF__DTYPE_BF16)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "backend pack: unknown source dtype %d",
                     (int)src);
  const int64_t d[3] = {n, k, m_hint};
  dif_status st = check_dims("backend pack", d, 3, err);
  if (st) return st;
  if (n < 1 || k < 1)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "backend pack: empty weight [%lld, %lld]",
                     (long long)n, (long long)k);
  if ((st = check_math(b, math, err))) return st;
  return b->pack(kx, math, src, w, n, k, m_hint, out, err);
}

dif_status dif__packed_linear_cf(const dif__kctx *k, const dif__packed *w, const float *x,
                                 bool x_cf, int64_t m, const float *b, bool acc, float *y,
                                 bool y_cf, dif__error *err) {
  if (!w || !x || !y) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "linear: NULL argument");
  const int64_t d[1] = {m};
  dif_status st = check_dims("linear", d, 1, err);
  if (st || m == 0) return st;
  return w->backend->linear(k, w, x, x_cf, m, b, acc, y, y_cf, err);
}

dif_status dif__conv_bf16_run(const dif__kctx *k, const dif__conv *w, int64_t N, int64_t Hin,
                              int64_t Win, const uint16_t *src, const float *bias, bool acc,
                              float *dst, dif__error *err) {
  if (!w || !src || !dst)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "bf16 convolution: NULL argument");
  const int64_t d[3] = {N, Hin, Win};
  dif_status st = check_dims("bf16 convolution", d, 3, err);
  if (st || N == 0) return st;
  if (!w->backend->conv_bf16_run || w->math != DIF__DTYPE_BF16)
    return dif__fail(err, DIF_ERR_UNSUPPORTED,
                     "bf16 convolution: the %s backend has none for a %s-prepared weight",
                     w->backend->name, dif__dtype_name(w->math));
  if (Hin < w->g.kh || Win + w->g.pad_left + w->g.pad_right < w->g.kw)
    return dif__fail(
        err, DIF_ERR_INVALID_ARGUMENT,
        "bf16 convolution: a %lld x %lld source has no output for a %lld x %lld kernel",
        (long long)Hin, (long long)Win, (long long)w->g.kh, (long long)w->g.kw);
  return w->backend->conv_bf16_run(k, w, N, Hin, Win, src, bias, acc, dst, err);
}

dif_status dif__packed_linear(const dif__kctx *k, const dif__packed *w, const float *x, int64_t m,
                              const float *b, bool acc, float *y, dif__error *err) {
  return dif__packed_linear_cf(k, w, x, false, m, b, acc, y, false, err);
}

dif_status dif__backend_matmul(const dif__backend *b, const dif__kctx *k, dif__dtype math,
                               bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                               float alpha, const float *A, int64_t lda, const float *B,
                               int64_t ldb, float beta, float *C, int64_t ldc, dif__error *err) {
  if (!b || !C) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "matmul: NULL argument");
  const int64_t d[6] = {M, N, K, lda, ldb, ldc};
  dif_status st = check_dims("matmul", d, 6, err);
  if (st) return st;
  if ((st = check_math(b, math, err))) return st;
  if (M == 0 || N == 0) return DIF_OK;
  if (ldc < N)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "matmul: ldc %lld < N %lld", (long long)ldc,
                     (long long)N);
  if (K == 0) { /* nothing to multiply: C = beta·C, as dif__gemm */
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    return DIF_OK;
  }
  if (!A || !B) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "matmul: NULL argument");
  if (lda < (trans_a ? M : K) || ldb < (trans_b ? K : N))
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "matmul: leading dimensions lda %lld, ldb %lld too small for M %lld, N %lld, "
                     "K %lld",
                     (long long)lda, (long long)ldb, (long long)M, (long long)N, (long long)K);
  return b->matmul(k, math, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, err);
}

void dif__packed_free(dif__packed *w) {
  if (w) w->backend->packed_free(w);
}

const dif__backend *dif__backend_fast_native(char *why, size_t size) {
  for (int i = 0; i < N_ROWS; i++) {
    const dif__backend *b = rows[i].backend;
    char tmp[256] = "";
    if (b && b->supports(DIF__DTYPE_BF16, tmp, sizeof tmp) && b->native(DIF__DTYPE_BF16)) return b;
  }
  if (why && size) {
    char cpu[160];
    dif__cpu_describe(cpu, sizeof cpu);
#ifdef DIF_HAVE_ONEDNN
    snprintf(why, size,
             "no backend runs bf16 natively here (it needs AVX512-BF16 or AMX; this CPU: %s)", cpu);
#else
    snprintf(why, size, "this libdif was built without oneDNN, its only bf16 backend (CPU: %s)",
             cpu);
#endif
  }
  return NULL;
}

/* ---- the CPU, for messages ---- */

void dif__cpu_describe(char *buf, size_t size) {
  if (!size) return;
  buf[0] = '\0';
#ifdef DIF__X86
  unsigned a, b, c, d;
  char brand[49] = "";
  if (__get_cpuid(0x80000000u, &a, &b, &c, &d) && a >= 0x80000004u) {
    for (unsigned i = 0; i < 3; i++) {
      unsigned r[4];
      __get_cpuid(0x80000002u + i, &r[0], &r[1], &r[2], &r[3]);
      memcpy(brand + 16 * i, r, sizeof r);
    }
    brand[48] = '\0';
  }
  const char *s = brand;
  while (*s == ' ') s++;
  size_t len = strlen(s);
  while (len && s[len - 1] == ' ') len--;
  const dif__isa isa = dif__cpu_isa_uncapped(), cap = dif__cpu_isa_cap();
  unsigned a1 = 0, b1 = 0, c1 = 0, d1 = 0, a0 = 0, b0 = 0, c0 = 0, d0 = 0;
  __get_cpuid_count(7, 0, &a0, &b0, &c0, &d0);
  const bool bf16 =
      isa >= DIF__ISA_AVX512 && __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1) && (a1 & (1u << 5));
  const bool amx = (d0 & (1u << 22)) && (d0 & (1u << 24)); /* AMX-BF16 and AMX-TILE */
  const char *level = isa == DIF__ISA_AVX512 ? "AVX-512"
                      : isa == DIF__ISA_AVX2 ? "AVX2, no AVX-512"
                      : isa == DIF__ISA_AVX  ? "AVX, no AVX2"
                      : isa == DIF__ISA_SSE  ? "SSE only"
                                             : "unknown SIMD";
  static const char *const cap_names[] = {"SSE", "AVX", "AVX2", "AVX-512 without AMX"};
  char capped[80] = "";
  if (cap != DIF__ISA_UNKNOWN && isa != DIF__ISA_UNKNOWN && (cap < isa || amx))
    snprintf(capped, sizeof capped, "; run as %s (DIF_MAX_CPU_ISA)",
             cap_names[cap < isa ? cap : isa]);
  snprintf(buf, size, "%.*s%s%s%s%s%s", (int)len, s, len ? ": " : "", level,
           isa == DIF__ISA_AVX512 ? (bf16 ? ", AVX512_BF16" : ", no AVX512_BF16") : "",
           isa == DIF__ISA_AVX512 ? (amx ? ", AMX" : ", no AMX") : "", capped);
#else
  snprintf(buf, size, "not an x86 CPU");
#endif
}

/* The GEMM backends (core/backend.h) and the bf16 rounding model
 * (core/dtype.h) against double-precision references.
 *
 * Every built backend × every precision it claims on this CPU × every
 * weight dtype (F32, F16, BF16) × ragged shapes (M, N, K not multiples of
 * 16; K = 1, N = 1, M = 1; large K), for linear (bias, accumulate, a packed
 * layout chosen for another row count) and matmul (transposes, leading
 * dimensions, alpha, beta).
 *
 * Bounds.
 *   float32: normalised MSE ≤ NMSE_MAX (1e-10), as every float32 kernel.
 *   bf16 (inputs rounded to bf16, unit roundoff u = 2^-8; products exact in
 *   float32; float32 accumulation):
 *   (a) against the double product of the bf16-rounded inputs (the rounding
 *       model of core/dtype.h): NMSE ≤ NMSE_MAX — only the float32
 *       accumulation differs, so this pins the rounding rule itself
 *       (truncation instead of round-to-nearest-even would fail by ~10^5);
 *   (b) against the exact double product of the float32 inputs: each term
 *       a·w becomes a·w·(1+δ1)(1+δ2), |δ| ≤ u, so
 *         |e_ij| ≤ (2u + u²)·Σ_l |a_il·w_jl| + (K+2)·2^-23·Σ_l |a_il·w_jl|
 *       element by element (the second term bounds float32 accumulation
 *       and the bias add), and in relative L2
 *         ‖E‖ / ‖Y‖ ≤ (2u + u²)·ρ + (K+2)·2^-23·ρ₁,
 *       ρ = sqrt(Σ_ij Σ_l (a_il·w_jl)²) / ‖Y‖, ρ₁ = ‖Σ_l |a·w|‖ / ‖Y‖.
 *       The expected error is u·ρ/√3 (the RNE relative error has mean
 *       square u²/6 per input), so the L2 bound has a margin of about 3.5
 *       for large K and is exact in the worst case for K = 1.
 *
 * On a CPU without the bf16 path the bf16 cases print
 * "bf16: skipped, needs AVX-512 (this CPU: ...)"; a backend this build
 * lacks prints "<name>: missing: ..."; run as `test-backend bf16`, the
 * program exits 77 (ctest: skipped) when no backend runs bf16 here.
 */
#include <pthread.h>

#include "core/backend.h"
#include "core/dtype.h"
#include "core/ops_internal.h"
#include "ops_test_util.h"

static const double U = 1.0 / 256; /* bf16 unit roundoff 2^-8 */

static uint32_t f2u(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}
static float u2f(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* ---- the bf16 rounding model ---- */

TEST(bf16_rounding_edges) {
  /* exact values stay */
  CHECK(dif__bf16_from_f32(1.0f) == 0x3f80);
  CHECK(dif__bf16_from_f32(-2.0f) == 0xc000);
  CHECK(dif__bf16_from_f32(0.0f) == 0x0000);
  CHECK(dif__bf16_from_f32(-0.0f) == 0x8000);
  /* ties go to the even neighbour */
  CHECK(dif__bf16_from_f32(u2f(0x3f808000)) == 0x3f80); /* 1 + 2^-8: between 0x3f80 and 0x3f81 */
  CHECK(dif__bf16_from_f32(u2f(0x3f818000)) == 0x3f82); /* between 0x3f81 and 0x3f82 */
  CHECK(dif__bf16_from_f32(u2f(0xbf818000)) == 0xbf82); /* negative tie */
  /* just off a tie goes to the nearer */
  CHECK(dif__bf16_from_f32(u2f(0x3f808001)) == 0x3f81);
  CHECK(dif__bf16_from_f32(u2f(0x3f817fff)) == 0x3f81);
  /* a carry into the exponent */
  CHECK(dif__bf16_from_f32(u2f(0x3fffffff)) == 0x4000);
  /* Inf stays, the largest float rounds to Inf, the largest bf16 stays */
  CHECK(dif__bf16_from_f32(INFINITY) == 0x7f80);
  CHECK(dif__bf16_from_f32(-INFINITY) == 0xff80);
  CHECK(dif__bf16_from_f32(u2f(0x7f7fffff)) == 0x7f80);
  CHECK(dif__bf16_from_f32(u2f(0x7f7f0000)) == 0x7f7f);
  CHECK(dif__bf16_from_f32(u2f(0x7f7f7fff)) == 0x7f7f);
  /* NaN stays NaN (quiet, sign kept), never becomes Inf */
  const uint16_t qn = dif__bf16_from_f32(NAN);
  CHECK((qn & 0x7f80) == 0x7f80 && (qn & 0x7f) != 0);
  const uint16_t sn = dif__bf16_from_f32(u2f(0x7f800001)); /* payload only in dropped bits */
  CHECK((sn & 0x7f80) == 0x7f80 && (sn & 0x40) && !(sn & 0x8000));
  CHECK(dif__bf16_from_f32(u2f(0xff800001)) & 0x8000);
  CHECK(isnan(dif__bf16_round(NAN)));
  /* subnormals round like any value: the smallest float32 subnormal → +0,
   * a tie among subnormals to even, the largest subnormal to the smallest
   * normal bf16 */
  CHECK(dif__bf16_from_f32(u2f(0x00000001)) == 0x0000);
  CHECK(dif__bf16_from_f32(u2f(0x80000001)) == 0x8000);
  CHECK(dif__bf16_from_f32(u2f(0x00018000)) == 0x0002);
  CHECK(dif__bf16_from_f32(u2f(0x00028000)) == 0x0002);
  CHECK(dif__bf16_from_f32(u2f(0x007fffff)) == 0x0080);
  CHECK(dif__bf16_to_float(0x0001) == u2f(0x00010000));
  /* the relative error of rounding is at most u = 2^-8 over a sweep */
  uint64_t s = 7;
  double worst = 0;
  for (int i = 0; i < 100000; i++) {
    const float f = u2f((uint32_t)dif__test_rand_u64(&s) & 0x7effffffu) *
                    (dif__test_rand_u64(&s) & 1 ? 1.0f : -1.0f);
    if (!isnormal(f)) continue;
    const double r = fabs((double)dif__bf16_round(f) - f) / fabs((double)f);
    if (r > worst) worst = r;
    /* round trip of a bf16 value is exact */
    const uint16_t h = dif__bf16_from_f32(f);
    CHECK(dif__bf16_from_f32(dif__bf16_to_float(h)) == h);
  }
  CHECK_MSG(worst <= U, "worst relative rounding error %.3g > 2^-8", worst);
  CHECK(worst > 0.9 * U);
}

TEST(f16_decode) {
  CHECK(dif__f16_to_float(0x3c00) == 1.0f);
  CHECK(dif__f16_to_float(0xc000) == -2.0f);
  CHECK(dif__f16_to_float(0x7bff) == 65504.0f);
  CHECK(dif__f16_to_float(0x0001) == ldexpf(1.0f, -24)); /* smallest subnormal */
  CHECK(dif__f16_to_float(0x03ff) == ldexpf(1023.0f, -24));
  CHECK(dif__f16_to_float(0x7c00) == INFINITY);
  CHECK(isnan(dif__f16_to_float(0x7e00)));
  CHECK(f2u(dif__f16_to_float(0x8000)) == 0x80000000u);
  CHECK(dif__dtype_size(DIF__DTYPE_BF16) == 2 && dif__dtype_size(DIF__DTYPE_F32) == 4);
  CHECK(strcmp(dif__dtype_name(DIF__DTYPE_F16), "f16") == 0);
}

/* ---- what runs here ---- */

static bool bf16_only;   /* `test-backend bf16` */
static int bf16_runners; /* backends that ran bf16 */

static bool runs(const dif__backend *b, dif__dtype math, bool say) {
  char why[256] = "";
  const bool ok = b->supports(math, why, sizeof why);
  if (!ok && say) printf("%s %s: skipped, %s\n", b->name, dif__dtype_name(math), why);
  return ok;
}

TEST(registry) {
  char cpu[160];
  dif__cpu_describe(cpu, sizeof cpu);
  printf("this CPU: %s\n", cpu);
  CHECK(dif__backend_count() >= 2);
  CHECK(dif__backend_row_at(-1) == NULL && dif__backend_row_at(dif__backend_count()) == NULL);
  CHECK(dif__backend_find("openblas") == &dif__backend_openblas);
  CHECK(dif__backend_find("no-such") == NULL && dif__backend_find(NULL) == NULL);
  for (int i = 0; i < dif__backend_count(); i++) {
    const dif__backend_row *r = dif__backend_row_at(i);
    CHECK(r->name && *r->name);
    if (!r->backend) {
      CHECK(r->missing && *r->missing);
      printf("%s: missing: %s\n", r->name, r->missing);
      continue;
    }
    CHECK(strcmp(r->backend->name, r->name) == 0);
    CHECK(dif__backend_find(r->name) == r->backend);
    printf("%s: built (%s), ISA %s; f32 %s, bf16 %s\n", r->name, r->backend->what,
           r->backend->isa(), runs(r->backend, DIF__DTYPE_F32, false) ? "yes" : "no",
           runs(r->backend, DIF__DTYPE_BF16, false) ? "yes" : "no");
    CHECK(runs(r->backend, DIF__DTYPE_F32, true)); /* every backend does float32 */
    /* bf16 on tiles (AMX) is native bf16, named by the ISA; it decides fast's VAE convolutions
     * (dif__wino_for_fast: Winograd only without tiles) */
    const bool tiles = r->backend->bf16_tiles && r->backend->bf16_tiles();
    if (runs(r->backend, DIF__DTYPE_BF16, false))
      printf("%s: bf16 on matrix tiles: %s; fast's VAE 3x3 convolutions: %s\n", r->name,
             tiles ? "yes" : "no", dif__wino_for_fast(r->backend) ? "winograd" : "bf16");
    if (tiles) CHECK(r->backend->native(DIF__DTYPE_BF16) && strstr(r->backend->isa(), "amx"));
    CHECK(dif__wino_for_fast(r->backend) == !tiles);
  }
  CHECK(!dif__wino_for_fast(NULL));
  CHECK(!runs(&dif__backend_openblas, DIF__DTYPE_BF16, false));
#ifdef DIF_HAVE_ONEDNN
  CHECK(dif__backend_find("onednn") == &dif__backend_onednn);
#else
  CHECK(dif__backend_find("onednn") == NULL);
#endif
}

/* ---- references ---- */

/* Weight source data of a dtype, and its float32 value. */
typedef struct wdata {
  dif__dtype t;
  void *src;
  float *f; /* the exact float32 value of every element */
} wdata;

static wdata make_weight(dif__dtype t, size_t count, uint64_t seed) {
  wdata w = {t, NULL, fbuf(count)};
  uint64_t s = seed;
  if (t == DIF__DTYPE_F32) {
    dif__test_fill(w.f, count, seed, -1, 1);
    w.src = w.f;
    return w;
  }
  uint16_t *h = calloc(count ? count : 1, sizeof *h);
  if (!h) abort();
  for (size_t i = 0; i < count; i++) {
    if (t == DIF__DTYPE_F16) { /* sign, exponent 2^-7 .. 2^0, any mantissa */
      const uint64_t r = dif__test_rand_u64(&s);
      h[i] = (uint16_t)(((r & 1) << 15) | ((8 + (r >> 1) % 8) << 10) | ((r >> 8) & 0x3ff));
    } else {
      h[i] = dif__bf16_from_f32(dif__test_rand_uniform(&s, -1, 1));
    }
  }
  dif__dtype_to_f32(t, h, count, w.f);
  w.src = h;
  return w;
}

static void free_weight(wdata *w) {
  if (w->src != w->f) free(w->src);
  free(w->f);
}

/* The result's distance to the exact product, against the bf16 bound (b). */
typedef struct bound_stats {
  double worst_ratio; /* largest (relative L2) / (its bound) seen */
} bound_stats;
static bound_stats bf16_stats;

/* C[i, j] (ldc) = Σ_l a(i, l)·b(l, j) + bias[j] + c0 in double, with
 * operands through bf16 if round, and the sums S2 = Σ(a·b)², S1 = Σ|a·b| per
 * element for the bound. Accessors by pointer and strides. */
typedef struct mat {
  const float *p;
  int64_t rs, cs; /* element (r, c) at p[r·rs + c·cs] */
} mat;

static double at(mat m, int64_t r, int64_t c, bool round) {
  const float v = m.p[r * m.rs + c * m.cs];
  return round ? (double)dif__bf16_round(v) : (double)v;
}

static void ref_product(mat a, mat b, int64_t M, int64_t N, int64_t K, double alpha,
                        const float *bias, double beta, const float *c0, int64_t ldc, bool round,
                        double *out, double *s2, double *s1) {
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      double s = 0, q = 0, l1 = 0;
      for (int64_t l = 0; l < K; l++) {
        const double t = at(a, i, l, round) * at(b, l, j, round);
        s += t, q += t * t, l1 += fabs(t);
      }
      double v = alpha * s + (bias ? bias[j] : 0);
      if (beta != 0) v += beta * c0[i * ldc + j];
      out[i * ldc + j] = v;
      if (s2) s2[i * ldc + j] = alpha * alpha * q;
      if (s1) s1[i * ldc + j] = fabs(alpha) * l1 + (bias ? fabs(bias[j]) : 0);
    }
}

/* Checks a bf16 result y against the exact reference (bound b). */
static void check_bf16_bound(const float *y, const double *exact, const double *s2,
                             const double *s1, int64_t M, int64_t N, int64_t K, int64_t ldc,
                             const char *what) {
  const double acc = (double)(K + 2) * ldexp(1.0, -23);
  double e2 = 0, y2 = 0, q = 0, l1 = 0;
  int bad = 0;
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      const size_t x = (size_t)(i * ldc + j);
      const double e = (double)y[x] - exact[x];
      e2 += e * e, y2 += exact[x] * exact[x], q += s2[x], l1 += s1[x] * s1[x];
      if (fabs(e) > (2 * U + U * U + acc) * s1[x] + 1e-30) bad++;
    }
  CHECK_MSG(bad == 0, "%s: %d elements beyond the element-wise bf16 bound", what, bad);
  if (y2 == 0) return;
  const double rel = sqrt(e2 / y2);
  const double bound = (2 * U + U * U) * sqrt(q / y2) + acc * sqrt(l1 / y2);
  CHECK_MSG(rel <= bound, "%s: relative L2 %.3g > bound %.3g", what, rel, bound);
  if (rel / bound > bf16_stats.worst_ratio) bf16_stats.worst_ratio = rel / bound;
}

/* ---- linear ---- */

typedef struct shape {
  int64_t M, N, K;
} shape;

static const shape shapes[] = {
    {1, 1, 1},     {1, 1, 17},     {3, 1, 64},   {1, 5, 7},      {17, 33, 1},    {13, 7, 29},
    {31, 45, 100}, {64, 320, 320}, {5, 3, 4099}, {70, 19, 1283}, {129, 67, 300},
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

static void check_linear(const dif__backend *be, dif__dtype math, dif__dtype src, shape sh,
                         int64_t m_hint, bool bias, bool acc, uint64_t seed) {
  const int64_t M = sh.M, N = sh.N, K = sh.K;
  char what[160];
  snprintf(what, sizeof what, "%s %s linear, %s weights, M %lld N %lld K %lld%s%s, m_hint %lld",
           be->name, dif__dtype_name(math), dif__dtype_name(src), (long long)M, (long long)N,
           (long long)K, bias ? ", bias" : "", acc ? ", acc" : "", (long long)m_hint);
  kenv e;
  kenv_init(&e, 2);
  dif__error err;
  dif__error_clear(&err);
  wdata w = make_weight(src, (size_t)(N * K), seed);
  float *x = frand((size_t)(M * K), seed + 1, -1, 1);
  float *b = bias ? frand((size_t)N, seed + 2, -1, 1) : NULL;
  float *y0 = frand((size_t)(M * N), seed + 3, -1, 1);
  float *y = fbuf((size_t)(M * N));
  memcpy(y, y0, (size_t)(M * N) * sizeof *y);
  double *ref = dbuf((size_t)(M * N)), *s2 = dbuf((size_t)(M * N)), *s1 = dbuf((size_t)(M * N));
  const mat xa = {x, K, 1}, wt = {w.f, 1, K}; /* Wᵀ: element (l, j) = W[j, l] */

  dif__packed *p = NULL;
  CHECK_STATUS(dif__backend_pack(be, &e.k, math, src, w.src, N, K, m_hint, &p, &err), DIF_OK,
               err.msg, "");
  /* its scratch released; onednn stages an F16 weight there (as bf16 or float32) */
  CHECK_MSG(e.arena.used_total == 0, "%s: packing left %zu bytes of the arena in use", what,
            e.arena.used_total);
  if (p && be == &dif__backend_onednn && src == DIF__DTYPE_F16)
    CHECK_MSG(dif__arena_peak(&e.arena) >= (size_t)(N * K) * 2,
              "%s: the F16 weight was not staged in the context's arena (peak %zu)", what,
              dif__arena_peak(&e.arena));
  if (p) {
    CHECK(p->backend == be && p->n == N && p->k == K && p->math == math && p->src == src);
    CHECK_STATUS(dif__packed_linear(&e.k, p, x, M, b, acc, y, &err), DIF_OK, err.msg, "");
    ref_product(xa, wt, M, N, K, 1, b, acc ? 1 : 0, y0, N, math == DIF__DTYPE_BF16, ref, NULL,
                NULL);
    double nmse = dif__test_nmse(y, ref, (size_t)(M * N));
    CHECK_MSG(nmse <= NMSE_MAX, "%s: nmse %.3g > %.3g (against the %s reference)", what, nmse,
              NMSE_MAX, math == DIF__DTYPE_BF16 ? "bf16-rounded" : "float32");
    if (math == DIF__DTYPE_BF16) {
      ref_product(xa, wt, M, N, K, 1, b, acc ? 1 : 0, y0, N, false, ref, s2, s1);
      check_bf16_bound(y, ref, s2, s1, M, N, K, N, what);
    }
    if (be == &dif__backend_openblas) { /* the exact path, bit for bit */
      float *yd = fbuf((size_t)(M * N));
      memcpy(yd, y0, (size_t)(M * N) * sizeof *yd);
      if (acc)
        dif__linear_acc(&e.k, x, M, K, dif__weight_f32(w.f, N * K), b, N, yd);
      else
        dif__linear(&e.k, x, M, K, dif__weight_f32(w.f, N * K), b, N, yd);
      CHECK_MSG(memcmp(y, yd, (size_t)(M * N) * sizeof *y) == 0, "%s: not dif__linear's bits",
                what);
      free(yd);
    }
    /* a second call reuses the cached primitive and gives the same bits */
    float *y2 = fbuf((size_t)(M * N));
    memcpy(y2, y0, (size_t)(M * N) * sizeof *y2);
    CHECK_STATUS(dif__packed_linear(&e.k, p, x, M, b, acc, y2, &err), DIF_OK, err.msg, "");
    CHECK_MSG(memcmp(y, y2, (size_t)(M * N) * sizeof *y) == 0, "%s: second call differs", what);
    /* a 16-bit weight gives the bits of the float32 weight holding its
     * widened values (onednn packs BF16 as stored and rounds F16 to bf16
     * itself: the rounding its float32 → bf16 reorder does) */
    dif__packed *p32 = NULL;
    if (src != DIF__DTYPE_F32) {
      CHECK_STATUS(dif__backend_pack(be, NULL, math, DIF__DTYPE_F32, w.f, N, K, m_hint, &p32, &err),
                   DIF_OK, err.msg, "");
      memcpy(y2, y0, (size_t)(M * N) * sizeof *y2);
      if (p32)
        CHECK_STATUS(dif__packed_linear(&e.k, p32, x, M, b, acc, y2, &err), DIF_OK, err.msg, "");
      CHECK_MSG(memcmp(y, y2, (size_t)(M * N) * sizeof *y) == 0,
                "%s: not the bits of its float32 values' weight", what);
    }
    dif__packed_free(p32);
    /* linear_bf16 (x given in bf16, no bias, overwritten): the bits of
     * linear on x's bf16 values, whose rounding then changes nothing */
    if (math == DIF__DTYPE_BF16 && be->linear_bf16) {
      uint16_t *xb = malloc((size_t)(M * K) * sizeof *xb);
      float *xr = fbuf((size_t)(M * K)), *y3 = fbuf((size_t)(M * N));
      for (int64_t i = 0; i < M * K; i++)
        xb[i] = dif__bf16_rne(x[i]), xr[i] = dif__bf16_to_float(xb[i]);
      CHECK_STATUS(dif__packed_linear(&e.k, p, xr, M, NULL, false, y2, &err), DIF_OK, err.msg, "");
      CHECK_STATUS(be->linear_bf16(&e.k, p, xb, M, y3, &err), DIF_OK, err.msg, "");
      CHECK_MSG(memcmp(y2, y3, (size_t)(M * N) * sizeof *y2) == 0,
                "%s: linear_bf16 is not linear's bits on bf16 input", what);
      CHECK_MSG(e.arena.used_total == 0, "%s: linear_bf16 left scratch in use", what);
      free(xb), free(xr), free(y3);
    }
    free(y2);
  }
  dif__packed_free(p);
  free_weight(&w);
  free(x), free(b), free(y0), free(y), free(ref), free(s2), free(s1);
  kenv_free(&e);
}

static const dif__dtype srcs[] = {DIF__DTYPE_F32, DIF__DTYPE_F16, DIF__DTYPE_BF16};

static void linear_all(dif__dtype math) {
  bool any = false;
  for (int i = 0; i < dif__backend_count(); i++) {
    const dif__backend *be = dif__backend_row_at(i)->backend;
    if (!be || !runs(be, math, true)) continue;
    any = true;
    for (size_t s = 0; s < N_SHAPES; s++)
      for (int t = 0; t < 3; t++) {
        const uint64_t seed = 1000 * s + 10 * (uint64_t)t;
        /* layouts chosen for this M, and for the default (another M) */
        check_linear(be, math, srcs[t], shapes[s], shapes[s].M, (s + (size_t)t) % 2, false, seed);
        check_linear(be, math, srcs[t], shapes[s], 0, s % 2 == 0, true, seed + 5);
      }
  }
  if (math == DIF__DTYPE_BF16 && any) bf16_runners++;
}

/* The channels-first layouts (x read as [k, m], y written as [n, m]: what
 * dif__linear_cf_in / dif__linear_cf_out do on an NCHW plane): the same
 * product as row-major, against the same references; on openblas the bits
 * of core/gemm.c's function for that layout. */
static float *transposed(const float *a, int64_t rows, int64_t cols) {
  float *t = fbuf((size_t)(rows * cols));
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
  return t;
}

static void check_linear_layout(const dif__backend *be, dif__dtype math, shape sh, bool x_cf,
                                bool y_cf, bool bias, bool acc, uint64_t seed) {
  const int64_t M = sh.M, N = sh.N, K = sh.K;
  char what[200];
  snprintf(what, sizeof what, "%s %s linear, x %s, y %s, M %lld N %lld K %lld%s%s", be->name,
           dif__dtype_name(math), x_cf ? "channels-first" : "row-major",
           y_cf ? "channels-first" : "row-major", (long long)M, (long long)N, (long long)K,
           bias ? ", bias" : "", acc ? ", acc" : "");
  kenv e;
  kenv_init(&e, 2);
  dif__error err;
  dif__error_clear(&err);
  float *w = frand((size_t)(N * K), seed, -1, 1), *x = frand((size_t)(M * K), seed + 1, -1, 1);
  float *b = bias ? frand((size_t)N, seed + 2, -1, 1) : NULL;
  float *y0 = frand((size_t)(M * N), seed + 3, -1, 1);
  double *ref = dbuf((size_t)(M * N)), *s2 = dbuf((size_t)(M * N)), *s1 = dbuf((size_t)(M * N));
  const mat xa = {x, K, 1}, wt = {w, 1, K};
  float *xin = x_cf ? transposed(x, M, K) : x; /* [K, M] */
  float *y = y_cf ? transposed(y0, M, N) : fbuf((size_t)(M * N));
  if (!y_cf) memcpy(y, y0, (size_t)(M * N) * sizeof *y);
  dif__packed *p = NULL;
  CHECK_STATUS(dif__backend_pack(be, NULL, math, DIF__DTYPE_F32, w, N, K, M, &p, &err), DIF_OK,
               err.msg, "");
  if (p) {
    CHECK_STATUS(dif__packed_linear_cf(&e.k, p, xin, x_cf, M, b, acc, y, y_cf, &err), DIF_OK,
                 err.msg, "");
    float *yr = y_cf ? transposed(y, N, M) : y; /* back to [M, N] */
    ref_product(xa, wt, M, N, K, 1, b, acc ? 1 : 0, y0, N, math == DIF__DTYPE_BF16, ref, NULL,
                NULL);
    const double nmse = dif__test_nmse(yr, ref, (size_t)(M * N));
    CHECK_MSG(nmse <= NMSE_MAX, "%s: nmse %.3g > %.3g", what, nmse, NMSE_MAX);
    if (math == DIF__DTYPE_BF16) {
      ref_product(xa, wt, M, N, K, 1, b, acc ? 1 : 0, y0, N, false, ref, s2, s1);
      check_bf16_bound(yr, ref, s2, s1, M, N, K, N, what);
    }
    if (be == &dif__backend_openblas && x_cf != y_cf && !(x_cf && acc)) {
      float *yd = y_cf ? transposed(y0, M, N) : fbuf((size_t)(M * N));
      if (!y_cf) memcpy(yd, y0, (size_t)(M * N) * sizeof *yd);
      if (x_cf)
        dif__linear_cf_in(&e.k, xin, M, K, dif__weight_f32(w, N * K), b, N, yd);
      else
        dif__linear_cf_out(&e.k, xin, M, K, dif__weight_f32(w, N * K), b, N, yd, acc);
      CHECK_MSG(memcmp(y, yd, (size_t)(M * N) * sizeof *y) == 0, "%s: not core/gemm.c's bits",
                what);
      free(yd);
    }
    if (yr != y) free(yr);
  }
  dif__packed_free(p);
  if (xin != x) free(xin);
  free(w), free(x), free(b), free(y0), free(y), free(ref), free(s2), free(s1);
  kenv_free(&e);
}

static void linear_layouts(dif__dtype math) {
  for (int i = 0; i < dif__backend_count(); i++) {
    const dif__backend *be = dif__backend_row_at(i)->backend;
    if (!be || !runs(be, math, false)) continue;
    for (size_t s = 0; s < N_SHAPES; s++)
      for (int l = 1; l < 4; l++)
        for (int acc = 0; acc < 2; acc++)
          check_linear_layout(be, math, shapes[s], l & 1, l & 2, (s + (size_t)l) % 2, acc,
                              7000 + 100 * s + 10 * (uint64_t)l + (uint64_t)acc);
  }
}

TEST(linear_f32) {
  linear_all(DIF__DTYPE_F32);
  linear_layouts(DIF__DTYPE_F32);
}
TEST(linear_bf16) {
  linear_all(DIF__DTYPE_BF16);
  linear_layouts(DIF__DTYPE_BF16);
}

/* ---- matmul ---- */

static void check_matmul(const dif__backend *be, dif__dtype math, shape sh, int t, float alpha,
                         float beta, uint64_t seed) {
  const int64_t M = sh.M, N = sh.N, K = sh.K;
  const bool ta = t & 1, tb = t & 2;
  const int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
  const int64_t arows = ta ? K : M, brows = tb ? N : K;
  char what[160];
  snprintf(what, sizeof what, "%s %s matmul%s%s, M %lld N %lld K %lld, alpha %g beta %g", be->name,
           dif__dtype_name(math), ta ? " Aᵀ" : "", tb ? " Bᵀ" : "", (long long)M, (long long)N,
           (long long)K, alpha, beta);
  kenv e;
  kenv_init(&e, 1);
  dif__error err;
  dif__error_clear(&err);
  float *A = frand((size_t)(arows * lda), seed, -1, 1);
  float *B = frand((size_t)(brows * ldb), seed + 1, -1, 1);
  float *C0 = frand((size_t)(M * ldc), seed + 2, -1, 1);
  float *C = fbuf((size_t)(M * ldc));
  if (beta == 0) /* C's contents are ignored, NaN included */
    for (int64_t i = 0; i < M * ldc; i++) C[i] = NAN;
  else
    memcpy(C, C0, (size_t)(M * ldc) * sizeof *C);
  for (int64_t i = 0; i < M; i++) /* the padding columns must stay */
    for (int64_t j = N; j < ldc; j++) C[i * ldc + j] = C0[i * ldc + j] = 42;
  double *ref = dbuf((size_t)(M * ldc)), *s2 = dbuf((size_t)(M * ldc)),
         *s1 = dbuf((size_t)(M * ldc));
  for (int64_t i = 0; i < M * ldc; i++) ref[i] = 42, s1[i] = s2[i] = 0;
  const mat a = ta ? (mat){A, 1, lda} : (mat){A, lda, 1};
  const mat b = tb ? (mat){B, 1, ldb} : (mat){B, ldb, 1};
  CHECK_STATUS(dif__backend_matmul(be, &e.k, math, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C,
                                   ldc, &err),
               DIF_OK, err.msg, "");
  ref_product(a, b, M, N, K, alpha, NULL, beta, C0, ldc, math == DIF__DTYPE_BF16, ref, NULL, NULL);
  const double nmse = dif__test_nmse(C, ref, (size_t)(M * ldc));
  CHECK_MSG(nmse <= NMSE_MAX, "%s: nmse %.3g", what, nmse);
  if (math == DIF__DTYPE_BF16) {
    ref_product(a, b, M, N, K, alpha, NULL, beta, C0, ldc, false, ref, s2, s1);
    check_bf16_bound(C, ref, s2, s1, M, N, K, ldc, what);
  }
  if (be == &dif__backend_openblas) {
    float *D = fbuf((size_t)(M * ldc));
    memcpy(D, beta == 0 ? C : C0, (size_t)(M * ldc) * sizeof *D);
    dif__gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, D, ldc);
    CHECK_MSG(memcmp(C, D, (size_t)(M * ldc) * sizeof *C) == 0, "%s: not dif__gemm's bits", what);
    free(D);
  }
  free(A), free(B), free(C0), free(C), free(ref), free(s2), free(s1);
  kenv_free(&e);
}

static void matmul_all(dif__dtype math) {
  for (int i = 0; i < dif__backend_count(); i++) {
    const dif__backend *be = dif__backend_row_at(i)->backend;
    if (!be || !runs(be, math, false)) continue;
    for (size_t s = 0; s < N_SHAPES; s++)
      for (int t = 0; t < 4; t++) {
        check_matmul(be, math, shapes[s], t, 1.0f, 0.0f, 77 * s + (uint64_t)t);
        if (s % 3 == 0) check_matmul(be, math, shapes[s], t, 0.5f, 0.25f, 99 * s + (uint64_t)t);
      }
    /* attention's shapes: Q·Kᵀ with heads in the row stride, P·V */
    check_matmul(be, math, (shape){200, 77, 64}, 2, 0.125f, 0.0f, 5);
    check_matmul(be, math, (shape){200, 64, 77}, 0, 1.0f, 0.0f, 6);
  }
}

TEST(matmul_f32) { matmul_all(DIF__DTYPE_F32); }
TEST(matmul_bf16) { matmul_all(DIF__DTYPE_BF16); }

/* ---- argument checks ---- */

TEST(arguments) {
  dif__error err;
  dif__error_clear(&err);
  const float w[6] = {1, 2, 3, 4, 5, 6};
  dif__packed *p = (dif__packed *)&err; /* must be reset to NULL on failure */
  const dif__backend *ob = &dif__backend_openblas;
  CHECK_STATUS(dif__backend_pack(ob, NULL, DIF__DTYPE_F32, DIF__DTYPE_F32, NULL, 2, 3, 0, &p, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "NULL");
  CHECK(p == NULL);
  CHECK_STATUS(dif__backend_pack(ob, NULL, DIF__DTYPE_F32, DIF__DTYPE_F32, w, 0, 3, 0, &p, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "empty");
  CHECK_STATUS(dif__backend_pack(ob, NULL, DIF__DTYPE_F32, DIF__DTYPE_F32, w, -2, 3, 0, &p, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "negative");
  CHECK_STATUS(dif__backend_pack(ob, NULL, DIF__DTYPE_F32, DIF__DTYPE_F32, w, (int64_t)1 << 40, 3,
                                 0, &p, &err),
               DIF_ERR_LIMIT, err.msg, "limit");
  CHECK_STATUS(dif__backend_pack(ob, NULL, DIF__DTYPE_F16, DIF__DTYPE_F32, w, 2, 3, 0, &p, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "f32 or bf16");
  CHECK_STATUS(dif__backend_pack(ob, NULL, DIF__DTYPE_BF16, DIF__DTYPE_F32, w, 2, 3, 0, &p, &err),
               DIF_ERR_UNSUPPORTED, err.msg, "float32 only");
  CHECK_STATUS(dif__backend_pack(ob, NULL, DIF__DTYPE_F32, (dif__dtype)9, w, 2, 3, 0, &p, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "dtype");
  CHECK_STATUS(dif__backend_pack(ob, NULL, DIF__DTYPE_F32, DIF__DTYPE_F32, w, 2, 3, 0, NULL, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "out");
  CHECK_STATUS(dif__backend_pack(ob, NULL, DIF__DTYPE_F32, DIF__DTYPE_F32, w, 2, 3, 0, &p, &err),
               DIF_OK, err.msg, "");
  CHECK(p && p->bytes == 0); /* F32 is used in place */
  float x[3] = {1, 1, 1}, y[2] = {0, 0};
  CHECK_STATUS(dif__packed_linear(NULL, p, NULL, 1, NULL, false, y, &err), DIF_ERR_INVALID_ARGUMENT,
               err.msg, "NULL");
  CHECK_STATUS(dif__packed_linear(NULL, p, x, -1, NULL, false, y, &err), DIF_ERR_INVALID_ARGUMENT,
               err.msg, "negative");
  CHECK_STATUS(dif__packed_linear(NULL, p, x, 0, NULL, false, y, &err), DIF_OK, err.msg, "");
  CHECK_STATUS(dif__packed_linear(NULL, p, x, 1, NULL, false, y, &err), DIF_OK, err.msg, "");
  CHECK(y[0] == 6 && y[1] == 15);
  dif__packed_free(p);
  dif__packed_free(NULL);
  float C[4] = {1, 2, 3, 4};
  CHECK_STATUS(dif__backend_matmul(ob, NULL, DIF__DTYPE_F32, false, false, 2, 2, 0, 1, NULL, 1,
                                   NULL, 1, 0.5f, C, 2, &err),
               DIF_OK, err.msg, "");
  CHECK(C[0] == 0.5f && C[3] == 2.0f);
  CHECK_STATUS(dif__backend_matmul(ob, NULL, DIF__DTYPE_F32, false, false, 2, 2, 3, 1, w, 2, w, 2,
                                   0, C, 2, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "leading");
  CHECK_STATUS(dif__backend_matmul(ob, NULL, DIF__DTYPE_BF16, false, false, 1, 1, 1, 1, w, 1, w, 1,
                                   0, C, 1, &err),
               DIF_ERR_UNSUPPORTED, err.msg, "bf16");
}

/* ---- one packed weight, several threads ---- */

typedef struct thread_job {
  const dif__packed *p;
  const float *x;
  int64_t m;
  float *y;
  int reps;
  dif_status st;
} thread_job;

static void *thread_main(void *arg) {
  thread_job *j = arg;
  kenv e;
  kenv_init(&e, 0);
  dif__error err;
  dif__error_clear(&err);
  for (int r = 0; r < j->reps && !j->st; r++)
    j->st = dif__packed_linear(&e.k, j->p, j->x, j->m, NULL, false, j->y, &err);
  kenv_free(&e);
  return NULL;
}

/* Threads with different row counts fill one packed weight's primitive
 * cache at once (and overflow it); each result equals the one-thread one. */
static void threads_on(const dif__backend *be, dif__dtype math) {
  enum { T = 12, REPS = 3 };
  const int64_t N = 48, K = 40;
  dif__error err;
  dif__error_clear(&err);
  float *w = frand((size_t)(N * K), 3, -1, 1), *x = frand((size_t)(T + 1) * K, 4, -1, 1);
  float *y = fbuf((size_t)(T * (T + 1) * N)), *want = fbuf((size_t)(T * (T + 1) * N));
  dif__packed *p = NULL;
  CHECK_STATUS(dif__backend_pack(be, NULL, math, DIF__DTYPE_F32, w, N, K, 0, &p, &err), DIF_OK,
               err.msg, "");
  if (!p) return;
  thread_job jobs[T];
  pthread_t th[T];
  for (int i = 0; i < T; i++) {
    jobs[i] = (thread_job){p, x, i + 1, y + (size_t)i * (T + 1) * N, REPS, DIF_OK};
    CHECK(pthread_create(&th[i], NULL, thread_main, &jobs[i]) == 0);
  }
  for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < T; i++) {
    CHECK(jobs[i].st == DIF_OK);
    float *wi = want + (size_t)i * (T + 1) * N;
    CHECK_STATUS(dif__packed_linear(NULL, p, x, i + 1, NULL, false, wi, &err), DIF_OK, err.msg, "");
    CHECK_MSG(memcmp(wi, jobs[i].y, (size_t)(i + 1) * N * sizeof *wi) == 0,
              "%s %s: thread with m = %d differs", be->name, dif__dtype_name(math), i + 1);
  }
  dif__packed_free(p);
  free(w), free(x), free(y), free(want);
}

TEST(threads) {
  for (int i = 0; i < dif__backend_count(); i++) {
    const dif__backend *be = dif__backend_row_at(i)->backend;
    if (!be) continue;
    threads_on(be, DIF__DTYPE_F32);
    if (runs(be, DIF__DTYPE_BF16, false)) threads_on(be, DIF__DTYPE_BF16);
  }
}

/* ---- the fast path's weight cache (core/fast.c) and dif__linear's use of it ---- */

/* ---- the convolution in fast (core/conv2d_fast.c) ---- */

typedef struct conv_case {
  const char *what;
  dif__conv2d_params p;
  int64_t N, H, W;
  bool f16, bias, norm;
  size_t scratch; /* 0: the default */
  bool bf16;      /* a BF16 weight (packed as stored) instead */
} conv_case;

/* Every output element within the element-wise bf16 bound of a double
 * convolution of the same transformed input (conv2d.c's own transform,
 * applied whole) and weights: |y - ref| <= (2u + u² + (K+2)·2^-23)·Σ|w||x|. */
static void check_conv_fast(dif__fast *f, const conv_case *c, uint64_t seed) {
  const dif__conv2d_params *p = &c->p;
  const int64_t Hin = p->in_h ? p->in_h : c->H, Win = p->in_w ? p->in_w : c->W;
  const int64_t OH = dif__conv2d_out(Hin, p->kh, p->stride, p->pad_top, p->pad_bottom);
  const int64_t OW = dif__conv2d_out(Win, p->kw, p->stride, p->pad_left, p->pad_right);
  const int64_t K = p->cin * p->kh * p->kw, nw = p->cout * K;
  const size_t nx = (size_t)(c->N * p->cin * c->H * c->W), ny = (size_t)(c->N * p->cout * OH * OW);
  float *x = frand(nx, seed, -1, 1), *w = frand((size_t)nw, seed + 1, -1, 1);
  float *b = c->bias ? frand((size_t)p->cout, seed + 2, -1, 1) : NULL;
  float *y0 = frand(ny, seed + 3, -1, 1), *y = fbuf(ny);
  uint16_t *w16 = NULL;
  if (c->f16) { /* the model's F16 weight; the reference multiplies its exact values */
    w16 = malloc((size_t)nw * sizeof *w16);
    for (int64_t i = 0; i < nw; i++) w16[i] = dif__f16_from_f32(w[i]);
    dif__dtype_to_f32(DIF__DTYPE_F16, w16, (size_t)nw, w);
  } else if (c->bf16) { /* a BF16 weight: its bits go to the packing as stored */
    w16 = malloc((size_t)nw * sizeof *w16);
    for (int64_t i = 0; i < nw; i++) w16[i] = dif__bf16_rne(w[i]);
    dif__dtype_to_f32(DIF__DTYPE_BF16, w16, (size_t)nw, w);
  }
  dif__norm_affine *na = NULL;
  dif__conv2d_params q = *p;
  if (c->norm) {
    na = malloc((size_t)(c->N * p->cin) * sizeof *na);
    for (int64_t i = 0; i < c->N * p->cin; i++)
      na[i] = (dif__norm_affine){0.1f * (float)(i % 5), 0, 0.5f + 0.1f * (float)(i % 7), 0.2f};
    q.in_norm = na;
  }
  kenv e;
  kenv_init(&e, 2);
  float *xt = fbuf((size_t)(c->N * p->cin * Hin * Win));
  dif__conv2d_xform_rows(&e.k, &q, x, 0, c->N, c->H, c->W, Hin, Win, 0, Hin, xt);
  double *ref = dbuf(ny), *s1 = dbuf(ny), *rr = dbuf(ny);
  for (int64_t n = 0; n < c->N; n++)
    for (int64_t o = 0; o < p->cout; o++)
      for (int64_t oh = 0; oh < OH; oh++)
        for (int64_t ow = 0; ow < OW; ow++) {
          const size_t at = (size_t)(((n * p->cout + o) * OH + oh) * OW + ow);
          double sum = b ? b[o] : 0, abs_sum = 0, rsum = sum;
          for (int64_t ci = 0; ci < p->cin; ci++)
            for (int64_t ki = 0; ki < p->kh; ki++)
              for (int64_t kj = 0; kj < p->kw; kj++) {
                const int64_t ih = oh * p->stride - p->pad_top + ki;
                const int64_t iw = ow * p->stride - p->pad_left + kj;
                if (ih < 0 || ih >= Hin || iw < 0 || iw >= Win) continue;
                const double wv = w[((o * p->cin + ci) * p->kh + ki) * p->kw + kj];
                const double xv = xt[((n * p->cin + ci) * Hin + ih) * Win + iw];
                sum += wv * xv, abs_sum += fabs(wv * xv);
                rsum += (double)dif__bf16_round((float)wv) * dif__bf16_round((float)xv);
              }
          ref[at] = sum + (p->accumulate ? y0[at] : 0);
          rr[at] = rsum + (p->accumulate ? y0[at] : 0);
          s1[at] = abs_sum;
        }
  e.k.fast = f;
  const dif__weight wt = c->f16    ? (dif__weight){w16, DIF__DTYPE_F16, nw, false}
                         : c->bf16 ? (dif__weight){w16, DIF__DTYPE_BF16, nw, false}
                                   : dif__weight_f32(w, nw);
  const double acc = (double)(K + 2) * ldexp(1.0, -23);
  /* channels-first, then channels-last (dif__conv2d_params.channels_last:
   * x and y transposed in, y transposed back out; the weight packed once) */
  float *xl = fbuf(nx), *yl = fbuf(ny);
  for (int cl = 0; cl < 2; cl++) {
    const char *layout = cl ? "channels-last" : "channels-first";
    q.channels_last = cl;
    memcpy(y, y0, ny * sizeof *y);
    if (cl) {
      dif__transpose_batched(&e.k, x, c->N, p->cin, c->H * c->W, xl);
      dif__transpose_batched(&e.k, y0, c->N, p->cout, OH * OW, yl);
    }
    dif__fast_stats before, after;
    dif__fast_get_stats(f, &before);
    dif__error err;
    dif__error_clear(&err);
    CHECK_STATUS(dif__conv2d_bounded(&e.k, &q, cl ? xl : x, c->N, c->H, c->W, wt, b, cl ? yl : y,
                                     c->scratch ? c->scratch : DIF__CONV2D_SCRATCH_MAX, &err),
                 DIF_OK, err.msg, "");
    if (cl) dif__transpose_batched(&e.k, yl, c->N, OH * OW, p->cout, y);
    dif__fast_get_stats(f, &after);
    CHECK_MSG(after.weights == before.weights + !cl && after.fallbacks == before.fallbacks,
              "%s, %s: the weight was not packed for the fast convolution", c->what, layout);
    int bad = 0;
    double worst = 0;
    for (size_t i = 0; i < ny; i++) {
      const double lim = (2 * U + U * U + acc) * s1[i] + 1e-6 * (1 + fabs(ref[i]));
      const double d = fabs((double)y[i] - ref[i]);
      if (d > lim) bad++;
      if (lim > 0 && d / lim > worst) worst = d / lim;
    }
    CHECK_MSG(bad == 0, "%s, %s: %d of %zu elements beyond the bf16 bound (worst %.2f of it)",
              c->what, layout, bad, ny, worst);
    /* And tightly: the same sum of the bf16-rounded operands (the input
     * transformed, then rounded, as the gather does), off by float32
     * accumulation only. */
    bad = 0;
    for (size_t i = 0; i < ny; i++)
      if (fabs((double)y[i] - rr[i]) > acc * (s1[i] + fabs(rr[i]) + (b ? 1 : 0)) + 1e-30) bad++;
    CHECK_MSG(bad == 0, "%s, %s: %d of %zu elements are not the sum of the rounded operands",
              c->what, layout, bad, ny);
  }
  free(xl), free(yl);
  CHECK(e.arena.used_total == 0);
  kenv_free(&e);
  free(x), free(w), free(b), free(y0), free(y), free(w16), free(na), free(xt), free(ref), free(s1),
      free(rr);
}

TEST(conv_fast) {
  const size_t row = 37 * 9 * 11 * 6; /* a few output rows of the first case */
  const conv_case cases[] = {
      {"3x3, padding 1",
       {.cin = 37,
        .cout = 19,
        .kh = 3,
        .kw = 3,
        .stride = 1,
        .pad_top = 1,
        .pad_left = 1,
        .pad_bottom = 1,
        .pad_right = 1},
       1,
       13,
       11,
       false,
       true,
       false,
       0,
       false},
      {"3x3, bands of 2 rows",
       {.cin = 37,
        .cout = 19,
        .kh = 3,
        .kw = 3,
        .stride = 1,
        .pad_top = 1,
        .pad_left = 1,
        .pad_bottom = 1,
        .pad_right = 1},
       1,
       13,
       11,
       false,
       true,
       false,
       row,
       false},
      {"stride 2, asymmetric padding",
       {.cin = 16, .cout = 24, .kh = 3, .kw = 3, .stride = 2, .pad_bottom = 1, .pad_right = 1},
       1,
       15,
       12,
       false,
       false,
       false,
       0,
       false},
      {"1x1, F16 weight",
       {.cin = 40, .cout = 33, .kh = 1, .kw = 1, .stride = 1},
       1,
       9,
       10,
       true,
       true,
       false,
       0,
       false},
      {"3x3, BF16 weight",
       {.cin = 21,
        .cout = 18,
        .kh = 3,
        .kw = 3,
        .stride = 1,
        .pad_top = 1,
        .pad_left = 1,
        .pad_bottom = 1,
        .pad_right = 1},
       1,
       8,
       7,
       false,
       true,
       false,
       0,
       true},
      {"small images batched, norm + silu",
       {.cin = 8,
        .cout = 12,
        .kh = 3,
        .kw = 3,
        .stride = 1,
        .pad_top = 1,
        .pad_left = 1,
        .pad_bottom = 1,
        .pad_right = 1,
        .in_silu = true},
       3,
       6,
       5,
       false,
       true,
       true,
       0,
       false},
      {"nearest 2x, accumulate, bands",
       {.cin = 6,
        .cout = 5,
        .kh = 3,
        .kw = 3,
        .stride = 1,
        .pad_top = 1,
        .pad_left = 1,
        .pad_bottom = 1,
        .pad_right = 1,
        .accumulate = true,
        .in_h = 14,
        .in_w = 10},
       1,
       7,
       5,
       false,
       true,
       false,
       6 * 9 * 10 * 8,
       false},
  };
  for (int i = 0; i < dif__backend_count(); i++) {
    const dif__backend *be = dif__backend_row_at(i)->backend;
    if (!be || !be->conv_bf16_pack || !runs(be, DIF__DTYPE_BF16, false)) continue;
    /* a dif__fast per case: it finds weights by address, and a freed
     * weight's address may come back for the next case's */
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
      dif__error err;
      dif__error_clear(&err);
      dif__fast *f = NULL;
      CHECK_STATUS(dif__fast_new(be, &f, &err), DIF_OK, err.msg, "");
      if (!f) continue;
      check_conv_fast(f, &cases[c], 700 + 10 * c);
      dif__fast_free(f);
    }
  }
}

/* A 1×1 channels-last convolution in place (y == x, cout < cin), in bands
 * of one row: each band is packed before the backend writes its rows
 * (conv2d_fast.c), so the result is the out-of-place one, bit for bit. */
TEST(conv_fast_channels_last_in_place) {
  for (int i = 0; i < dif__backend_count(); i++) {
    const dif__backend *be = dif__backend_row_at(i)->backend;
    if (!be || !be->conv_bf16_pack || !runs(be, DIF__DTYPE_BF16, false)) continue;
    dif__error err;
    dif__error_clear(&err);
    dif__fast *f = NULL;
    CHECK_STATUS(dif__fast_new(be, &f, &err), DIF_OK, err.msg, "");
    if (!f) continue;
    const dif__conv2d_params p = {
        .cin = 40, .cout = 24, .kh = 1, .kw = 1, .stride = 1, .channels_last = true};
    const int64_t N = 2, H = 9, W = 10, nx = N * H * W * p.cin, ny = N * H * W * p.cout;
    float *x = frand((size_t)nx, 790, -1, 1), *w = frand((size_t)(p.cout * p.cin), 791, -1, 1);
    float *b = frand((size_t)p.cout, 792, -1, 1), *y = fbuf((size_t)ny);
    kenv e;
    kenv_init(&e, 2);
    e.k.fast = f;
    const size_t scratch = (size_t)(2 * W * p.cin * 2); /* bands of 1 row (make_plan) */
    const dif__weight wt = dif__weight_f32(w, p.cout * p.cin);
    CHECK_STATUS(dif__conv2d_bounded(&e.k, &p, x, N, H, W, wt, b, y, scratch, &err), DIF_OK,
                 err.msg, "");
    CHECK_STATUS(dif__conv2d_bounded(&e.k, &p, x, N, H, W, wt, b, x, scratch, &err), DIF_OK,
                 err.msg, "");
    CHECK_SAME(x, y, (size_t)ny);
    dif__fast_stats st;
    dif__fast_get_stats(f, &st);
    CHECK(st.weights == 1 && st.fallbacks == 0);
    kenv_free(&e);
    dif__fast_free(f);
    free(x), free(w), free(b), free(y);
  }
}

/* ---- a convolution the backend refuses: the exact path, bit for bit ---- */

static int conv_packs;

static bool says_yes(dif__dtype math, char *why, size_t size) {
  (void)math, (void)why, (void)size;
  return true;
}

static dif_status refuse_conv(const dif__kctx *kx, dif__weight w, const dif__conv_geom *g,
                              dif__conv **out, dif__error *err) {
  (void)kx, (void)w, (void)g, (void)out;
  conv_packs++;
  return dif__fail(err, DIF_ERR_UNSUPPORTED, "refused by the test");
}

/* Its "bf16" products are sgemm's, so the fallback is comparable bit for
 * bit with a kctx without fast. */
static dif_status sgemm_matmul(const dif__kctx *k, dif__dtype math, bool ta, bool tb, int64_t M,
                               int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                               const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                               dif__error *err) {
  (void)k, (void)math, (void)err;
  dif__gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  return DIF_OK;
}

static const dif__backend conv_refuser = {.name = "conv-refuser",
                                          .supports = says_yes,
                                          .matmul = sgemm_matmul,
                                          .conv_bf16_pack = refuse_conv};

/* Refused at packing: dif__conv2d runs conv2d.c's im2col with its products
 * through the backend's matmul (here sgemm: what a kctx without fast
 * gives, bit for bit; a product above DIF__KGEMM_SMALL_MACS, 40 x 288 x
 * 132, so that it reaches the backend), counts a fallback per call, and
 * asks the backend once per weight. */
TEST(conv_fast_refused) {
  kenv e, plain;
  kenv_init(&e, 2);
  kenv_init(&plain, 2);
  dif__error err;
  dif__error_clear(&err);
  dif__fast *f = NULL;
  CHECK_STATUS(dif__fast_new(&conv_refuser, &f, &err), DIF_OK, err.msg, "");
  e.k.fast = f;
  dif__conv2d_params p = {.cin = 32, .cout = 40, .kh = 3, .kw = 3, .stride = 1};
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = 1;
  CHECK(40 * 32 * 9 * 11 * 12 > DIF__KGEMM_SMALL_MACS);
  const size_t nx = 32 * 11 * 12, ny = 40 * 11 * 12, nw = 40 * 32 * 9;
  float *x = frand(nx, 11, -1, 1), *w = frand(nw, 12, -1, 1), *b = frand(40, 13, -1, 1);
  float *y1 = fbuf(ny), *y2 = fbuf(ny);
  for (int rep = 0; rep < 2 && f; rep++) {
    CHECK_STATUS(dif__conv2d(&e.k, &p, x, 1, 11, 12, dif__weight_f32(w, (int64_t)nw), b, y1, &err),
                 DIF_OK, err.msg, "");
    CHECK_STATUS(
        dif__conv2d(&plain.k, &p, x, 1, 11, 12, dif__weight_f32(w, (int64_t)nw), b, y2, &err),
        DIF_OK, err.msg, "");
    CHECK(memcmp(y1, y2, ny * sizeof *y1) == 0);
  }
  CHECK(conv_packs == 1);
  dif__fast_stats st;
  dif__fast_get_stats(f, &st);
  CHECK(st.weights == 0 && st.refused == 1 && st.fallbacks == 2);
  CHECK(strstr(st.first_fallback, "refused by the test") != NULL);
  /* bad arguments: a status and a message, nothing packed */
  const dif__conv *pc = NULL;
  const dif__conv_geom g = {40, 32, 3, 3, 1, 1, 1};
  CHECK_STATUS(dif__fast_conv_weight(NULL, NULL, dif__weight_f32(w, 9), &g, &pc, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "NULL");
  CHECK_STATUS(dif__fast_conv_weight(f, NULL, dif__weight_f32(w, 9), NULL, &pc, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "NULL");
  const dif__conv_geom huge = {40, 32, 3, 5000, 1, 1, 1};
  CHECK_STATUS(dif__fast_conv_weight(f, NULL, dif__weight_f32(w, 9), &huge, &pc, &err),
               DIF_ERR_UNSUPPORTED, err.msg, "kernel");
  CHECK(pc == NULL && conv_packs == 1);
  dif__fast_free(f);
  free(x), free(w), free(b), free(y1), free(y2);
  kenv_free(&e);
  kenv_free(&plain);
}

/* ---- dif__kgemm's small products (core/ops_internal.h) ---- */

static int matmul_calls;

static dif_status counted_matmul(const dif__kctx *k, dif__dtype math, bool ta, bool tb, int64_t M,
                                 int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                                 const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                                 dif__error *err) {
  matmul_calls++;
  return sgemm_matmul(k, math, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, err);
}

static const dif__backend counter = {
    .name = "counter", .supports = says_yes, .matmul = counted_matmul};

/* In a fast kctx a product of at most DIF__KGEMM_SMALL_MACS multiplies
 * never reaches the backend: bf16-rounded copies of A and B through sgemm,
 * within the bf16 bounds of the exact bf16 product, every transpose, C's
 * padding kept, NaN in C ignored at beta 0; one multiply more goes to the
 * backend (here sgemm on unrounded inputs); without an arena the backend
 * runs it. */
TEST(kgemm_small) {
  kenv e;
  kenv_init(&e, 2);
  dif__error err;
  dif__error_clear(&err);
  dif__fast *f = NULL;
  CHECK_STATUS(dif__fast_new(&counter, &f, &err), DIF_OK, err.msg, "");
  e.k.fast = f;
  const shape sh[] = {{13, 7, 29}, {64, 256, 64}, {4, 81, 64}, {81, 64, 81}};
  for (size_t s = 0; s < sizeof sh / sizeof *sh && f; s++)
    for (int t = 0; t < 4; t++) {
      const int64_t M = sh[s].M, N = sh[s].N, K = sh[s].K;
      const bool ta = t & 1, tb = t & 2;
      const int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
      float *A = frand((size_t)((ta ? K : M) * lda), 3 * s + t, -1, 1);
      float *B = frand((size_t)((tb ? N : K) * ldb), 5 * s + t, -1, 1);
      float *C = fbuf((size_t)(M * ldc));
      double *ref = dbuf((size_t)(M * ldc)), *s2 = dbuf((size_t)(M * ldc)),
             *s1 = dbuf((size_t)(M * ldc));
      for (int64_t i = 0; i < M * ldc; i++) C[i] = NAN, ref[i] = 42, s1[i] = s2[i] = 0;
      for (int64_t i = 0; i < M; i++)
        for (int64_t j = N; j < ldc; j++) C[i * ldc + j] = 42;
      matmul_calls = 0;
      CHECK_STATUS(dif__kgemm(&e.k, DIF__PROF_ATTN_GEMM, ta, tb, M, N, K, 0.125f, A, lda, B, ldb,
                              0.0f, C, ldc, &err),
                   DIF_OK, err.msg, "");
      CHECK_MSG(matmul_calls == 0, "%lld x %lld x %lld reached the backend", (long long)M,
                (long long)N, (long long)K);
      CHECK(e.arena.used_total == 0);
      const mat a = ta ? (mat){A, 1, lda} : (mat){A, lda, 1};
      const mat b = tb ? (mat){B, 1, ldb} : (mat){B, ldb, 1};
      ref_product(a, b, M, N, K, 0.125, NULL, 0, NULL, ldc, true, ref, NULL, NULL);
      double e2 = 0, r2 = 0; /* over the M x N results; the padding apart */
      bool pad_kept = true;
      for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < ldc; j++) {
          const double d = (double)C[i * ldc + j] - ref[i * ldc + j];
          if (j >= N)
            pad_kept = pad_kept && C[i * ldc + j] == 42;
          else
            e2 += d * d, r2 += ref[i * ldc + j] * ref[i * ldc + j];
        }
      CHECK(pad_kept);
      CHECK_MSG(r2 > 0 && e2 / r2 <= NMSE_MAX,
                "%lld x %lld x %lld t%d: nmse %.3g against bf16 inputs", (long long)M, (long long)N,
                (long long)K, t, r2 > 0 ? e2 / r2 : -1.0);
      ref_product(a, b, M, N, K, 0.125, NULL, 0, NULL, ldc, false, ref, s2, s1);
      check_bf16_bound(C, ref, s2, s1, M, N, K, ldc, "kgemm small");
      free(A), free(B), free(C), free(ref), free(s2), free(s1);
    }
  /* the edge: 2^20 multiplies small, one row more to the backend; without
   * an arena the backend too */
  const int64_t K = 64, N = 128, M = DIF__KGEMM_SMALL_MACS / (K * N);
  float *A = frand((size_t)((M + 1) * K), 7, -1, 1), *B = frand((size_t)(K * N), 8, -1, 1);
  float *C = fbuf((size_t)((M + 1) * N));
  matmul_calls = 0;
  CHECK(dif__kgemm(&e.k, DIF__PROF_ATTN_GEMM, false, false, M, N, K, 1, A, K, B, N, 0, C, N,
                   &err) == DIF_OK);
  CHECK(matmul_calls == 0);
  CHECK(dif__kgemm(&e.k, DIF__PROF_ATTN_GEMM, false, false, M + 1, N, K, 1, A, K, B, N, 0, C, N,
                   &err) == DIF_OK);
  CHECK(matmul_calls == 1);
  dif__arena *arena = e.k.arena;
  e.k.arena = NULL;
  CHECK(dif__kgemm(&e.k, DIF__PROF_ATTN_GEMM, false, false, 2, 2, 2, 1, A, K, B, N, 0, C, N,
                   &err) == DIF_OK);
  CHECK(matmul_calls == 2);
  e.k.arena = arena;
  free(A), free(B), free(C);
  dif__fast_free(f);
  kenv_free(&e);
}

TEST(fast_cache) {
  char why[256] = "";
  const dif__backend *native = dif__backend_fast_native(why, sizeof why);
  printf("fast_native: %s\n", native ? native->name : why);
  for (int i = 0; i < dif__backend_count(); i++) {
    const dif__backend *be = dif__backend_row_at(i)->backend;
    if (!be) continue;
    CHECK(be->native != NULL && be->native(DIF__DTYPE_F32));
    if (be->native(DIF__DTYPE_BF16)) CHECK(runs(be, DIF__DTYPE_BF16, false));
    if (!runs(be, DIF__DTYPE_BF16, false)) continue;
    kenv e;
    kenv_init(&e, 2);
    dif__error err;
    dif__error_clear(&err);
    dif__fast *f = NULL;
    CHECK_STATUS(dif__fast_new(be, &f, &err), DIF_OK, err.msg, "");
    if (!f) continue;
    const int64_t M = 13, N = 33, K = 70;
    float *w = frand((size_t)(N * K), 5, -1, 1), *x = frand((size_t)(M * K), 6, -1, 1);
    float *b = frand((size_t)N, 7, -1, 1);
    float *y = fbuf((size_t)(M * N)), *yp = fbuf((size_t)(M * N));
    const dif__packed *p1 = NULL, *p2 = NULL, *p3 = NULL;
    CHECK_STATUS(dif__fast_weight(f, NULL, dif__weight_f32(w, N * K), N, K, M, &p1, &err), DIF_OK,
                 err.msg, "");
    CHECK_STATUS(dif__fast_weight(f, NULL, dif__weight_f32(w, N * K), N, K, 1, &p2, &err), DIF_OK,
                 err.msg, "");
    CHECK(p1 && p1 == p2 && p1->math == DIF__DTYPE_BF16 && p1->n == N && p1->k == K);
    /* the same address with another shape is another weight */
    CHECK_STATUS(dif__fast_weight(f, NULL, dif__weight_f32(w, N * K), K, N, M, &p3, &err), DIF_OK,
                 err.msg, "");
    CHECK(p3 && p3 != p1 && p3->n == K);
    /* dif__linear on a fast kctx is the packed weight's product, bit for bit */
    e.k.fast = f;
    dif__linear(&e.k, x, M, K, dif__weight_f32(w, N * K), b, N, y);
    e.k.fast = NULL;
    CHECK_STATUS(dif__packed_linear(&e.k, p1, x, M, b, false, yp, &err), DIF_OK, err.msg, "");
    CHECK(memcmp(y, yp, (size_t)(M * N) * sizeof *y) == 0);
    /* and many weights grow the table without losing one */
    float *many = frand(300 * 8, 9, -1, 1);
    const dif__packed *first = NULL, *again = NULL;
    for (int j = 0; j < 300; j++) {
      const dif__packed *q = NULL;
      CHECK_STATUS(dif__fast_weight(f, NULL, dif__weight_f32(many + 8 * j, 8), 2, 4, 1, &q, &err),
                   DIF_OK, err.msg, "");
      if (j == 0) first = q;
    }
    CHECK_STATUS(dif__fast_weight(f, NULL, dif__weight_f32(many, 8), 2, 4, 1, &again, &err), DIF_OK,
                 err.msg, "");
    CHECK(first && first == again);
    dif__fast_stats st;
    dif__fast_get_stats(f, &st);
    CHECK(st.weights == 302 && st.bytes > 0 && st.fallbacks == 0);
    dif__fast_free(f);
    free(w), free(x), free(b), free(y), free(yp), free(many);
    kenv_free(&e);
  }
}

/* ---- main ---- */

static void say_bf16(void) {
  char cpu[160];
  dif__cpu_describe(cpu, sizeof cpu);
  if (bf16_runners) {
    printf("bf16: ran on %d backend(s); worst error / bound %.2f (this CPU: %s)\n", bf16_runners,
           bf16_stats.worst_ratio, cpu);
    return;
  }
  /* Why not: a backend that could run bf16 says what the CPU lacks; without
   * one in this build, the missing rows say why. */
  for (int i = 0; i < dif__backend_count(); i++) {
    const dif__backend_row *r = dif__backend_row_at(i);
    char why[256] = "";
    if (r->backend && r->backend != &dif__backend_openblas &&
        !r->backend->supports(DIF__DTYPE_BF16, why, sizeof why)) {
      printf("bf16: skipped, %s\n", why);
      return;
    }
  }
  printf("bf16: skipped, no bf16 backend in this build (this CPU: %s)", cpu);
  for (int i = 0; i < dif__backend_count(); i++)
    if (!dif__backend_row_at(i)->backend)
      printf("; %s: missing: %s", dif__backend_row_at(i)->name, dif__backend_row_at(i)->missing);
  printf("\n");
}

int main(int argc, char **argv) {
  bf16_only = argc > 1 && strcmp(argv[1], "bf16") == 0;
  if (!bf16_only) {
    RUN(bf16_rounding_edges);
    RUN(f16_decode);
    RUN(registry);
    RUN(arguments);
    RUN(linear_f32);
    RUN(matmul_f32);
  }
  RUN(linear_bf16);
  RUN(matmul_bf16);
  RUN(fast_cache);
  RUN(conv_fast);
  RUN(conv_fast_channels_last_in_place);
  if (!bf16_only) RUN(conv_fast_refused);
  if (!bf16_only) RUN(kgemm_small);
  if (!bf16_only) RUN(threads);
  say_bf16();
  const int rc = dif__test_finish();
  if (bf16_only && !bf16_runners && rc == 0) return 77;
  return rc;
}

/* The exact path's few-row linear products (core/gemm_few.h).
 *
 * What is checked, and why it pins the behaviour:
 *   - Accuracy: for F32, F16 and BF16 weights, every row count 1..16 (the
 *     dot kernel) and counts around the panel kernel's groups of 6 rows up
 *     to DIF__FEW_ROWS_MAX, input widths around the kernels' 8-lane steps
 *     and 256-input blocks (1, 7, 8, 9, 255, 256, 257, 600) and output
 *     counts around their blocks and 16-output panels, each output against
 *     the double product of the same (widened) values:
 *       |y − exact| ≤ γ·(Σ|x·w| + |y0|),  γ = (in + 2)·2^-24,
 *     float32's bound for a sum of in + 1 terms in any order (the kernel
 *     sums in another order than sgemm; this is the bound both meet).
 *   - beta 0 never reads y (a NaN there stays out), beta 1 adds y;
 *     special weights: an Inf or NaN weight gives the IEEE result.
 *   - Determinism: an output's bits do not depend on the threads (none,
 *     1, 2, 3), on the rows beside it (row r of an m-row product is the
 *     1-row product of row r up to 16 rows, the first row of the 17-row
 *     product from row r beyond), or on the output layout (ys_i / ys_j).
 *   - A 16-bit weight (also at an odd byte address) gives the bits of the
 *     float32 weight holding its widened values.
 *   - gemm.c: dif__linear, dif__linear_acc and dif__linear_cf_out (over
 *     and added to its output) with at most DIF__FEW_ROWS_MAX rows take the
 *     kernel (its bits) and meet the bound with a bias; one row more takes
 *     cblas_sgemm (its bits).
 *   - Where the kernel does not run (no AVX2 + FMA + F16C, or
 *     DIF_MAX_CPU_ISA=sse: test-gemm-few-sse), the test says so, exits 77
 *     for the kernel's own checks, and still checks that dif__linear gives
 *     cblas_sgemm's bits for few rows.
 */
#include <math.h>

#include "core/gemm_few.h"
#include "ops_test_util.h"

/* A weight of out × in in dtype dt at an odd byte address (16-bit) or
 * aligned (F32), with its widened float32 values in wf; raw is what to
 * free. */
typedef struct tw {
  void *raw;
  dif__weight w;
  float *wf;
} tw;

static tw make_weight(dif__dtype dt, int64_t out, int64_t in, uint64_t seed) {
  const size_t n = (size_t)(out * in);
  tw t = {0};
  float *v = frand(n, seed, -1, 1);
  if (n > 3) v[1] = 3e-6f, v[2] = -1e-7f; /* subnormal halves */
  t.wf = fbuf(n);
  if (dt == DIF__DTYPE_F32) {
    t.raw = v;
    memcpy(t.wf, v, n * sizeof *v);
    t.w = dif__weight_f32(v, (int64_t)n);
    return t;
  }
  t.raw = malloc(2 * n + 1);
  if (!t.raw) abort();
  uint8_t *h = (uint8_t *)t.raw + 1; /* an odd address */
  for (size_t i = 0; i < n; i++) {
    const uint16_t b = dt == DIF__DTYPE_F16 ? dif__f16_from_f32(v[i]) : dif__bf16_from_f32(v[i]);
    memcpy(h + 2 * i, &b, 2);
    t.wf[i] = dt == DIF__DTYPE_F16 ? dif__f16_to_float(b) : dif__bf16_to_float(b);
  }
  free(v);
  t.w = (dif__weight){h, dt, (int64_t)n, false};
  return t;
}

static void free_weight(tw *t) { free(t->raw), free(t->wf); }

/* The double products Σ x·wf of rows [0, m) and their magnitudes Σ |x·wf|,
 * [m][out] each. */
typedef struct ref {
  double *exact, *mag;
} ref;

static ref make_ref(const float *x, int64_t m, int64_t ldx, int64_t in, const float *wf,
                    int64_t out) {
  ref r = {dbuf((size_t)(m * out)), dbuf((size_t)(m * out))};
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < out; j++) {
      double exact = 0, mag = 0;
      for (int64_t c = 0; c < in; c++) {
        const double p = (double)x[i * ldx + c] * wf[j * in + c];
        exact += p, mag += fabs(p);
      }
      r.exact[i * out + j] = exact, r.mag[i * out + j] = mag;
    }
  return r;
}

static void free_ref(ref *r) { free(r->exact), free(r->mag); }

/* y[i·out + j] of rows [0, m) against r (+ y0 + b), the bound above;
 * returns the outputs beyond it (the first few printed). */
static int beyond_ref(const float *y, const ref *r, int64_t m, int64_t in, int64_t out,
                      const float *y0, const float *b, const char *what) {
  const double gamma = (double)(in + 2) * 0x1p-24;
  int bad = 0;
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < out; j++) {
      double exact = r->exact[i * out + j], mag = r->mag[i * out + j];
      if (y0) exact += y0[i * out + j], mag += fabs(y0[i * out + j]);
      if (b) exact += b[j], mag += fabs(b[j]);
      const double got = y[i * out + j];
      if (!(fabs(got - exact) <= gamma * mag) && bad++ < 3)
        fprintf(stderr, "%s: y[%lld, %lld] = %.9g, exact %.9g, bound %.3g\n", what, (long long)i,
                (long long)j, got, exact, gamma * mag);
    }
  return bad;
}

/* The same for y = x · wfᵀ over m rows of x. */
static int beyond_bound(const float *y, const float *x, int64_t m, int64_t ldx, int64_t in,
                        const float *wf, int64_t out, const float *y0, const float *b,
                        const char *what) {
  ref r = make_ref(x, m, ldx, in, wf, out);
  const int bad = beyond_ref(y, &r, m, in, out, y0, b, what);
  free_ref(&r);
  return bad;
}

static const dif__dtype dtypes[3] = {DIF__DTYPE_F32, DIF__DTYPE_F16, DIF__DTYPE_BF16};

/* The row counts checked: all the dot kernel's, then the panel kernel's
 * around its groups of 6 rows and the limit. */
static const int64_t rows[] = {1,  2,  3,  4,  5,  6,   7,   8,   9,   10,  11,  12,
                               13, 14, 15, 16, 17, 18,  19,  20,  21,  22,  23,  24,
                               31, 47, 64, 65, 96, 101, 153, 154, 155, 162, 191, DIF__FEW_ROWS_MAX};
#define FAR (DIF__FEW_ROWS_MAX + DIF__FEW_ROWS_DOT_MAX + 1) /* rows of x: the last + 17 */

TEST(accuracy_and_bits) {
  const int64_t ins[] = {1, 7, 8, 9, 255, 256, 257, 600};
  const int64_t outs[] = {1, 17, 65, 130};
  kenv e;
  kenv_init(&e, 2);
  int cases = 0;
  for (int d = 0; d < 3; d++)
    for (size_t a = 0; a < sizeof ins / sizeof ins[0]; a++)
      for (size_t o = 0; o < sizeof outs / sizeof outs[0]; o++) {
        const int64_t in = ins[a], out = outs[o], ldx = in + 3;
        tw t = make_weight(dtypes[d], out, in, 10 + (uint64_t)(a * 7 + o));
        const dif__weight w32 = dif__weight_f32(t.wf, out * in);
        float *x = frand((size_t)(FAR * ldx), 3 + (uint64_t)a, -2, 2);
        float *y0 = frand((size_t)(DIF__FEW_ROWS_MAX * out), 4, -1, 1);
        float *y = fbuf((size_t)(DIF__FEW_ROWS_MAX * out)),
              *yr = fbuf((size_t)(DIF__FEW_ROWS_MAX * out));
        float *yt = fbuf((size_t)(DIF__FEW_ROWS_MAX * out));
        float *y1 = fbuf((size_t)((DIF__FEW_ROWS_DOT_MAX + 1) * out));
        ref r = make_ref(x, DIF__FEW_ROWS_MAX, ldx, in, t.wf, out); /* for every m */
        for (size_t mi = 0; mi < sizeof rows / sizeof rows[0]; mi++) {
          const int64_t m = rows[mi], alone = m <= DIF__FEW_ROWS_DOT_MAX ? 1 : 17;
          char what[96];
          snprintf(what, sizeof what, "%s, %lld × %lld × %lld", dif__dtype_name(dtypes[d]),
                   (long long)m, (long long)out, (long long)in);
          /* beta 0 over NaN: never read */
          for (int64_t i = 0; i < m * out; i++) y[i] = NAN;
          dif__few_rows(e.pool, x, m, ldx, in, t.w, out, 0.0f, y, out, 1);
          CHECK_MSG(beyond_ref(y, &r, m, in, out, NULL, NULL, what) == 0,
                    "%s: beyond float32's bound", what);
          /* the widened float32 weight: the same bits */
          dif__few_rows(e.pool, x, m, ldx, in, w32, out, 0.0f, yr, out, 1);
          CHECK_MSG(memcmp(y, yr, (size_t)(m * out) * sizeof *y) == 0,
                    "%s: not the widened float32 weight's bits", what);
          /* serial and on the pool (2 threads): the same bits */
          dif__few_rows(NULL, x, m, ldx, in, t.w, out, 0.0f, yr, out, 1);
          CHECK_MSG(memcmp(y, yr, (size_t)(m * out) * sizeof *y) == 0, "%s: serial differs", what);
          /* transposed output: the same bits */
          dif__few_rows(e.pool, x, m, ldx, in, t.w, out, 0.0f, yt, 1, m);
          int diff = 0;
          for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < out; j++)
              diff += memcmp(&yt[j * m + i], &y[i * out + j], sizeof *y) != 0;
          CHECK_MSG(diff == 0, "%s: the transposed layout differs in %d outputs", what, diff);
          /* each row alone (as the first of 17 beyond the dot kernel's
           * rows): the same bits */
          for (int64_t i = 0; i < m; i += 5) {
            dif__few_rows(NULL, x + i * ldx, alone, ldx, in, t.w, out, 0.0f, y1, out, 1);
            CHECK_MSG(memcmp(y1, y + i * out, (size_t)out * sizeof *y) == 0,
                      "%s: row %lld alone differs", what, (long long)i);
          }
          /* beta 1 adds y0 */
          memcpy(y, y0, (size_t)(m * out) * sizeof *y);
          dif__few_rows(e.pool, x, m, ldx, in, t.w, out, 1.0f, y, out, 1);
          CHECK_MSG(beyond_ref(y, &r, m, in, out, y0, NULL, what) == 0,
                    "%s, beta 1: beyond float32's bound", what);
          cases++;
        }
        free(x), free(y0), free(y), free(yr), free(yt), free(y1);
        free_ref(&r);
        free_weight(&t);
      }
  printf("  %d products within float32's bound, bits independent of threads, layout, rows\n",
         cases);
  kenv_free(&e);
}

TEST(special_weights) {
  /* Inf and NaN weights give the IEEE results (no lane masks them), in
   * both kernels (2 and 20 rows of x; 17 outputs, so the panel kernel's
   * first panel is whole and goes through its 8 × 8 transposes) */
  const int64_t in = 20, out = 17;
  for (int d = 0; d < 6; d++) {
    const int64_t m = d < 3 ? 2 : 20;
    tw t = make_weight(dtypes[d % 3], out, in, 30);
    uint8_t *h = (uint8_t *)t.w.data;
    const float vals[2] = {INFINITY, NAN};
    for (int s = 0; s < 2; s++) {
      /* row 0 gets the value at input 3 (an 8-lane step) and row 1 at 17 (the tail) */
      for (int r = 0; r < 2; r++) {
        const int64_t idx = r * in + (r ? 17 : 3);
        if (dtypes[d % 3] == DIF__DTYPE_F32) {
          memcpy(h + 4 * idx, &vals[s], 4);
        } else {
          const uint16_t b = dtypes[d % 3] == DIF__DTYPE_F16 ? dif__f16_from_f32(vals[s])
                                                             : dif__bf16_from_f32(vals[s]);
          memcpy(h + 2 * idx, &b, 2);
        }
      }
      float x[20 * 20], y[20 * 17];
      for (int i = 0; i < 20 * 20; i++) x[i] = 0.5f + (float)(i % 40);
      dif__few_rows(NULL, x, m, in, in, t.w, out, 0.0f, y, out, 1);
      for (int i = 0; i < 2; i++) {
        CHECK_MSG(s ? isnan(y[i * out]) && isnan(y[i * out + 1])
                    : y[i * out] == INFINITY && y[i * out + 1] == INFINITY,
                  "%s, %s weight, %lld rows: y[%d] = %g, %g", dif__dtype_name(dtypes[d % 3]),
                  s ? "NaN" : "Inf", (long long)m, i, (double)y[i * out], (double)y[i * out + 1]);
        CHECK(isfinite(y[i * out + 2])); /* rows 2.. of W are finite */
      }
    }
    free_weight(&t);
  }
}

/* gemm.c's choice: up to DIF__FEW_ROWS_MAX rows the kernel (with a bias
 * preloaded, acc, and the channels-first output), one row more sgemm. */
TEST(linear_takes_it) {
  kenv e;
  kenv_init(&e, 2);
  const int64_t in = 300, out = 40;
  for (int d = 0; d < 3; d++) {
    tw t = make_weight(dtypes[d], out, in, 40);
    for (int64_t m = DIF__FEW_ROWS_MAX - 1; m <= DIF__FEW_ROWS_MAX + 1; m++) {
      const bool few = dif__few_rows_taken(m, t.w);
      CHECK(few == (dif__few_rows_runs() && m <= DIF__FEW_ROWS_MAX));
      float *x = frand((size_t)(m * in), 41, -1, 1), *b = frand((size_t)out, 42, -1, 1);
      float *y0 = frand((size_t)(m * out), 43, -1, 1);
      float *y = fbuf((size_t)(m * out)), *yr = fbuf((size_t)(m * out)),
            *yc = fbuf((size_t)(m * out));
      char what[64];
      snprintf(what, sizeof what, "dif__linear %s, %lld rows", dif__dtype_name(dtypes[d]),
               (long long)m);
      /* no bias: the product itself, bit for bit */
      dif__linear(&e.k, x, m, in, t.w, NULL, out, y);
      if (few)
        dif__few_rows(NULL, x, m, in, in, t.w, out, 0.0f, yr, out, 1);
      else
        dif__gemm(false, true, m, out, in, 1.0f, x, in, t.wf, in, 0.0f, yr, out);
      CHECK_MSG(memcmp(y, yr, (size_t)(m * out) * sizeof *y) == 0, "%s: not the %s's bits", what,
                few ? "few-row kernel" : "cblas_sgemm");
      /* a bias, then acc, then the channels-first output */
      dif__linear(&e.k, x, m, in, t.w, b, out, y);
      CHECK(beyond_bound(y, x, m, in, in, t.wf, out, NULL, b, what) == 0);
      memcpy(y, y0, (size_t)(m * out) * sizeof *y);
      dif__linear_acc(&e.k, x, m, in, t.w, b, out, y);
      CHECK(beyond_bound(y, x, m, in, in, t.wf, out, y0, b, what) == 0);
      dif__linear_cf_out(&e.k, x, m, in, t.w, b, out, yc, false);
      for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < out; j++) y[i * out + j] = yc[j * m + i];
      CHECK(beyond_bound(y, x, m, in, in, t.wf, out, NULL, b, what) == 0);
      /* ... and added to what it holds (acc): y0 laid out channels-first */
      for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < out; j++) yc[j * m + i] = y0[i * out + j];
      dif__linear_cf_out(&e.k, x, m, in, t.w, b, out, yc, true);
      for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < out; j++) y[i * out + j] = yc[j * m + i];
      CHECK(beyond_bound(y, x, m, in, in, t.wf, out, y0, b, what) == 0);
      CHECK(e.arena.used_total == 0);
      free(x), free(b), free(y0), free(y), free(yr), free(yc);
    }
    free_weight(&t);
  }
  kenv_free(&e);
  printf("  up to %d rows: %s\n", DIF__FEW_ROWS_MAX,
         dif__few_rows_runs() ? "the few-row kernel"
                              : "cblas_sgemm (the kernel does not run here)");
}

/* DIF_MAX_CPU_ISA=sse or avx (test-gemm-few-sse): the cap refuses the
 * kernel, and linear_takes_it has checked that gemm.c keeps cblas_sgemm
 * then, bit for bit. */
TEST(a_cap_below_avx2_refuses_it) {
  const char *cap = getenv("DIF_MAX_CPU_ISA");
  CHECK_MSG(cap && (strcmp(cap, "sse") == 0 || strcmp(cap, "avx") == 0),
            "run with DIF_MAX_CPU_ISA=sse or avx, not %s", cap ? cap : "unset");
  CHECK_MSG(!dif__few_rows_runs(), "DIF_MAX_CPU_ISA=%s: the few-row kernel still runs",
            cap ? cap : "unset");
}

int main(void) {
  RUN(linear_takes_it);
  const char *cap = getenv("DIF_MAX_CPU_ISA");
  if (cap && (strcmp(cap, "sse") == 0 || strcmp(cap, "avx") == 0)) {
    RUN(a_cap_below_avx2_refuses_it);
    return dif__test_finish();
  }
  if (!dif__few_rows_runs()) {
    printf("the few-row kernel does not run here: it needs an x86-64 CPU with AVX2, FMA and F16C "
           "(and no DIF_MAX_CPU_ISA below avx2); its own checks are skipped\n");
    const int rc = dif__test_finish();
    return rc ? rc : 77;
  }
  RUN(accuracy_and_bits);
  RUN(special_weights);
  return dif__test_finish();
}

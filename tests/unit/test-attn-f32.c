/* The exact path's fused float32 attention (core/attn_f32.h): its portable
 * builds (4 lanes, and 16 lanes: the AVX-512 build's tiles) on every CPU,
 * its AVX2 + FMA and AVX-512 builds where the CPU has them, against a
 * double reference; results independent of the thread count;
 * dif__attention in the precision exact takes the native build
 * (dif__attn_f32_native) exactly where dif__attn_f32_taken() says so.
 *
 * Two checks per case. (1) Normalised MSE ≤ NMSE_MAX (1e-10), the criterion
 * the unfused exact attention meets (test-ops-attention). (2) Per element
 * (head h, query i): |got − ref| ≤ (2·dim·u·T_i + 1e-5)·A_i + 1e-7, with
 * u = 2^-24, T_i = scale·max_j Σ_d |q_id k_jd| (a float32 dot product's
 * error bound on a score is dim·u·T_i, and a score's error δ scales its
 * probability by e^δ) and A_i = Σ_j p_j |v_j| / Σ_j p_j; the 1e-5 covers
 * the float32 exp (~2 ulp), the online rescaling and the float32 sums of
 * P·V. A wrong key block, rescaling, layout, padding or scale is off by far
 * more. `test-attn-f32` runs everything; ctest also runs it under
 * DIF_FUSED_ATTENTION=unfused (exact then keeps the unfused path) and
 * DIF_MAX_CPU_ISA=sse (no native build: those calls are refused) and
 * DIF_MAX_CPU_ISA=avx2 (the AVX2 build without the AVX-512 one).
 */
#include <stdlib.h>
#include <string.h>

#include "core/attn_f32.h"
#include "core/backend.h"
#include "core/blas.h"
#include "ops_test_util.h"

#define U_F32 (1.0 / 16777216.0)

typedef struct fcase {
  dif__attention_params p;
  float *q, *k, *v; /* q [tq, ld_q], k [tk, ld_k], v [tk, ld_v] */
  double *ref, *bound;
  size_t nout;
} fcase;

static double worst[DIF__ATTN_F32_BUILDS]; /* largest |got − ref| / bound, per build */
static int runs[DIF__ATTN_F32_BUILDS];

static void reference(fcase *c) {
  const dif__attention_params *p = &c->p;
  double *s = dbuf((size_t)p->tk);
  for (int64_t h = 0; h < p->heads; h++)
    for (int64_t i = 0; i < p->tq; i++) {
      double mx = -INFINITY, t = 0;
      for (int64_t j = 0; j < p->tk; j++) {
        double d = 0, a = 0;
        for (int64_t x = 0; x < p->dim; x++) {
          const double prod =
              (double)c->q[i * p->ld_q + h * p->dim + x] * c->k[j * p->ld_k + h * p->dim + x];
          d += prod;
          a += fabs(prod);
        }
        s[j] = d * p->scale;
        mx = s[j] > mx ? s[j] : mx;
        t = a * p->scale > t ? a * p->scale : t;
      }
      double sum = 0;
      for (int64_t j = 0; j < p->tk; j++) sum += s[j] = exp(s[j] - mx);
      for (int64_t x = 0; x < p->dim; x++) {
        double o = 0, a = 0;
        for (int64_t j = 0; j < p->tk; j++) {
          const double vj = c->v[j * p->ld_v + h * p->dim + x];
          o += s[j] * vj;
          a += s[j] * fabs(vj);
        }
        const size_t at = (size_t)(i * p->ld_o + h * p->dim + x);
        c->ref[at] = o / sum;
        c->bound[at] = (2.0 * (double)p->dim * U_F32 * t + 1e-5) * (a / sum) + 1e-7;
      }
    }
  free(s);
}

/* Values in [-amp, amp]; output padding (ld_o beyond heads·dim) is 42 in
 * both the reference and every run, and must stay so. */
static void setup(fcase *c, dif__attention_params p, uint64_t seed, float amp) {
  c->p = p;
  c->q = frand((size_t)(p.tq * p.ld_q), seed, -amp, amp);
  c->k = frand((size_t)(p.tk * p.ld_k), seed + 1, -amp, amp);
  c->v = frand((size_t)(p.tk * p.ld_v), seed + 2, -1, 1);
  c->nout = (size_t)(p.tq * p.ld_o);
  c->ref = dbuf(c->nout);
  c->bound = dbuf(c->nout);
  for (size_t i = 0; i < c->nout; i++) c->ref[i] = 42.0, c->bound[i] = 0.0;
  reference(c);
}

static void teardown(fcase *c) { free(c->q), free(c->k), free(c->v), free(c->ref), free(c->bound); }

static dif__attention_params shape(int64_t tq, int64_t tk, int64_t heads, int64_t dim) {
  dif__attention_params p = {.tq = tq, .tk = tk, .heads = heads, .dim = dim};
  p.ld_q = p.ld_k = p.ld_v = p.ld_o = heads * dim;
  p.scale = 1.0f / sqrtf((float)dim);
  return p;
}

/* The builds this CPU runs: the portable ones always, the native ones where
 * the build and the CPU (under DIF_MAX_CPU_ISA) have them. */
static bool runs_here(int b) { return dif__attn_f32_runs((dif__attn_f32_build)b, NULL, 0); }

static float *run_build(fcase *c, int b, int threads, bool over_q) {
  kenv e;
  kenv_init(&e, threads);
  dif__error err;
  dif__error_clear(&err);
  float *out = fbuf(c->nout);
  float *q = c->q;
  if (over_q) { /* out is q: a copy of q with the output's row stride */
    CHECK(c->p.ld_q == c->p.ld_o);
    q = out;
    memcpy(q, c->q, c->nout * sizeof *q);
  } else {
    for (size_t i = 0; i < c->nout; i++) out[i] = 42.0f;
  }
  CHECK_STATUS(dif__attn_f32(&e.k, &c->p, q, c->k, c->v, out, (dif__attn_f32_build)b, &err), DIF_OK,
               err.msg, "");
  CHECK(e.arena.used_total == 0); /* scratch released */
  kenv_free(&e);
  if (over_q) /* the padding columns of q are q's, not 42: compare those to q */
    for (int64_t i = 0; i < c->p.tq; i++)
      for (int64_t x = c->p.heads * c->p.dim; x < c->p.ld_o; x++) {
        CHECK(out[i * c->p.ld_o + x] == c->q[i * c->p.ld_q + x]);
        out[i * c->p.ld_o + x] = 42.0f;
      }
  return out;
}

static void check_bound(const fcase *c, const float *got, int b, const char *what) {
  double w = 0;
  size_t at = 0;
  for (size_t i = 0; i < c->nout; i++) {
    const double d = fabs((double)got[i] - c->ref[i]);
    const double r = c->bound[i] > 0 ? d / c->bound[i] : (d == 0 ? 0 : INFINITY);
    if (r > w) w = r, at = i;
  }
  CHECK_MSG(w <= 1.0,
            "%s build%s (tq %lld, tk %lld, heads %lld, dim %lld): output %zu is %g, "
            "reference %g: %.3g× the bound",
            dif__attn_f32_build_name((dif__attn_f32_build)b), what, (long long)c->p.tq,
            (long long)c->p.tk, (long long)c->p.heads, (long long)c->p.dim, at, (double)got[at],
            c->ref[at], w);
  const double nmse = dif__test_nmse(got, c->ref, c->nout);
  CHECK_MSG(nmse <= NMSE_MAX, "%s build%s: nmse %.3g",
            dif__attn_f32_build_name((dif__attn_f32_build)b), what, nmse);
  worst[b] = w > worst[b] ? w : worst[b];
  runs[b]++;
}

/* Every build on c: against the reference, with 1 and 3 threads
 * (bit-identical: a row is one task's), and with out over q. */
static void check_case(dif__attention_params p, uint64_t seed, float amp) {
  fcase c;
  setup(&c, p, seed, amp);
  for (int b = 0; b < DIF__ATTN_F32_BUILDS; b++) {
    if (!runs_here(b)) continue;
    float *one = run_build(&c, b, 1, false);
    check_bound(&c, one, b, "");
    float *three = run_build(&c, b, 3, false);
    CHECK_SAME(three, one, c.nout);
    free(three);
    if (p.ld_q == p.ld_o) {
      float *over = run_build(&c, b, 2, true);
      CHECK_SAME(over, one, c.nout);
      free(over);
    }
    free(one);
  }
  teardown(&c);
}

TEST(small_and_odd_shapes) {
  check_case(shape(1, 1, 1, 1), 1, 1);
  check_case(shape(13, 7, 3, 5), 2, 1);     /* odd head dim: padded columns */
  check_case(shape(8, 33, 2, 16), 3, 1);    /* a last key tile of 1 key */
  check_case(shape(25, 48, 2, 16), 12, 1);  /* 16 lanes: a last key tile of 16 keys, 16 padded */
  check_case(shape(20, 50, 2, 12), 13, 1);  /* 3 vectors of 4: a full P·V tile, then one vector */
  check_case(shape(20, 50, 2, 24), 14, 1);  /* 3 vectors of 8: the same for the AVX2 build */
  check_case(shape(70, 600, 2, 40), 4, 1);  /* SD-1.x's head dim 40; 3 key blocks */
  check_case(shape(65, 1025, 1, 64), 5, 1); /* 2 query blocks, 5 key blocks (last 1 key) */
  check_case(shape(48, 256, 2, 64), 6, 1);  /* exactly one query block and one key block */
  check_case(shape(49, 257, 2, 64), 7, 1);  /* one more of each */
  check_case(shape(9, 40, 1, 256), 8, 1);   /* 16 column tiles of P·V */
  check_case(shape(17, 70, 1, 512), 9, 1);  /* the largest head dimension (the VAE's) */
  check_case(shape(100, 77, 4, 64), 10, 1); /* cross-attention's 77 text tokens */
  check_case(shape(31, 300, 2, 3), 11, 1);  /* a head dim below one vector */
}

TEST(strides_and_output_over_q) {
  dif__attention_params p = shape(30, 45, 3, 24);
  p.ld_q = 3 * 24 + 5, p.ld_o = 3 * 24 + 7; /* padding columns stay 42 */
  p.ld_k = 2 * 3 * 24, p.ld_v = 3 * 24 + 1; /* k from a fused k|v buffer */
  check_case(p, 20, 1);
  p = shape(70, 35, 3, 24);
  p.ld_q = p.ld_o = 3 * 24 + 8; /* out over q, with padding columns */
  check_case(p, 21, 1);
}

TEST(peaked_scores_and_growing_maximum) {
  /* |q|, |k| up to 4 with dim 64: scores up to ±64·16/8, rows nearly
   * one-hot, most exponentials underflow; the row maximum moves between
   * key blocks. */
  check_case(shape(64, 700, 2, 64), 30, 4);
  /* Scores that grow with the key: every key block raises the maximum, so
   * the partial output is rescaled at every one of the 8 blocks. */
  dif__attention_params p = shape(16, 2000, 1, 8);
  fcase c;
  setup(&c, p, 31, 1);
  for (int64_t j = 0; j < p.tk; j++)
    for (int64_t x = 0; x < p.dim; x++) c.k[j * p.ld_k + x] = 0.004f * (float)j;
  for (int64_t i = 0; i < p.tq; i++)
    for (int64_t x = 0; x < p.dim; x++) c.q[i * p.ld_q + x] = 0.5f + 0.01f * (float)i;
  reference(&c);
  for (int b = 0; b < DIF__ATTN_F32_BUILDS; b++)
    if (runs_here(b)) {
      float *got = run_build(&c, b, 2, false);
      check_bound(&c, got, b, ", growing maximum");
      free(got);
    }
  teardown(&c);
}

TEST(unet_sized_head) {
  /* A 512² UNet's finest level: 4096 keys (16 key blocks), 480 of its
   * queries, 2 heads. */
  check_case(shape(480, 4096, 2, 64), 40, 1);
}

TEST(nan_stays_in_its_row) {
  /* A NaN query value makes that row's outputs NaN (as the unfused path's
   * softmax does), and nothing else. */
  dif__attention_params p = shape(20, 300, 2, 16);
  fcase c;
  setup(&c, p, 50, 1);
  c.q[7 * p.ld_q + 16 + 3] = NAN; /* query 7, head 1 */
  for (int b = 0; b < DIF__ATTN_F32_BUILDS; b++) {
    if (!runs_here(b)) continue;
    float *got = run_build(&c, b, 2, false);
    for (int64_t i = 0; i < p.tq; i++)
      for (int64_t x = 0; x < p.heads * p.dim; x++) {
        const float g = got[i * p.ld_o + x];
        if (i == 7 && x >= 16)
          CHECK_MSG(isnan(g), "query 7 head 1 column %lld: %g, not NaN", (long long)x, (double)g);
        else
          CHECK_MSG(isfinite(g), "query %lld column %lld: %g", (long long)i, (long long)x,
                    (double)g);
      }
    free(got);
  }
  teardown(&c);
}

TEST(exact_attention_takes_it) {
  /* dif__attention in the precision exact gives the native build's bits
   * (AVX-512 where it runs, else AVX2) exactly where dif__attn_f32_taken()
   * (an AVX2 CPU without AVX-512 or with AVX-512 in 256-bit halves,
   * DIF_FUSED_ATTENTION not "unfused"); elsewhere the unfused path's. */
  const char *env = getenv("DIF_FUSED_ATTENTION");
  const bool unfused = env && !strcmp(env, "unfused");
  const bool want = runs_here(DIF__ATTN_F32_AVX2) &&
                    (dif__cpu_isa() < DIF__ISA_AVX512 || dif__cpu_avx512_split()) && !unfused;
  const int native = runs_here(DIF__ATTN_F32_AVX512) ? DIF__ATTN_F32_AVX512
                     : runs_here(DIF__ATTN_F32_AVX2) ? DIF__ATTN_F32_AVX2
                                                     : DIF__ATTN_F32_BASE;
  CHECK(dif__attn_f32_native() == (dif__attn_f32_build)native);
  CHECK_MSG(dif__attn_f32_taken() == want, "taken %d, expected %d", dif__attn_f32_taken(), want);
  fcase c;
  setup(&c, shape(50, 90, 2, 32), 60, 1);
  kenv e;
  kenv_init(&e, 2);
  dif__error err;
  dif__error_clear(&err);
  float *got = fbuf(c.nout);
  CHECK_STATUS(dif__attention(&e.k, &c.p, c.q, c.k, c.v, got, &err), DIF_OK, err.msg, "");
  float *fused = run_build(&c, native, 2, false);
  const bool same = memcmp(got, fused, c.nout * sizeof *got) == 0;
  /* the unfused path sums in another order: not the fused bits */
  CHECK_MSG(same == want, "exact attention %s the fused build's bits",
            same ? "gives" : "does not give");
  printf("exact_attention_takes_it: %s (this CPU: %s%s)\n",
         want
             ? (native == DIF__ATTN_F32_AVX512 ? "the fused AVX-512 build" : "the fused AVX2 build")
             : "the unfused path",
         dif__cpu_isa() >= DIF__ISA_AVX512 ? "AVX-512"
         : runs_here(DIF__ATTN_F32_AVX2)   ? "AVX2"
                                           : "no AVX2",
         unfused ? "; DIF_FUSED_ATTENTION=unfused" : "");
  free(got), free(fused);
  teardown(&c);
  /* a head dimension over DIF__ATTN_F32_TAKEN_DIM_MAX (the VAE's 512):
   * exact keeps the unfused path everywhere */
  setup(&c, shape(50, 90, 1, DIF__ATTN_F32_TAKEN_DIM_MAX + 8), 61, 1);
  got = fbuf(c.nout);
  CHECK_STATUS(dif__attention(&e.k, &c.p, c.q, c.k, c.v, got, &err), DIF_OK, err.msg, "");
  fused = run_build(&c, native, 2, false);
  CHECK_MSG(memcmp(got, fused, c.nout * sizeof *got) != 0,
            "head dim %d: exact attention gives the fused build's bits",
            DIF__ATTN_F32_TAKEN_DIM_MAX + 8);
  kenv_free(&e);
  free(got), free(fused);
  teardown(&c);
}

TEST(refuses_what_it_does_not_take) {
  kenv e;
  kenv_init(&e, 1);
  float buf[64] = {0};
  dif__error err;
  dif__attention_params p = shape(2, 2, 1, 4);
  p.causal = true;
  CHECK(!dif__attn_f32_fits(&p));
  CHECK_STATUS(dif__attn_f32(&e.k, &p, buf, buf, buf, buf, DIF__ATTN_F32_BASE, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "causal");
  p = shape(2, 2, 1, DIF__ATTN_FUSED_DIM_MAX + 1);
  CHECK(!dif__attn_f32_fits(&p));
  p = shape(2, 2, 1, 4);
  p.mask = buf;
  CHECK(!dif__attn_f32_fits(&p));
  CHECK_STATUS(dif__attn_f32(&e.k, &p, buf, buf, buf, buf, DIF__ATTN_F32_BASE, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "a mask");
  p.mask = NULL;
  CHECK(dif__attn_f32_fits(&p));
  CHECK_STATUS(dif__attn_f32(&e.k, &p, NULL, buf, buf, buf, DIF__ATTN_F32_BASE, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "NULL");
  CHECK_STATUS(dif__attn_f32(&e.k, &p, buf, buf, buf, buf, DIF__ATTN_F32_BUILDS, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "no such build");
  /* a native build this CPU (or DIF_MAX_CPU_ISA) lacks: refused, saying which */
  if (!runs_here(DIF__ATTN_F32_AVX2))
    CHECK_STATUS(dif__attn_f32(&e.k, &p, buf, buf, buf, buf, DIF__ATTN_F32_AVX2, &err),
                 DIF_ERR_UNSUPPORTED, err.msg, "AVX2");
  if (!runs_here(DIF__ATTN_F32_AVX512))
    CHECK_STATUS(dif__attn_f32(&e.k, &p, buf, buf, buf, buf, DIF__ATTN_F32_AVX512, &err),
                 DIF_ERR_UNSUPPORTED, err.msg, "AVX-512");
  /* packed K and V beyond any memory: refused before anything is read */
  p = shape(2, (int64_t)1 << 40, (int64_t)1 << 20, 512);
  CHECK_STATUS(dif__attn_f32(&e.k, &p, buf, buf, buf, buf, DIF__ATTN_F32_BASE, &err),
               DIF_ERR_OUT_OF_MEMORY, err.msg, "packed keys and values");
  CHECK(e.arena.used_total == 0);
  kenv_free(&e);
}

int main(void) {
  RUN(small_and_odd_shapes);
  RUN(strides_and_output_over_q);
  RUN(peaked_scores_and_growing_maximum);
  RUN(unet_sized_head);
  RUN(nan_stays_in_its_row);
  RUN(exact_attention_takes_it);
  RUN(refuses_what_it_does_not_take);
  char cpu[160];
  dif__cpu_describe(cpu, sizeof cpu);
  for (int b = 0; b < DIF__ATTN_F32_BUILDS; b++) {
    char why[128] = "";
    if (runs[b])
      printf("%s build: %d cases; worst error %.3f× the bound (this CPU: %s)\n",
             dif__attn_f32_build_name((dif__attn_f32_build)b), runs[b], worst[b], cpu);
    else if (!dif__attn_f32_runs((dif__attn_f32_build)b, why, sizeof why))
      printf("%s build: not run here: %s (this CPU: %s)\n",
             dif__attn_f32_build_name((dif__attn_f32_build)b), why, cpu);
    else
      CHECK_MSG(false, "%s build runs here but no case ran it",
                dif__attn_f32_build_name((dif__attn_f32_build)b));
  }
  return dif__test_finish();
}

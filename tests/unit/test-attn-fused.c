/* The fused bf16 attention (core/attn_fused.h): its portable builds on every
 * CPU (the AVX512-BF16 kernel and the AMX tile kernel, their instructions
 * modelled in C), its AVX512-BF16 and AMX builds where the CPU has them, each
 * against a double reference computed from the same bf16-rounded Q, K and V,
 * and each native build against its model; dif__attention in the precision
 * fast takes the best native build.
 *
 * The bound, per output element i (head h, query r): the kernel rounds each
 * probability p_j to bf16 (relative error at most u = 2^-8, dtype.h), so its
 * output differs from Σ p_j v_j / Σ p_j by at most u · A_i with
 * A_i = Σ p_j |v_j| / Σ p_j; float32 accumulation, the float32 exp
 * (2^n · p(f), vmath.h's DIF__EXP2_*: ~2 ulp) and the rescaling of the
 * online softmax add relative errors of order 1e-6, so the check is
 * |got - ref| <= (u + 1e-5) · A_i + 1e-7. Anything the kernel gets wrong
 * beyond rounding (a key block, the rescaling, a layout, the scale) is off
 * by far more than u · A_i.
 *
 * `test-attn-fused native` runs only the AVX512-BF16 build and `test-attn-fused
 * amx` only the AMX build; each exits 77 (ctest: skipped) on a CPU, OS or
 * build without it, saying why.
 */
#include <stdlib.h>
#include <string.h>

#include "core/attn_fused.h"
#include "core/backend.h"
#include "core/dtype.h"
#include "ops_test_util.h"

/* The builds in the order they run; the portable models first. */
static const dif__attn_fused_isa builds[] = {DIF__ATTN_FUSED_PORTABLE, DIF__ATTN_FUSED_TILES_MODEL,
                                             DIF__ATTN_FUSED_AVX512BF16, DIF__ATTN_FUSED_AMX};
#define NBUILDS 4
static bool is_native(dif__attn_fused_isa b) {
  return b == DIF__ATTN_FUSED_AVX512BF16 || b == DIF__ATTN_FUSED_AMX;
}

static int only = -1;         /* the one native build this run checks, or -1: all */
static int runs[NBUILDS];     /* cases each build ran */
static double worst[NBUILDS]; /* each build's largest |got - ref| / bound */
static bool native_big;       /* a case too large for the portable builds' speed */

/* Whether this run checks build i here: the portable ones on every CPU
 * (unless only one native build is asked for, or the case is too big), a
 * native one where it runs. */
static bool checks(int i) {
  if (only >= 0 && i != only) return false;
  if (!is_native(builds[i])) return !native_big;
  return dif__attn_fused_runs(builds[i], NULL, 0);
}

typedef struct fcase {
  dif__attention_params p;
  float *q, *k, *v; /* q [tq, ld_q], k [tk, ld_k], v [tk, ld_v] */
  double *ref, *bound;
  size_t nout;
} fcase;

static void reference(fcase *c) {
  const dif__attention_params *p = &c->p;
  double *s = dbuf((size_t)p->tk);
  for (int64_t h = 0; h < p->heads; h++)
    for (int64_t i = 0; i < p->tq; i++) {
      double mx = -INFINITY;
      for (int64_t j = 0; j < p->tk; j++) {
        double d = 0;
        for (int64_t x = 0; x < p->dim; x++)
          d += (double)dif__bf16_round(c->q[i * p->ld_q + h * p->dim + x]) *
               dif__bf16_round(c->k[j * p->ld_k + h * p->dim + x]);
        s[j] = d * p->scale;
        mx = s[j] > mx ? s[j] : mx;
      }
      double sum = 0;
      for (int64_t j = 0; j < p->tk; j++) sum += s[j] = exp(s[j] - mx);
      for (int64_t x = 0; x < p->dim; x++) {
        double o = 0, a = 0;
        for (int64_t j = 0; j < p->tk; j++) {
          const double vj = dif__bf16_round(c->v[j * p->ld_v + h * p->dim + x]);
          o += s[j] * vj;
          a += s[j] * fabs(vj);
        }
        c->ref[i * p->ld_o + h * p->dim + x] = o / sum;
        c->bound[i * p->ld_o + h * p->dim + x] = (ldexp(1.0, -8) + 1e-5) * (a / sum) + 1e-7;
      }
    }
  free(s);
}

/* Inputs uniform in [-amp, amp]; padding columns of out start at 42 (and
 * must stay so). */
static void setup(fcase *c, dif__attention_params p, uint64_t seed, float amp) {
  c->p = p;
  c->q = frand((size_t)(p.tq * p.ld_q), seed, -amp, amp);
  c->k = frand((size_t)(p.tk * p.ld_k), seed + 1, -amp, amp);
  c->v = frand((size_t)(p.tk * p.ld_v), seed + 2, -1, 1);
  c->nout = (size_t)(p.tq * p.ld_o);
  c->ref = dbuf(c->nout);
  c->bound = dbuf(c->nout);
  for (size_t i = 0; i < c->nout; i++) c->ref[i] = 42.0;
  reference(c);
}

static void teardown(fcase *c) { free(c->q), free(c->k), free(c->v), free(c->ref), free(c->bound); }

static void check_bound(const fcase *c, const float *got, int build, const char *what) {
  double w = 0;
  size_t at = 0;
  for (size_t i = 0; i < c->nout; i++) {
    const double b = c->bound[i] > 0 ? c->bound[i] : 0; /* padding: exact */
    const double d = fabs((double)got[i] - c->ref[i]);
    if (b == 0 ? d != 0 : d / b > w) w = b == 0 ? INFINITY : d / b, at = i;
  }
  if (w > worst[build]) worst[build] = w;
  runs[build]++;
  CHECK_MSG(w <= 1.0,
            "%s build%s (tq %lld tk %lld heads %lld dim %lld): element %zu is %.8g, "
            "reference %.8g, %.2f× the bound",
            dif__attn_fused_isa_name(builds[build]), what, (long long)c->p.tq, (long long)c->p.tk,
            (long long)c->p.heads, (long long)c->p.dim, at, got[at], c->ref[at], w);
}

/* Runs one build into a fresh copy of the padding pattern; threads 1 and 3
 * give the same bits (every task is a whole query block of one head). */
static float *run_build(fcase *c, dif__attn_fused_isa isa, bool over_q) {
  float *out = fbuf(c->nout);
  for (size_t i = 0; i < c->nout; i++) out[i] = 42.0f;
  float *other = fbuf(c->nout);
  memcpy(other, out, c->nout * sizeof *out);
  float *q = c->q;
  if (over_q) { /* out is q: ld_o == ld_q, checked by the caller */
    q = fbuf(c->nout);
    memcpy(q, c->q, c->nout * sizeof *q);
  }
  kenv e1, e3;
  kenv_init(&e1, 1);
  kenv_init(&e3, 3);
  dif__error err;
  dif__error_clear(&err);
  CHECK_STATUS(dif__attn_fused(&e3.k, &c->p, q, c->k, c->v, over_q ? q : out, isa, &err), DIF_OK,
               err.msg, "");
  CHECK(e3.arena.used_total == 0);
  if (over_q) {
    memcpy(out, q, c->nout * sizeof *out);
    free(q);
  } else {
    CHECK_STATUS(dif__attn_fused(&e1.k, &c->p, c->q, c->k, c->v, other, isa, &err), DIF_OK, err.msg,
                 "");
    CHECK_SAME(other, out, c->nout);
  }
  kenv_free(&e1);
  kenv_free(&e3);
  free(other);
  return out;
}

static void check_case(dif__attention_params p, uint64_t seed, float amp, bool over_q) {
  fcase c;
  setup(&c, p, seed, amp);
  if (over_q) /* out's padding columns are q's own */
    for (size_t i = 0; i < c.nout; i++)
      if (c.bound[i] == 0) c.ref[i] = c.q[i];
  for (int i = 0; i < NBUILDS; i++)
    if (checks(i)) {
      float *got = run_build(&c, builds[i], over_q);
      check_bound(&c, got, i, "");
      free(got);
    }
  teardown(&c);
}

static dif__attention_params shape(int64_t tq, int64_t tk, int64_t heads, int64_t dim) {
  dif__attention_params p = {.tq = tq, .tk = tk, .heads = heads, .dim = dim};
  p.ld_q = p.ld_k = p.ld_v = p.ld_o = heads * dim;
  p.scale = 1.0f / sqrtf((float)dim);
  return p;
}

TEST(small_and_odd_shapes) {
  check_case(shape(1, 1, 1, 1), 1, 1, false);
  check_case(shape(13, 7, 3, 5), 2, 1, false);     /* odd head dim: a zero pair half */
  check_case(shape(8, 33, 2, 16), 3, 1, false);    /* a second, mostly empty key group pair */
  check_case(shape(70, 600, 2, 40), 4, 1, false);  /* 48 columns: 32 + 16; two key blocks */
  check_case(shape(65, 1025, 1, 64), 5, 1, false); /* 2 query blocks, 3 key blocks (last 1 key) */
  check_case(shape(9, 40, 1, 256), 6, 1, false);   /* 16 column groups of P·V */
  check_case(shape(17, 70, 1, 512), 8, 1, false);  /* the largest head dimension (the VAE's) */
  check_case(shape(20, 77, 4, 80), 7, 1, false);   /* cross-attention's 77 text tokens */
  check_case(shape(33, 64, 2, 40), 9, 1, false);   /* SD-1.x's head dim 40: 20 pairs, padded */
  check_case(shape(100, 96, 1, 72), 12, 1, false); /* AMX: strips 2 + 2, then 2 + 1; 36 pairs, 48 */
}

TEST(strides_and_output_over_q) {
  dif__attention_params p = shape(30, 45, 3, 24);
  p.ld_q = 3 * 24 + 5, p.ld_o = 3 * 24 + 7; /* padding columns stay 42 */
  p.ld_k = 2 * 3 * 24, p.ld_v = 3 * 24 + 1; /* k from a fused k|v buffer */
  check_case(p, 10, 1, false);
  p = shape(70, 35, 3, 24);
  p.ld_q = p.ld_o = 3 * 24 + 8;
  check_case(p, 11, 1, true);
}

TEST(peaked_scores_and_growing_maximum) {
  /* |q|, |k| up to 4 with dim 64: scores up to ±64·16/8, so rows are nearly
   * one-hot and most exponentials underflow; the row maximum moves between
   * key blocks. */
  check_case(shape(64, 700, 2, 64), 20, 4, false);
  /* Keys whose scores grow with j: every key block raises the maximum, so
   * the partial output is rescaled at every block. */
  dif__attention_params p = shape(16, 2000, 1, 8); /* 4 key blocks */
  fcase c;
  setup(&c, p, 21, 1);
  for (int64_t j = 0; j < p.tk; j++)
    for (int64_t x = 0; x < p.dim; x++) c.k[j * p.ld_k + x] = 0.004f * (float)j;
  for (int64_t i = 0; i < p.tq; i++)
    for (int64_t x = 0; x < p.dim; x++) c.q[i * p.ld_q + x] = 0.5f + 0.01f * (float)i;
  reference(&c);
  for (int i = 0; i < NBUILDS; i++)
    if (checks(i)) {
      float *got = run_build(&c, builds[i], false);
      check_bound(&c, got, i, ", growing maximum");
      free(got);
    }
  teardown(&c);
}

TEST(unet_sized_head) {
  /* A 512² UNet's finest level (4096 keys), 1024 of its queries, one head:
   * 8 key blocks. The native build only (the portable one is a model, some
   * hundred times slower; the shapes above cover its logic). */
  native_big = true;
  check_case(shape(1024, 4096, 1, 64), 30, 1, false);
  native_big = false;
}

/* A native build against its model, where it runs: the same algorithm and
 * roundings, so they differ only where the hardware's dot products round
 * their sums differently from Intel's description (the bound covers that) —
 * print how much. */
static void agree(dif__attn_fused_isa model, dif__attn_fused_isa native) {
  if (!dif__attn_fused_runs(native, NULL, 0)) return;
  fcase c;
  setup(&c, shape(100, 600, 2, 64), 40, 1);
  float *a = run_build(&c, model, false);
  float *b = run_build(&c, native, false);
  size_t same = 0;
  double w = 0;
  for (size_t i = 0; i < c.nout; i++) {
    same += a[i] == b[i];
    const double d = fabs((double)a[i] - b[i]) / c.bound[i];
    w = d > w ? d : w;
  }
  printf("builds_agree: %s and its model: %zu of %zu outputs bit-identical, largest difference "
         "%.3f× the bound\n",
         dif__attn_fused_isa_name(native), same, c.nout, w);
  CHECK(w <= 1.0);
  free(a), free(b);
  teardown(&c);
}

TEST(builds_agree) {
  if (only < 0 || builds[only] == DIF__ATTN_FUSED_AVX512BF16)
    agree(DIF__ATTN_FUSED_PORTABLE, DIF__ATTN_FUSED_AVX512BF16);
  if (only < 0 || builds[only] == DIF__ATTN_FUSED_AMX)
    agree(DIF__ATTN_FUSED_TILES_MODEL, DIF__ATTN_FUSED_AMX);
}

/* The build dif__attn_fused_best must pick: AMX where it runs, else
 * AVX512-BF16, else none — no higher than DIF_FUSED_ATTENTION allows
 * ("avx512bf16": never AMX; "unfused": none; ctest runs this program with
 * each, and with a value it must ignore). */
static dif__attn_fused_isa expected_best(void) {
  const char *v = getenv("DIF_FUSED_ATTENTION");
  const int cap = v && strcmp(v, "unfused") == 0 ? 0 : v && strcmp(v, "avx512bf16") == 0 ? 1 : 2;
  if (cap >= 2 && dif__attn_fused_runs(DIF__ATTN_FUSED_AMX, NULL, 0)) return DIF__ATTN_FUSED_AMX;
  if (cap >= 1 && dif__attn_fused_runs(DIF__ATTN_FUSED_AVX512BF16, NULL, 0))
    return DIF__ATTN_FUSED_AVX512BF16;
  return DIF__ATTN_FUSED_PORTABLE;
}

TEST(environment_caps_the_build) {
  const char *v = getenv("DIF_FUSED_ATTENTION");
  const char *note = dif__attn_fused_env_note();
  CHECK(dif__attn_fused_best() == expected_best());
  if (!v || !*v) {
    CHECK(note == NULL);
    return;
  }
  const bool known = !strcmp(v, "amx") || !strcmp(v, "avx512bf16") || !strcmp(v, "unfused");
  CHECK_MSG(note && strstr(note, "DIF_FUSED_ATTENTION=") &&
                (strstr(note, "ignored") != NULL) == !known,
            "DIF_FUSED_ATTENTION=%s: note '%s'", v, note ? note : "(none)");
  printf("environment_caps_the_build: %s; best build %s\n", note ? note : "",
         dif__attn_fused_isa_name(dif__attn_fused_best()));
}

TEST(fast_attention_takes_it) {
  /* dif__attention in the precision fast gives the best native build's
   * bits: AMX where it runs, else AVX512-BF16. */
  char why[256] = "";
  const dif__backend *be = dif__backend_fast_native(why, sizeof why);
  const dif__attn_fused_isa best = dif__attn_fused_best();
  CHECK(best == expected_best());
  CHECK(dif__attn_fused_native() == (best != DIF__ATTN_FUSED_PORTABLE));
  if (!be || !dif__attn_fused_native()) {
    printf("fast_attention_takes_it: skipped, %s\n",
           !be                                     ? why
           : getenv("DIF_FUSED_ATTENTION") != NULL ? "DIF_FUSED_ATTENTION leaves no fused build"
                                                   : "the CPU has no AVX512-BF16");
    return;
  }
  fcase c;
  setup(&c, shape(50, 90, 2, 32), 50, 1);
  float *want = run_build(&c, best, false);
  kenv e;
  kenv_init(&e, 2);
  dif__error err;
  dif__error_clear(&err);
  dif__fast *f = NULL;
  CHECK_STATUS(dif__fast_new(be, &f, &err), DIF_OK, err.msg, "");
  e.k.fast = f;
  float *got = fbuf(c.nout);
  for (size_t i = 0; i < c.nout; i++) got[i] = 42.0f;
  CHECK_STATUS(dif__attention(&e.k, &c.p, c.q, c.k, c.v, got, &err), DIF_OK, err.msg, "");
  CHECK_SAME(got, want, c.nout);
  dif__fast_free(f);
  kenv_free(&e);
  free(want), free(got);
  teardown(&c);
}

TEST(refuses_what_it_does_not_take) {
  kenv e;
  kenv_init(&e, 1);
  float buf[64] = {0};
  dif__error err;
  dif__attention_params p = shape(2, 2, 1, 4);
  p.causal = true;
  CHECK(!dif__attn_fused_fits(&p));
  CHECK_STATUS(dif__attn_fused(&e.k, &p, buf, buf, buf, buf, DIF__ATTN_FUSED_PORTABLE, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "causal");
  p = shape(2, 2, 1, DIF__ATTN_FUSED_DIM_MAX + 1);
  CHECK(!dif__attn_fused_fits(&p));
  p = shape(2, 2, 1, 4);
  p.mask = buf;
  CHECK(!dif__attn_fused_fits(&p));
  p.mask = NULL;
  CHECK(dif__attn_fused_fits(&p));
  for (int i = 0; i < NBUILDS; i++) {
    char why[160];
    if (dif__attn_fused_runs(builds[i], why, sizeof why)) {
      CHECK(why[0] == '\0');
      continue;
    }
    CHECK(is_native(builds[i]) && why[0]);
    CHECK_STATUS(dif__attn_fused(&e.k, &p, buf, buf, buf, buf, builds[i], &err),
                 DIF_ERR_UNSUPPORTED, err.msg, dif__attn_fused_isa_name(builds[i]));
    CHECK_MSG(strstr(err.msg, why) != NULL, "message '%s' lacks the reason '%s'", err.msg, why);
  }
  CHECK_STATUS(dif__attn_fused(&e.k, &p, buf, buf, buf, buf, (dif__attn_fused_isa)17, &err),
               DIF_ERR_UNSUPPORTED, err.msg, "no such build");
  kenv_free(&e);
}

int main(int argc, char **argv) {
  if (argc > 1) {
    if (strcmp(argv[1], "native") == 0)
      only = 2;
    else if (strcmp(argv[1], "amx") == 0)
      only = 3;
    else if (strcmp(argv[1], "env") == 0) { /* DIF_FUSED_ATTENTION as ctest sets it */
      RUN(environment_caps_the_build);
      RUN(fast_attention_takes_it);
      return dif__test_finish();
    } else {
      fprintf(stderr, "usage: test-attn-fused [native | amx | env]\n");
      return 2;
    }
  }
  RUN(small_and_odd_shapes);
  RUN(strides_and_output_over_q);
  RUN(peaked_scores_and_growing_maximum);
  RUN(unet_sized_head);
  RUN(builds_agree);
  RUN(environment_caps_the_build);
  RUN(fast_attention_takes_it);
  if (only < 0) RUN(refuses_what_it_does_not_take);
  char cpu[160];
  dif__cpu_describe(cpu, sizeof cpu);
  for (int i = 0; i < NBUILDS; i++) {
    if (only >= 0 && i != only) continue;
    char why[160];
    if (runs[i])
      printf("%s build: %d cases; worst error %.2f× the bound (this CPU: %s)\n",
             dif__attn_fused_isa_name(builds[i]), runs[i], worst[i], cpu);
    else if (!dif__attn_fused_runs(builds[i], why, sizeof why))
      printf("%s build: skipped, %s (this CPU: %s)\n", dif__attn_fused_isa_name(builds[i]), why,
             cpu);
  }
  const int rc = dif__test_finish();
  if (only >= 0 && !runs[only] && rc == 0) return 77;
  return rc;
}

/* dif__attention (sliced, per-head GEMMs; blockwise with an online softmax) against a direct
 * double-precision softmax(scale·QKᵀ + mask)V. On an AVX2 CPU without AVX-512 its mask-free
 * cases take the fused float32 kernel (core/attn_f32.h, test-attn-f32); ctest runs this again
 * as test-ops-attention-unfused (DIF_FUSED_ATTENTION=unfused), where they take the unfused
 * schemes as on every other CPU. */
#include "ops_test_util.h"

static void ref_attention(const dif__attention_params *p, const float *q, const float *k,
                          const float *v, double *out) {
  double *s = dbuf((size_t)p->tk);
  for (int64_t h = 0; h < p->heads; h++)
    for (int64_t i = 0; i < p->tq; i++) {
      double mx = -INFINITY;
      for (int64_t j = 0; j < p->tk; j++) {
        double d = 0;
        for (int64_t c = 0; c < p->dim; c++)
          d += (double)q[i * p->ld_q + h * p->dim + c] * k[j * p->ld_k + h * p->dim + c];
        d *= p->scale;
        if (p->mask) d += p->mask[i * p->mask_ld + j];
        if (p->causal && j > i) d = -INFINITY;
        s[j] = d;
        mx = d > mx ? d : mx;
      }
      double sum = 0;
      for (int64_t j = 0; j < p->tk; j++) sum += s[j] = mx == -INFINITY ? 0 : exp(s[j] - mx);
      for (int64_t c = 0; c < p->dim; c++) {
        double o = 0;
        for (int64_t j = 0; j < p->tk; j++) o += s[j] * v[j * p->ld_v + h * p->dim + c];
        out[i * p->ld_o + h * p->dim + c] = sum > 0 ? o / sum : 0;
      }
    }
  free(s);
}

typedef struct case_data {
  float *q, *kv, *out;
  double *ref;
  size_t nout;
} case_data;

/* q [tq, ld_q]; k and v interleaved in one [tk, ld_k] buffer as a fused KV
 * projection would leave them (v = k + heads·dim). Output columns beyond
 * heads·dim are padding that must stay untouched (the reference keeps them
 * at their initial value too). */
static void setup(dif__attention_params *p, case_data *d, uint64_t seed) {
  int64_t width = p->heads * p->dim;
  p->ld_v = p->ld_k;
  d->q = frand((size_t)(p->tq * p->ld_q), seed, -1, 1);
  d->kv = frand((size_t)(p->tk * p->ld_k), seed + 1, -1, 1);
  d->nout = (size_t)(p->tq * p->ld_o);
  d->out = fbuf(d->nout);
  d->ref = dbuf(d->nout);
  for (size_t i = 0; i < d->nout; i++) d->out[i] = 42.0f, d->ref[i] = 42.0;
  ref_attention(p, d->q, d->kv, d->kv + width, d->ref);
}

static void teardown(case_data *d) { free(d->q), free(d->kv), free(d->out), free(d->ref); }

static dif_status run(kenv *e, const dif__attention_params *p, case_data *d, float *out) {
  dif__error err;
  dif__error_clear(&err);
  dif_status st = dif__attention(&e->k, p, d->q, d->kv, d->kv + p->heads * p->dim, out, &err);
  CHECK_MSG(st == DIF_OK, "%s", err.msg);
  CHECK(e->arena.used_total == 0); /* scratch released */
  return st;
}

/* Runs p with several query slices and pools of 1 and 3 threads; all must
 * match the reference and each other. */
static void check_slices(dif__attention_params p, uint64_t seed) {
  case_data d;
  setup(&p, &d, seed);
  kenv e1, e3;
  kenv_init(&e1, 1);
  kenv_init(&e3, 3);
  static const int64_t slices[] = {0, 1, 3, 5, 1000};
  float *first = fbuf(d.nout), *other = fbuf(d.nout);
  for (size_t s = 0; s < sizeof slices / sizeof *slices; s++) {
    p.q_slice = slices[s];
    memcpy(other, d.out, d.nout * sizeof *other);
    run(s % 2 ? &e3 : &e1, &p, &d, other);
    CHECK_MSG(dif__test_nmse(other, d.ref, d.nout) <= NMSE_MAX, "q_slice %d: nmse %.3g",
              (int)slices[s], dif__test_nmse(other, d.ref, d.nout));
    if (s == 0) {
      memcpy(first, other, d.nout * sizeof *other);
      /* Same slice, other pool: bit-identical (threads only split rows). */
      memcpy(other, d.out, d.nout * sizeof *other);
      run(&e3, &p, &d, other);
      CHECK_SAME(other, first, d.nout);
    } else {
      /* Another slice only changes the M of each GEMM (OpenBLAS may then pick
       * other micro-kernels, or gemv for M = 1, summing in another order), so
       * results agree to float rounding rather than bitwise. */
      double num = 0, den = 0;
      for (size_t i = 0; i < d.nout; i++) {
        double diff = (double)other[i] - first[i];
        num += diff * diff;
        den += (double)first[i] * first[i];
      }
      CHECK_MSG(num <= 1e-12 * den, "q_slice %d differs from q_slice 0: %.3g", (int)slices[s],
                num / den);
    }
  }
  kenv_free(&e1);
  kenv_free(&e3);
  free(first), free(other);
  teardown(&d);
}

/* check_slices with all keys in one block, then blockwise (online softmax)
 * with blocks of 1, 2 and 5 keys: blocks that hold only masked keys, a
 * maximum that grows from block to block, a last block shorter than the
 * others. */
static void check_case(dif__attention_params p, uint64_t seed) {
  static const int64_t blocks[] = {0, 1, 2, 5};
  for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++) {
    p.k_block = blocks[b];
    check_slices(p, seed);
  }
}

static dif__attention_params base(int64_t tq, int64_t tk, int64_t heads, int64_t dim) {
  dif__attention_params p = {.tq = tq, .tk = tk, .heads = heads, .dim = dim};
  p.ld_q = heads * dim;
  p.ld_k = 2 * heads * dim; /* fused k|v rows */
  p.ld_o = heads * dim;
  p.scale = 1.0f / sqrtf((float)dim);
  return p;
}

TEST(plain_odd_sizes) {
  check_case(base(13, 7, 3, 5), 1); /* tq ≠ tk, head dim 5 */
  check_case(base(7, 13, 1, 8), 2);
  dif__attention_params p = base(11, 11, 2, 4);
  p.ld_q = 9 + 4, p.ld_o = 8 + 3; /* strided q and out rows */
  check_case(p, 3);
  check_case(base(1, 1, 1, 1), 4);
}

TEST(output_over_q) {
  /* out may be q itself: each head's query columns are read before that
   * head writes its output columns of the same rows. */
  static const int64_t slices[] = {0, 1, 4}, blocks[] = {0, 2, 4};
  for (size_t s = 0; s < sizeof slices / sizeof *slices; s++) {
    dif__attention_params p = base(13, 9, 3, 5);
    p.q_slice = slices[s];
    p.k_block = blocks[s]; /* blockwise too: a head's output only after its last block */
    case_data d;
    setup(&p, &d, 40 + s);
    kenv e;
    kenv_init(&e, 3);
    dif__error err;
    dif__error_clear(&err);
    CHECK(dif__attention(&e.k, &p, d.q, d.kv, d.kv + p.heads * p.dim, d.q, &err) == DIF_OK);
    CHECK_MSG(dif__test_nmse(d.q, d.ref, d.nout) <= NMSE_MAX, "q_slice %d: nmse %.3g",
              (int)slices[s], dif__test_nmse(d.q, d.ref, d.nout));
    kenv_free(&e);
    teardown(&d);
  }
}

TEST(mask_broadcast_row) {
  dif__attention_params p = base(13, 9, 2, 5);
  float mask[9];
  dif__test_fill(mask, 9, 5, -3, 3);
  mask[2] = mask[7] = -INFINITY;
  p.mask = mask, p.mask_ld = 0;
  check_case(p, 6);
}

TEST(mask_full_matrix_and_fully_masked_row) {
  dif__attention_params p = base(13, 9, 3, 5);
  const int64_t ld = 9 + 2;
  float *mask = frand((size_t)(13 * ld), 7, -2, 2);
  for (int64_t j = 0; j < 9; j++) mask[4 * ld + j] = -INFINITY; /* query 4 sees nothing */
  mask[6 * ld + 0] = -INFINITY;
  p.mask = mask, p.mask_ld = ld;
  check_case(p, 8);
  /* The fully masked query's output is exactly zero in every head. */
  case_data d;
  setup(&p, &d, 9);
  kenv e;
  kenv_init(&e, 3);
  run(&e, &p, &d, d.out);
  for (int64_t c = 0; c < 3 * 5; c++) CHECK(d.out[4 * p.ld_o + c] == 0.0f);
  kenv_free(&e);
  teardown(&d);
  free(mask);
}

TEST(causal) {
  dif__attention_params p = base(13, 13, 2, 5);
  p.causal = true;
  check_case(p, 10);
  p = base(13, 7, 3, 5); /* tq > tk: rows ≥ 6 see every key */
  p.causal = true;
  check_case(p, 11);
  p = base(5, 9, 1, 3); /* tq < tk: top-left aligned, key j > query i masked */
  p.causal = true;
  check_case(p, 12);
  /* Causal plus a padding mask, as the CLIP text encoder may use. */
  p = base(12, 12, 2, 4);
  p.causal = true;
  float mask[12] = {0, 0, 0, 0, 0, 0, 0, 0, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
  p.mask = mask, p.mask_ld = 0;
  check_case(p, 13);
  /* Query 0 sees only key 0: its output is v[0]. */
  case_data d;
  setup(&p, &d, 14);
  kenv e;
  kenv_init(&e, 1);
  run(&e, &p, &d, d.out);
  const float *v = d.kv + p.heads * p.dim;
  for (int64_t c = 0; c < 8; c++) CHECK(fabsf(d.out[c] - v[c]) < 1e-6f);
  kenv_free(&e);
  teardown(&d);
}

TEST(auto_slice_bounds_scratch) {
  /* tk = 5000: q_slice 0 gives 838 rows per 16 MiB slice, so 900 queries
   * take two slices. An all-zero mask row keeps it on the sliced scheme
   * (the fused float32 kernel takes mask-free attention on AVX2 CPUs). */
  dif__attention_params p = base(900, 5000, 1, 4);
  float *zeros = fbuf(5000);
  p.mask = zeros, p.mask_ld = 0;
  case_data d;
  setup(&p, &d, 15);
  kenv e;
  kenv_init(&e, 3);
  run(&e, &p, &d, d.out);
  CHECK_NMSE(d.out, d.ref, d.nout, NMSE_MAX);
  CHECK(dif__arena_peak(&e.arena) <= ((size_t)16 << 20) + 64);
  CHECK(dif__arena_peak(&e.arena) >= (size_t)838 * 5000 * sizeof(float));
  kenv_free(&e);
  teardown(&d);
  free(zeros);
}

TEST(blockwise_bounds_scratch) {
  /* tk = 5000 in blocks of 1024 keys (the last one 904) and slices of 256
   * queries: scratch is [256, 1024] scores + [256, dim] partial output + 2 ×
   * 256 row statistics, whatever tk is; the result is the reference's, and
   * within float rounding of one block. */
  dif__attention_params p = base(700, 5000, 2, 8);
  p.k_block = 1024;
  p.causal = true; /* rows < 1024 see only part of the first block, later blocks nothing */
  case_data d;
  setup(&p, &d, 16);
  kenv e;
  kenv_init(&e, 3);
  run(&e, &p, &d, d.out);
  CHECK_NMSE(d.out, d.ref, d.nout, NMSE_MAX);
  const size_t want = ((size_t)256 * 1024 + (size_t)256 * 8 + 2 * 256) * sizeof(float);
  CHECK_MSG(dif__arena_peak(&e.arena) <= want + 256 && dif__arena_peak(&e.arena) >= want,
            "scratch %zu bytes, expected %zu", dif__arena_peak(&e.arena), want);
  float *one = fbuf(d.nout);
  memcpy(one, d.out, d.nout * sizeof *one);
  p.k_block = 5000;
  run(&e, &p, &d, one);
  double num = 0, den = 0;
  for (size_t i = 0; i < d.nout; i++) {
    const double diff = (double)one[i] - d.out[i];
    num += diff * diff;
    den += (double)one[i] * one[i];
  }
  CHECK_MSG(num <= 1e-12 * den, "blockwise vs one block: %.3g", num / den);
  free(one);
  kenv_free(&e);
  teardown(&d);
}

TEST(rejects_bad_arguments) {
  kenv e;
  kenv_init(&e, 0);
  float buf[64] = {0};
  dif__error err;
  dif__attention_params p = base(2, 2, 2, 4);
  p.ld_v = p.ld_k;
  p.ld_o = 7; /* < heads·dim */
  dif__error_clear(&err);
  CHECK_STATUS(dif__attention(&e.k, &p, buf, buf, buf, buf, &err), DIF_ERR_INVALID_ARGUMENT,
               err.msg, "row strides");
  p = base(2, 0, 2, 4);
  p.ld_v = p.ld_k;
  CHECK_STATUS(dif__attention(&e.k, &p, buf, buf, buf, buf, &err), DIF_ERR_INVALID_ARGUMENT,
               err.msg, "bad shape");
  p = base(2, 3, 2, 4);
  p.ld_v = p.ld_k;
  p.mask = buf, p.mask_ld = 2; /* < tk */
  CHECK_STATUS(dif__attention(&e.k, &p, buf, buf, buf, buf, &err), DIF_ERR_INVALID_ARGUMENT,
               err.msg, "mask_ld");
  p = base(2, 3, 2, 4);
  p.ld_v = p.ld_k;
  p.k_block = -1;
  CHECK_STATUS(dif__attention(&e.k, &p, buf, buf, buf, buf, &err), DIF_ERR_INVALID_ARGUMENT,
               err.msg, "k_block -1");
  kenv_free(&e);
}

int main(void) {
  RUN(plain_odd_sizes);
  RUN(output_over_q);
  RUN(mask_broadcast_row);
  RUN(mask_full_matrix_and_fully_masked_row);
  RUN(causal);
  RUN(auto_slice_bounds_scratch);
  RUN(blockwise_bounds_scratch);
  RUN(rejects_bad_arguments);
  return dif__test_finish();
}

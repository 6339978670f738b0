/* prof.c — per-op counters (see prof.h). */
#include "core/prof.h"

#include <string.h>
#include <time.h>

bool dif__prof_on = false;

static dif__prof_stat stats[DIF__PROF_OP_COUNT];
static dif__prof_shape shapes[DIF__PROF_MAX_SHAPES];
static int n_shapes;
static int64_t dropped;

static const char *const names[DIF__PROF_OP_COUNT] = {
    "conv_gemm",   "conv_pack",  "linear",     "attn_gemm",      "attn_softmax",
    "attn_fused",  "gemm_other", "group_norm", "layer_norm",     "activation",
    "elementwise", "upsample",   "transpose",  "weight_convert",
};

const char *dif__prof_op_name(dif__prof_op op) {
  return op >= 0 && op < DIF__PROF_OP_COUNT ? names[op] : "?";
}

void dif__prof_enable(bool on) { dif__prof_on = on; }

void dif__prof_reset(void) {
  memset(stats, 0, sizeof stats);
  n_shapes = 0;
  dropped = 0;
}

dif__prof_stat dif__prof_get(dif__prof_op op) {
  dif__prof_stat z = {0, 0, 0};
  return op >= 0 && op < DIF__PROF_OP_COUNT ? stats[op] : z;
}

int dif__prof_shape_count(void) { return n_shapes; }
const dif__prof_shape *dif__prof_shape_at(int i) {
  return i >= 0 && i < n_shapes ? &shapes[i] : NULL;
}
int64_t dif__prof_shapes_dropped(void) { return dropped; }

double dif__prof_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void dif__prof_add(dif__prof_op op, double t0, double flops) {
  if (op < 0 || op >= DIF__PROF_OP_COUNT) return;
  stats[op].calls++;
  stats[op].seconds += dif__prof_now() - t0;
  stats[op].flops += flops;
}

void dif__prof_record_shape(dif__prof_op op, bool trans_a, bool trans_b, int64_t M, int64_t N,
                            int64_t K, int64_t count) {
  if (!dif__prof_on || count <= 0) return;
  for (int i = 0; i < n_shapes; i++) {
    dif__prof_shape *s = &shapes[i];
    if (s->op == op && s->trans_a == trans_a && s->trans_b == trans_b && s->M == M && s->N == N &&
        s->K == K) {
      s->count += count;
      return;
    }
  }
  if (n_shapes == DIF__PROF_MAX_SHAPES) {
    dropped += count;
    return;
  }
  shapes[n_shapes++] = (dif__prof_shape){op, trans_a, trans_b, M, N, K, count};
}

/* prof.c — per-op counters (see prof.h). */
#include "core/prof.h"

#include <string.h>
#include <time.h>

bool dif_prof_on = false;

static dif_prof_stat stats[DIF_PROF_OP_COUNT];
static dif_prof_shape shapes[DIF_PROF_MAX_SHAPES];
static int n_shapes;
static int64_t dropped;

static const char *const names[DIF_PROF_OP_COUNT] = {
    "conv_gemm",  "conv_pack",  "linear",         "attn_gemm",  "attn_softmax",
    "gemm_other", "group_norm", "layer_norm",     "activation", "elementwise",
    "upsample",   "transpose",  "weight_convert",
};

const char *dif_prof_op_name(dif_prof_op op) {
  return op >= 0 && op < DIF_PROF_OP_COUNT ? names[op] : "?";
}

void dif_prof_enable(bool on) { dif_prof_on = on; }

void dif_prof_reset(void) {
  memset(stats, 0, sizeof stats);
  n_shapes = 0;
  dropped = 0;
}

dif_prof_stat dif_prof_get(dif_prof_op op) {
  dif_prof_stat z = {0, 0, 0};
  return op >= 0 && op < DIF_PROF_OP_COUNT ? stats[op] : z;
}

int dif_prof_shape_count(void) { return n_shapes; }
const dif_prof_shape *dif_prof_shape_at(int i) {
  return i >= 0 && i < n_shapes ? &shapes[i] : NULL;
}
int64_t dif_prof_shapes_dropped(void) { return dropped; }

double dif_prof_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void dif_prof_add(dif_prof_op op, double t0, double flops) {
  if (op < 0 || op >= DIF_PROF_OP_COUNT) return;
  stats[op].calls++;
  stats[op].seconds += dif_prof_now() - t0;
  stats[op].flops += flops;
}

void dif_prof_record_shape(dif_prof_op op, bool trans_a, bool trans_b, int64_t M, int64_t N,
                           int64_t K, int64_t count) {
  if (!dif_prof_on || count <= 0) return;
  for (int i = 0; i < n_shapes; i++) {
    dif_prof_shape *s = &shapes[i];
    if (s->op == op && s->trans_a == trans_a && s->trans_b == trans_b && s->M == M && s->N == N &&
        s->K == K) {
      s->count += count;
      return;
    }
  }
  if (n_shapes == DIF_PROF_MAX_SHAPES) {
    dropped += count;
    return;
  }
  shapes[n_shapes++] = (dif_prof_shape){op, trans_a, trans_b, M, N, K, count};
}

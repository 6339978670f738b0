/* attn_fused_tiles_model.c — the fused attention's AMX build (attn_fused.h)
 * with the tile instructions modelled in plain C, so that its tile layouts
 * and blocking are tested on every CPU (the native build, attn_fused_amx.c,
 * runs only on CPUs with AMX). The float lanes around the tiles are the
 * portable build's (attn_fused_lanes_c.h).
 *
 * The model is strict where the hardware is: each thread has its own eight
 * tiles and configuration (LDTILECFG), and a tile used before a
 * configuration, after TILERELEASE, or with shapes TDPBF16PS refuses (#UD
 * there), and a configuration LDTILECFG refuses (#GP: another palette, a
 * start row, reserved bytes, shapes palette 1 does not have) stop the
 * program with a message, as the instruction's fault would. TDPBF16PS is
 * computed as Intel's description writes it: for each row, each pair k of
 * the depth in order, each column, the even products then the odd ones
 * added to the float32 result, each sum rounded (the products of two bf16
 * values are exact in float32); the hardware's own summation may round
 * differently (the tests' bound covers that) and flushes subnormals (not
 * modelled: it changes nothing above 2^-126).
 */
#include "core/attn_fused.h"

#if defined(__GNUC__)

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/attn_fused_lanes_c.h"

typedef struct at_regs {
  bool configured;
  uint8_t rows[8];
  uint16_t colsb[8];
  unsigned char t[8][16 * 64];
} at_regs;

static _Thread_local at_regs at_r;

static void at_fault(const char *what, int t) {
  fprintf(stderr, "AMX tile model: %s (tmm%d): the hardware faults here\n", what, t);
  abort();
}

static void at_check(int t, const char *op) {
  if (t < 0 || t > 7) at_fault(op, t);
  if (!at_r.configured) at_fault("a tile used without a configuration", t);
  if (at_r.rows[t] == 0 || at_r.colsb[t] == 0) at_fault("an unconfigured tile", t);
}

static void at_config(const void *cfg) {
  const unsigned char *c = cfg;
  if (c[0] != 1) at_fault("LDTILECFG of a palette other than 1", 0);
  /* start_row (byte 1) makes the next TILELOADD/TILESTORED start part-way
   * (only for restarting after a fault); bytes 2-15 are reserved: the
   * hardware raises #GP where they are not zero. */
  for (int b = 1; b < 16; b++)
    if (c[b]) at_fault("LDTILECFG with a start row or reserved bytes not zero", 0);
  memset(&at_r, 0, sizeof at_r);
  for (int t = 0; t < 16; t++) {
    uint16_t colsb;
    memcpy(&colsb, c + 16 + 2 * t, sizeof colsb);
    const uint8_t rows = c[48 + t];
    if (t >= 8 ? colsb || rows : colsb > 64 || rows > 16 || (!colsb != !rows))
      at_fault("LDTILECFG of a shape palette 1 does not have", t);
    if (t < 8) at_r.rows[t] = rows, at_r.colsb[t] = colsb;
  }
  at_r.configured = true;
}

static void at_release(void) { memset(&at_r, 0, sizeof at_r); }

static void at_zero(int t) {
  at_check(t, "TILEZERO");
  memset(at_r.t[t], 0, sizeof at_r.t[t]);
}

static void at_load(int t, const void *p, int64_t stride) {
  at_check(t, "TILELOADD");
  memset(at_r.t[t], 0, sizeof at_r.t[t]);
  for (int r = 0; r < at_r.rows[t]; r++)
    memcpy(at_r.t[t] + 64 * r, (const unsigned char *)p + r * stride, at_r.colsb[t]);
}

static void at_store(int t, void *p, int64_t stride) {
  at_check(t, "TILESTORED");
  for (int r = 0; r < at_r.rows[t]; r++)
    memcpy((unsigned char *)p + r * stride, at_r.t[t] + 64 * r, at_r.colsb[t]);
}

static float at_bf16(const unsigned char *row, int i) {
  uint16_t h;
  memcpy(&h, row + 2 * i, sizeof h);
  return dif__bf16_to_float(h);
}

static void at_dp(int c, int a, int b) {
  at_check(c, "TDPBF16PS"), at_check(a, "TDPBF16PS"), at_check(b, "TDPBF16PS");
  if (c == a || c == b || a == b) at_fault("TDPBF16PS with a tile twice", c);
  const int M = at_r.rows[c], N = at_r.colsb[c] / 4, K = at_r.colsb[a] / 4;
  if (at_r.rows[a] != M || at_r.rows[b] != K || at_r.colsb[b] != at_r.colsb[c] ||
      at_r.colsb[a] % 4 || at_r.colsb[c] % 4)
    at_fault("TDPBF16PS of shapes that do not chain", c);
  for (int m = 0; m < M; m++) {
    float acc[16];
    memcpy(acc, at_r.t[c] + 64 * m, sizeof acc);
    const unsigned char *ar = at_r.t[a] + 64 * m;
    for (int k = 0; k < K; k++) {
      const unsigned char *br = at_r.t[b] + 64 * k;
      for (int n = 0; n < N; n++) {
        acc[n] += at_bf16(ar, 2 * k) * at_bf16(br, 2 * n);
        acc[n] += at_bf16(ar, 2 * k + 1) * at_bf16(br, 2 * n + 1);
      }
    }
    memcpy(at_r.t[c] + 64 * m, acc, 4 * (size_t)N);
  }
}

#define AF_TILES
#define AF(name) name##_tiles_model
#include "core/attn_fused_impl.h"

#else

typedef int dif__attn_fused_tiles_model_empty; /* needs GCC or Clang: attn_fused.c refuses it */

#endif

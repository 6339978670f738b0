/* resnet.c — ResnetBlock2D forward (see resnet.h). */
#include "models/resnet.h"

void dif_resnet_load(dif_resnet *r, dif_wloader *wl, const char *p, int64_t cin, int64_t cout,
                     int64_t temb_ch, int64_t groups, float eps) {
  r->cin = cin;
  r->cout = cout;
  r->temb_ch = temb_ch;
  r->groups = groups;
  r->eps = eps;
  r->norm1_w = DIF_W1(wl, cin, "%s.norm1.weight", p);
  r->norm1_b = DIF_W1(wl, cin, "%s.norm1.bias", p);
  r->conv1_w = DIF_WT4(wl, cout, cin, 3, 3, "%s.conv1.weight", p);
  r->conv1_b = DIF_W1(wl, cout, "%s.conv1.bias", p);
  if (temb_ch) {
    r->temb_w = DIF_WT2(wl, cout, temb_ch, "%s.time_emb_proj.weight", p);
    r->temb_b = DIF_W1(wl, cout, "%s.time_emb_proj.bias", p);
  }
  r->norm2_w = DIF_W1(wl, cout, "%s.norm2.weight", p);
  r->norm2_b = DIF_W1(wl, cout, "%s.norm2.bias", p);
  r->conv2_w = DIF_WT4(wl, cout, cout, 3, 3, "%s.conv2.weight", p);
  r->conv2_b = DIF_W1(wl, cout, "%s.conv2.bias", p);
  r->short_w = (dif_weight){0};
  r->short_b = NULL;
  if (cin != cout) {
    r->short_w = DIF_WT4(wl, cout, cin, 1, 1, "%s.conv_shortcut.weight", p);
    r->short_b = DIF_W1(wl, cout, "%s.conv_shortcut.bias", p);
  }
}

dif_status dif_resnet_forward_ex(const dif_resnet *r, const dif_kctx *k, const float *x, int64_t N,
                                 int64_t H, int64_t W, const float *temb_act, float *y,
                                 float *scratch, dif_error *err) {
  int64_t HW = H * W, cin = r->cin, cout = r->cout;
  bool temb = r->temb_ch && temb_act;
  if (x == y && cout > cin)
    return dif_fail(err, DIF_ERR_INVALID_ARGUMENT,
                    "resnet: in place needs cout <= cin (%lld > %lld)", (long long)cout,
                    (long long)cin);
  dif_arena_mark mark = dif_arena_get_mark(k->arena);
  float *h = scratch ? scratch : dif_arena_floats(k->arena, (size_t)(N * cout * HW), err);
  /* per-image conv1 bias (bias + time embedding), then conv2 + shortcut biases */
  float *bias = dif_arena_floats(k->arena, (size_t)((N + 1) * cout), err);
  dif_norm_affine *n1 = dif_arena_alloc(k->arena, (size_t)(N * cin) * sizeof *n1, err);
  dif_norm_affine *n2 = dif_arena_alloc(k->arena, (size_t)(N * cout) * sizeof *n2, err);
  if (!h || !bias || !n1 || !n2) {
    dif_arena_release(k->arena, mark);
    return DIF_ERR_OUT_OF_MEMORY;
  }
  /* conv1 reads silu(norm1(x)) through its input transform: no normalised
   * copy of x is made. */
  dif_group_norm_params(k, x, N, cin, HW, r->groups, r->eps, r->norm1_w, r->norm1_b, n1);
  dif_conv2d_params c3 = dif_conv_same(cin, cout, 3);
  c3.in_norm = n1;
  c3.in_silu = true;
  dif_status s = DIF_OK;
  if (temb) {
    /* The time embedding joins conv1's bias, so the GEMM adds it: one pass
     * over h fewer than adding it afterwards. */
    dif_linear(k, temb_act, N, r->temb_ch, r->temb_w, r->temb_b, cout, bias);
    for (int64_t n = 0; n < N; n++)
      for (int64_t c = 0; c < cout; c++) bias[n * cout + c] += r->conv1_b[c];
    for (int64_t n = 0; n < N && !s; n++) {
      c3.in_norm = n1 + n * cin;
      s = dif_conv2d(k, &c3, x + n * cin * HW, 1, H, W, r->conv1_w, bias + n * cout,
                     h + n * cout * HW, err);
    }
  } else {
    s = dif_conv2d(k, &c3, x, N, H, W, r->conv1_w, r->conv1_b, h, err);
  }
  /* y = shortcut(x) + conv2's bias (x is not needed after this, so y may be
   * x), then conv2 accumulates silu(norm2(h)) onto it. */
  float *b2 = bias + N * cout;
  if (!s && r->short_w.data) {
    for (int64_t c = 0; c < cout; c++) b2[c] = r->short_b[c] + r->conv2_b[c];
    dif_conv2d_params c1 = {.cin = cin, .cout = cout, .kh = 1, .kw = 1, .stride = 1};
    s = dif_conv2d(k, &c1, x, N, H, W, r->short_w, b2, y, err);
  } else if (!s) {
    dif_add_channel_bias(k, x, N, cout, HW, r->conv2_b, y);
  }
  if (!s) {
    dif_group_norm_params(k, h, N, cout, HW, r->groups, r->eps, r->norm2_w, r->norm2_b, n2);
    c3.cin = cout;
    c3.in_norm = n2;
    c3.accumulate = true;
    s = dif_conv2d(k, &c3, h, N, H, W, r->conv2_w, NULL, y, err);
  }
  dif_arena_release(k->arena, mark);
  return s;
}

dif_status dif_resnet_forward(const dif_resnet *r, const dif_kctx *k, const float *x, int64_t N,
                              int64_t H, int64_t W, const float *temb_act, float *y,
                              dif_error *err) {
  return dif_resnet_forward_ex(r, k, x, N, H, W, temb_act, y, NULL, err);
}

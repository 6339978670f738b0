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
  r->conv1_w = DIF_W4(wl, cout, cin, 3, 3, "%s.conv1.weight", p);
  r->conv1_b = DIF_W1(wl, cout, "%s.conv1.bias", p);
  if (temb_ch) {
    r->temb_w = DIF_W2(wl, cout, temb_ch, "%s.time_emb_proj.weight", p);
    r->temb_b = DIF_W1(wl, cout, "%s.time_emb_proj.bias", p);
  }
  r->norm2_w = DIF_W1(wl, cout, "%s.norm2.weight", p);
  r->norm2_b = DIF_W1(wl, cout, "%s.norm2.bias", p);
  r->conv2_w = DIF_W4(wl, cout, cout, 3, 3, "%s.conv2.weight", p);
  r->conv2_b = DIF_W1(wl, cout, "%s.conv2.bias", p);
  r->short_w = r->short_b = NULL;
  if (cin != cout) {
    r->short_w = DIF_W4(wl, cout, cin, 1, 1, "%s.conv_shortcut.weight", p);
    r->short_b = DIF_W1(wl, cout, "%s.conv_shortcut.bias", p);
  }
}

dif_status dif_resnet_forward(const dif_resnet *r, const dif_kctx *k, const float *x, int64_t N,
                              int64_t H, int64_t W, const float *temb_act, float *y,
                              dif_error *err) {
  int64_t HW = H * W;
  dif_arena_mark mark = dif_arena_get_mark(k->arena);
  float *t =
      dif_arena_floats(k->arena, (size_t)(N * (r->cin > r->cout ? r->cin : r->cout) * HW), err);
  float *proj = r->temb_ch ? dif_arena_floats(k->arena, (size_t)(N * r->cout), err) : NULL;
  if (!t || (r->temb_ch && !proj)) {
    dif_arena_release(k->arena, mark);
    return DIF_ERR_OUT_OF_MEMORY;
  }
  dif_conv2d_params c3 = {.cin = r->cin,
                          .cout = r->cout,
                          .kh = 3,
                          .kw = 3,
                          .stride = 1,
                          .pad_top = 1,
                          .pad_left = 1,
                          .pad_bottom = 1,
                          .pad_right = 1};
  dif_group_norm(k, x, N, r->cin, HW, r->groups, r->eps, r->norm1_w, r->norm1_b, t);
  dif_silu(k, t, N * r->cin * HW, t);
  dif_status s = dif_conv2d(k, &c3, t, N, H, W, r->conv1_w, r->conv1_b, y, err);
  if (!s && r->temb_ch && temb_act) {
    dif_linear(k, temb_act, N, r->temb_ch, r->temb_w, r->temb_b, r->cout, proj);
    for (int64_t n = 0; n < N; n++)
      for (int64_t c = 0; c < r->cout; c++) {
        float *row = y + (n * r->cout + c) * HW, v = proj[n * r->cout + c];
        for (int64_t i = 0; i < HW; i++) row[i] += v;
      }
  }
  if (!s) {
    dif_group_norm(k, y, N, r->cout, HW, r->groups, r->eps, r->norm2_w, r->norm2_b, t);
    dif_silu(k, t, N * r->cout * HW, t);
    c3.cin = r->cout;
    s = dif_conv2d(k, &c3, t, N, H, W, r->conv2_w, r->conv2_b, y, err);
  }
  if (!s && r->short_w) {
    dif_conv2d_params c1 = {.cin = r->cin, .cout = r->cout, .kh = 1, .kw = 1, .stride = 1};
    s = dif_conv2d(k, &c1, x, N, H, W, r->short_w, r->short_b, t, err);
    if (!s) dif_add(k, t, y, N * r->cout * HW, y); /* shortcut + h, the order diffusers adds */
  } else if (!s) {
    dif_add(k, x, y, N * r->cout * HW, y);
  }
  dif_arena_release(k->arena, mark);
  return s;
}

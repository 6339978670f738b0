/* The UNet forward in blocks (models/unet_blocks.h) on the tiny SD UNet:
 * the blocks run one by one give dif__unet_forward's bits; zero residuals
 * give the same bits as none; a ControlNet residual on one skip state (or on
 * the mid block's output) gives the bits of a block-by-block run with that
 * residual added by hand where diffusers adds it, leaves the mid block's
 * input alone, and changes the output. */
#include "models/unet_blocks.h"
#include "ops_test_util.h"

static dif__unet unet;

enum { B = 2, H = 12, W = 10, S = 5 };

typedef struct fixture {
  float *sample, *context, ts[B];
  int64_t n_out;
} fixture;

static fixture make_fixture(void) {
  fixture f = {.ts = {421, 17}};
  f.sample = frand((size_t)(B * unet.in_ch * H * W), 1, -1, 1);
  f.context = frand((size_t)(B * S * unet.ctx_dim), 2, -1, 1);
  f.n_out = B * unet.out_ch * H * W;
  return f;
}

static void free_fixture(fixture *f) { free(f->sample), free(f->context); }

static dif__unet_input input(const fixture *f) {
  return (dif__unet_input){.sample = f->sample,
                           .B = B,
                           .H = H,
                           .W = W,
                           .timesteps = f->ts,
                           .n_timesteps = B,
                           .context = f->context,
                           .S = S};
}

/* dif__unet_forward's blocks run here one by one; a residual, when given, is
 * added by hand to skip state `at` (or to the mid block's output, at -1)
 * between the mid block and the up path. The skip states' shapes are
 * returned in shapes (the down path's, before the up path consumes them). */
static void by_hand(kenv *e, const dif__unet_input *in, int at, const float *residual, float *out,
                    dif__unet_map *shapes) {
  dif__error err;
  dif__error_clear(&err);
  dif__unet_input quiet = *in; /* the hooks are the forward's */
  quiet.hook = NULL;
  dif__unet_run r = {&unet, &e->k, &quiet, &err, false};
  dif__arena_mark mark = dif__arena_get_mark(&e->arena);
  float *temb = NULL;
  dif__unet_map h = {0};
  dif__unet_skips skips = {.n = 0};
  CHECK(dif__unet_embed(&r, &temb) == DIF_OK);
  CHECK(dif__unet_conv_in(&r, &h, &skips) == DIF_OK);
  for (int i = 0; i < unet.n_blocks; i++) CHECK(dif__unet_down(&r, i, temb, &h, &skips) == DIF_OK);
  CHECK(skips.n == dif__unet_n_skips(&unet));
  if (shapes) memcpy(shapes, skips.s, (size_t)skips.n * sizeof *shapes);
  CHECK(dif__unet_mid(&r, temb, &h) == DIF_OK);
  dif__unet_map *target = at < 0 ? &h : &skips.s[at];
  int64_t n = B * target->C * target->H * target->W;
  if (residual)
    for (int64_t i = 0; i < n; i++) target->data[i] += residual[i];
  for (int i = 0; i < unet.n_blocks; i++) CHECK(dif__unet_up(&r, i, temb, &h, &skips) == DIF_OK);
  CHECK(skips.n == 0);
  CHECK(dif__unet_head(&r, &h, out) == DIF_OK);
  dif__arena_release(&e->arena, mark);
}

static void forward(kenv *e, const dif__unet_input *in, float *out) {
  dif__error err;
  dif__error_clear(&err);
  CHECK_MSG(dif__unet_forward(&unet, &e->k, in, out, &err) == DIF_OK, "%s", err.msg);
}

/* Records the mid block's output (the hook sees it before the residual). */
static void mid_hook(void *user, const char *name, const float *data, int64_t n) {
  if (strcmp(name, "mid_block") == 0) memcpy(user, data, (size_t)n * sizeof *data);
}

TEST(blocks_are_the_forward) {
  kenv e;
  kenv_init(&e, 2);
  fixture f = make_fixture();
  dif__unet_input in = input(&f);
  float *a = fbuf((size_t)f.n_out), *b = fbuf((size_t)f.n_out);
  forward(&e, &in, a);
  by_hand(&e, &in, 0, NULL, b, NULL);
  CHECK_SAME(a, b, (size_t)f.n_out);
  CHECK(e.arena.used_total == 0);
  kenv_free(&e);
  free_fixture(&f);
  free(a), free(b);
}

TEST(zero_residuals_are_no_residuals) {
  kenv e;
  kenv_init(&e, 2);
  fixture f = make_fixture();
  dif__unet_input in = input(&f);
  dif__unet_map shapes[DIF__UNET_MAX_SKIPS];
  float *none = fbuf((size_t)f.n_out), *zero = fbuf((size_t)f.n_out);
  by_hand(&e, &in, 0, NULL, none, shapes);
  const float *res[DIF__UNET_MAX_SKIPS];
  float *zeros = fbuf((size_t)(B * 4 * unet.channels[unet.n_blocks - 1] * H * W));
  for (int i = 0; i < dif__unet_n_skips(&unet); i++) res[i] = zeros;
  in.down_residuals = res;
  in.mid_residual = zeros;
  forward(&e, &in, zero);
  CHECK_SAME(none, zero, (size_t)f.n_out);
  kenv_free(&e);
  free_fixture(&f);
  free(none), free(zero), free(zeros);
}

/* A residual on skip state `at` (-1: the mid block's output). */
static void check_residual_at(int at) {
  kenv e;
  kenv_init(&e, 2);
  fixture f = make_fixture();
  dif__unet_input in = input(&f);
  dif__unet_map shapes[DIF__UNET_MAX_SKIPS];
  float *plain = fbuf((size_t)f.n_out), *got = fbuf((size_t)f.n_out), *want = fbuf((size_t)f.n_out);
  by_hand(&e, &in, 0, NULL, want, shapes);
  const dif__unet_map *last = &shapes[dif__unet_n_skips(&unet) - 1]; /* the mid block's input */
  int64_t n_mid = B * last->C * last->H * last->W;
  float *mid_plain = fbuf((size_t)n_mid), *mid_got = fbuf((size_t)n_mid);
  in.hook = mid_hook;
  in.hook_user = mid_plain;
  forward(&e, &in, plain);
  const dif__unet_map *m = at < 0 ? NULL : &shapes[at];
  int64_t n = m ? B * m->C * m->H * m->W : n_mid;
  float *residual = frand((size_t)n, 10 + (uint64_t)(at + 1), -0.5f, 0.5f);
  const float *res[DIF__UNET_MAX_SKIPS] = {0};
  if (at < 0) {
    in.mid_residual = residual;
  } else {
    res[at] = residual;
    in.down_residuals = res;
  }
  in.hook_user = mid_got;
  forward(&e, &in, got);
  by_hand(&e, &in, at, residual, want, NULL);
  CHECK_MSG(memcmp(got, want, (size_t)f.n_out * sizeof *got) == 0, "residual at %d", at);
  CHECK_MSG(memcmp(got, plain, (size_t)f.n_out * sizeof *got) != 0, "residual at %d", at);
  CHECK_MSG(memcmp(mid_got, mid_plain, (size_t)n_mid * sizeof *got) == 0, "residual at %d", at);
  kenv_free(&e);
  free_fixture(&f);
  free(plain), free(got), free(want), free(mid_plain), free(mid_got), free(residual);
}

TEST(residual_goes_where_diffusers_adds_it) {
  /* tiny-sd: 2 levels of 1 resnet, so the skip states are conv_in's output,
   * down 0's resnet and downsampler outputs and down 1's resnet output (6×5,
   * which is also the mid block's input: its residual must not reach it). */
  CHECK(dif__unet_n_skips(&unet) == 4);
  for (int at = -1; at < dif__unet_n_skips(&unet); at++) check_residual_at(at);
}

int main(void) {
  dif__error err;
  dif__error_clear(&err);
  if (dif__unet_load(dif__test_path("golden/models/tiny-sd/unet"), &unet, &err) != DIF_OK) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  RUN(blocks_are_the_forward);
  RUN(zero_residuals_are_no_residuals);
  RUN(residual_goes_where_diffusers_adds_it);
  dif__unet_free(&unet);
  return dif__test_finish();
}

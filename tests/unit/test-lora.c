/* LoRA files (lib/io/lora.c, lora_merge.c, api/lora.c): the merge
 * W + weight·alpha/rank·up·down on F32 and F16 Linear and 3x3 Conv weights,
 * two LoRAs adding up, the file's own bits untouched; the bad files — an
 * unknown key, a down without its up, ranks that differ, NaN, a bad alpha,
 * SDXL's second text encoder, LDM block names, mixed layouts, an empty
 * file — refused at dif_context_add_lora naming the file and the key; a
 * LoRA for another model (a module the model lacks, a shape that does not
 * fit) refused at load naming the LoRA file, its tensor and the model's,
 * with nothing merged (all or nothing) and the context usable; the API's
 * rules; records that carry LoRAs; a single-file checkpoint's parts merge
 * to the folder's bits. Hostile files are written under a mkdtemp folder in /tmp and
 * removed. Runs under ASan+UBSan in the test command. */
#include <unistd.h>

#include "io/checkpoint.h"
#include "io/component.h"
#include "io/lora.h"
#include "test.h"

#define SD_DIR "golden/models/tiny-sd"
#define KOHYA "fixtures/models/lora/tiny-sd.kohya.safetensors"
#define DIFFUSERS "fixtures/models/lora/tiny-sd.diffusers.safetensors"

static char tmp[64];
static char paths[48][128];
static int n_paths;

typedef struct spec {
  const char *name, *dtype;
  int ndim;
  int64_t shape[4];
  const void *data; /* NULL: zeros */
} spec;

/* Writes a safetensors file of the tensors in s (F32 or F16); returns its path. */
static const char *write_st(const char *file, const spec *s, int n) {
  char header[8192] = "{";
  size_t off = 0, len = 1;
  for (int i = 0; i < n; i++) {
    size_t esz = strcmp(s[i].dtype, "F32") == 0 ? 4 : 2, numel = 1;
    char shape[64] = "";
    for (int d = 0; d < s[i].ndim; d++) {
      numel *= (size_t)s[i].shape[d];
      snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", d ? "," : "",
               (long long)s[i].shape[d]);
    }
    len += (size_t)snprintf(header + len, sizeof header - len,
                            "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[%s],\"data_offsets\":[%zu,%zu]}",
                            i ? "," : "", s[i].name, s[i].dtype, shape, off, off + numel * esz);
    off += numel * esz;
  }
  len += (size_t)snprintf(header + len, sizeof header - len, "}");
  char *path = paths[n_paths++];
  snprintf(path, 128, "%s/%s", tmp, file);
  FILE *f = fopen(path, "wb");
  uint8_t le[8];
  for (int i = 0; i < 8; i++) le[i] = (uint8_t)((uint64_t)len >> (8 * i));
  fwrite(le, 1, 8, f);
  fwrite(header, 1, len, f);
  for (int i = 0; i < n; i++) {
    size_t esz = strcmp(s[i].dtype, "F32") == 0 ? 4 : 2, numel = 1;
    for (int d = 0; d < s[i].ndim; d++) numel *= (size_t)s[i].shape[d];
    if (s[i].data)
      fwrite(s[i].data, esz, numel, f);
    else
      for (size_t k = 0; k < numel * esz; k++) fputc(0, f);
  }
  fclose(f);
  return path;
}

/* W (2x3 Linear, F32), C (2x1x3x3 conv, F16 ones), and LoRAs on them. */
TEST(merge_values) {
  const float w[6] = {1, 2, 3, 4, 5, 6};
  uint16_t c[18];
  for (int i = 0; i < 18; i++) c[i] = 0x3c00; /* 1.0 */
  spec model[] = {{"lin.weight", "F32", 2, {2, 3}, w}, {"conv.weight", "F16", 4, {2, 1, 3, 3}, c}};
  const char *mpath = write_st("model.safetensors", model, 2);
  /* lin: rank 1, alpha 2 -> scale 2; up [2,1] = (1, 2), down [1,3] = (1, 0, -1) */
  const float up[2] = {1, 2}, down[3] = {1, 0, -1}, alpha = 2;
  float cdown[9], cup[2] = {1, -1};
  for (int i = 0; i < 9; i++) cdown[i] = (float)i;
  spec a[] = {{"lora_unet_lin.lora_down.weight", "F32", 2, {1, 3}, down},
              {"lora_unet_lin.lora_up.weight", "F32", 2, {2, 1}, up},
              {"lora_unet_lin.alpha", "F32", 0, {0}, &alpha},
              {"lora_unet_conv.lora_down.weight", "F32", 4, {1, 1, 3, 3}, cdown},
              {"lora_unet_conv.lora_up.weight", "F32", 4, {2, 1, 1, 1}, cup}};
  spec b[] = {{"unet.lin.lora_A.weight", "F32", 2, {1, 3}, down},
              {"unet.lin.lora_B.weight", "F32", 2, {2, 1}, up}};
  dif__error err = {0};
  dif__lora *la = NULL, *lb = NULL;
  dif__safetensors *st = NULL;
  CHECK_STATUS(dif__lora_open(write_st("a.safetensors", a, 5), &la, &err), DIF_OK, err.msg, "");
  CHECK_STATUS(dif__lora_open(write_st("b.safetensors", b, 2), &lb, &err), DIF_OK, err.msg, "");
  CHECK_STATUS(dif__st_open(mpath, &st, &err), DIF_OK, err.msg, "");
  if (!la || !lb || !st) return;
  CHECK(strcmp(la->format, "kohya") == 0 && strcmp(lb->format, "diffusers") == 0);
  CHECK(dif__lora_count(la, DIF__LORA_UNET) == 2 &&
        dif__lora_count(la, DIF__LORA_TEXT_ENCODER) == 0);
  dif__lora_use uses[2] = {{la, 0.5f}, {lb, -1.0f}};
  CHECK_STATUS(dif__lora_apply(uses, 2, DIF__LORA_UNET, st, &err), DIF_OK, err.msg, "");
  dif__weight mw;
  CHECK_STATUS(dif__st_get_weight(st, "lin.weight", 2, (const int64_t[]){2, 3}, &mw, &err), DIF_OK,
               err.msg, "");
  /* lin += 0.5·2·up·down − 1·1·up·down = 0 for a, then the PEFT file's weight: net 0 */
  const float *m = dif__weight_as_f32(mw);
  CHECK(m && m != w && !mw.mapped);
  for (int i = 0; m && i < 6; i++) CHECK(m[i] == w[i]);
  /* conv (F16 widened): 1 + 0.5·(alpha = rank = 1)·cup[o]·cdown[k] */
  CHECK_STATUS(dif__st_get_weight(st, "conv.weight", 4, (const int64_t[]){2, 1, 3, 3}, &mw, &err),
               DIF_OK, err.msg, "");
  const float *cm = dif__weight_as_f32(mw);
  for (int o = 0; cm && o < 2; o++)
    for (int k = 0; k < 9; k++) CHECK(cm[o * 9 + k] == 1.0f + 0.5f * cup[o] * (float)k);
  /* a alone, weight 1: lin = w + 2·up·down */
  dif__safetensors *st2 = NULL;
  CHECK_STATUS(dif__st_open(mpath, &st2, &err), DIF_OK, err.msg, "");
  CHECK_STATUS(dif__lora_apply(uses, 1, DIF__LORA_UNET, st2, &err), DIF_OK, err.msg, "");
  dif__tensor t;
  CHECK_STATUS(dif__st_get_f32(st2, "lin.weight", &t, &err), DIF_OK, err.msg, "");
  for (int i = 0; i < 6; i++) CHECK(t.data[i] == w[i] + 0.5f * 2 * up[i / 3] * down[i % 3]);
  /* the file itself is untouched: a fresh handle reads the original bits */
  dif__safetensors *st3 = NULL;
  CHECK_STATUS(dif__st_open(mpath, &st3, &err), DIF_OK, err.msg, "");
  CHECK_STATUS(dif__st_get_f32(st3, "lin.weight", &t, &err), DIF_OK, err.msg, "");
  CHECK(memcmp(t.data, w, sizeof w) == 0);
  dif__st_close(st);
  dif__st_close(st2);
  dif__st_close(st3);
  dif__lora_close(la);
  dif__lora_close(lb);
}

/* Two weights whose kohya forms are the same ("a.b_c" and "a_b.c" are both
 * a_b_c): a kohya module of that name is refused, not merged into one of
 * them; a module with a unique name beside it merges (and nothing is
 * merged when the ambiguous one is in the same file). */
TEST(kohya_name_ambiguous) {
  const float w[4] = {1, 2, 3, 4}, down[2] = {1, 1}, up[2] = {1, 1};
  spec model[] = {{"a.b_c.weight", "F32", 2, {2, 2}, w},
                  {"a_b.c.weight", "F32", 2, {2, 2}, w},
                  {"x.y.weight", "F32", 2, {2, 2}, w}};
  const char *mpath = write_st("ambiguous-model.safetensors", model, 3);
  spec amb[] = {{"lora_unet_a_b_c.lora_down.weight", "F32", 2, {1, 2}, down},
                {"lora_unet_a_b_c.lora_up.weight", "F32", 2, {2, 1}, up},
                {"lora_unet_x_y.lora_down.weight", "F32", 2, {1, 2}, down},
                {"lora_unet_x_y.lora_up.weight", "F32", 2, {2, 1}, up}};
  spec unique[] = {{"lora_unet_x_y.lora_down.weight", "F32", 2, {1, 2}, down},
                   {"lora_unet_x_y.lora_up.weight", "F32", 2, {2, 1}, up}};
  dif__error err = {0};
  dif__lora *la = NULL, *lu = NULL;
  dif__safetensors *st = NULL;
  CHECK_STATUS(dif__lora_open(write_st("ambiguous.safetensors", amb, 4), &la, &err), DIF_OK,
               err.msg, "");
  CHECK_STATUS(dif__lora_open(write_st("unique.safetensors", unique, 2), &lu, &err), DIF_OK,
               err.msg, "");
  CHECK_STATUS(dif__st_open(mpath, &st, &err), DIF_OK, err.msg, "");
  if (!la || !lu || !st) return;
  dif__lora_use use = {la, 1.0f};
  CHECK_STATUS(dif__lora_apply(&use, 1, DIF__LORA_UNET, st, &err), DIF_ERR_BAD_MODEL, err.msg,
               "fits more than one weight");
  CHECK(strstr(err.msg, "lora_unet_a_b_c.lora_down.weight") != NULL);
  dif__tensor t;
  CHECK_STATUS(dif__st_get_f32(st, "x.y.weight", &t, &err), DIF_OK, err.msg, "");
  CHECK(memcmp(t.data, w, sizeof w) == 0); /* all or nothing */
  use.lora = lu;
  CHECK_STATUS(dif__lora_apply(&use, 1, DIF__LORA_UNET, st, &err), DIF_OK, err.msg, "");
  CHECK_STATUS(dif__st_get_f32(st, "x.y.weight", &t, &err), DIF_OK, err.msg, "");
  for (int i = 0; i < 4; i++) CHECK(t.data[i] == w[i] + 1.0f);
  dif__st_close(st);
  dif__lora_close(la);
  dif__lora_close(lu);
}

static void refused(const char *file, const spec *s, int n, dif_status want, const char *msg) {
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  const char *path = write_st(file, s, n);
  CHECK_STATUS(dif_context_add_lora(ctx, path, 1.0f), want, dif_context_last_error(ctx), msg);
  CHECK(strstr(dif_context_last_error(ctx), file) != NULL);
  CHECK(dif_context_lora_count(ctx) == 0);
  dif_context_free(ctx);
}

TEST(bad_files) {
  const float one = 1, nan_ = NAN, neg = -1, d[4] = {0}, bad[4] = {0, 0, INFINITY, 0};
  const char *q = "lora_te_text_model_encoder_layers_0_self_attn_q_proj";
  char k[4][128];
  snprintf(k[0], 128, "%s.lora_down.weight", q);
  snprintf(k[1], 128, "%s.lora_up.weight", q);
  snprintf(k[2], 128, "%s.alpha", q);
  snprintf(k[3], 128, "%s.hada_w1_a", q);
  spec unknown[] = {
      {k[0], "F32", 2, {1, 4}, d}, {k[1], "F32", 2, {4, 1}, d}, {k[3], "F32", 1, {1}, &one}};
  refused("unknown.safetensors", unknown, 3, DIF_ERR_UNSUPPORTED, "unknown LoRA key");
  spec lonely[] = {{k[0], "F32", 2, {1, 4}, d}};
  refused("lonely.safetensors", lonely, 1, DIF_ERR_BAD_MODEL, "has no up partner");
  spec ranks[] = {{k[0], "F32", 2, {2, 2}, d}, {k[1], "F32", 2, {4, 1}, d}};
  refused("ranks.safetensors", ranks, 2, DIF_ERR_BAD_MODEL, "are not a down [rank, in");
  spec nans[] = {{k[0], "F32", 2, {1, 4}, bad}, {k[1], "F32", 2, {4, 1}, d}};
  refused("nan.safetensors", nans, 2, DIF_ERR_NON_FINITE, "has a non-finite value at 2");
  spec alpha_nan[] = {
      {k[0], "F32", 2, {1, 4}, d}, {k[1], "F32", 2, {4, 1}, d}, {k[2], "F32", 0, {0}, &nan_}};
  refused("alpha-nan.safetensors", alpha_nan, 3, DIF_ERR_NON_FINITE, k[2]);
  spec alpha_neg[] = {
      {k[0], "F32", 2, {1, 4}, d}, {k[1], "F32", 2, {4, 1}, d}, {k[2], "F32", 0, {0}, &neg}};
  refused("alpha-neg.safetensors", alpha_neg, 3, DIF_ERR_BAD_MODEL, "must be one positive number");
  spec sdxl[] = {
      {"lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", "F32", 2, {1, 4}, d}};
  refused("sdxl.safetensors", sdxl, 1, DIF_ERR_UNSUPPORTED, "second text encoder (SDXL)");
  spec ldm[] = {{"lora_unet_input_blocks_1_1_proj_in.lora_down.weight", "F32", 2, {1, 4}, d}};
  refused("ldm.safetensors", ldm, 1, DIF_ERR_UNSUPPORTED, "LDM layout's block names");
  spec mixed[] = {{k[0], "F32", 2, {1, 4}, d}, {"unet.x.lora_A.weight", "F32", 2, {1, 4}, d}};
  refused("mixed.safetensors", mixed, 2, DIF_ERR_BAD_MODEL, "mixes kohya");
  spec legacy[] = {{"unet.a.attn1.processor.to_z_lora.down.weight", "F32", 2, {1, 4}, d}};
  refused("legacy.safetensors", legacy, 1, DIF_ERR_UNSUPPORTED, "unknown LoRA key 'unet.a.attn1");
  spec other[] = {{"transformer.blocks.0.attn.lora_A.weight", "F32", 2, {1, 4}, d}};
  refused("flux.safetensors", other, 1, DIF_ERR_UNSUPPORTED, "unknown LoRA key 'transformer.");
  refused("empty.safetensors", NULL, 0, DIF_ERR_BAD_MODEL, "a LoRA file with no tensors");
}

/* A LoRA that does not fit tiny-sd fails the load, names the LoRA and the
 * model's tensor, merges nothing, and leaves the context usable. */
static void refused_at_load(const char *file, const spec *s, int n, const char *msg) {
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  CHECK_STATUS(dif_context_add_lora(ctx, dif__test_path(KOHYA), 0.8f), DIF_OK,
               dif_context_last_error(ctx), "");
  CHECK_STATUS(dif_context_add_lora(ctx, write_st(file, s, n), 1.0f), DIF_OK,
               dif_context_last_error(ctx), "");
  CHECK_STATUS(dif_context_load(ctx, dif__test_path(SD_DIR)), DIF_ERR_BAD_MODEL,
               dif_context_last_error(ctx), msg);
  CHECK(strstr(dif_context_last_error(ctx), file) != NULL);
  CHECK(dif_context_model_file_count(ctx) == 0);
  CHECK(dif_context_clear_loras(ctx) == DIF_OK && dif_context_lora_count(ctx) == 0);
  CHECK_STATUS(dif_context_load(ctx, dif__test_path(SD_DIR)), DIF_OK, dif_context_last_error(ctx),
               "");
  dif_context_free(ctx);
}

TEST(other_model) {
  const float d[64 * 4] = {0};
  spec missing[] = {
      {"unet.down_blocks.3.attentions.0.transformer_blocks.0.attn1.to_q.lora.down.weight",
       "F32",
       2,
       {4, 32},
       d},
      {"unet.down_blocks.3.attentions.0.transformer_blocks.0.attn1.to_q.lora.up.weight",
       "F32",
       2,
       {32, 4},
       d}};
  refused_at_load("sd15-unet.safetensors", missing, 2,
                  "is for a module this model does not have (no weight "
                  "down_blocks.3.attentions.0.transformer_blocks.0.attn1.to_q.weight");
  /* SD-2's 1024-wide text encoder on tiny-sd's 32: the text encoder refuses,
   * after the kohya file's text encoder modules were checked */
  spec wide[] = {{"lora_te_text_model_encoder_layers_0_self_attn_k_proj.lora_down.weight",
                  "F32",
                  2,
                  {4, 64},
                  d},
                 {"lora_te_text_model_encoder_layers_0_self_attn_k_proj.lora_up.weight",
                  "F32",
                  2,
                  {64, 4},
                  d}};
  refused_at_load("sd2-te.safetensors", wide, 2, "do not fit");
}

TEST(api) {
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  CHECK_STATUS(dif_context_add_lora(NULL, "x", 1), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "ctx is NULL");
  CHECK_STATUS(dif_context_add_lora(ctx, NULL, 1), DIF_ERR_INVALID_ARGUMENT,
               dif_context_last_error(ctx), "path is NULL");
  CHECK_STATUS(dif_context_add_lora(ctx, dif__test_path(KOHYA), NAN), DIF_ERR_INVALID_ARGUMENT,
               dif_context_last_error(ctx), "weight must be a finite number");
  CHECK_STATUS(dif_context_add_lora(ctx, "/nonexistent/lora.safetensors", 1), DIF_ERR_IO,
               dif_context_last_error(ctx), "/nonexistent/lora.safetensors");
  for (int i = 0; i < DIF_MAX_LORAS; i++)
    CHECK(dif_context_add_lora(ctx, dif__test_path(KOHYA), 0.1f) == DIF_OK);
  CHECK_STATUS(dif_context_add_lora(ctx, dif__test_path(KOHYA), 1), DIF_ERR_LIMIT,
               dif_context_last_error(ctx), "at most 16 LoRAs");
  CHECK(dif_context_clear_loras(ctx) == DIF_OK);
  CHECK(dif_context_add_lora(ctx, dif__test_path(KOHYA), 0.8f) == DIF_OK);
  CHECK(dif_context_add_lora(ctx, dif__test_path(DIFFUSERS), 0.5f) == DIF_OK);
  CHECK_STATUS(dif_context_load(ctx, dif__test_path(SD_DIR)), DIF_OK, dif_context_last_error(ctx),
               "");
  CHECK(dif_context_lora_count(ctx) == 2);
  const char *path = NULL;
  float w = 0;
  uint64_t h = 0;
  CHECK(dif_context_lora(ctx, 1, &path, &w, &h) == DIF_OK);
  CHECK(path && strstr(path, "tiny-sd.diffusers.safetensors") && w == 0.5f && h != 0);
  CHECK(strstr(dif_context_info(ctx), "\"loras\": [") &&
        strstr(dif_context_info(ctx), "tiny-sd.diffusers.safetensors\""));
  CHECK_STATUS(dif_context_lora(ctx, 2, &path, &w, &h), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "index out of range");
  CHECK_STATUS(dif_context_add_lora(ctx, dif__test_path(KOHYA), 1), DIF_ERR_BUSY,
               dif_context_last_error(ctx), "add LoRAs before dif_context_load");
  CHECK_STATUS(dif_context_clear_loras(ctx), DIF_ERR_BUSY, dif_context_last_error(ctx),
               "already loaded");
  CHECK_STATUS(dif_context_clear_loras(NULL), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "ctx is NULL");
  CHECK(dif_context_lora_count(NULL) == 0);
  dif_context_free(ctx);
}

/* The kohya LoRA merged into the single-file tiny-sd (its parts are views
 * of the file) gives the same bits as merged into the folder. */
TEST(single_file) {
  static const char *const comps[] = {"unet", "text_encoder"};
  static const char *const names[] = {"down_blocks.0.resnets.0.conv1.weight",
                                      "text_model.encoder.layers.1.mlp.fc2.weight"};
  char root[512], file[512];
  snprintf(root, sizeof root, "%s", dif__test_path(SD_DIR));
  snprintf(file, sizeof file, "%s",
           dif__test_path("fixtures/models/single-file/tiny-sd.ldm.safetensors"));
  dif__error err = {0};
  dif__lora *l = NULL;
  dif__checkpoint *c = NULL;
  CHECK_STATUS(dif__lora_open(dif__test_path(KOHYA), &l, &err), DIF_OK, err.msg, "");
  CHECK_STATUS(dif__checkpoint_open(file, &c, &err), DIF_OK, err.msg, "");
  if (!l || !c) return;
  dif__lora_use use = {l, 0.8f};
  for (int i = 0; i < 2; i++) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/%s", root, comps[i]);
    dif__safetensors *folder = NULL, *view = NULL;
    dif__component_bind_loras(&use, 1, root);
    CHECK_STATUS(dif__component_weights(dir, &folder, &err), DIF_OK, err.msg, "");
    dif__component_bind_checkpoint(c, root);
    CHECK_STATUS(dif__component_weights(dir, &view, &err), DIF_OK, err.msg, "");
    dif__component_bind_checkpoint(NULL, NULL);
    dif__component_bind_loras(NULL, 0, NULL);
    dif__tensor a, b, orig;
    dif__safetensors *plain = NULL;
    CHECK(dif__component_weights(dir, &plain, &err) == DIF_OK);
    if (folder && view && plain && !dif__st_get_f32(folder, names[i], &a, &err) &&
        !dif__st_get_f32(view, names[i], &b, &err) &&
        !dif__st_get_f32(plain, names[i], &orig, &err)) {
      int64_t n = dif__tensor_numel(&a);
      CHECK(n == dif__tensor_numel(&b) && memcmp(a.data, b.data, (size_t)n * sizeof(float)) == 0);
      CHECK(memcmp(a.data, orig.data, (size_t)n * sizeof(float)) != 0); /* merged */
    } else {
      CHECK_MSG(0, "%s", err.msg);
    }
    dif__st_close(folder);
    dif__st_close(view);
    dif__st_close(plain);
  }
  dif__checkpoint_close(c);
  dif__lora_close(l);
}

/* Records: the LoRAs of a saved picture come back; hostile "loras" refused. */
TEST(records) {
  static const char *const bad[][2] = {
      {"{\"prompt\":[{\"text\":\"a\",\"weight\":1}],\"loras\":{}}", "\"loras\" must be an array"},
      {"{\"prompt\":[{\"text\":\"a\",\"weight\":1}],\"loras\":[{\"file\":\"a\",\"xxh3\":\"0\","
       "\"weight\":1}]}",
       "\"xxh3\": 16 hex digits"},
      {"{\"prompt\":[{\"text\":\"a\",\"weight\":1}],\"loras\":[{\"file\":\"a\",\"xxh3\":"
       "\"0123456789abcdef\"}]}",
       "\"weight\": a number"},
      {"{\"prompt\":[{\"text\":\"a\",\"weight\":1}],\"loras\":[{\"file\":\"/etc/"
       "x\",\"xxh3\":\"0123456789abcdef\","
       "\"weight\":1}]}",
       "is an absolute path"},
      {"{\"prompt\":[{\"text\":\"a\",\"weight\":1}],\"loras\":[{\"file\":\"../"
       "x\",\"xxh3\":\"0123456789abcdef\","
       "\"weight\":1}]}",
       "leaves the record's folder"},
      {"{\"prompt\":[{\"text\":\"a\",\"weight\":1}],\"loras\":[{\"file\":\"tiny-sd.kohya."
       "safetensors\",\"xxh3\":"
       "\"0123456789abcdef\",\"weight\":1}]}",
       "the record's is 0123456789abcdef"},
  };
  char dir[512];
  snprintf(dir, sizeof dir, "%s", dif__test_path("fixtures/models/lora"));
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    dif_context *ctx = NULL;
    CHECK(dif_context_new(&ctx) == DIF_OK);
    CHECK_STATUS(dif_context_apply_record_in(ctx, bad[i][0], dir), DIF_ERR_INVALID_ARGUMENT,
                 dif_context_last_error(ctx), bad[i][1]);
    CHECK(dif_context_lora_count(ctx) == 0);
    dif_context_free(ctx);
  }
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  const char *ok = "{\"prompt\":[{\"text\":\"a\",\"weight\":1}],\"loras\":[{\"file\":\"tiny-sd."
                   "kohya.safetensors\","
                   "\"xxh3\":\"90d81d4f75ecb638\",\"weight\":0.8}]}";
  CHECK_STATUS(dif_context_apply_record(ctx, ok), DIF_ERR_INVALID_ARGUMENT,
               dif_context_last_error(ctx), "needs the record's folder");
  CHECK_STATUS(dif_context_apply_record_in(ctx, ok, dir), DIF_OK, dif_context_last_error(ctx), "");
  float w = 0;
  CHECK(dif_context_lora_count(ctx) == 1 && dif_context_lora(ctx, 0, NULL, &w, NULL) == DIF_OK &&
        w == 0.8f);
  dif_context_free(ctx);
}

int main(void) {
  snprintf(tmp, sizeof tmp, "/tmp/dif-test-lora-XXXXXX");
  if (!mkdtemp(tmp)) return 1;
  RUN(merge_values);
  RUN(kohya_name_ambiguous);
  RUN(bad_files);
  RUN(other_model);
  RUN(api);
  RUN(records);
  RUN(single_file);
  for (int i = 0; i < n_paths; i++) unlink(paths[i]);
  rmdir(tmp);
  return dif__test_finish();
}

/* Single-file checkpoints (lib/io/checkpoint.c, checkpoint_keys.c, the
 * safetensors views, and the loading glue through the public API): the
 * fused OpenCLIP in_proj split into q/k/v row views (F32 and F16), and the
 * bad files — pickles, a file of no known layout, SDXL, a checkpoint missing
 * a part, a bad in_proj, parts that do not fit the config folder — each
 * refused with a message naming the file and the tensor or prefix, leaving
 * the context empty and usable. Hostile files are written under a mkdtemp
 * folder in /tmp and removed. Runs under ASan+UBSan in the test command. */
#include <unistd.h>

#include "io/checkpoint.h"
#include "test.h"

#define SD_FILE "fixtures/models/single-file/tiny-sd.ldm.safetensors"
#define UNCLIP_FILE "fixtures/models/single-file/tiny-unclip.ldm.safetensors"
#define SD_DIR "golden/models/tiny-sd"
#define UNCLIP_DIR "golden/models/tiny-unclip"

static char tmp[64];
static char paths[32][128];
static int n_paths;

typedef struct spec {
  const char *name, *dtype;
  int ndim;
  int64_t shape[4];
  const void *data; /* NULL: zeros */
} spec;

/* Writes a safetensors file of the tensors in s; returns its path. */
static const char *write_st(const char *file, const spec *s, int n) {
  char header[4096] = "{";
  size_t off = 0, len = 1, bytes = 0;
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
  bytes = off;
  len += (size_t)snprintf(header + len, sizeof header - len, "}");
  char *path = paths[n_paths++];
  snprintf(path, 128, "%s/%s", tmp, file);
  FILE *f = fopen(path, "wb");
  uint64_t hl = len;
  uint8_t le[8];
  for (int i = 0; i < 8; i++) le[i] = (uint8_t)(hl >> (8 * i));
  fwrite(le, 1, 8, f);
  fwrite(header, 1, len, f);
  for (int i = 0; i < n; i++) {
    size_t esz = strcmp(s[i].dtype, "F32") == 0 ? 4 : 2, numel = 1;
    for (int d = 0; d < s[i].ndim; d++) numel *= (size_t)s[i].shape[d];
    if (s[i].data) {
      fwrite(s[i].data, esz, numel, f);
    } else {
      for (size_t k = 0; k < numel * esz; k++) fputc(0, f);
    }
  }
  (void)bytes;
  fclose(f);
  return path;
}

static const char *write_bytes(const char *file, const void *data, size_t n) {
  char *path = paths[n_paths++];
  snprintf(path, 128, "%s/%s", tmp, file);
  FILE *f = fopen(path, "wb");
  fwrite(data, 1, n, f);
  fclose(f);
  return path;
}

TEST(openclip_in_proj_split) {
  float w[12], b[6];
  uint16_t h[12];
  for (int i = 0; i < 12; i++) w[i] = (float)i, h[i] = (uint16_t)(0x3c00 + (i << 6)); /* 1 + i/16 */
  for (int i = 0; i < 6; i++) b[i] = 100.0f + (float)i;
  const char *pre = "cond_stage_model.model.transformer.resblocks.";
  char wn[2][128], bn[128];
  snprintf(wn[0], sizeof wn[0], "%s0.attn.in_proj_weight", pre);
  snprintf(wn[1], sizeof wn[1], "%s1.attn.in_proj_weight", pre);
  snprintf(bn, sizeof bn, "%s0.attn.in_proj_bias", pre);
  spec s[] = {{wn[0], "F32", 2, {6, 2}, w},
              {wn[1], "F16", 2, {6, 2}, h},
              {bn, "F32", 1, {6}, b},
              {"cond_stage_model.model.ln_final.weight", "F32", 1, {2}, NULL}};
  const char *path = write_st("openclip.safetensors", s, 4);
  dif__checkpoint *c = NULL;
  dif__error err = {0};
  CHECK_STATUS(dif__checkpoint_open(path, &c, &err), DIF_OK, err.msg, "");
  if (!c) return;
  CHECK(strcmp(dif__checkpoint_describe(c)->family, "SD-2.x") == 0);
  dif__safetensors *v = NULL;
  CHECK_STATUS(dif__checkpoint_part(c, "text_encoder", NULL, &v, &err), DIF_OK, err.msg, "");
  dif__checkpoint_close(c); /* the view keeps the file mapped */
  if (!v) return;
  static const char *const qkv[] = {"q", "k", "v"};
  for (int i = 0; i < 3; i++) {
    char name[128];
    dif__tensor t;
    snprintf(name, sizeof name, "text_model.encoder.layers.0.self_attn.%s_proj.weight", qkv[i]);
    CHECK_STATUS(dif__st_get_f32(v, name, &t, &err), DIF_OK, err.msg, "");
    CHECK(t.ndim == 2 && t.shape[0] == 2 && t.shape[1] == 2);
    for (int k = 0; k < 4; k++) CHECK(t.data[k] == (float)(4 * i + k));
    snprintf(name, sizeof name, "text_model.encoder.layers.1.self_attn.%s_proj.weight", qkv[i]);
    CHECK_STATUS(dif__st_get_f32(v, name, &t, &err), DIF_OK, err.msg, "");
    for (int k = 0; k < 4; k++) CHECK(t.data[k] == 1.0f + (float)(4 * i + k) / 16.0f);
    snprintf(name, sizeof name, "text_model.encoder.layers.0.self_attn.%s_proj.bias", qkv[i]);
    CHECK_STATUS(dif__st_get_f32(v, name, &t, &err), DIF_OK, err.msg, "");
    CHECK(t.ndim == 1 && t.shape[0] == 2 && t.data[0] == 100.0f + (float)(2 * i));
  }
  dif__tensor t;
  CHECK_STATUS(dif__st_get_f32(v, "text_model.final_layer_norm.weight", &t, &err), DIF_OK, err.msg,
               "");
  CHECK_STATUS(dif__st_get_f32(v, "text_model.encoder.layers.2.self_attn.q_proj.weight", &t, &err),
               DIF_ERR_BAD_MODEL, err.msg, "openclip.safetensors [text_encoder]: missing tensor");
  dif__st_close(v);
}

TEST(pickles_refused) {
  dif__checkpoint *c = NULL;
  dif__error err = {0};
  const char *ckpt = write_bytes("v1-5-pruned.ckpt", "PK\3\4....", 8);
  CHECK_STATUS(dif__checkpoint_open(ckpt, &c, &err), DIF_ERR_UNSUPPORTED, err.msg,
               "v1-5-pruned.ckpt is a PyTorch pickle checkpoint: loading one runs whatever code");
  CHECK(strstr(err.msg, "weights_only=True") && strstr(err.msg, "save_file"));
  const char *renamed = write_bytes("model.safetensors", "\x80\x02}q\0", 5);
  CHECK_STATUS(dif__checkpoint_open(renamed, &c, &err), DIF_ERR_UNSUPPORTED, err.msg,
               "model.safetensors is a PyTorch pickle checkpoint");
  const char *zip = write_bytes("zip.safetensors", "PK\3\4abcd", 8);
  CHECK_STATUS(dif__checkpoint_open(zip, &c, &err), DIF_ERR_UNSUPPORTED, err.msg, "pickle");
  CHECK(c == NULL);
  /* through the API, with a config folder */
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  CHECK(dif_context_set_config(ctx, dif__test_path(SD_DIR)) == DIF_OK);
  CHECK_STATUS(dif_context_load(ctx, ckpt), DIF_ERR_UNSUPPORTED, dif_context_last_error(ctx),
               "runs whatever code the file contains");
  dif_context_free(ctx);
}

TEST(unknown_layouts) {
  dif__checkpoint *c = NULL;
  dif__error err = {0};
  spec d[] = {{"conv_in.weight", "F32", 1, {4}, NULL}};
  const char *diffusers = write_st("diffusion_pytorch_model.safetensors", d, 1);
  CHECK_STATUS(
      dif__checkpoint_open(diffusers, &c, &err), DIF_ERR_BAD_MODEL, err.msg,
      "diffusion_pytorch_model.safetensors: not a single-file Stable Diffusion checkpoint");
  CHECK(strstr(err.msg, "'conv_in.weight'") != NULL);
  spec x[] = {{"conditioner.embedders.0.transformer.text_model.final_layer_norm.weight",
               "F32",
               1,
               {4},
               NULL},
              {"model.diffusion_model.input_blocks.0.0.weight", "F32", 1, {4}, NULL}};
  const char *sdxl = write_st("sd_xl_base_1.0.safetensors", x, 2);
  CHECK_STATUS(dif__checkpoint_open(sdxl, &c, &err), DIF_ERR_UNSUPPORTED, err.msg,
               "sd_xl_base_1.0.safetensors is an SDXL checkpoint");
  char longname[300];
  snprintf(longname, sizeof longname, "model.diffusion_model.input_blocks.1.0.%0200d", 7);
  spec y[] = {{longname, "F32", 1, {4}, NULL}};
  const char *longkey = write_st("long-key.safetensors", y, 1);
  CHECK_STATUS(dif__checkpoint_open(longkey, &c, &err), DIF_OK, err.msg, "");
  dif__safetensors *v = NULL;
  if (c)
    CHECK_STATUS(dif__checkpoint_part(c, "unet", dif__test_path(SD_DIR "/unet"), &v, &err),
                 DIF_ERR_BAD_MODEL, err.msg, "has a name of 239 bytes");
  CHECK(v == NULL);
  dif__checkpoint_close(c);
  c = NULL;
  const char *empty = write_st("empty.safetensors", x, 0);
  CHECK_STATUS(dif__checkpoint_open(empty, &c, &err), DIF_ERR_BAD_MODEL, err.msg, "no tensors");
  CHECK(c == NULL);
}

TEST(bad_in_proj) {
  dif__checkpoint *c = NULL;
  dif__safetensors *v = NULL;
  dif__error err = {0};
  spec s[] = {{"cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight",
               "F32",
               2,
               {10, 4},
               NULL}};
  const char *path = write_st("bad-in-proj.safetensors", s, 1);
  CHECK_STATUS(dif__checkpoint_open(path, &c, &err), DIF_OK, err.msg, "");
  if (c) {
    CHECK_STATUS(dif__checkpoint_part(c, "text_encoder", NULL, &v, &err), DIF_ERR_BAD_MODEL,
                 err.msg,
                 "bad-in-proj.safetensors: tensor "
                 "'cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight' is not a "
                 "fused q/k/v projection");
    CHECK(v == NULL);
    dif__checkpoint_close(c);
  }
  spec p[] = {{"cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight",
               "F32",
               2,
               {12, 4},
               NULL},
              {"cond_stage_model.model.text_projection", "F32", 2, {5, 5}, NULL}};
  path = write_st("bad-projection.safetensors", p, 2);
  CHECK_STATUS(dif__checkpoint_open(path, &c, &err), DIF_OK, err.msg, "");
  if (c) {
    CHECK_STATUS(dif__checkpoint_part(c, "text_encoder", NULL, &v, &err), DIF_ERR_BAD_MODEL,
                 err.msg, "'cond_stage_model.model.text_projection' has 5 rows");
    dif__checkpoint_close(c);
  }
}

/* A checkpoint without a VAE: the load fails naming the file and the part,
 * and the same context then loads a good file. */
TEST(missing_part_nothing_loaded) {
  spec s[] = {
      {"model.diffusion_model.input_blocks.0.0.weight", "F32", 4, {32, 4, 3, 3}, NULL},
      {"cond_stage_model.transformer.text_model.final_layer_norm.weight", "F32", 1, {32}, NULL}};
  const char *path = write_st("no-vae.safetensors", s, 2);
  char info[2048];
  size_t size = sizeof info;
  CHECK_STATUS(dif_checkpoint_info(path, info, &size), DIF_OK, dif_last_error(), "");
  CHECK(strstr(info, "\"family\": \"SD-1.x\"") && !strstr(info, "\"vae\""));
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  CHECK(dif_context_set_config(ctx, dif__test_path(SD_DIR)) == DIF_OK);
  CHECK_STATUS(dif_context_load(ctx, path), DIF_ERR_BAD_MODEL, dif_context_last_error(ctx),
               "no-vae.safetensors: the checkpoint has no vae (no tensor starts with "
               "first_stage_model.)");
  CHECK(dif_context_model_file_count(ctx) == 0 && !dif_context_is_unclip(ctx));
  CHECK_STATUS(dif_context_load(ctx, dif__test_path(SD_FILE)), DIF_OK, dif_context_last_error(ctx),
               "");
  CHECK(dif_context_model_file_count(ctx) == 3);
  dif_context_free(ctx);
}

/* Parts that do not fit the config folder: a message naming the file, the
 * part and the tensor. */
TEST(wrong_config) {
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  CHECK(dif_context_set_config(ctx, dif__test_path(UNCLIP_DIR)) == DIF_OK);
  dif_status s = dif_context_load(ctx, dif__test_path(SD_FILE));
  const char *m = dif_context_last_error(ctx);
  CHECK_MSG(s == DIF_ERR_BAD_MODEL && strstr(m, "tiny-sd.ldm.safetensors [unet]: ") &&
                strstr(m, "tensor '"),
            "%s: %s", dif_status_string(s), m);
  CHECK(dif_context_model_file_count(ctx) == 0);
  /* a two-layer SD-2.x-style UNet read with a one-layer SD-1.x config */
  CHECK(dif_context_set_config(ctx, dif__test_path(SD_DIR)) == DIF_OK);
  CHECK_STATUS(dif_context_load(ctx, dif__test_path(UNCLIP_FILE)), DIF_ERR_BAD_MODEL,
               dif_context_last_error(ctx),
               "tiny-unclip.ldm.safetensors [unet]: tensor 'down_blocks.0.attentions.0.proj_in."
               "weight' (the file's 'model.diffusion_model.input_blocks.1.1.proj_in.weight') has "
               "shape [32, 32], expected [32, 32, 1, 1]");
  CHECK(dif_context_model_file_count(ctx) == 0);
  dif_context_free(ctx);
}

TEST(api_rules) {
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  /* a single file without a config folder: says what the file is */
  CHECK_STATUS(dif_context_load(ctx, dif__test_path(UNCLIP_FILE)), DIF_ERR_INVALID_ARGUMENT,
               dif_context_last_error(ctx),
               "is a single-file Stable unCLIP (SD-2.x, 32-d image embeddings) checkpoint");
  CHECK_STATUS(dif_context_set_config(NULL, "x"), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "ctx is NULL");
  CHECK_STATUS(dif_context_set_config(ctx, NULL), DIF_ERR_INVALID_ARGUMENT,
               dif_context_last_error(ctx), "config_dir is NULL");
  /* a folder has its own configs */
  CHECK(dif_context_set_config(ctx, dif__test_path(SD_DIR)) == DIF_OK);
  CHECK_STATUS(dif_context_load(ctx, dif__test_path(UNCLIP_DIR)), DIF_ERR_INVALID_ARGUMENT,
               dif_context_last_error(ctx), "is a model folder, which has its own configs");
  CHECK(dif_context_set_config(ctx, dif__test_path(UNCLIP_DIR)) == DIF_OK);
  CHECK_STATUS(dif_context_load(ctx, dif__test_path(UNCLIP_FILE)), DIF_OK,
               dif_context_last_error(ctx), "");
  CHECK(dif_context_is_unclip(ctx) && dif_context_has_image_encoder(ctx));
  CHECK(strstr(dif_context_info(ctx), "\"checkpoint\": \"") &&
        strstr(dif_context_info(ctx), "tiny-unclip.ldm.safetensors\""));
  CHECK_STATUS(dif_context_set_config(ctx, "x"), DIF_ERR_BUSY, dif_context_last_error(ctx),
               "already loaded");
  dif_context_free(ctx);
  size_t size = 4;
  char small[4];
  CHECK_STATUS(dif_checkpoint_info(NULL, small, &size), DIF_ERR_INVALID_ARGUMENT, dif_last_error(),
               "path is NULL");
  CHECK_STATUS(dif_checkpoint_info(dif__test_path(SD_FILE), small, &size), DIF_ERR_INVALID_ARGUMENT,
               dif_last_error(), "the buffer holds 4 bytes");
  CHECK(size > 4);
  CHECK_STATUS(dif_checkpoint_info(dif__test_path(SD_FILE), NULL, NULL), DIF_ERR_INVALID_ARGUMENT,
               dif_last_error(), "size is NULL");
}

/* The preset a file loads with when no config is given: from its text
 * encoder's layout and UNet input channels, and for SD-2.x from its name
 * (dif_checkpoint_info's "preset"; lib/io/checkpoint_preset.c). The files
 * hold only the tensors the choice reads. */
static const char *preset_of(const char *file, bool openclip, int64_t in_ch, char *info,
                             size_t size) {
  const spec s[] = {
      {"model.diffusion_model.input_blocks.0.0.weight", "F32", 4, {8, in_ch, 1, 1}, NULL},
      {"first_stage_model.decoder.conv_out.bias", "F32", 1, {3}, NULL},
      {openclip ? "cond_stage_model.model.ln_final.weight"
                : "cond_stage_model.transformer.text_model.final_layer_norm.weight",
       "F32",
       1,
       {8},
       NULL},
  };
  const char *path = write_st(file, s, 3);
  size_t n = size;
  if (dif_checkpoint_info(path, info, &n) != DIF_OK) return dif_last_error();
  const char *p = strstr(info, "\"preset\": ");
  return p ? p + 10 : info;
}

TEST(preset_chosen) {
  char info[4096];
  struct {
    const char *file;
    bool openclip;
    int64_t in_ch;
    const char *want;
  } cases[] = {
      {"v1-5-pruned-emaonly.safetensors", false, 4, "\"sd15\""},
      {"sd-v1-5-inpainting.safetensors", false, 9, "\"sd15-inpaint\""},
      {"v2-1_768-ema-pruned.safetensors", true, 4, "\"sd21\""},
      {"v2-1_512-ema-pruned.safetensors", true, 4, "\"sd21-base\""},
      {"SD21-Base.safetensors", true, 4, "\"sd21-base\""},
      {"sd_turbo.safetensors", true, 4, "\"sd-turbo\""},
      {"512-inpainting-ema.safetensors", true, 9, "\"sd2-inpaint\""},
      {"odd.safetensors", true, 5, "null"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const char *got =
        preset_of(cases[i].file, cases[i].openclip, cases[i].in_ch, info, sizeof info);
    CHECK_MSG(!strncmp(got, cases[i].want, strlen(cases[i].want)), "%s: %.60s", cases[i].file, got);
  }
  CHECK(strstr(info, "no preset has its UNet's input channels") != NULL);
}

/* Without a config the tiny SD-1.x-layout file loads with the preset "sd15"
 * of tests/fixtures/presets (DIF_PRESETS_DIR, set in main): tiny-sd's
 * configs and a dif_defaults.json of 1 step, guidance 0 — the same pixels
 * as with its folder and those settings given; by name too. */
static dif_status draw(const char *config, bool settings, uint8_t *rgb, char *rec, size_t size) {
  dif_context *ctx = NULL;
  dif_prompt *p = NULL;
  dif_sample *smp = NULL;
  dif_status st = dif_context_new(&ctx);
  if (!st && config) st = dif_context_set_config(ctx, config);
  if (!st) st = dif_context_load(ctx, dif__test_path(SD_FILE));
  if (!st) st = dif_prompt_new(&p);
  if (!st) st = dif_prompt_add_text(p, "a red cat", 1);
  if (!st) st = dif_sample_new(ctx, p, &smp);
  if (!st) st = dif_sample_set_size(smp, 32, 32);
  if (!st) st = dif_sample_set_seed(smp, 7);
  if (!st && settings) st = dif_sample_set_steps(smp, 1);
  if (!st && settings) st = dif_sample_set_guidance(smp, 0.0f);
  if (!st) st = dif_sample_run(smp);
  if (st) snprintf(rec, size, "%s", smp ? dif_sample_last_error(smp) : dif_context_last_error(ctx));
  if (!st) st = dif_sample_copy_image(smp, 0, rgb, 32 * 32 * 3);
  if (!st) snprintf(rec, size, "%s", dif_sample_parameters(smp));
  dif_sample_free(smp);
  dif_prompt_free(p);
  dif_context_free(ctx);
  return st;
}

TEST(preset_loads_without_config) {
  static uint8_t want[32 * 32 * 3], got[32 * 32 * 3];
  char rec[4096];
  CHECK_STATUS(draw(dif__test_path(SD_DIR), true, want, rec, sizeof rec), DIF_OK, rec, "");
  CHECK_STATUS(draw(NULL, false, got, rec, sizeof rec), DIF_OK, rec, "");
  CHECK_MSG(strstr(rec, "\"steps\":1,") && strstr(rec, "\"guidance\":0"), "%s", rec);
  CHECK(!memcmp(want, got, sizeof got));
  memset(got, 0, sizeof got);
  CHECK_STATUS(draw("sd15", false, got, rec, sizeof rec), DIF_OK, rec, "");
  CHECK(!memcmp(want, got, sizeof got));
  CHECK_STATUS(draw("sd-turbo", false, got, rec, sizeof rec), DIF_ERR_INVALID_ARGUMENT, rec,
               "config 'sd-turbo' is neither a folder nor one of libdif's presets (sd15)");
}

int main(void) {
  setenv("DIF_PRESETS_DIR", dif__test_path("fixtures/presets"), 1);
  snprintf(tmp, sizeof tmp, "/tmp/dif-test-ckpt-XXXXXX");
  if (!mkdtemp(tmp)) return 1;
  RUN(openclip_in_proj_split);
  RUN(pickles_refused);
  RUN(unknown_layouts);
  RUN(bad_in_proj);
  RUN(missing_part_nothing_loaded);
  RUN(wrong_config);
  RUN(api_rules);
  RUN(preset_chosen);
  RUN(preset_loads_without_config);
  for (int i = 0; i < n_paths; i++) unlink(paths[i]);
  rmdir(tmp);
  return dif__test_finish();
}

/* Model folders and components (lib/io/model_folder.c, lib/io/component.c):
 * opening the real tiny diffusers folders of tests/golden/models, refusing
 * unknown pipeline and component classes by name, missing configs and
 * weights, and the identity list of weight fingerprints (xxh3 of the files).
 * Hostile folders are built under a mkdtemp directory in /tmp and removed. */
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "io/component.h"
#include "io/model_folder.h"
#include "test.h"

#define CHECK_OK(expr, err) CHECK_STATUS((expr), DIF_OK, (err).msg, "")

/* ---- temporary folder trees ---- */

static char tree[64];

static void tree_new(void) {
  snprintf(tree, sizeof tree, "/tmp/dif-test-mf-XXXXXX");
  if (!mkdtemp(tree)) abort();
}

/* Writes <tree>/<rel>, creating the folders on the way. */
static void put_bytes(const char *rel, const void *data, size_t n) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", tree, rel);
  for (char *p = path + strlen(tree) + 1; (p = strchr(p, '/')); p++) {
    *p = 0;
    mkdir(path, 0755);
    *p = '/';
  }
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, n, f) != n) abort();
  fclose(f);
}

static void put(const char *rel, const char *text) { put_bytes(rel, text, strlen(text)); }

static int remove_one(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
  (void)sb;
  (void)type;
  (void)ftw;
  return remove(path);
}

static void tree_free(void) { nftw(tree, remove_one, 16, FTW_DEPTH | FTW_PHYS); }

static uint8_t *read_all(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
  if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) abort();
  fclose(f);
  *size = (size_t)n;
  return buf;
}

static const char *normalizer_weights =
    "golden/models/tiny-unclip/image_normalizer/diffusion_pytorch_model.safetensors";

/* Copies the real image normalizer weights to <tree>/<rel>. */
static void put_real_weights(const char *rel) {
  size_t n;
  uint8_t *b = read_all(dif__test_path(normalizer_weights), &n);
  if (!b) abort();
  put_bytes(rel, b, n);
  free(b);
}

/* The recorded file i must be <dir>/<rel> with its size and xxh3. */
static void check_file_at(int line, const dif__model_folder *mf, size_t i, const char *rel) {
  const dif__model_file *f = dif__model_folder_file_at(mf, i);
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dif__model_folder_dir(mf), rel);
  size_t n = 0;
  uint8_t *b = read_all(path, &n);
  if (!f || !b || strcmp(f->path, rel) != 0 || f->size != n || f->xxh3 != XXH3_64bits(b, n)) {
    fprintf(stderr, "%s:%d: file %zu: want %s (%zu bytes), got %s\n", __FILE__, line, i, rel, n,
            f ? f->path : "(none)");
    dif__test_checks_failed++;
  }
  free(b);
}
#define CHECK_FILE_AT(mf, i, rel) check_file_at(__LINE__, mf, i, rel)

static dif_status open_tree(dif__model_folder **mf, dif__error *err) {
  dif__error_clear(err);
  return dif__model_folder_open(tree, mf, err);
}

/* ---- the real tiny folders ---- */

TEST(open_tiny_unclip) {
  dif__model_folder *mf = NULL;
  dif__error err;
  const char *dir = dif__test_path("golden/models/tiny-unclip");
  CHECK_OK(dif__model_folder_open(dir, &mf, &err), err);
  if (!mf) return;
  CHECK(strcmp(dif__model_folder_dir(mf), dir) == 0);
  CHECK(strcmp(dif__model_folder_pipeline(mf), "StableUnCLIPImg2ImgPipeline") == 0);
  static const char *const parts[] = {
      "feature_extractor", "image_encoder", "image_noising_scheduler",
      "image_normalizer",  "scheduler",     "text_encoder",
      "tokenizer",         "unet",          "vae"};
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
    CHECK_MSG(dif__model_folder_has(mf, parts[i]), "%s", parts[i]);
  CHECK(!dif__model_folder_has(mf, "safety_checker"));
  CHECK(!dif__model_folder_has(mf, "prior"));
  CHECK(dif__model_folder_file_count(mf) == 0);

  static const char *const unet[] = {"UNet2DConditionModel", NULL};
  dif__config *cfg = NULL;
  CHECK_OK(dif__model_folder_config(mf, "unet", "config.json", unet, &cfg, &err), err);
  dif__config_free(cfg);
  CHECK_OK(dif__model_folder_config(mf, "scheduler", "scheduler_config.json", NULL, &cfg, &err),
           err);
  dif__config_free(cfg);
  CHECK_OK(dif__model_folder_config(mf, "feature_extractor", "preprocessor_config.json", NULL, &cfg,
                                    &err),
           err);
  dif__config_free(cfg);

  dif__safetensors *a = NULL, *b = NULL, *c = NULL;
  CHECK_OK(dif__model_folder_weights(mf, "image_normalizer", &a, &err), err);
  CHECK_OK(dif__model_folder_weights(mf, "text_encoder", &b, &err), err); /* model.safetensors */
  CHECK_OK(dif__model_folder_weights(mf, "unet", &c, &err), err);
  CHECK(dif__model_folder_file_count(mf) == 3);
  CHECK_FILE_AT(mf, 0, "image_normalizer/diffusion_pytorch_model.safetensors");
  CHECK_FILE_AT(mf, 1, "text_encoder/model.safetensors");
  CHECK_FILE_AT(mf, 2, "unet/diffusion_pytorch_model.safetensors");
  CHECK(dif__model_folder_file_at(mf, 3) == NULL);
  if (a) CHECK(dif__model_folder_file_at(mf, 0)->xxh3 == dif__st_xxh3(a));
  if (c) CHECK(dif__st_find(c, "conv_in.weight") != NULL);
  dif__st_close(a);
  dif__st_close(b);
  dif__st_close(c);
  dif__model_folder_free(mf);
}

TEST(open_tiny_sd) {
  dif__model_folder *mf = NULL;
  dif__error err;
  CHECK_OK(dif__model_folder_open(dif__test_path("golden/models/tiny-sd"), &mf, &err), err);
  if (!mf) return;
  CHECK(strcmp(dif__model_folder_pipeline(mf), "StableDiffusionPipeline") == 0);
  CHECK(dif__model_folder_has(mf, "unet") && dif__model_folder_has(mf, "vae"));
  CHECK(dif__model_folder_has(mf, "text_encoder") && dif__model_folder_has(mf, "tokenizer"));
  CHECK(!dif__model_folder_has(mf, "safety_checker")); /* [null, null] in the index */
  CHECK(!dif__model_folder_has(mf, "feature_extractor"));
  static const char *const vae[] = {"AutoencoderKL", NULL};
  dif__config *cfg = NULL;
  CHECK_OK(dif__model_folder_config(mf, "vae", "config.json", vae, &cfg, &err), err);
  dif__config_free(cfg);
  static const char *const comps[] = {"vae", "text_encoder", "unet"};
  static const char *const files[] = {"vae/diffusion_pytorch_model.safetensors",
                                      "text_encoder/model.safetensors",
                                      "unet/diffusion_pytorch_model.safetensors"};
  for (size_t i = 0; i < 3; i++) {
    dif__safetensors *st = NULL;
    CHECK_OK(dif__model_folder_weights(mf, comps[i], &st, &err), err);
    dif__st_close(st); /* the fingerprint stays recorded */
  }
  CHECK(dif__model_folder_file_count(mf) == 3);
  for (size_t i = 0; i < 3; i++) CHECK_FILE_AT(mf, i, files[i]);
  /* Two different files have different fingerprints. */
  CHECK(dif__model_folder_file_at(mf, 0)->xxh3 != dif__model_folder_file_at(mf, 2)->xxh3);
  dif__model_folder_free(mf);
}

TEST(folder_without_index) {
  dif__model_folder *mf = NULL;
  dif__error err;
  CHECK_OK(dif__model_folder_open(dif__test_path("golden/models/tiny-karlo-prior"), &mf, &err),
           err);
  if (!mf) return;
  CHECK(dif__model_folder_pipeline(mf) == NULL);
  CHECK(dif__model_folder_has(mf, "prior"));
  CHECK(dif__model_folder_has(mf, "prior_text_encoder"));
  CHECK(!dif__model_folder_has(mf, "unet"));
  static const char *const prior[] = {"PriorTransformer", NULL};
  dif__config *cfg = NULL;
  CHECK_OK(dif__model_folder_config(mf, "prior", "config.json", prior, &cfg, &err), err);
  dif__config_free(cfg);
  dif__safetensors *st = NULL;
  CHECK_OK(dif__model_folder_weights(mf, "prior", &st, &err), err);
  CHECK_FILE_AT(mf, 0, "prior/diffusion_pytorch_model.safetensors");
  dif__st_close(st);
  dif__model_folder_free(mf);
}

TEST(loose_component_folder) {
  /* The golden fixtures name component folders directly. */
  const char *dir = dif__test_path("golden/models/clip-vision-tiny");
  char copy[4096];
  snprintf(copy, sizeof copy, "%s", dir);
  dif__config *cfg = NULL;
  dif__error err;
  static const char *const vision[] = {"CLIPVisionModelWithProjection", NULL};
  CHECK_OK(dif__component_config(copy, "config.json", vision, &cfg, &err), err);
  dif__config_free(cfg);
  dif__safetensors *st = NULL;
  CHECK_OK(dif__component_weights(copy, &st, &err), err);
  if (st) {
    char want[4200];
    snprintf(want, sizeof want, "%s/model.safetensors", copy);
    CHECK(strcmp(dif__st_path(st), want) == 0);
  }
  dif__st_close(st);
}

TEST(not_a_folder) {
  dif__model_folder *mf = (dif__model_folder *)&mf;
  dif__error err;
  CHECK_STATUS(dif__model_folder_open("/tmp/dif-test-no-such-model", &mf, &err), DIF_ERR_IO,
               err.msg, "/tmp/dif-test-no-such-model: not a model folder (not a directory)");
  CHECK(mf == NULL);
  const char *file = dif__test_path("golden/models/tiny-sd/model_index.json");
  CHECK_STATUS(dif__model_folder_open(file, &mf, &err), DIF_ERR_IO, err.msg, "not a directory");
  CHECK(strstr(err.msg, "tiny-sd/model_index.json") != NULL);
}

/* ---- hostile folders ---- */

TEST(unknown_pipeline_class) {
  tree_new();
  put("model_index.json", "{\"_class_name\": \"FluxPipeline\", \"unet\": [\"diffusers\", "
                          "\"UNet2DConditionModel\"]}");
  dif__model_folder *mf = (dif__model_folder *)&mf;
  dif__error err;
  CHECK_STATUS(open_tree(&mf, &err), DIF_ERR_UNSUPPORTED, err.msg,
               "model_index.json: unknown pipeline class 'FluxPipeline'");
  CHECK(strstr(err.msg, tree) != NULL);
  CHECK(mf == NULL);
  /* A component class is not a pipeline. */
  put("model_index.json", "{\"_class_name\": \"UNet2DConditionModel\"}");
  CHECK_STATUS(open_tree(&mf, &err), DIF_ERR_UNSUPPORTED, err.msg,
               "unknown pipeline class 'UNet2DConditionModel'");
  put("model_index.json", "{\"_diffusers_version\": \"0.26.3\"}");
  CHECK_STATUS(open_tree(&mf, &err), DIF_ERR_BAD_MODEL, err.msg,
               "model_index.json: missing key '_class_name'");
  put("model_index.json", "{\"_class_name\": [\"StableDiffusionPipeline\"]}");
  CHECK_STATUS(open_tree(&mf, &err), DIF_ERR_BAD_MODEL, err.msg,
               "model_index.json: key '_class_name' must be a string");
  put("model_index.json", "{\"_class_name\": \"StableDiffusionPipeline\",}");
  CHECK_STATUS(open_tree(&mf, &err), DIF_ERR_BAD_MODEL, err.msg, "model_index.json: invalid JSON");
  put("model_index.json", "[\"StableDiffusionPipeline\"]");
  CHECK_STATUS(open_tree(&mf, &err), DIF_ERR_BAD_MODEL, err.msg,
               "model_index.json: top level is not a JSON object");
  CHECK(mf == NULL);
  tree_free();
}

TEST(unknown_component_class) {
  tree_new();
  put("model_index.json", "{\"_class_name\": \"StableDiffusionPipeline\",\n"
                          " \"vae\": [\"diffusers\", \"AutoencoderKL\"],\n"
                          " \"unet\": [\"diffusers\", \"UNet3DConditionModel\"]}");
  dif__model_folder *mf = (dif__model_folder *)&mf;
  dif__error err;
  CHECK_STATUS(open_tree(&mf, &err), DIF_ERR_UNSUPPORTED, err.msg,
               "model_index.json: component 'unet' has unknown class 'UNet3DConditionModel'");
  CHECK(mf == NULL);
  put("model_index.json", "{\"_class_name\": \"StableDiffusionPipeline\",\n"
                          " \"unet\": [\"diffusers\"]}");
  CHECK_STATUS(open_tree(&mf, &err), DIF_ERR_BAD_MODEL, err.msg,
               "model_index.json: component 'unet' must be [library, class]");
  put("model_index.json", "{\"_class_name\": \"StableDiffusionPipeline\",\n"
                          " \"unet\": [\"diffusers\", 42]}");
  CHECK_STATUS(open_tree(&mf, &err), DIF_ERR_BAD_MODEL, err.msg,
               "component 'unet' must be [library, class]");
  put("model_index.json", "{\"_class_name\": \"StableDiffusionPipeline\",\n"
                          " \"unet\": []}");
  CHECK_STATUS(open_tree(&mf, &err), DIF_ERR_BAD_MODEL, err.msg,
               "component 'unet' must be [library, class]");
  /* Flags, private keys and absent components are fine. */
  put("model_index.json", "{\"_class_name\": \"StableDiffusionPipeline\",\n"
                          " \"_private\": [\"x\", \"NotAClass\"],\n"
                          " \"requires_safety_checker\": true,\n"
                          " \"safety_checker\": [null, null],\n"
                          " \"unet\": [\"diffusers\", \"UNet2DConditionModel\"]}");
  put("safety_checker/config.json", "{}");
  put("unet/config.json", "{}");
  CHECK_OK(open_tree(&mf, &err), err);
  if (mf) {
    CHECK(dif__model_folder_has(mf, "unet"));
    CHECK(!dif__model_folder_has(mf, "safety_checker")); /* folder exists, index says null */
    CHECK(!dif__model_folder_has(mf, "vae"));
  }
  dif__model_folder_free(mf);
  tree_free();
}

TEST(component_config_with_unknown_class) {
  tree_new();
  put("unet/config.json", "{\"_class_name\": \"UNet3DConditionModel\", \"x\": 1}");
  put("vae/config.json", "{\"_class_name\": \"AutoencoderKL\"}");
  put("plain/config.json", "{\"x\": 1}");
  put("typed/config.json", "{\"_class_name\": 7}");
  put("broken/config.json", "{\"_class_name\": \"AutoencoderKL\"");
  dif__model_folder *mf = NULL;
  dif__error err;
  CHECK_OK(open_tree(&mf, &err), err);
  if (!mf) return;
  static const char *const unet[] = {"UNet2DConditionModel", NULL};
  static const char *const two[] = {"UNet2DConditionModel", "PriorTransformer", NULL};
  dif__config *cfg = (dif__config *)&cfg;
  CHECK_STATUS(dif__model_folder_config(mf, "unet", "config.json", NULL, &cfg, &err),
               DIF_ERR_UNSUPPORTED, err.msg,
               "unet/config.json: unknown _class_name 'UNet3DConditionModel' (expected a class "
               "libdif knows)");
  CHECK(cfg == NULL);
  CHECK_STATUS(dif__model_folder_config(mf, "unet", "config.json", unet, &cfg, &err),
               DIF_ERR_UNSUPPORTED, err.msg,
               "unknown _class_name 'UNet3DConditionModel' (expected UNet2DConditionModel)");
  /* A class libdif knows, in the wrong place. */
  CHECK_STATUS(dif__model_folder_config(mf, "vae", "config.json", two, &cfg, &err),
               DIF_ERR_UNSUPPORTED, err.msg,
               "vae/config.json: unknown _class_name 'AutoencoderKL' (expected "
               "UNet2DConditionModel, PriorTransformer)");
  CHECK_STATUS(dif__model_folder_config(mf, "typed", "config.json", unet, &cfg, &err),
               DIF_ERR_BAD_MODEL, err.msg, "typed/config.json: key '_class_name' must be a string");
  CHECK_STATUS(dif__model_folder_config(mf, "broken", "config.json", unet, &cfg, &err),
               DIF_ERR_BAD_MODEL, err.msg, "broken/config.json: invalid JSON");
  CHECK(cfg == NULL);
  /* No _class_name: accepted whatever the list. */
  CHECK_OK(dif__model_folder_config(mf, "plain", "config.json", unet, &cfg, &err), err);
  dif__config_free(cfg);
  CHECK_OK(dif__model_folder_config(mf, "vae", "config.json", NULL, &cfg, &err), err);
  dif__config_free(cfg);
  /* Missing files and folders are named. */
  CHECK_STATUS(dif__model_folder_config(mf, "unet", "scheduler_config.json", NULL, &cfg, &err),
               DIF_ERR_BAD_MODEL, err.msg, "unet/scheduler_config.json: missing");
  CHECK_STATUS(dif__model_folder_config(mf, "text_encoder", "config.json", NULL, &cfg, &err),
               DIF_ERR_BAD_MODEL, err.msg, "text_encoder/config.json: missing");
  CHECK(cfg == NULL);
  dif__model_folder_free(mf);
  tree_free();
}

TEST(missing_weights_are_named) {
  tree_new();
  put("unet/config.json", "{}");
  put("unet/diffusion_pytorch_model.bin", "pickle");
  put("vae/config.json", "{}");
  dif__model_folder *mf = NULL;
  dif__error err;
  CHECK_OK(open_tree(&mf, &err), err);
  if (!mf) return;
  dif__safetensors *st = (dif__safetensors *)&st;
  CHECK_STATUS(dif__model_folder_weights(mf, "unet", &st, &err), DIF_ERR_BAD_MODEL, err.msg,
               "/unet: no weights (diffusion_pytorch_model.safetensors or model.safetensors); "
               ".bin/.ckpt pickles are not loaded");
  CHECK(strstr(err.msg, tree) != NULL);
  CHECK(st == NULL);
  CHECK_STATUS(dif__model_folder_weights(mf, "vae", &st, &err), DIF_ERR_BAD_MODEL, err.msg,
               "/vae: no weights");
  CHECK_STATUS(dif__model_folder_weights(mf, "text_encoder", &st, &err), DIF_ERR_BAD_MODEL, err.msg,
               "/text_encoder: no weights");
  /* A folder named like the weights is not a weight file, and is named as
   * what it is. */
  put("vae/model.safetensors/x", "");
  CHECK_STATUS(dif__model_folder_weights(mf, "vae", &st, &err), DIF_ERR_IO, err.msg,
               "/vae/model.safetensors is a directory, not a regular file");
  CHECK(dif__model_folder_file_count(mf) == 0);
  dif__model_folder_free(mf);
  tree_free();
}

TEST(corrupt_weights_are_named_and_not_recorded) {
  tree_new();
  put_bytes("unet/diffusion_pytorch_model.safetensors", "\x10\0\0\0\0\0\0\0{\"a\": 1}", 16);
  put_bytes("vae/model.safetensors", "", 0);
  dif__model_folder *mf = NULL;
  dif__error err;
  CHECK_OK(open_tree(&mf, &err), err);
  if (!mf) return;
  dif__safetensors *st = (dif__safetensors *)&st;
  CHECK_STATUS(dif__model_folder_weights(mf, "unet", &st, &err), DIF_ERR_BAD_MODEL, err.msg,
               "unet/diffusion_pytorch_model.safetensors: header size 16 is larger than the file");
  CHECK(st == NULL);
  CHECK_STATUS(dif__model_folder_weights(mf, "vae", &st, &err), DIF_ERR_BAD_MODEL, err.msg,
               "vae/model.safetensors: file is 0 bytes");
  CHECK(dif__model_folder_file_count(mf) == 0);
  dif__model_folder_free(mf);
  tree_free();
}

TEST(diffusers_weights_preferred_over_model_safetensors) {
  tree_new();
  put_real_weights("image_normalizer/diffusion_pytorch_model.safetensors");
  put("image_normalizer/model.safetensors", "not even looked at");
  dif__model_folder *mf = NULL;
  dif__error err;
  CHECK_OK(open_tree(&mf, &err), err);
  if (!mf) return;
  dif__safetensors *st = NULL;
  CHECK_OK(dif__model_folder_weights(mf, "image_normalizer", &st, &err), err);
  CHECK_FILE_AT(mf, 0, "image_normalizer/diffusion_pytorch_model.safetensors");
  dif__st_close(st);
  dif__model_folder_free(mf);
  tree_free();
}

TEST(record_fingerprints) {
  tree_new();
  put_real_weights("image_normalizer/diffusion_pytorch_model.safetensors");
  put_real_weights("copy/weights.safetensors");
  dif__model_folder *mf = NULL;
  dif__error err;
  CHECK_OK(open_tree(&mf, &err), err);
  if (!mf) return;
  char path[512];
  CHECK_OK(dif__model_folder_path(mf, "copy", "weights.safetensors", path, sizeof path, &err), err);
  dif__safetensors *st = NULL;
  CHECK_OK(dif__st_open(path, &st, &err), err);
  if (st) {
    dif__model_folder_record(mf, "copy", st);
    CHECK(dif__model_folder_file_count(mf) == 1);
    CHECK_FILE_AT(mf, 0, "copy/weights.safetensors");
    CHECK(dif__model_folder_file_at(mf, 0)->size == 424);
    dif__st_close(st);
  }
  /* The same bytes under another name: same fingerprint. */
  dif__safetensors *w = NULL;
  CHECK_OK(dif__model_folder_weights(mf, "image_normalizer", &w, &err), err);
  CHECK(dif__model_folder_file_count(mf) == 2);
  CHECK_FILE_AT(mf, 1, "image_normalizer/diffusion_pytorch_model.safetensors");
  if (dif__model_folder_file_count(mf) == 2)
    CHECK(dif__model_folder_file_at(mf, 0)->xxh3 == dif__model_folder_file_at(mf, 1)->xxh3);
  /* The list is bounded; recording more never overflows it. */
  for (int i = 0; i < 40 && w; i++) dif__model_folder_record(mf, "image_normalizer", w);
  CHECK(dif__model_folder_file_count(mf) <= 32);
  CHECK(dif__model_folder_file_at(mf, dif__model_folder_file_count(mf)) == NULL);
  dif__st_close(w);
  dif__model_folder_free(mf);
  tree_free();
}

TEST(paths) {
  dif__model_folder *mf = NULL;
  dif__error err;
  CHECK_OK(dif__model_folder_open(dif__test_path("golden/models/tiny-sd"), &mf, &err), err);
  if (!mf) return;
  char buf[4096];
  CHECK_OK(dif__model_folder_path(mf, "unet", "config.json", buf, sizeof buf, &err), err);
  char want[4200];
  snprintf(want, sizeof want, "%s/unet/config.json", dif__model_folder_dir(mf));
  CHECK(strcmp(buf, want) == 0);
  CHECK_OK(dif__model_folder_path(mf, "unet", NULL, buf, sizeof buf, &err), err);
  snprintf(want, sizeof want, "%s/unet", dif__model_folder_dir(mf));
  CHECK(strcmp(buf, want) == 0);
  char small[8];
  CHECK_STATUS(dif__model_folder_path(mf, "unet", "config.json", small, sizeof small, &err),
               DIF_ERR_LIMIT, err.msg, "path too long (at most 7 bytes): /");
  /* A component name longer than any path: refused, not truncated. */
  char *longname = malloc(5000);
  memset(longname, 'x', 4999);
  longname[4999] = 0;
  CHECK(!dif__model_folder_has(mf, longname));
  dif__config *cfg = (dif__config *)&cfg;
  CHECK_STATUS(dif__model_folder_config(mf, longname, "config.json", NULL, &cfg, &err),
               DIF_ERR_LIMIT, err.msg, "path too long");
  dif__safetensors *st = (dif__safetensors *)&st;
  CHECK_STATUS(dif__model_folder_weights(mf, longname, &st, &err), DIF_ERR_LIMIT, err.msg,
               "path too long");
  CHECK(st == NULL && cfg == NULL);
  CHECK_STATUS(dif__component_config(longname, "config.json", NULL, &cfg, &err), DIF_ERR_LIMIT,
               err.msg, "path too long (at most 4095 bytes): xxx");
  CHECK_STATUS(dif__component_weights(longname, &st, &err), DIF_ERR_LIMIT, err.msg,
               "path too long (at most 4095 bytes): xxx");
  free(longname);
  dif__model_folder_free(mf);
  dif__model_folder_free(NULL);
}

TEST(known_classes) {
  CHECK(dif__known_class("UNet2DConditionModel"));
  CHECK(dif__known_class("StableUnCLIPPipeline"));
  CHECK(dif__known_class("StableUnCLIPImageNormalizer"));
  CHECK(!dif__known_class("UNet3DConditionModel"));
  CHECK(!dif__known_class(""));
  CHECK(!dif__known_class("unet2dconditionmodel"));
  CHECK(!dif__known_class(NULL));
}

int main(void) {
  RUN(open_tiny_unclip);
  RUN(open_tiny_sd);
  RUN(folder_without_index);
  RUN(loose_component_folder);
  RUN(not_a_folder);
  RUN(unknown_pipeline_class);
  RUN(unknown_component_class);
  RUN(component_config_with_unknown_class);
  RUN(missing_weights_are_named);
  RUN(corrupt_weights_are_named_and_not_recorded);
  RUN(diffusers_weights_preferred_over_model_safetensors);
  RUN(record_fingerprints);
  RUN(paths);
  RUN(known_classes);
  return dif__test_finish();
}

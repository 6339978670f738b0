/* Textual-inversion embeddings (lib/io/embedding.c, text/clip_tokenizer.c's
 * added tokens and clip_prompt_convert.c, pipelines/textual_inversion.c,
 * api/embedding.c, api/record_embedding.c): the layouts and their tokens;
 * the bad files — no tensor, several, another dtype or shape, NaN, a
 * pickle, an empty token — refused at dif_context_add_embedding naming the
 * file (and tensor); an embedding that does not fit the model (width, a
 * token of the vocabulary, "tok_1" taken, the same token twice) refused at
 * load with nothing added and the context usable; tokens matched as
 * transformers matches them (case-sensitive, inside words) and
 * maybe_convert_prompt's str.replace; records that carry embeddings; the
 * API's misuse. Hostile files are written under a mkdtemp folder in /tmp
 * and removed. Runs under ASan+UBSan in the test command. */
#include <unistd.h>

#include "io/embedding.h"
#include "pipelines/textual_inversion.h"
#include "test.h"

#define SD_DIR "golden/models/tiny-sd"
#define SHAPE3 "fixtures/models/textual_inversion/tiny-shape3.safetensors"
#define CAT_TOY "fixtures/models/textual_inversion/tiny-cat-toy.safetensors"
#define TINYSTYLE "fixtures/models/textual_inversion/tinystyle.safetensors"

static char tmp[64];
static char paths[32][128];
static int n_paths;

/* Writes a file of one header (JSON text) and data bytes; returns its path. */
static const char *write_raw(const char *file, const char *header, const void *data, size_t n) {
  char *path = paths[n_paths++];
  snprintf(path, 128, "%s/%s", tmp, file);
  FILE *f = fopen(path, "wb");
  size_t len = strlen(header);
  uint8_t le[8];
  for (int i = 0; i < 8; i++) le[i] = (uint8_t)((uint64_t)len >> (8 * i));
  if (header[0]) fwrite(le, 1, 8, f);
  fwrite(header, 1, len, f);
  if (n) fwrite(data, 1, n, f);
  fclose(f);
  return path;
}

static void refused(const char *file, const char *header, const void *data, size_t n,
                    const char *token, dif_status want, const char *msg) {
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  const char *path = write_raw(file, header, data, n);
  CHECK_STATUS(dif_context_add_embedding(ctx, path, token), want, dif_context_last_error(ctx), msg);
  CHECK(strstr(dif_context_last_error(ctx), file) != NULL);
  CHECK(dif_context_embedding_count(ctx) == 0);
  dif_context_free(ctx);
}

TEST(layouts) {
  dif__embedding e;
  dif__error err = {0};
  CHECK_STATUS(dif__embedding_read(dif__test_path(SHAPE3), NULL, &e, &err), DIF_OK, err.msg, "");
  CHECK(!strcmp(e.token, "<shape3>") && e.n == 3 && e.dim == 32 && !strcmp(e.layout, "diffusers"));
  dif__embedding_free(&e);
  CHECK_STATUS(dif__embedding_read(dif__test_path(CAT_TOY), NULL, &e, &err), DIF_OK, err.msg, "");
  CHECK(!strcmp(e.token, "<cat-toy>") && e.n == 1 && e.dim == 32);
  dif__embedding_free(&e);
  /* A1111: emb_params, the token is the file's stem; an explicit one wins */
  CHECK_STATUS(dif__embedding_read(dif__test_path(TINYSTYLE), NULL, &e, &err), DIF_OK, err.msg, "");
  CHECK(!strcmp(e.token, "tinystyle") && e.n == 2 && !strcmp(e.layout, "AUTOMATIC1111"));
  dif__embedding_free(&e);
  CHECK_STATUS(dif__embedding_read(dif__test_path(TINYSTYLE), "<s>", &e, &err), DIF_OK, err.msg,
               "");
  CHECK(!strcmp(e.token, "<s>"));
  dif__embedding_free(&e);
}

/* F16 and BF16 vectors are widened to float32. */
TEST(half_dtypes) {
  const uint16_t f16[4] = {0x3c00, 0x4000, 0xbc00, 0x3800},
                 bf16[4] = {0x3f80, 0x4000, 0xbf80, 0x3f00};
  const float want[4] = {1, 2, -1, 0.5f};
  const char *hf =
      write_raw("half.safetensors",
                "{\"<h>\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,8]}}", f16, 8);
  const char *bf =
      write_raw("bf16.safetensors",
                "{\"emb_params\":{\"dtype\":\"BF16\",\"shape\":[1,4],\"data_offsets\":[0,"
                "8]}}",
                bf16, 8);
  dif__embedding e;
  dif__error err = {0};
  CHECK_STATUS(dif__embedding_read(hf, NULL, &e, &err), DIF_OK, err.msg, "");
  CHECK(e.n == 2 && e.dim == 2 && e.data && !memcmp(e.data, want, sizeof want));
  dif__embedding_free(&e);
  CHECK_STATUS(dif__embedding_read(bf, NULL, &e, &err), DIF_OK, err.msg, "");
  CHECK(e.n == 1 && e.dim == 4 && e.data && !memcmp(e.data, want, sizeof want) &&
        !strcmp(e.token, "bf16"));
  dif__embedding_free(&e);
}

TEST(bad_files) {
  const float v[4] = {1, 2, 3, 4}, nan4[4] = {1, NAN, 3, 4};
  refused("empty.safetensors", "{}", NULL, 0, NULL, DIF_ERR_BAD_MODEL, "holds no tensor");
  refused("two.safetensors",
          "{\"clip_l\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
          "\"clip_g\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
          v, 16, NULL, DIF_ERR_BAD_MODEL, "holds 2 tensors (clip_l, clip_g");
  refused("int.safetensors", "{\"t\":{\"dtype\":\"I32\",\"shape\":[4],\"data_offsets\":[0,16]}}", v,
          16, NULL, DIF_ERR_UNSUPPORTED, "tensor \"t\" is I32");
  refused("cube.safetensors",
          "{\"t\":{\"dtype\":\"F32\",\"shape\":[1,2,2],\"data_offsets\":[0,16]}}", v, 16, NULL,
          DIF_ERR_BAD_MODEL, "has 3 dimensions");
  refused("scalar.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}",
          v, 4, NULL, DIF_ERR_BAD_MODEL, "has 0 dimensions");
  refused("zero.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[0,0]}}",
          v, 0, NULL, DIF_ERR_BAD_MODEL, "n and dim at least 1");
  refused("nan.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}",
          nan4, 16, NULL, DIF_ERR_NON_FINITE, "non-finite value (nan) at vector 0, element 1");
  refused("empty-token.safetensors",
          "{\"t\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", v, 16, "",
          DIF_ERR_INVALID_ARGUMENT, "token is empty");
  static float many[1025];
  refused("many.safetensors",
          "{\"t\":{\"dtype\":\"F32\",\"shape\":[1025,1],\"data_offsets\":[0,4100]}}", many,
          sizeof many, NULL, DIF_ERR_LIMIT, "has 1025 vectors; at most 1024");
  const unsigned char pickle[4] = {0x80, 2, 'c', 0};
  refused("learned_embeds.bin", "", pickle, 4, NULL, DIF_ERR_UNSUPPORTED,
          "libdif reads only .safetensors embeddings");
  refused("truncated.safetensors",
          "{\"t\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", v, 8, NULL,
          DIF_ERR_BAD_MODEL, "");
}

/* An embedding that does not fit tiny-sd fails the load, names the file,
 * adds nothing, and leaves the context usable. */
static void refused_at_load(const char *first, const char *first_token, const char *given,
                            const char *token, dif_status want, const char *msg) {
  char path[512]; /* dif__test_path's buffer is reused */
  snprintf(path, sizeof path, "%s", given);
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  if (first)
    CHECK_STATUS(dif_context_add_embedding(ctx, dif__test_path(first), first_token), DIF_OK,
                 dif_context_last_error(ctx), "");
  CHECK_STATUS(dif_context_add_embedding(ctx, path, token), DIF_OK, dif_context_last_error(ctx),
               "");
  CHECK_STATUS(dif_context_load(ctx, dif__test_path(SD_DIR)), want, dif_context_last_error(ctx),
               msg);
  CHECK(dif_context_model_file_count(ctx) == 0);
  CHECK(dif_context_clear_embeddings(ctx) == DIF_OK && dif_context_embedding_count(ctx) == 0);
  CHECK_STATUS(dif_context_load(ctx, dif__test_path(SD_DIR)), DIF_OK, dif_context_last_error(ctx),
               "");
  dif_context_free(ctx);
}

TEST(other_model) {
  float wide[768] = {0};
  const char *sd15 = write_raw("sd15.safetensors",
                               "{\"<x>\":{\"dtype\":\"F32\",\"shape\":[1,768],\"data_offsets\":[0,"
                               "3072]}}",
                               wide, sizeof wide);
  refused_at_load(NULL, NULL, sd15, NULL, DIF_ERR_BAD_MODEL,
                  "sd15.safetensors: tensor \"<x>\" holds vectors of width 768, but this model's "
                  "text encoder has width 32");
  refused_at_load(NULL, NULL, dif__test_path(CAT_TOY), "a", DIF_ERR_INVALID_ARGUMENT,
                  "token \"a\" is already in the tokenizer's vocabulary");
  refused_at_load(CAT_TOY, "<t>_1", dif__test_path(SHAPE3), "<t>", DIF_ERR_INVALID_ARGUMENT,
                  "tiny-shape3.safetensors: the multi-vector token \"<t>_1\" is already in "
                  "another embedding added before");
  refused_at_load(CAT_TOY, NULL, dif__test_path(CAT_TOY), NULL, DIF_ERR_INVALID_ARGUMENT,
                  "token \"<cat-toy>\" is already in another embedding added before");
}

static void ids_of(const dif__models *m, const char *text, int32_t **ids, size_t *n) {
  dif__error err = {0};
  CHECK_STATUS(dif__clip_encode(m->tokenizer, text, strlen(text), ids, n, &err), DIF_OK, err.msg,
               "");
}

static void converts(const dif__models *m, const char *in, const char *want) {
  char *out = NULL;
  dif__error err = {0};
  CHECK_STATUS(dif__clip_convert_prompt(m->tokenizer, in, strlen(in), &out, &err), DIF_OK, err.msg,
               "");
  CHECK_MSG(!strcmp(out ? out : in, want), "\"%s\" -> \"%s\", want \"%s\"", in, out ? out : in,
            want);
  free(out);
}

/* transformers' rules: the raw text is split on added tokens, case and all,
 * anywhere; maybe_convert_prompt is str.replace of the token's text. */
TEST(tokens) {
  dif__models m;
  dif__error err = {0};
  CHECK_STATUS(dif__models_load(&m, dif__test_path(SD_DIR), NULL, NULL, NULL, &err), DIF_OK,
               err.msg, "");
  dif__embedding e[2];
  CHECK(dif__embedding_read(dif__test_path(SHAPE3), NULL, &e[0], &err) == DIF_OK);
  CHECK(dif__embedding_read(dif__test_path(TINYSTYLE), NULL, &e[1], &err) == DIF_OK);
  CHECK_STATUS(dif__models_add_embeddings(&m, e, 2, &err), DIF_OK, err.msg, "");
  CHECK(dif__clip_tokenizer_size(m.tokenizer) == 1514 + 5);
  CHECK(dif__clip_tokenizer_added_id(m.tokenizer, "<shape3>_2", 10) == 1516);
  CHECK(dif__clip_tokenizer_added_id(m.tokenizer, "tinystyle_1", 11) == 1518);
  int32_t *ids = NULL;
  size_t n = 0;
  ids_of(&m, "x<shape3>y", &ids, &n); /* inside a word */
  CHECK(n >= 3 && ids[1] == 1514);
  free(ids);
  ids_of(&m, "TinyStyle", &ids, &n); /* another case: BPE text */
  for (size_t i = 0; i < n; i++) CHECK(ids[i] < 1514);
  free(ids);
  converts(&m, "a<shape3>b", "a<shape3> <shape3>_1 <shape3>_2b");
  converts(&m, "<shape3>_1 alone", "<shape3>_1 alone");
  converts(&m, "tinystyle, tinystyle", "tinystyle tinystyle_1, tinystyle tinystyle_1");
  converts(&m, "TinyStyle", "TinyStyle");
  converts(&m, "no tokens", "no tokens");
  dif__embedding_free(&e[0]);
  dif__embedding_free(&e[1]);
  dif__models_free(&m);
}

TEST(api) {
  dif_context *ctx = NULL;
  CHECK(dif_context_add_embedding(NULL, "x", NULL) == DIF_ERR_INVALID_ARGUMENT);
  CHECK(dif_context_clear_embeddings(NULL) == DIF_ERR_INVALID_ARGUMENT);
  CHECK(dif_context_embedding_count(NULL) == 0);
  CHECK(dif_context_embedding(NULL, 0, NULL, NULL, NULL, NULL) == DIF_ERR_INVALID_ARGUMENT);
  CHECK(dif_context_new(&ctx) == DIF_OK);
  CHECK_STATUS(dif_context_add_embedding(ctx, NULL, NULL), DIF_ERR_INVALID_ARGUMENT,
               dif_context_last_error(ctx), "path is NULL");
  CHECK_STATUS(dif_context_add_embedding(ctx, "/no/such.safetensors", NULL), DIF_ERR_IO,
               dif_context_last_error(ctx), "/no/such.safetensors");
  CHECK(dif_context_embedding(ctx, 0, NULL, NULL, NULL, NULL) == DIF_ERR_INVALID_ARGUMENT);
  CHECK(dif_context_add_embedding(ctx, dif__test_path(SHAPE3), NULL) == DIF_OK);
  const char *path = NULL, *token = NULL;
  int vectors = 0;
  uint64_t h = 0;
  CHECK(dif_context_embedding(ctx, 0, &path, &token, &vectors, &h) == DIF_OK);
  CHECK(!strcmp(token, "<shape3>") && vectors == 3 && h != 0 && strstr(path, "tiny-shape3"));
  CHECK_STATUS(dif_context_load(ctx, dif__test_path(SD_DIR)), DIF_OK, dif_context_last_error(ctx),
               "");
  CHECK_STATUS(dif_context_add_embedding(ctx, dif__test_path(CAT_TOY), NULL), DIF_ERR_BUSY,
               dif_context_last_error(ctx), "already loaded");
  CHECK(dif_context_clear_embeddings(ctx) == DIF_ERR_BUSY);
  CHECK(dif_context_embedding_count(ctx) == 1);
  CHECK_MSG(strstr(dif_context_info(ctx), "\"token\": \"<shape3>\",\n      \"vectors\": 3"), "%s",
            dif_context_info(ctx));
  dif_context_free(ctx);
}

/* Records: a saved picture's embeddings come back; hostile ones refused. */
TEST(records) {
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  CHECK(dif_context_add_embedding(ctx, dif__test_path(SHAPE3), NULL) == DIF_OK);
  CHECK(dif_context_load(ctx, dif__test_path(SD_DIR)) == DIF_OK);
  dif_prompt *p = NULL;
  dif_sample *s = NULL;
  CHECK(dif_prompt_new(&p) == DIF_OK && dif_prompt_add_text(p, "a <shape3>", 1.0f) == DIF_OK);
  CHECK(dif_sample_new(ctx, p, &s) == DIF_OK);
  dif_sample_set_size(s, 32, 32);
  dif_sample_set_steps(s, 1);
  dif_sample_set_seed(s, 3);
  CHECK_STATUS(dif_sample_run(s), DIF_OK, dif_sample_last_error(s), "");
  char png[128];
  snprintf(png, sizeof png, "%.100s/shape3.png", tmp);
  CHECK_STATUS(dif_sample_save_png(s, 0, png), DIF_OK, dif_sample_last_error(s), "");
  memcpy(paths[n_paths++], png, sizeof png);
  size_t size = 0;
  CHECK(dif_read_parameters(png, NULL, &size) == DIF_OK);
  char *rec = malloc(size);
  CHECK(rec && dif_read_parameters(png, rec, &size) == DIF_OK);
  CHECK(rec && strstr(rec, "\"embeddings\":[{\"file\":\"tiny-shape3.safetensors\",\"xxh3\":"));
  CHECK(rec && strstr(rec, "\"token\":\"<shape3>\""));
  dif_sample_free(s);
  dif_prompt_free(p);
  dif_context_free(ctx);
  char dir[512];
  snprintf(dir, sizeof dir, "%s", dif__test_path("fixtures/models/textual_inversion"));
  CHECK(dif_context_new(&ctx) == DIF_OK);
  CHECK_STATUS(dif_context_apply_record_in(ctx, rec ? rec : "{}", dir), DIF_OK,
               dif_context_last_error(ctx), "");
  CHECK(dif_context_embedding_count(ctx) == 1);
  dif_context_free(ctx);
  free(rec);
  static const char *const bad[][2] = {
      {"{\"prompt\":[{\"text\":\"a\",\"weight\":1}],\"embeddings\":[{\"file\":\"a\",\"xxh3\":"
       "\"0123456789abcdef\"}]}",
       "\"token\": a token"},
      {"{\"prompt\":[{\"text\":\"a\",\"weight\":1}],\"embeddings\":[{\"file\":\"../x\",\"xxh3\":"
       "\"0123456789abcdef\",\"token\":\"t\"}]}",
       "leaves the record's folder"},
      {"{\"prompt\":[{\"text\":\"a\",\"weight\":1}],\"embeddings\":[{\"file\":\"tiny-shape3."
       "safetensors\",\"xxh3\":\"0123456789abcdef\",\"token\":\"t\"}]}",
       "the record's is 0123456789abcdef"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    CHECK(dif_context_new(&ctx) == DIF_OK);
    CHECK_STATUS(dif_context_apply_record_in(ctx, bad[i][0], dir), DIF_ERR_INVALID_ARGUMENT,
                 dif_context_last_error(ctx), bad[i][1]);
    CHECK(dif_context_embedding_count(ctx) == 0);
    dif_context_free(ctx);
  }
}

/* A refused embedding leaves the context's LoRAs as they were: the next
 * load merges them. */
TEST(with_lora) {
  dif_context *ctx = NULL;
  CHECK(dif_context_new(&ctx) == DIF_OK);
  CHECK(dif_context_add_lora(ctx, dif__test_path("fixtures/models/lora/tiny-sd.kohya.safetensors"),
                             0.8f) == DIF_OK);
  CHECK(dif_context_add_embedding(ctx, dif__test_path(CAT_TOY), "a") == DIF_OK);
  CHECK_STATUS(dif_context_load(ctx, dif__test_path(SD_DIR)), DIF_ERR_INVALID_ARGUMENT,
               dif_context_last_error(ctx), "already in the tokenizer's vocabulary");
  CHECK(dif_context_clear_embeddings(ctx) == DIF_OK);
  CHECK(dif_context_add_embedding(ctx, dif__test_path(CAT_TOY), NULL) == DIF_OK);
  CHECK_STATUS(dif_context_load(ctx, dif__test_path(SD_DIR)), DIF_OK, dif_context_last_error(ctx),
               "");
  CHECK(strstr(dif_context_info(ctx), "tiny-sd.kohya.safetensors") != NULL);
  dif_context_free(ctx);
}

int main(void) {
  snprintf(tmp, sizeof tmp, "/tmp/dif-test-embedding-XXXXXX");
  if (!mkdtemp(tmp)) return 1;
  RUN(layouts);
  RUN(half_dtypes);
  RUN(bad_files);
  RUN(other_model);
  RUN(tokens);
  RUN(api);
  RUN(records);
  RUN(with_lora);
  for (int i = 0; i < n_paths; i++) unlink(paths[i]);
  rmdir(tmp);
  return dif__test_finish();
}

/* text/clip_tokenizer, ftfy and text_clean against the transformers
 * reference: every case of tests/golden/cases/tokenizer/{clip-bpe,clip-tiny}.json
 * (fixed, normalized, tokens, ids with <|endoftext|> and with "!" padding),
 * plus invalid UTF-8, huge prompts, malformed tokenizer folders and threads. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */

#include <jansson.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "test.h"
#include "text/clip_tokenizer.h"
#include "text/ftfy.h"

static dif__clip_tokenizer *load_tok(const char *rel) {
  dif__clip_tokenizer *tok = NULL;
  dif__error err = {0};
  dif_status st = dif__clip_tokenizer_load(dif__test_path(rel), &tok, &err);
  CHECK_MSG(st == DIF_OK, "loading %s: %s", rel, err.msg);
  return tok;
}

/* ---------------------------------------------------------------------------
 * Golden cases
 */
typedef struct tokens_cmp {
  json_t *want;
  size_t i;
  int ok;
} tokens_cmp;

static int cmp_token(const char *s, size_t len, int32_t id, void *user) {
  (void)id;
  tokens_cmp *c = user;
  json_t *w = json_array_get(c->want, c->i++);
  if (!w || json_string_length(w) != len || memcmp(json_string_value(w), s, len) != 0) c->ok = 0;
  return 0;
}

static int ids_equal(const int32_t *got, size_t n, json_t *want) {
  if (!json_is_array(want) || json_array_size(want) != n) return 0;
  for (size_t i = 0; i < n; i++)
    if (json_integer_value(json_array_get(want, i)) != got[i]) return 0;
  return 1;
}

static int string_equal(const char *got, size_t len, json_t *want) {
  return json_is_string(want) && json_string_length(want) == len &&
         memcmp(json_string_value(want), got, len) == 0;
}

typedef struct counts {
  int cases, fixed, normalized, tokens, unpadded, padded, unpadded_bang, padded_bang;
} counts;

/* Checks one case; every mismatch is reported with the case number. */
static void run_case(const char *file, size_t k, json_t *c, dif__clip_tokenizer *tok,
                     dif__clip_tokenizer *bang, counts *n) {
  json_t *jt = json_object_get(c, "text");
  const char *text = json_string_value(jt);
  size_t len = json_string_length(jt);
  dif__error err = {0};
  char *out = NULL;
  size_t out_len = 0;
  n->cases++;

  CHECK_MSG(dif__ftfy_fix_text_utf8(text, len, &out, &out_len, &err) == DIF_OK, "%s", err.msg);
  if (out && string_equal(out, out_len, json_object_get(c, "fixed")))
    n->fixed++;
  else
    CHECK_MSG(0, "%s case %zu: fixed = \"%s\"", file, k, out ? out : "(error)");
  free(out);
  out = NULL;

  CHECK_MSG(dif__text_normalize(text, len, &out, &out_len, &err) == DIF_OK, "%s", err.msg);
  if (out && string_equal(out, out_len, json_object_get(c, "normalized")))
    n->normalized++;
  else
    CHECK_MSG(0, "%s case %zu: normalized = \"%s\"", file, k, out ? out : "(error)");
  free(out);

  tokens_cmp tc = {json_object_get(c, "tokens"), 0, 1};
  CHECK(dif__clip_tokenize_each(tok, text, len, cmp_token, &tc, &err) == DIF_OK);
  if (tc.ok && tc.i == json_array_size(tc.want))
    n->tokens++;
  else
    CHECK_MSG(0, "%s case %zu: tokens differ (at %zu)", file, k, tc.i);

  int32_t ids[DIF__CLIP_MAX_LENGTH], mask[DIF__CLIP_MAX_LENGTH];
  int m = 0, real = 0, L = dif__clip_tokenizer_max_length(tok);
  CHECK(dif__clip_tokenize_unpadded(tok, text, len, ids, &m, &err) == DIF_OK);
  if (ids_equal(ids, (size_t)m, json_object_get(c, "ids_unpadded")))
    n->unpadded++;
  else
    CHECK_MSG(0, "%s case %zu: ids_unpadded differ", file, k);

  CHECK(dif__clip_tokenize(tok, text, len, ids, mask, &real, &err) == DIF_OK);
  if (ids_equal(ids, (size_t)L, json_object_get(c, "ids_padded_eos")) &&
      ids_equal(mask, (size_t)L, json_object_get(c, "attention_mask")) && real == m)
    n->padded++;
  else
    CHECK_MSG(0, "%s case %zu: ids_padded_eos / attention_mask differ", file, k);

  CHECK(dif__clip_tokenize_unpadded(bang, text, len, ids, &m, &err) == DIF_OK);
  if (ids_equal(ids, (size_t)m, json_object_get(c, "ids_unpadded_bang")))
    n->unpadded_bang++;
  else
    CHECK_MSG(0, "%s case %zu: ids_unpadded_bang differ", file, k);

  CHECK(dif__clip_tokenize(bang, text, len, ids, mask, &real, &err) == DIF_OK);
  if (ids_equal(ids, (size_t)L, json_object_get(c, "ids_padded_bang")) &&
      ids_equal(mask, (size_t)L, json_object_get(c, "attention_mask_bang")) && real == m)
    n->padded_bang++;
  else
    CHECK_MSG(0, "%s case %zu: ids_padded_bang / attention_mask_bang differ", file, k);
}

static void run_golden(const char *name) {
  char rel[256];
  snprintf(rel, sizeof rel, "golden/cases/tokenizer/%s.json", name);
  json_error_t jerr;
  json_t *doc = json_load_file(dif__test_path(rel), JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
  CHECK_MSG(doc != NULL, "%s: %s", rel, jerr.text);
  if (!doc) return;
  json_t *meta = json_object_get(doc, "meta"), *cases = json_object_get(doc, "cases");
  char tok_rel[256], bang_rel[256];
  snprintf(tok_rel, sizeof tok_rel, "golden/%s",
           json_string_value(json_object_get(meta, "tokenizer")));
  snprintf(bang_rel, sizeof bang_rel, "golden/%s",
           json_string_value(json_object_get(meta, "tokenizer_bang")));
  dif__clip_tokenizer *tok = load_tok(tok_rel), *bang = load_tok(bang_rel);
  if (tok && bang) {
    CHECK(dif__clip_tokenizer_max_length(tok) ==
          json_integer_value(json_object_get(meta, "max_length")));
    CHECK(dif__clip_tokenizer_bos_id(tok) ==
          json_integer_value(json_object_get(meta, "bos_token_id")));
    CHECK(dif__clip_tokenizer_eos_id(tok) ==
          json_integer_value(json_object_get(meta, "eos_token_id")));
    CHECK(dif__clip_tokenizer_pad_id(tok) ==
          json_integer_value(json_object_get(meta, "pad_token_id_eos_convention")));
    CHECK(dif__clip_tokenizer_pad_id(bang) ==
          json_integer_value(json_object_get(meta, "pad_token_id_bang_convention")));
    counts n = {0};
    size_t k;
    json_t *c;
    json_array_foreach(cases, k, c) run_case(name, k, c, tok, bang, &n);
    CHECK(n.cases == (int)json_array_size(cases) && n.cases > 0);
    printf("  %s: %d cases; passed: fixed %d, normalized %d, tokens %d, ids_unpadded %d, "
           "ids_padded_eos+mask %d, ids_unpadded_bang %d, ids_padded_bang+mask %d\n",
           name, n.cases, n.fixed, n.normalized, n.tokens, n.unpadded, n.padded, n.unpadded_bang,
           n.padded_bang);
  }
  dif__clip_tokenizer_free(tok);
  dif__clip_tokenizer_free(bang);
  json_decref(doc);
}

TEST(golden_clip_bpe) { run_golden("clip-bpe"); }
TEST(golden_clip_tiny) { run_golden("clip-tiny"); }

/* ---------------------------------------------------------------------------
 * Behaviour beyond the golden cases
 */
static int ids_of(dif__clip_tokenizer *tok, const char *text, int32_t *ids) {
  int n = 0;
  dif__error err = {0};
  CHECK_MSG(dif__clip_tokenize_unpadded(tok, text, strlen(text), ids, &n, &err) == DIF_OK, "%s",
            err.msg);
  return n;
}

TEST(known_ids) {
  dif__clip_tokenizer *tok = load_tok("golden/tokenizers/clip-bpe");
  if (!tok) return;
  int32_t ids[77];
  /* README-clip.md section 1 and 2 */
  CHECK(ids_of(tok, "a photo of a cat", ids) == 7);
  CHECK(ids[0] == 49406 && ids[1] == 320 && ids[2] == 1125 && ids[4] == 320 && ids[5] == 2368 &&
        ids[6] == 49407);
  CHECK(ids_of(tok, "", ids) == 2 && ids[0] == 49406 && ids[1] == 49407);
  CHECK(ids_of(tok, " \t\r\n ", ids) == 2);
  /* an entity that becomes the end token after ftfy goes through the regex */
  int n = ids_of(tok, "a &lt;|endoftext|&gt; b", ids);
  CHECK(n == 5 && ids[2] == 49407);
  CHECK(dif__clip_tokenizer_vocab_size(tok) == 49408 && dif__clip_tokenizer_max_id(tok) == 49407);
  dif__clip_tokenizer_free(tok);
}

/* Corners of the pre-tokenisation regex and of the added-token split. The
 * expected ids come from a line-by-line Python transcription of
 * CLIPTokenizer (tokenize, bpe, convert) run with ftfy 6.3.1 and the `regex`
 * module, not from transformers itself. */
TEST(pattern_edge_cases) {
  dif__clip_tokenizer *tok = load_tok("golden/tokenizers/clip-bpe");
  dif__clip_tokenizer *bang = load_tok("golden/tokenizers/clip-bpe-sd2");
  if (!tok || !bang) goto done;
  int32_t ids[77];
  /* 's matches "'\u017f" under IGNORECASE (long s folds to s) */
  CHECK(ids_of(tok, "it'\xc5\xbf", ids) == 6 && ids[1] == 585 && ids[2] == 6 && ids[3] == 129 &&
        ids[4] == 379);
  /* U+0345 folds to a letter, so [^\s\p{L}\p{N}] refuses it: it is dropped */
  CHECK(ids_of(tok,
               "a\xcd\x85"
               "b",
               ids) == 4 &&
        ids[1] == 320 && ids[2] == 321);
  /* only a raw '!' is split off by the "!" pad token; U+FF01 becomes '!' later */
  CHECK(ids_of(bang, "wow\xef\xbc\x81 wow!", ids) == 6 && ids[1] == 2781 && ids[2] == 256 &&
        ids[3] == 2781 && ids[4] == 0);
  CHECK(ids_of(tok, "wow\xef\xbc\x81 wow!", ids) == 6 && ids[4] == 256);
  /* final sigma, then byte-level BPE of Greek */
  static const int32_t greek[] = {49406, 138, 123, 138, 112, 138, 123, 139, 480, 49407};
  CHECK(ids_of(tok, "\xce\x9f\xce\x94\xce\x9f\xce\xa3", ids) == 10 &&
        memcmp(ids, greek, sizeof greek) == 0);
done:
  dif__clip_tokenizer_free(tok);
  dif__clip_tokenizer_free(bang);
}

TEST(invalid_utf8) {
  dif__clip_tokenizer *tok = load_tok("golden/tokenizers/clip-tiny");
  if (!tok) return;
  static const struct {
    const char *s;
    size_t len;
    const char *where;
  } bad[] = {
      {"\xff", 1, "byte offset 0"},
      {"ab\x80", 3, "byte offset 2"},
      {"abc\xe2\x82", 5, "byte offset 3"},      /* truncated */
      {"x\xc0\xaf", 3, "byte offset 1"},        /* overlong '/' */
      {"xy\xed\xa0\x80", 5, "byte offset 2"},   /* surrogate */
      {"\xf4\x90\x80\x80", 4, "byte offset 0"}, /* above U+10FFFF */
      {"caf\xc3\xa9 \xc3(", 8, "byte offset 6"},
      {"a\0b\xfe", 4, "byte offset 3"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    dif__error err = {0};
    int32_t ids[77], mask[77];
    int n = -1;
    CHECK_STATUS(dif__clip_tokenize(tok, bad[i].s, bad[i].len, ids, mask, &n, &err),
                 DIF_ERR_INVALID_ARGUMENT, err.msg, bad[i].where);
    CHECK_STATUS(dif__clip_tokenize_unpadded(tok, bad[i].s, bad[i].len, ids, &n, &err),
                 DIF_ERR_INVALID_ARGUMENT, err.msg, bad[i].where);
    int32_t *all = NULL;
    size_t na = 0;
    CHECK_STATUS(dif__clip_encode(tok, bad[i].s, bad[i].len, &all, &na, &err),
                 DIF_ERR_INVALID_ARGUMENT, err.msg, bad[i].where);
    CHECK(all == NULL && na == 0);
    char *out = NULL;
    size_t out_len;
    CHECK_STATUS(dif__text_normalize(bad[i].s, bad[i].len, &out, &out_len, &err),
                 DIF_ERR_INVALID_ARGUMENT, err.msg, bad[i].where);
    CHECK(out == NULL);
  }
  /* An invalid byte far beyond the truncation point is still reported. */
  size_t big = 100000;
  char *s = malloc(big);
  for (size_t i = 0; i < big; i++) s[i] = i % 5 == 4 ? ' ' : 'x';
  s[big - 1] = (char)0x80;
  dif__error err = {0};
  int32_t ids[77];
  int n;
  CHECK_STATUS(dif__clip_tokenize_unpadded(tok, s, big, ids, &n, &err), DIF_ERR_INVALID_ARGUMENT,
               err.msg, "byte offset 99999");
  free(s);
  dif__clip_tokenizer_free(tok);
}

/* Builds a prompt of about `size` bytes by repeating `unit`. */
static char *repeat(const char *unit, size_t size, size_t *len) {
  size_t u = strlen(unit), n = size / u;
  char *s = malloc(n * u + 1);
  for (size_t i = 0; i < n; i++) memcpy(s + i * u, unit, u);
  s[n * u] = '\0';
  *len = n * u;
  return s;
}

TEST(huge_prompts_are_truncated) {
  dif__clip_tokenizer *tok = load_tok("golden/tokenizers/clip-bpe");
  if (!tok) return;
  static const char *const units[] = {
      "a photo of a cat, ", "a",  "caf\xc3\x83\xc2\xa9 ",       "\xe7\x8c\xab", "&amp;amp;\n",
      "line\r\n",           "!?", "\xc3\x83\xc2\xa9\xc3\x80\n", /* mojibake whose '\n' ftfy swallows
                                                                 */
  };
  for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
    size_t len;
    char *s = repeat(units[u], (size_t)1 << 20, &len);
    int32_t ids[77], mask[77], ref[77];
    int n = 0;
    dif__error err = {0};
    CHECK_MSG(dif__clip_tokenize(tok, s, len, ids, mask, &n, &err) == DIF_OK, "unit %zu: %s", u,
              err.msg);
    CHECK_MSG(n == 77 && ids[0] == 49406 && ids[76] == 49407 && mask[76] == 1, "unit %zu: n=%d", u,
              n);
    /* The truncated result is the prefix of the full tokenization. */
    int32_t *all = NULL;
    size_t na = 0;
    size_t cut = len < 4096 ? len : 4096;
    while (cut < len && (s[cut] & 0xC0) == 0x80) cut++;
    if (units[u][0] != 'a' || units[u][1] != '\0') { /* a 1 MB single word: skip the prefix */
      CHECK(dif__clip_encode(tok, s, cut, &all, &na, &err) == DIF_OK);
      CHECK_MSG(na >= 75, "unit %zu: %zu ids in the prefix", u, na);
      int m = 0;
      CHECK(dif__clip_tokenize_unpadded(tok, s, cut, ref, &m, &err) == DIF_OK);
      CHECK_MSG(m == 77 && memcmp(ref, ids, sizeof ref) == 0, "unit %zu", u);
      free(all);
    }
    free(s);
  }
  dif__clip_tokenizer_free(tok);
}

TEST(encode_and_each) {
  dif__clip_tokenizer *tok = load_tok("golden/tokenizers/clip-bpe");
  if (!tok) return;
  dif__error err = {0};
  const char *text = "a photo of a cat";
  int32_t *ids = NULL;
  size_t n = 0;
  CHECK(dif__clip_encode(tok, text, strlen(text), &ids, &n, &err) == DIF_OK);
  CHECK(n == 5 && ids && ids[0] == 320 && ids[1] == 1125 && ids[4] == 2368);
  free(ids);
  CHECK(dif__clip_encode(tok, NULL, 0, &ids, &n, &err) == DIF_OK && n == 0 && ids == NULL);
  CHECK_STATUS(dif__clip_encode(tok, NULL, 3, &ids, &n, &err), DIF_ERR_INVALID_ARGUMENT, err.msg,
               "NULL");
  CHECK_STATUS(dif__clip_encode(NULL, "a", 1, &ids, &n, &err), DIF_ERR_INVALID_ARGUMENT, err.msg,
               "NULL");
  CHECK_STATUS(dif__clip_tokenize_each(tok, "a", 1, NULL, NULL, &err), DIF_ERR_INVALID_ARGUMENT,
               err.msg, "NULL");
  dif__clip_tokenizer_free(tok);
  dif__clip_tokenizer_free(NULL);
}

/* ---------------------------------------------------------------------------
 * Malformed tokenizer folders
 */
static void write_file(const char *dir, const char *name, const char *content) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  if (!f) return;
  fputs(content, f);
  fclose(f);
}

static void remove_dir(const char *dir) {
  static const char *const names[] = {"vocab.json", "merges.txt", "tokenizer_config.json",
                                      "special_tokens_map.json"};
  char path[1024];
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    unlink(path);
  }
  rmdir(dir);
}

static const char *const good_vocab =
    "{\"a\": 0, \"b\": 1, \"a</w>\": 2, \"b</w>\": 3, \"ab</w>\": 4, \"<|startoftext|>\": 5, "
    "\"<|endoftext|>\": 6}";
static const char *const good_config = "{\"model_max_length\": 8}";

static dif_status try_load(const char *vocab, const char *merges, const char *config,
                           const char *map, dif__error *err) {
  char dir[] = "tokenizer-test-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  if (vocab) write_file(dir, "vocab.json", vocab);
  if (merges) write_file(dir, "merges.txt", merges);
  if (config) write_file(dir, "tokenizer_config.json", config);
  if (map) write_file(dir, "special_tokens_map.json", map);
  dif__clip_tokenizer *tok = NULL;
  dif_status st = dif__clip_tokenizer_load(dir, &tok, err);
  if (st == DIF_OK) {
    int32_t ids[8];
    int n = 0;
    CHECK(dif__clip_tokenize_unpadded(tok, "ab ab", 5, ids, &n, err) == DIF_OK);
    CHECK(n == 4 && ids[0] == 5 && ids[1] == 4 && ids[2] == 4 && ids[3] == 6);
    CHECK(dif__clip_tokenizer_max_length(tok) == 8);
  } else {
    CHECK(tok == NULL);
  }
  dif__clip_tokenizer_free(tok);
  remove_dir(dir);
  return st;
}

TEST(bad_folders) {
  dif__error err = {0};
  const char *merges = "#version: 0.2\na b</w>\n";
  CHECK_STATUS(try_load(good_vocab, merges, good_config, NULL, &err), DIF_OK, err.msg, "");
  CHECK_STATUS(try_load(NULL, merges, good_config, NULL, &err), DIF_ERR_BAD_MODEL, err.msg,
               "vocab.json");
  CHECK_STATUS(try_load("{\"a\": 0,", merges, good_config, NULL, &err), DIF_ERR_BAD_MODEL, err.msg,
               "vocab.json");
  CHECK_STATUS(try_load("{\"a\": 0, \"a\": 1}", merges, good_config, NULL, &err), DIF_ERR_BAD_MODEL,
               err.msg, "vocab.json");
  CHECK_STATUS(try_load("{\"a\": \"x\"}", merges, good_config, NULL, &err), DIF_ERR_BAD_MODEL,
               err.msg, "key \"a\"");
  CHECK_STATUS(try_load("[1]", merges, good_config, NULL, &err), DIF_ERR_BAD_MODEL, err.msg,
               "vocab.json");
  CHECK_STATUS(try_load(good_vocab, NULL, good_config, NULL, &err), DIF_ERR_BAD_MODEL, err.msg,
               "merges.txt");
  CHECK_STATUS(try_load(good_vocab, "#version: 0.2\na b c\n", good_config, NULL, &err),
               DIF_ERR_BAD_MODEL, err.msg, "merges.txt: line 2");
  CHECK_STATUS(try_load(good_vocab, "#version: 0.2\na \xff\n", good_config, NULL, &err),
               DIF_ERR_BAD_MODEL, err.msg, "merges.txt");
  CHECK_STATUS(try_load(good_vocab, merges, NULL, NULL, &err), DIF_ERR_BAD_MODEL, err.msg,
               "tokenizer_config.json");
  CHECK_STATUS(try_load(good_vocab, merges, "{}", NULL, &err), DIF_ERR_BAD_MODEL, err.msg,
               "model_max_length");
  CHECK_STATUS(try_load(good_vocab, merges, "{\"model_max_length\": 1e30}", NULL, &err),
               DIF_ERR_BAD_MODEL, err.msg, "model_max_length");
  CHECK_STATUS(
      try_load(good_vocab, merges, "{\"model_max_length\": 8, \"pad_token\": \"zz\"}", NULL, &err),
      DIF_ERR_BAD_MODEL, err.msg, "pad_token");
  CHECK_STATUS(try_load(good_vocab, merges, good_config, "{\"eos_token\": {\"x\": 1}}", &err),
               DIF_ERR_BAD_MODEL, err.msg, "special_tokens_map.json: key \"eos_token\"");
  CHECK_STATUS(try_load(good_vocab, merges, good_config, "{\"bos_token\": ", &err),
               DIF_ERR_BAD_MODEL, err.msg, "special_tokens_map.json");
  CHECK_STATUS(try_load(good_vocab, merges,
                        "{\"model_max_length\": 8, \"added_tokens_decoder\": {\"x\": {}}}", NULL,
                        &err),
               DIF_ERR_BAD_MODEL, err.msg, "added_tokens_decoder");
  CHECK_STATUS(dif__clip_tokenizer_load("/nonexistent/tokenizer", NULL, &err),
               DIF_ERR_INVALID_ARGUMENT, err.msg, "NULL");
  dif__clip_tokenizer *tok = (dif__clip_tokenizer *)1;
  CHECK_STATUS(dif__clip_tokenizer_load("/nonexistent/tokenizer", &tok, &err), DIF_ERR_BAD_MODEL,
               err.msg, "/nonexistent/tokenizer/vocab.json");
  CHECK(tok == NULL);
}

/* The layout of older diffusers tokenizer folders (stable-diffusion-2-1):
 * AddedToken objects with "__type", no added_tokens_decoder, and the pad token
 * "!" only in special_tokens_map.json. transformers still registers "!" as
 * an added token, so it is split off the text. */
TEST(old_style_folder) {
  const char *vocab = "{\"!\": 0, \"a\": 1, \"a</w>\": 2, \"!</w>\": 3, \"<|startoftext|>\": 4, "
                      "\"<|endoftext|>\": 5}";
  const char *config =
      "{\"bos_token\": {\"__type\": \"AddedToken\", \"content\": \"<|startoftext|>\", "
      "\"lstrip\": false, \"normalized\": true, \"rstrip\": false, \"single_word\": false}, "
      "\"do_lower_case\": true, \"model_max_length\": 8, \"pad_token\": \"<|endoftext|>\"}";
  const char *map = "{\"pad_token\": \"!\", \"eos_token\": {\"__type\": \"AddedToken\", "
                    "\"content\": \"<|endoftext|>\"}}";
  for (int with_map = 0; with_map < 2; with_map++) {
    char dir[] = "tokenizer-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    write_file(dir, "vocab.json", vocab);
    write_file(dir, "merges.txt", "#version: 0.2\n");
    write_file(dir, "tokenizer_config.json", config);
    if (with_map) write_file(dir, "special_tokens_map.json", map);
    dif__clip_tokenizer *tok = NULL;
    dif__error err = {0};
    CHECK_MSG(dif__clip_tokenizer_load(dir, &tok, &err) == DIF_OK, "%s", err.msg);
    if (tok) {
      int32_t ids[8], mask[8];
      int n = 0;
      CHECK(dif__clip_tokenize(tok, "a!a", 3, ids, mask, &n, &err) == DIF_OK && n == 5);
      CHECK(ids[0] == 4 && ids[1] == 2 && ids[2] == (with_map ? 0 : 3) && ids[3] == 2 &&
            ids[4] == 5 && ids[7] == (with_map ? 0 : 5) && mask[4] == 1 && mask[5] == 0);
    }
    dif__clip_tokenizer_free(tok);
    remove_dir(dir);
  }
}

/* ---------------------------------------------------------------------------
 * Threads share one tokenizer (and its BPE cache)
 */
typedef struct thread_arg {
  dif__clip_tokenizer *tok;
  int seed, ok;
} thread_arg;

static void *thread_main(void *p) {
  thread_arg *a = p;
  static const char *const words[] = {"cat",          "astronaut", "horse",  "caf\xc3\xa9",
                                      "\xe7\x8c\xab", "painting",  "hello!", "mars",
                                      "Monet",        "1920x1080"};
  a->ok = 1;
  for (int i = 0; i < 300; i++) {
    char text[256] = "";
    for (int w = 0; w < 6; w++) {
      strcat(text, words[(a->seed * 7 + i * 3 + w * 5) % 10]);
      strcat(text, " ");
    }
    int32_t ids[77], again[77];
    int n = 0, m = 0;
    dif__error err = {0};
    if (dif__clip_tokenize_unpadded(a->tok, text, strlen(text), ids, &n, &err) != DIF_OK ||
        dif__clip_tokenize_unpadded(a->tok, text, strlen(text), again, &m, &err) != DIF_OK ||
        n != m || memcmp(ids, again, (size_t)n * sizeof *ids) != 0)
      a->ok = 0;
  }
  return NULL;
}

TEST(threads) {
  dif__clip_tokenizer *tok = load_tok("golden/tokenizers/clip-bpe");
  if (!tok) return;
  pthread_t th[4];
  thread_arg args[4];
  for (int i = 0; i < 4; i++) {
    args[i] = (thread_arg){tok, i, 0};
    CHECK(pthread_create(&th[i], NULL, thread_main, &args[i]) == 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    CHECK(args[i].ok);
  }
  dif__clip_tokenizer_free(tok);
}

int main(void) {
  RUN(golden_clip_bpe);
  RUN(golden_clip_tiny);
  RUN(known_ids);
  RUN(pattern_edge_cases);
  RUN(invalid_utf8);
  RUN(huge_prompts_are_truncated);
  RUN(encode_and_each);
  RUN(bad_folders);
  RUN(old_style_folder);
  RUN(threads);
  return dif__test_finish();
}

/* clip_tokenizer.c — CLIPTokenizer: loading a tokenizer folder, splitting on
 * added tokens, the ftfy / whitespace / lower-case / pre-tokenisation
 * pipeline, truncation and padding (clip_tokenizer.h). BPE is in bpe.c. */
#include "text/clip_tokenizer.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "io/fileio.h"
#include "text/bpe.h"
#include "text/ftfy.h"
#include "text/text_clean.h"
#include "text/utf8.h"

/* transformers reads merges.txt lines [1, 49152 - 256 - 2 + 1). */
#define CLIP_MAX_MERGES (49152 - 256 - 2)
/* Tokenizer files larger than this are refused as malformed. */
#define MAX_FILE_BYTES ((size_t)64 << 20)

typedef struct added_token {
  char *text; /* UTF-8, NUL-terminated */
  size_t len;
  int32_t id;
  int lstrip, rstrip;
} added_token;

struct dif__clip_tokenizer {
  dif__bpe *bpe;
  added_token *added;
  size_t n_added;
  int32_t bos_id, eos_id, pad_id, unk_id, max_id;
  int max_length;
  int32_t sot_sym, eot_sym; /* CLIPTokenizer.bpe's cache seeds */
};

/* ---------------------------------------------------------------------------
 * Files
 */
static dif_status join_path(char *buf, size_t cap, const char *dir, const char *name,
                            dif__error *err) {
  int k = snprintf(buf, cap, "%s/%s", dir, name);
  if (k < 0 || (size_t)k >= cap)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "tokenizer path too long: %s", dir);
  return DIF_OK;
}

/* A tokenizer file that cannot be read makes the model folder bad: every
 * failure is DIF_ERR_BAD_MODEL (out of memory excepted), with the reason of
 * dif__file_read_all (regular files only, never blocking). */
static dif_status read_file(const char *path, char **out, size_t *len, dif__error *err) {
  uint8_t *data = NULL;
  dif_status st = dif__file_read_all(path, MAX_FILE_BYTES, &data, len, err);
  if (st && st != DIF_ERR_OUT_OF_MEMORY) {
    st = DIF_ERR_BAD_MODEL;
    if (err) err->status = st;
  }
  *out = (char *)data;
  return st;
}

static dif_status load_json(const char *path, int optional, json_t **out, dif__error *err) {
  *out = NULL;
  if (optional && dif__file_exists(path) == 0) return DIF_OK;
  char *text = NULL;
  size_t len = 0;
  dif_status st = read_file(path, &text, &len, err);
  if (st) return st;
  json_error_t jerr;
  json_t *j = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES, &jerr);
  free(text);
  if (!j) return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: line %d: %s", path, jerr.line, jerr.text);
  if (!json_is_object(j)) {
    json_decref(j);
    return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: not a JSON object", path);
  }
  *out = j;
  return DIF_OK;
}

/* ---------------------------------------------------------------------------
 * Loading
 */
static dif_status load_vocab(dif__bpe *bpe, const char *path, dif__error *err) {
  json_t *j;
  dif_status st = load_json(path, 0, &j, err);
  if (st) return st;
  const char *key;
  json_t *value;
  json_object_foreach(j, key, value) {
    json_int_t id = json_is_integer(value) ? json_integer_value(value) : -1;
    if (id < 0 || id > INT32_MAX) {
      st = dif__fail(err, DIF_ERR_BAD_MODEL, "%s: key \"%.64s\": id is not an integer in [0, %d]",
                     path, key, INT32_MAX);
      break;
    }
    if ((st = dif__bpe_add_token(bpe, key, strlen(key), (int32_t)id, err))) break;
  }
  if (!st && dif__bpe_vocab_size(bpe) == 0)
    st = dif__fail(err, DIF_ERR_BAD_MODEL, "%s: empty vocabulary", path);
  json_decref(j);
  return st;
}

/* One merges line, text.v[pos, end): exactly two whitespace-separated
 * symbols, added as merge rank `line - 1`. */
static dif_status merge_line(dif__bpe *bpe, const dif__u32buf *text, size_t pos, size_t end,
                             size_t line, const char *path, dif__error *err) {
  size_t nf = 0, starts[3], ends[3];
  for (size_t i = pos; i < end;) {
    while (i < end && dif__text_py_isspace(text->v[i])) i++;
    if (i == end) break;
    size_t s = i;
    while (i < end && !dif__text_py_isspace(text->v[i])) i++;
    if (nf < 3) {
      starts[nf] = s;
      ends[nf] = i;
    }
    nf++;
  }
  if (nf != 2)
    return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: line %zu: expected two symbols, found %zu", path,
                     line + 1, nf);
  char *field[2] = {NULL, NULL};
  size_t field_len[2];
  dif_status st = DIF_OK;
  for (int k = 0; k < 2 && !st; k++)
    st = dif__utf8_encode(text->v + starts[k], ends[k] - starts[k], &field[k], &field_len[k], err);
  if (!st)
    st = dif__bpe_add_merge(bpe, field[0], field_len[0], field[1], field_len[1],
                            (int32_t)(line - 1), err);
  free(field[0]);
  free(field[1]);
  return st;
}

/* Python: read().strip().split("\n")[1 : 48895], each line .split(). */
static dif_status load_merges(dif__bpe *bpe, const char *path, dif__error *err) {
  char *raw = NULL;
  size_t len = 0;
  dif_status st = read_file(path, &raw, &len, err);
  if (st) return st;
  dif__u32buf text = {0};
  dif__error utf8_err = {0};
  if (dif__utf8_validate(raw, len, &utf8_err) != DIF_OK)
    st = dif__fail(err, DIF_ERR_BAD_MODEL, "%s: %s", path, utf8_err.msg);
  if (!st) st = dif__utf8_decode(raw, len, &text, err);
  size_t lo = 0, hi = st ? 0 : text.n;
  while (lo < hi && dif__text_py_isspace(text.v[lo])) lo++;
  while (hi > lo && dif__text_py_isspace(text.v[hi - 1])) hi--;
  size_t line = 0;
  for (size_t pos = lo; !st && pos < hi && line <= CLIP_MAX_MERGES; line++) {
    size_t end = pos;
    while (end < hi && text.v[end] != '\n') end++;
    if (line > 0) st = merge_line(bpe, &text, pos, end, line, path, err);
    pos = end + 1;
  }
  dif__u32buf_free(&text);
  free(raw);
  return st;
}

/* A token given as "text" or {"content": "text", "lstrip": ..., ...}. */
typedef struct token_spec {
  const char *text;
  int lstrip, rstrip, single_word;
} token_spec;

static dif_status parse_token(json_t *v, const char *file, const char *key, token_spec *out,
                              dif__error *err) {
  memset(out, 0, sizeof *out);
  if (json_is_string(v)) {
    out->text = json_string_value(v);
    return DIF_OK;
  }
  json_t *content = json_is_object(v) ? json_object_get(v, "content") : NULL;
  if (!json_is_string(content))
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: key \"%s\": expected a string or an object with \"content\"", file, key);
  out->text = json_string_value(content);
  out->lstrip = json_is_true(json_object_get(v, "lstrip"));
  out->rstrip = json_is_true(json_object_get(v, "rstrip"));
  out->single_word = json_is_true(json_object_get(v, "single_word"));
  return DIF_OK;
}

static added_token *find_added(dif__clip_tokenizer *tok, const char *text) {
  for (size_t i = 0; i < tok->n_added; i++)
    if (strcmp(tok->added[i].text, text) == 0) return &tok->added[i];
  return NULL;
}

static dif_status add_token(dif__clip_tokenizer *tok, const token_spec *spec, int32_t id,
                            const char *file, const char *key, added_token **out, dif__error *err) {
  if (spec->single_word)
    return dif__fail(err, DIF_ERR_UNSUPPORTED, "%s: key \"%s\": single_word added tokens", file,
                     key);
  size_t len = strlen(spec->text);
  if (len == 0) return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: key \"%s\": empty token", file, key);
  added_token *t = realloc(tok->added, (tok->n_added + 1) * sizeof *t);
  if (!t) return dif__fail_oom(err, "added tokens", (tok->n_added + 1) * sizeof *t);
  tok->added = t;
  t = &tok->added[tok->n_added];
  memset(t, 0, sizeof *t);
  t->text = malloc(len + 1);
  if (!t->text) return dif__fail_oom(err, "added tokens", len + 1);
  memcpy(t->text, spec->text, len + 1);
  t->len = len;
  t->id = id;
  t->lstrip = spec->lstrip;
  t->rstrip = spec->rstrip;
  tok->n_added++;
  dif_status st = dif__utf8_validate(t->text, len, err);
  if (st) return st;
  if (id > tok->max_id) tok->max_id = id;
  *out = t;
  return DIF_OK;
}

static dif_status load_added_tokens(dif__clip_tokenizer *tok, json_t *config, const char *file,
                                    dif__error *err) {
  json_t *dec = json_object_get(config, "added_tokens_decoder");
  if (!dec) return DIF_OK;
  if (!json_is_object(dec))
    return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: key \"added_tokens_decoder\": not an object",
                     file);
  const char *key;
  json_t *v;
  json_object_foreach(dec, key, v) {
    char *end;
    errno = 0;
    long id = strtol(key, &end, 10);
    if (errno || *end || end == key || id < 0 || id > INT32_MAX)
      return dif__fail(err, DIF_ERR_BAD_MODEL,
                       "%s: key \"added_tokens_decoder\": \"%.32s\" is not a token id", file, key);
    token_spec spec;
    added_token *t;
    dif_status st = parse_token(v, file, "added_tokens_decoder", &spec, err);
    if (!st) st = add_token(tok, &spec, (int32_t)id, file, "added_tokens_decoder", &t, err);
    if (st) return st;
  }
  return DIF_OK;
}

/* bos/eos/unk/pad: special_tokens_map.json, else tokenizer_config.json, else
 * CLIPTokenizer's default. Registers it as an added token (transformers adds
 * every special token) and returns its id. */
static dif_status load_special(dif__clip_tokenizer *tok, json_t *config, const char *config_file,
                               json_t *map, const char *map_file, const char *key, int32_t *id,
                               int32_t *vocab_id, dif__error *err) {
  token_spec spec = {"<|endoftext|>", 0, 0, 0};
  if (strcmp(key, "bos_token") == 0) spec.text = "<|startoftext|>";
  const char *file = config_file;
  json_t *v = map ? json_object_get(map, key) : NULL;
  if (v)
    file = map_file;
  else
    v = json_object_get(config, key);
  dif_status st;
  if (v && (st = parse_token(v, file, key, &spec, err))) return st;
  if (vocab_id) {
    if (!dif__bpe_token_id(tok->bpe, spec.text, strlen(spec.text), vocab_id))
      return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: key \"%s\": \"%.64s\" is not in vocab.json",
                       file, key, spec.text);
  }
  added_token *t = find_added(tok, spec.text);
  if (!t) {
    int32_t vid;
    if (!dif__bpe_token_id(tok->bpe, spec.text, strlen(spec.text), &vid))
      return dif__fail(err, DIF_ERR_BAD_MODEL,
                       "%s: key \"%s\": \"%.64s\" is neither in vocab.json nor an added token",
                       file, key, spec.text);
    if ((st = add_token(tok, &spec, vid, file, key, &t, err))) return st;
  }
  *id = t->id;
  return DIF_OK;
}

/* additional_special_tokens (special_tokens_map.json's, else the config's):
 * each must be in the vocabulary. */
static dif_status load_extra_special(dif__clip_tokenizer *tok, json_t *config, const char *cpath,
                                     json_t *map, const char *mpath, dif__error *err) {
  json_t *extra = map ? json_object_get(map, "additional_special_tokens") : NULL;
  const char *file = mpath;
  if (!extra) {
    extra = json_object_get(config, "additional_special_tokens");
    file = cpath;
  }
  if (!extra) return DIF_OK;
  if (!json_is_array(extra))
    return dif__fail(err, DIF_ERR_BAD_MODEL, "%s: key \"additional_special_tokens\": not an array",
                     file);
  size_t i;
  json_t *v;
  json_array_foreach(extra, i, v) {
    token_spec spec;
    dif_status st = parse_token(v, file, "additional_special_tokens", &spec, err);
    if (st) return st;
    if (find_added(tok, spec.text)) continue;
    int32_t vid;
    added_token *t;
    if (!dif__bpe_token_id(tok->bpe, spec.text, strlen(spec.text), &vid))
      return dif__fail(err, DIF_ERR_BAD_MODEL,
                       "%s: key \"additional_special_tokens\": \"%.64s\" is not in vocab.json",
                       file, spec.text);
    if ((st = add_token(tok, &spec, vid, file, "additional_special_tokens", &t, err))) return st;
  }
  return DIF_OK;
}

/* tokenizer_config.json (config, at cpath) and special_tokens_map.json (map,
 * at mpath; may be NULL) into tok. */
static dif_status apply_config(dif__clip_tokenizer *tok, json_t *config, const char *cpath,
                               json_t *map, const char *mpath, dif__error *err) {
  json_t *ml = json_object_get(config, "model_max_length");
  double mlv = json_is_number(ml) ? json_number_value(ml) : -1;
  if (!json_is_number(ml))
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: key \"model_max_length\": missing or not a number", cpath);
  if (!(mlv >= 2 && mlv <= DIF__CLIP_MAX_LENGTH) || mlv != (int)mlv)
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: key \"model_max_length\": %g is not an integer in [2, %d]", cpath, mlv,
                     DIF__CLIP_MAX_LENGTH);
  tok->max_length = (int)mlv;
  dif_status st = load_added_tokens(tok, config, cpath, err);
  if (!st) st = load_special(tok, config, cpath, map, mpath, "bos_token", &tok->bos_id, NULL, err);
  if (!st) st = load_special(tok, config, cpath, map, mpath, "eos_token", &tok->eos_id, NULL, err);
  if (!st) st = load_special(tok, config, cpath, map, mpath, "pad_token", &tok->pad_id, NULL, err);
  /* Unknown BPE tokens get vocab[unk_token] (CLIPTokenizer._convert_token_to_id). */
  int32_t unk_added;
  if (!st)
    st = load_special(tok, config, cpath, map, mpath, "unk_token", &unk_added, &tok->unk_id, err);
  if (!st) st = load_extra_special(tok, config, cpath, map, mpath, err);
  return st;
}

static dif_status load_config(dif__clip_tokenizer *tok, const char *dir, dif__error *err) {
  char cpath[4096], mpath[4096];
  dif_status st;
  if ((st = join_path(cpath, sizeof cpath, dir, "tokenizer_config.json", err)) ||
      (st = join_path(mpath, sizeof mpath, dir, "special_tokens_map.json", err)))
    return st;
  json_t *config = NULL, *map = NULL;
  st = load_json(cpath, 0, &config, err);
  if (!st) st = load_json(mpath, 1, &map, err);
  if (!st) st = apply_config(tok, config, cpath, map, mpath, err);
  json_decref(config);
  json_decref(map);
  return st;
}

dif_status dif__clip_tokenizer_load(const char *dir, dif__clip_tokenizer **out, dif__error *err) {
  if (!out) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "out is NULL");
  *out = NULL;
  if (!dir) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "tokenizer directory is NULL");
  dif__clip_tokenizer *tok = calloc(1, sizeof *tok);
  if (!tok) return dif__fail_oom(err, "tokenizer", sizeof *tok);
  char path[4096];
  dif_status st = dif__bpe_new(&tok->bpe, err);
  if (!st) st = join_path(path, sizeof path, dir, "vocab.json", err);
  if (!st) st = load_vocab(tok->bpe, path, err);
  if (!st) st = join_path(path, sizeof path, dir, "merges.txt", err);
  if (!st) st = load_merges(tok->bpe, path, err);
  if (!st) st = dif__bpe_intern(tok->bpe, "<|startoftext|>", 15, &tok->sot_sym, err);
  if (!st) st = dif__bpe_intern(tok->bpe, "<|endoftext|>", 13, &tok->eot_sym, err);
  if (!st) st = dif__bpe_finish(tok->bpe, err);
  if (!st) {
    tok->max_id = dif__bpe_max_id(tok->bpe);
    st = load_config(tok, dir, err);
  }
  /* convert_tokens_to_ids looks in the added tokens first: a BPE token whose
   * text is an added token's gets that token's id. */
  for (size_t i = 0; !st && i < tok->n_added; i++) {
    int32_t sym = dif__bpe_find_symbol(tok->bpe, tok->added[i].text, tok->added[i].len);
    if (sym >= 0) dif__bpe_set_symbol_id(tok->bpe, sym, tok->added[i].id);
  }
  if (st) {
    dif__clip_tokenizer_free(tok);
    return st;
  }
  *out = tok;
  return DIF_OK;
}

void dif__clip_tokenizer_free(dif__clip_tokenizer *tok) {
  if (!tok) return;
  for (size_t i = 0; i < tok->n_added; i++) {
    free(tok->added[i].text);
  }
  free(tok->added);
  dif__bpe_free(tok->bpe);
  free(tok);
}

int dif__clip_tokenizer_max_length(const dif__clip_tokenizer *tok) { return tok->max_length; }
int32_t dif__clip_tokenizer_bos_id(const dif__clip_tokenizer *tok) { return tok->bos_id; }
int32_t dif__clip_tokenizer_eos_id(const dif__clip_tokenizer *tok) { return tok->eos_id; }
int32_t dif__clip_tokenizer_pad_id(const dif__clip_tokenizer *tok) { return tok->pad_id; }
size_t dif__clip_tokenizer_vocab_size(const dif__clip_tokenizer *tok) {
  return dif__bpe_vocab_size(tok->bpe);
}
int32_t dif__clip_tokenizer_max_id(const dif__clip_tokenizer *tok) { return tok->max_id; }

/* ---------------------------------------------------------------------------
 * Tokens added after loading (textual inversion)
 */
int dif__clip_tokenizer_has(const dif__clip_tokenizer *tok, const char *text) {
  int32_t id;
  return dif__bpe_token_id(tok->bpe, text, strlen(text), &id) ||
         find_added((dif__clip_tokenizer *)tok, text) != NULL;
}

int32_t dif__clip_tokenizer_added_id(const dif__clip_tokenizer *tok, const char *text, size_t len) {
  for (size_t i = 0; i < tok->n_added; i++)
    if (tok->added[i].len == len && memcmp(tok->added[i].text, text, len) == 0)
      return tok->added[i].id;
  return -1;
}

int32_t dif__clip_tokenizer_size(const dif__clip_tokenizer *tok) {
  size_t n = dif__bpe_vocab_size(tok->bpe);
  for (size_t i = 0; i < tok->n_added; i++) {
    int32_t id;
    n += !dif__bpe_token_id(tok->bpe, tok->added[i].text, tok->added[i].len, &id);
  }
  return (int32_t)n;
}

dif_status dif__clip_tokenizer_add_tokens(dif__clip_tokenizer *tok, const char *const *texts,
                                          size_t n, int32_t *ids, dif__error *err) {
  int32_t next = dif__clip_tokenizer_size(tok);
  for (size_t i = 0; i < n; i++)
    if (!texts[i][0] || dif__clip_tokenizer_has(tok, texts[i]))
      return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "token \"%s\" is %s", texts[i],
                       texts[i][0] ? "already in the tokenizer's vocabulary" : "empty");
  added_token *grown = realloc(tok->added, (tok->n_added + n) * sizeof *grown);
  if (!grown) return dif__fail_oom(err, "added tokens", (tok->n_added + n) * sizeof *grown);
  tok->added = grown;
  size_t done = 0;
  dif_status st = DIF_OK;
  for (; !st && done < n; done++) {
    size_t len = strlen(texts[done]);
    added_token *t = &tok->added[tok->n_added + done];
    *t = (added_token){.text = malloc(len + 1), .len = len};
    if (!t->text) st = dif__fail_oom(err, "added tokens", len + 1);
    if (!st) memcpy(t->text, texts[done], len + 1);
    if (!st) st = dif__utf8_validate(t->text, len, err);
  }
  if (st) { /* nothing added */
    for (size_t i = 0; i < done; i++) free(tok->added[tok->n_added + i].text);
    return st;
  }
  for (size_t i = 0; i < n; i++) {
    tok->added[tok->n_added + i].id = next + (int32_t)i;
    if (ids) ids[i] = next + (int32_t)i;
    if (next + (int32_t)i > tok->max_id) tok->max_id = next + (int32_t)i;
  }
  tok->n_added += n;
  return DIF_OK;
}

/* ---------------------------------------------------------------------------
 * Tokenizing
 */
typedef struct run {
  const dif__clip_tokenizer *tok;
  dif__clip_token_fn fn;
  void *user;
  int stopped;
  dif__u32buf segment; /* the ftfy segment being fixed */
  dif__u32buf pending; /* ftfy output not yet tokenized */
  dif__u32buf lowered;
  char *word; /* UTF-8 of one pre-token */
  size_t word_cap;
  dif__bpe_scratch bpe;
} run;

static void emit(run *r, const char *s, size_t len, int32_t id) {
  if (!r->stopped && r->fn(s, len, id, r->user)) r->stopped = 1;
}

static int is_letter(uint32_t c) {
  if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
  switch (utf8proc_category((utf8proc_int32_t)c)) {
  case UTF8PROC_CATEGORY_LU:
  case UTF8PROC_CATEGORY_LL:
  case UTF8PROC_CATEGORY_LT:
  case UTF8PROC_CATEGORY_LM:
  case UTF8PROC_CATEGORY_LO: return 1;
  default: return 0;
  }
}

static int is_number(uint32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  switch (utf8proc_category((utf8proc_int32_t)c)) {
  case UTF8PROC_CATEGORY_ND:
  case UTF8PROC_CATEGORY_NL:
  case UTF8PROC_CATEGORY_NO: return 1;
  default: return 0;
  }
}

/* [^\s\p{L}\p{N}] under re.IGNORECASE. The `regex` module then also refuses
 * U+0345 (its case fold, U+03B9, is a letter), so that character matches no
 * alternative and is skipped like whitespace. */
static int is_other(uint32_t c) {
  return c != 0x345 && !dif__text_is_space(c) && !is_letter(c) && !is_number(c);
}

/* Case-insensitive match of an ASCII literal at w[i] ("regex" module case
 * folding: only 's' has a non-ASCII equivalent, U+017F). */
static size_t match_literal(const uint32_t *w, size_t n, size_t i, const char *lit) {
  size_t k = strlen(lit);
  if (n - i < k) return 0;
  for (size_t j = 0; j < k; j++) {
    uint32_t c = w[i + j], l = (unsigned char)lit[j];
    if (c >= 'A' && c <= 'Z') c += 32;
    if (c == 0x17F) c = 's';
    if (c != l) return 0;
  }
  return k;
}

/* The length of CLIP's pre-tokenisation match at w[i], 0 if none:
 * <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+ */
static size_t pretoken_at(const uint32_t *w, size_t n, size_t i) {
  static const char *const literals[] = {
      "<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
  if (w[i] == '<' || w[i] == '\'')
    for (size_t k = 0; k < sizeof literals / sizeof literals[0]; k++) {
      size_t m = match_literal(w, n, i, literals[k]);
      if (m) return m;
    }
  size_t j = i;
  if (is_letter(w[i])) {
    while (j < n && is_letter(w[j])) j++;
    return j - i;
  }
  if (is_number(w[i])) return 1;
  while (j < n && is_other(w[j])) j++;
  return j - i;
}

/* Pre-tokenizes and BPE-encodes one lower-cased word (no whitespace inside). */
static dif_status encode_word(run *r, const uint32_t *w, size_t n, dif__error *err) {
  const dif__clip_tokenizer *tok = r->tok;
  dif_status st;
  for (size_t i = 0; i < n && !r->stopped;) {
    size_t m = pretoken_at(w, n, i);
    if (!m) {
      i++;
      continue;
    }
    if (r->word_cap < m * 4) {
      size_t cap = m * 4 > 256 ? m * 4 : 256;
      char *p = realloc(r->word, cap);
      if (!p) return dif__fail_oom(err, "pre-token", cap);
      r->word = p;
      r->word_cap = cap;
    }
    size_t len = 0;
    for (size_t k = 0; k < m; k++) len += dif__utf8_encode_cp(w[i + k], r->word + len);
    i += m;
    /* CLIPTokenizer.bpe's cache starts with these two, which skip BPE. */
    int32_t special = -1;
    if (len == 15 && memcmp(r->word, "<|startoftext|>", 15) == 0) special = tok->sot_sym;
    if (len == 13 && memcmp(r->word, "<|endoftext|>", 13) == 0) special = tok->eot_sym;
    const int32_t *syms = &special;
    size_t n_syms = 1;
    if (special < 0 &&
        (st = dif__bpe_word(tok->bpe, (const uint8_t *)r->word, len, &r->bpe, &syms, &n_syms, err)))
      return st;
    for (size_t k = 0; k < n_syms && !r->stopped; k++) {
      size_t tlen;
      const char *t = dif__bpe_symbol_text(tok->bpe, syms[k], &tlen);
      int32_t id = dif__bpe_symbol_id(tok->bpe, syms[k]);
      emit(r, t, tlen, id >= 0 ? id : tok->unk_id);
    }
  }
  return DIF_OK;
}

/* Tokenizes fixed (ftfy'd) text whose end is a word boundary: whitespace_clean
 * and lower() act word by word (Final_Sigma never looks across whitespace), so
 * each whitespace-separated word is lowered and encoded on its own. */
static dif_status encode_fixed(run *r, const uint32_t *t, size_t n, dif__error *err) {
  dif_status st;
  for (size_t i = 0; i < n && !r->stopped;) {
    if (dif__text_is_space(t[i])) {
      i++;
      continue;
    }
    size_t j = i;
    while (j < n && !dif__text_is_space(t[j])) j++;
    r->lowered.n = 0;
    if ((st = dif__text_lower_into(t + i, j - i, &r->lowered, err))) return st;
    if ((st = encode_word(r, r->lowered.v, r->lowered.n, err))) return st;
    i = j;
  }
  return DIF_OK;
}

/* Length in bytes of ftfy's next segment of UTF-8 text s[0..n): through the
 * first '\n', at most DIF__FTFY_MAX_SEGMENT code points. */
static size_t segment_bytes(const char *s, size_t n) {
  size_t cps = 0;
  for (size_t i = 0; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80) {
      if (cps == DIF__FTFY_MAX_SEGMENT) return i;
      cps++;
    }
    if (s[i] == '\n') return i + 1;
  }
  return n;
}

/* CLIPTokenizer._tokenize on one piece between added tokens: ftfy segment by
 * segment, tokenizing each complete word as soon as it is known. Only one
 * segment is decoded at a time, so memory stays bounded for any input. */
static dif_status encode_piece(run *r, const char *s, size_t n, dif__error *err) {
  dif__ftfy_state fs;
  dif__ftfy_init(&fs);
  dif_status st;
  r->pending.n = 0;
  for (size_t pos = 0; pos < n && !r->stopped;) {
    size_t len = segment_bytes(s + pos, n - pos), old = r->pending.n;
    r->segment.n = 0;
    if ((st = dif__utf8_decode(s + pos, len, &r->segment, err))) return st;
    if ((st = dif__ftfy_fix_segment(&fs, r->segment.v, r->segment.n, &r->pending, err))) return st;
    pos += len;
    /* Words end at whitespace; the fixed segment normally ends with '\n'
     * but ftfy can swallow it, so look for the last whitespace. */
    size_t cut = r->pending.n;
    while (cut > old && !dif__text_is_space(r->pending.v[cut - 1])) cut--;
    if (cut > old) {
      if ((st = encode_fixed(r, r->pending.v, cut, err))) return st;
      memmove(r->pending.v, r->pending.v + cut, (r->pending.n - cut) * sizeof *r->pending.v);
      r->pending.n -= cut;
    }
  }
  if (!r->stopped) return encode_fixed(r, r->pending.v, r->pending.n, err);
  return DIF_OK;
}

/* The added token matching at s[i] (the longest), or NULL. Matching bytes is
 * matching characters: both sides are valid UTF-8. */
/* The added token matching at s[i] (the longest), or NULL. Matching bytes is
 * matching characters: both sides are valid UTF-8. */
static const added_token *added_at(const dif__clip_tokenizer *tok, const char *s, size_t n,
                                   size_t i) {
  const added_token *best = NULL;
  for (size_t k = 0; k < tok->n_added; k++) {
    const added_token *a = &tok->added[k];
    if (a->text[0] != s[i] || a->len > n - i || (best && best->len >= a->len)) continue;
    if (memcmp(a->text, s + i, a->len) == 0) best = a;
  }
  return best;
}

static dif_status tokenize_text(const dif__clip_tokenizer *tok, const char *text, size_t len,
                                dif__clip_token_fn fn, void *user, dif__error *err) {
  if (!tok) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "tokenizer is NULL");
  dif_status st = dif__utf8_validate(text, len, err);
  if (st) return st;
  run r = {.tok = tok, .fn = fn, .user = user};
  const added_token *prev = NULL;
  for (size_t pos = 0; !st && pos < len && !r.stopped;) {
    /* PreTrainedTokenizer.tokenize: split on added tokens (tokens_trie). */
    size_t m = pos;
    const added_token *a = NULL;
    while (m < len && !(a = added_at(tok, text, len, m))) m++;
    size_t lo = pos, hi = m, k;
    if (prev && prev->rstrip)
      while (lo < hi && dif__text_py_isspace(dif__utf8_decode_cp(text + lo, &k))) lo += k;
    if (a && a->lstrip)
      while (hi > lo) {
        size_t start = hi - 1;
        while (start > lo && (text[start] & 0xC0) == 0x80) start--;
        if (!dif__text_py_isspace(dif__utf8_decode_cp(text + start, &k))) break;
        hi = start;
      }
    if (hi > lo) st = encode_piece(&r, text + lo, hi - lo, err);
    if (!st && a) emit(&r, a->text, a->len, a->id);
    pos = a ? m + a->len : m;
    prev = a;
  }
  dif__u32buf_free(&r.segment);
  dif__u32buf_free(&r.pending);
  dif__u32buf_free(&r.lowered);
  free(r.word);
  dif__bpe_scratch_free(&r.bpe);
  return st;
}

dif_status dif__clip_tokenize_each(const dif__clip_tokenizer *tok, const char *text, size_t len,
                                   dif__clip_token_fn fn, void *user, dif__error *err) {
  if (!fn) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "callback is NULL");
  return tokenize_text(tok, text, len, fn, user, err);
}

typedef struct collect {
  int32_t *ids;
  size_t n, cap, limit; /* limit: stop after this many (SIZE_MAX: all) */
  int oom;
} collect;

static int collect_id(const char *s, size_t len, int32_t id, void *user) {
  (void)s;
  (void)len;
  collect *c = user;
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 256;
    int32_t *p = realloc(c->ids, cap * sizeof *p);
    if (!p) {
      c->oom = 1;
      return 1;
    }
    c->ids = p;
    c->cap = cap;
  }
  c->ids[c->n++] = id;
  return c->n >= c->limit;
}

static dif_status collect_ids(const dif__clip_tokenizer *tok, const char *text, size_t len,
                              size_t limit, collect *c, dif__error *err) {
  memset(c, 0, sizeof *c);
  c->limit = limit;
  if (limit == 0) return dif__utf8_validate(text, len, err);
  dif_status st = tokenize_text(tok, text, len, collect_id, c, err);
  if (!st && c->oom) st = dif__fail_oom(err, "token ids", c->cap * 2 * sizeof(int32_t));
  if (st) {
    free(c->ids);
    c->ids = NULL;
    c->n = 0;
  }
  return st;
}

dif_status dif__clip_encode(const dif__clip_tokenizer *tok, const char *text, size_t len,
                            int32_t **ids, size_t *n, dif__error *err) {
  if (!ids || !n) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "output pointer is NULL");
  *ids = NULL;
  *n = 0;
  collect c;
  dif_status st = collect_ids(tok, text, len, SIZE_MAX, &c, err);
  if (st) return st;
  *ids = c.ids;
  *n = c.n;
  return DIF_OK;
}

dif_status dif__clip_tokenize_unpadded(const dif__clip_tokenizer *tok, const char *text, size_t len,
                                       int32_t *ids, int *n, dif__error *err) {
  if (!ids || !n) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "output pointer is NULL");
  *n = 0;
  if (!tok) return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "tokenizer is NULL");
  /* truncation=True: the content is cut to max_length - 2 ids; eos stays last. */
  collect c;
  dif_status st = collect_ids(tok, text, len, (size_t)tok->max_length - 2, &c, err);
  if (st) return st;
  ids[0] = tok->bos_id;
  if (c.n) memcpy(ids + 1, c.ids, c.n * sizeof *ids);
  ids[c.n + 1] = tok->eos_id;
  *n = (int)c.n + 2;
  free(c.ids);
  return DIF_OK;
}

dif_status dif__clip_tokenize(const dif__clip_tokenizer *tok, const char *text, size_t len,
                              int32_t *ids, int32_t *mask, int *n_real, dif__error *err) {
  int n;
  dif_status st = dif__clip_tokenize_unpadded(tok, text, len, ids, &n, err);
  if (st) return st;
  for (int i = 0; i < tok->max_length; i++) {
    if (i >= n) ids[i] = tok->pad_id;
    if (mask) mask[i] = i < n;
  }
  if (n_real) *n_real = n;
  return DIF_OK;
}

dif_status dif__text_normalize(const char *text, size_t len, char **out, size_t *out_len,
                               dif__error *err) {
  dif__u32buf in = {0}, fixed = {0};
  *out = NULL;
  dif_status st = dif__utf8_decode(text, len, &in, err);
  if (!st) st = dif__ftfy_fix_text(in.v, in.n, &fixed, err);
  if (!st) {
    dif__text_whitespace_clean(&fixed);
    st = dif__text_lower(&fixed, err);
  }
  if (!st) st = dif__utf8_encode(fixed.v, fixed.n, out, out_len, err);
  dif__u32buf_free(&in);
  dif__u32buf_free(&fixed);
  return st;
}

/* clip_tokenizer.h — CLIP's byte-level BPE tokenizer, as transformers'
 * CLIPTokenizer (the Python one, with ftfy installed) tokenizes a prompt for
 * Stable Diffusion 1.x/2.x, Karlo and Stable unCLIP.
 *
 * Loading reads a Hugging Face tokenizer folder:
 *   vocab.json               token -> id (required)
 *   merges.txt               "#version" line, then one merge "a b" per line
 *                            (required; like transformers, only the first
 *                            48894 merges are used)
 *   tokenizer_config.json    model_max_length (required), added_tokens_decoder,
 *                            bos/eos/unk/pad tokens (required file)
 *   special_tokens_map.json  bos/eos/unk/pad tokens, additional_special_tokens
 *                            (optional; overrides tokenizer_config.json)
 * A token may be given as a string or as an object with "content". Missing or
 * malformed files give DIF_ERR_BAD_MODEL naming the file and key. Other keys
 * (do_lower_case in SD-1.x configs, clean_up_tokenization_spaces, ...) do not
 * change how CLIPTokenizer encodes and are ignored, as transformers does.
 *
 * Tokenizing a prompt follows PreTrainedTokenizer.tokenize + CLIPTokenizer:
 *   1. the raw text is split on the added tokens (every special token, and
 *      every entry of added_tokens_decoder), longest match first;
 *   2. each piece in between goes through ftfy.fix_text, whitespace_clean and
 *      str.lower() (ftfy.h, text_clean.h), CLIP's pre-tokenisation pattern
 *      <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
 *      (case-insensitive) and byte-level BPE; unknown BPE tokens become the
 *      unk token;
 *   3. the content is truncated to model_max_length - 2 ids and wrapped as
 *      bos ... eos; the padded form fills up with the pad token.
 * Because step 1 happens first, a pad token of "!" (the SD-2 / Stable unCLIP
 * configs) makes every "!" of a prompt its own id — transformers' behaviour.
 *
 * Prompts of any length are accepted; processing stops as soon as enough ids
 * exist, so the cost of a huge prompt is bounded by its first lines. Invalid
 * UTF-8 is DIF_ERR_INVALID_ARGUMENT with the byte offset named.
 *
 * Threads: a loaded tokenizer may be used from several threads at once (its
 * BPE cache is guarded by a mutex).
 */
#ifndef DIF__TEXT_CLIP_TOKENIZER_H
#define DIF__TEXT_CLIP_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* model_max_length must lie in [2, DIF__CLIP_MAX_LENGTH]. */
#define DIF__CLIP_MAX_LENGTH 4096

typedef struct dif__clip_tokenizer dif__clip_tokenizer;

/* Loads the tokenizer folder `dir` into *out (NULL on failure). */
dif_status dif__clip_tokenizer_load(const char *dir, dif__clip_tokenizer **out, dif__error *err);
/* NULL is a no-op. */
void dif__clip_tokenizer_free(dif__clip_tokenizer *tok);

/* model_max_length (77 for CLIP): the length of the padded outputs. */
int dif__clip_tokenizer_max_length(const dif__clip_tokenizer *tok);
int32_t dif__clip_tokenizer_bos_id(const dif__clip_tokenizer *tok);
int32_t dif__clip_tokenizer_eos_id(const dif__clip_tokenizer *tok);
int32_t dif__clip_tokenizer_pad_id(const dif__clip_tokenizer *tok);
/* Number of entries in vocab.json, and the largest id of any token
 * (vocabulary or added). */
size_t dif__clip_tokenizer_vocab_size(const dif__clip_tokenizer *tok);
int32_t dif__clip_tokenizer_max_id(const dif__clip_tokenizer *tok);

/* Tokens added after loading, as transformers' add_tokens(str) adds them
 * (diffusers' load_textual_inversion): each an AddedToken(normalized=True,
 * not special, no lstrip/rstrip) with the next id, len(tokenizer) = the
 * distinct tokens of vocab.json and the added ones
 * (dif__clip_tokenizer_size). CLIPTokenizer has no do_lower_case (only its
 * ftfy-less BasicTokenizer fallback does), so transformers keeps such a
 * token as given and splits the raw prompt on it: it matches only written
 * exactly so (case included), anywhere, as the other added tokens. The
 * texts must be UTF-8, non-empty and none in the vocabulary
 * (dif__clip_tokenizer_has). All or nothing; ids[n] (may be NULL) gets
 * their ids. Not thread-safe (the tokenizer must not be in use). */
dif_status dif__clip_tokenizer_add_tokens(dif__clip_tokenizer *tok, const char *const *texts,
                                          size_t n, int32_t *ids, dif__error *err);
/* Whether text is a key of transformers' get_vocab(): in vocab.json or an
 * added token. */
int dif__clip_tokenizer_has(const dif__clip_tokenizer *tok, const char *text);
/* The id of the added token text[0..len), or -1 (added_tokens_encoder). */
int32_t dif__clip_tokenizer_added_id(const dif__clip_tokenizer *tok, const char *text, size_t len);
/* len(tokenizer): the distinct tokens of vocab.json and the added ones. */
int32_t dif__clip_tokenizer_size(const dif__clip_tokenizer *tok);
/* diffusers' TextualInversionLoaderMixin.maybe_convert_prompt: for each
 * added token the prompt tokenizes to (unique, in order of first
 * appearance; diffusers walks a Python set, whose order varies between
 * runs: the orders differ only when one such token's replacement contains
 * another), if "<token>_1" is an added token, every occurrence of the
 * token's exact text in the prompt (Python's str.replace: case-sensitive,
 * left to right, also inside longer words) becomes "<token> <token>_1 …
 * <token>_<k>" for the run of _1, _2, … that exist. *out is the malloc'ed
 * result, NULL when nothing changes. */
dif_status dif__clip_convert_prompt(const dif__clip_tokenizer *tok, const char *text, size_t len,
                                    char **out, dif__error *err);

/* tokenizer(text, max_length=L, truncation=True, padding="max_length") with
 * L = max_length: writes L ids to ids[] and, if mask is not NULL, L mask
 * values (1 for bos..eos, 0 for padding); *n_real (if not NULL) gets the
 * number of real tokens. text may be NULL when len is 0. */
dif_status dif__clip_tokenize(const dif__clip_tokenizer *tok, const char *text, size_t len,
                              int32_t *ids, int32_t *mask, int *n_real, dif__error *err);

/* The same without padding: writes *n <= L ids (bos ... eos) to ids[L]. */
dif_status dif__clip_tokenize_unpadded(const dif__clip_tokenizer *tok, const char *text, size_t len,
                                       int32_t *ids, int *n, dif__error *err);

/* All content ids, no bos/eos, no truncation (tokenizer.encode(text,
 * add_special_tokens=False)). *ids is malloc'ed (free() it; NULL when *n is 0). */
dif_status dif__clip_encode(const dif__clip_tokenizer *tok, const char *text, size_t len,
                            int32_t **ids, size_t *n, dif__error *err);

/* tokenizer.tokenize(text): calls fn for each token in order with its string
 * (byte-level BPE characters, "</w>" marking a word end, or an added token's
 * text; not NUL-terminated, valid during the call) and id. fn returns nonzero
 * to stop early (not an error). */
typedef int (*dif__clip_token_fn)(const char *token, size_t len, int32_t id, void *user);
dif_status dif__clip_tokenize_each(const dif__clip_tokenizer *tok, const char *text, size_t len,
                                   dif__clip_token_fn fn, void *user, dif__error *err);

/* whitespace_clean(ftfy.fix_text(text)).lower() of UTF-8 text — step 2 on
 * the whole text at once, what the tokenizer streams word by word; the
 * result is malloc'ed UTF-8 as with dif__utf8_encode. Invalid UTF-8 input is
 * DIF_ERR_INVALID_ARGUMENT. */
dif_status dif__text_normalize(const char *text, size_t len, char **out, size_t *out_len,
                               dif__error *err);

#endif

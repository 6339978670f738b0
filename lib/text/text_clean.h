/* text_clean.h — the text side of CLIP tokenisation: UTF-8 in and out, and the
 * cleaning transformers' CLIPTokenizer applies after ftfy.
 *
 * Text is handled as arrays of Unicode code points (dif_u32buf) so that the
 * ftfy port and the pre-tokeniser can index characters the way Python does.
 *
 * The pipeline of CLIPTokenizer._tokenize (with ftfy installed) is
 *     whitespace_clean(ftfy.fix_text(text)).lower()
 * dif_text_normalize() computes exactly that string; the tokenizer itself
 * streams the same steps word by word (clip_tokenizer.c).
 *
 * Unicode properties come from utf8proc; where Python needs a derived property
 * utf8proc lacks (Cased, Case_Ignorable, White_Space) the few code points that
 * differ from the general-category rule are listed in text_clean.c.
 */
#ifndef DIF_TEXT_TEXT_CLEAN_H
#define DIF_TEXT_TEXT_CLEAN_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* A growable array of code points. Zero-initialise; free with dif_u32buf_free. */
typedef struct dif_u32buf {
  uint32_t *v;
  size_t n, cap;
} dif_u32buf;

void dif_u32buf_free(dif_u32buf *b);
/* Makes room for `extra` more code points; DIF_ERR_OUT_OF_MEMORY on failure. */
dif_status dif_u32buf_reserve(dif_u32buf *b, size_t extra, dif_error *err);
/* Appends n code points. */
dif_status dif_u32buf_append(dif_u32buf *b, const uint32_t *cp, size_t n, dif_error *err);

/* Checks that s[0..len) is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). On failure returns
 * DIF_ERR_INVALID_ARGUMENT with a message naming the byte offset. */
dif_status dif_utf8_validate(const char *s, size_t len, dif_error *err);

/* Decodes well-formed UTF-8 (validated as above) and appends to out. */
dif_status dif_utf8_decode(const char *s, size_t len, dif_u32buf *out, dif_error *err);

/* Number of UTF-8 bytes of cp (1..4), and its encoding into buf[4]. */
size_t dif_utf8_encode_cp(uint32_t cp, char *buf);

/* Encodes n code points as UTF-8 into a malloc'ed NUL-terminated string
 * (*out, byte length in *out_len). The caller frees it with free(). */
dif_status dif_utf8_encode(const uint32_t *cp, size_t n, char **out, size_t *out_len,
                           dif_error *err);

/* Unicode White_Space (what the `regex` module's \s matches). */
int dif_text_is_space(uint32_t c);

/* Python's str.isspace(): White_Space plus U+001C..U+001F. */
int dif_text_py_isspace(uint32_t c);

/* transformers' whitespace_clean: every run of White_Space becomes one
 * U+0020, then str.strip(). In place. */
void dif_text_whitespace_clean(dif_u32buf *b);

/* Python's str.lower(), in place: full lower-case mapping (U+0130 becomes
 * "i" + U+0307) and the Final_Sigma rule for U+03A3. */
dif_status dif_text_lower(dif_u32buf *b, dif_error *err);

/* Python's str.lower() of in[0..n), appended to out. */
dif_status dif_text_lower_into(const uint32_t *in, size_t n, dif_u32buf *out, dif_error *err);

/* whitespace_clean(ftfy.fix_text(text)).lower() of UTF-8 text; the result
 * is malloc'ed UTF-8 as with dif_utf8_encode. Invalid UTF-8 input is
 * DIF_ERR_INVALID_ARGUMENT. */
dif_status dif_text_normalize(const char *text, size_t len, char **out, size_t *out_len,
                              dif_error *err);

#endif

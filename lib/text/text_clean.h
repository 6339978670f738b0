/* text_clean.h — the cleaning transformers' CLIPTokenizer applies after ftfy,
 * on code points (utf8.h): Python's whitespace tests, whitespace_clean and
 * str.lower().
 *
 * The pipeline of CLIPTokenizer._tokenize (with ftfy installed) is
 *     whitespace_clean(ftfy.fix_text(text)).lower()
 * dif__text_normalize() (clip_tokenizer.h) computes exactly that string; the
 * tokenizer itself streams the same steps word by word (clip_tokenizer.c).
 *
 * Unicode properties come from utf8proc; where Python needs a derived property
 * utf8proc lacks (Cased, Case_Ignorable, White_Space) the few code points that
 * differ from the general-category rule are listed in text_clean.c.
 */
#ifndef DIF__TEXT_TEXT_CLEAN_H
#define DIF__TEXT_TEXT_CLEAN_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "text/utf8.h"

/* Unicode White_Space (what the `regex` module's \s matches). */
int dif__text_is_space(uint32_t c);

/* Python's str.isspace(): White_Space plus U+001C..U+001F. */
int dif__text_py_isspace(uint32_t c);

/* transformers' whitespace_clean: every run of White_Space becomes one
 * U+0020, then str.strip(). In place. */
void dif__text_whitespace_clean(dif__u32buf *b);

/* Python's str.lower(), in place: full lower-case mapping (U+0130 becomes
 * "i" + U+0307) and the Final_Sigma rule for U+03A3. */
dif_status dif__text_lower(dif__u32buf *b, dif__error *err);

/* Python's str.lower() of in[0..n), appended to out. */
dif_status dif__text_lower_into(const uint32_t *in, size_t n, dif__u32buf *out, dif__error *err);

#endif

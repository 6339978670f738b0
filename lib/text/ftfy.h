/* ftfy.h — a C port of ftfy.fix_text (python-ftfy 6.3.1, default settings),
 * the text repair transformers' CLIPTokenizer runs on every prompt when ftfy
 * is installed.
 *
 * What it does, in ftfy's order, per line until nothing changes: HTML entity
 * unescaping (only while no '<' has been seen), mojibake repair (re-encoding
 * in one of ten single-byte encodings and decoding as UTF-8 / CESU-8, guided
 * by ftfy's badness heuristic), C1 controls as windows-1252, Latin ligatures,
 * full/half-width forms, curly quotes, line breaks, terminal escapes, control
 * characters, and NFC. The port follows ftfy's code path by path, including its
 * quirks (for example a '\n' swallowed by the "utf-8-variants" codec after a
 * 0xC0 byte), so that the token ids match the Python reference.
 *
 * Not ported: fix_surrogates (our input is validated UTF-8 and no step can
 * produce a surrogate code point, so it never applies).
 *
 * All functions are reentrant; they allocate their scratch memory per call.
 */
#ifndef DIF__TEXT_FTFY_H
#define DIF__TEXT_FTFY_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "text/utf8.h"

/* ftfy.fix_text processes its input in segments: up to and including each
 * '\n', and at most this many code points. */
#define DIF__FTFY_MAX_SEGMENT 1000000

/* The state fix_text carries from one segment to the next: HTML unescaping is
 * switched off for good once a segment contains '<'. */
typedef struct dif__ftfy_state {
  int unescape_html;
} dif__ftfy_state;

void dif__ftfy_init(dif__ftfy_state *st);

/* Length of the segment starting at text[0] (n > 0). */
size_t dif__ftfy_segment_length(const uint32_t *text, size_t n);

/* Fixes one segment (as fix_text does) and appends the result to out. */
dif_status dif__ftfy_fix_segment(dif__ftfy_state *st, const uint32_t *seg, size_t n,
                                 dif__u32buf *out, dif__error *err);

/* ftfy.fix_text(text), appended to out. */
dif_status dif__ftfy_fix_text(const uint32_t *text, size_t n, dif__u32buf *out, dif__error *err);

/* ftfy.fix_text on UTF-8; the result is malloc'ed UTF-8 (free() it). Invalid
 * UTF-8 input is DIF_ERR_INVALID_ARGUMENT with the byte offset named. */
dif_status dif__ftfy_fix_text_utf8(const char *text, size_t len, char **out, size_t *out_len,
                                   dif__error *err);

/* ftfy.badness.is_bad(text): does the text contain a likely mojibake sequence?
 * Returns 1/0, or -1 when out of memory. Exposed for tests. */
int dif__ftfy_is_bad(const uint32_t *text, size_t n);

#endif

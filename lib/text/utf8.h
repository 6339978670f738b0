/* utf8.h — UTF-8 in and out of the text layer, and the growable code point
 * arrays (dif__u32buf) it decodes into.
 *
 * Text is handled as arrays of Unicode code points so that the ftfy port and
 * the pre-tokeniser can index characters the way Python does. Every text that
 * comes in is checked here first: dif__utf8_valid is libdif's one UTF-8
 * validity check for prompts, used by the tokenizer (dif__utf8_validate) and
 * by the prompt API (api/prompt.c) alike; tests/unit/test-utf8.c holds both
 * to RFC 3629.
 */
#ifndef DIF__TEXT_UTF8_H
#define DIF__TEXT_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* A growable array of code points. Zero-initialise; free with dif__u32buf_free. */
typedef struct dif__u32buf {
  uint32_t *v;
  size_t n, cap;
} dif__u32buf;

void dif__u32buf_free(dif__u32buf *b);
/* Makes room for `extra` more code points; DIF_ERR_OUT_OF_MEMORY on failure. */
dif_status dif__u32buf_reserve(dif__u32buf *b, size_t extra, dif__error *err);
/* Appends n code points. */
dif_status dif__u32buf_append(dif__u32buf *b, const uint32_t *cp, size_t n, dif__error *err);

/* Is s[0..len) well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF)? Returns 1 if so; else 0, with the
 * byte offset of the first byte of the first bad sequence in *offset and a
 * phrase saying what is wrong with it in *why (static; either pointer may be
 * NULL). s may be NULL when len is 0. */
int dif__utf8_valid(const char *s, size_t len, size_t *offset, const char **why);

/* The same check as a status: DIF_ERR_INVALID_ARGUMENT with the message
 * "text is not valid UTF-8: <why> at byte offset N (byte 0xXX)", or "text is
 * NULL" when s is NULL and len is not 0. */
dif_status dif__utf8_validate(const char *s, size_t len, dif__error *err);

/* Decodes well-formed UTF-8 (validated as above) and appends to out; on
 * failure out is as it was. */
dif_status dif__utf8_decode(const char *s, size_t len, dif__u32buf *out, dif__error *err);

/* The code point of the well-formed (already validated) sequence at s[0],
 * and its length in bytes in *len. */
uint32_t dif__utf8_decode_cp(const char *s, size_t *len);

/* Number of UTF-8 bytes of cp (1..4), and its encoding into buf[4]. */
size_t dif__utf8_encode_cp(uint32_t cp, char *buf);

/* Encodes n code points as UTF-8 into a malloc'ed NUL-terminated string
 * (*out, byte length in *out_len). The caller frees it with free(). */
dif_status dif__utf8_encode(const uint32_t *cp, size_t n, char **out, size_t *out_len,
                            dif__error *err);

#endif

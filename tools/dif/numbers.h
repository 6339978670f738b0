/* numbers.h — the dif command's one strict number parser, shared by the
 * options (--steps 20) and the Midjourney parameters inside a prompt
 * (--seed 7, --iw 1.5, --ar 16:9, a::2).
 *
 * The whole string is the number: base 10, no space before or after, no
 * trailing characters ("10x", "7,5"), no exponent for an integer ("1e3"), no
 * hexadecimal, no inf or nan. A value out of range, including one too large
 * for any integer type, is an error, never clamped or wrapped. On failure the
 * functions return -1 and write "expected an integer from 1 to 1000, got
 * '10x'" into err, for the caller to prefix with the option's name as the
 * user typed it.
 */
#ifndef DIF__TOOLS_NUMBERS_H
#define DIF__TOOLS_NUMBERS_H

#include <stddef.h>
#include <stdint.h>

/* An integer in lo..hi. */
int num_int(const char *s, long long lo, long long hi, long long *out, char *err, size_t n);

/* A 64-bit seed, 0..18446744073709551615 (digits only: "-1" is refused). */
int num_u64(const char *s, uint64_t *out, char *err, size_t n);

/* A finite number that fits a float, lo..hi; NUM_ABOVE_LO makes lo
 * exclusive, NUM_NONZERO refuses 0 (with lo = -hi = -FLT_MAX: any weight). */
enum { NUM_ABOVE_LO = 1, NUM_NONZERO = 2 };
int num_real(const char *s, double lo, double hi, int flags, float *out, char *err, size_t n);

/* An aspect ratio W:H, each an integer from 1 to 100. */
int num_ratio(const char *s, int *w, int *h, char *err, size_t n);

/* s quoted for a message: at most 40 bytes (cut before a UTF-8 sequence, with
 * "..." after), control bytes as \xNN, in single quotes. */
void num_quote(const char *s, char *buf, size_t n);

#endif

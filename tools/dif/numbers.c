/* numbers.c — strict numbers for the dif command (see numbers.h). */
#include "numbers.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void num_quote(const char *s, char *buf, size_t n) {
  size_t o = 0, i = 0;
  if (n < 8) {
    if (n) buf[0] = '\0';
    return;
  }
  buf[o++] = '\'';
  for (; s[i] && i < 40 && o + 6 < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f)
      o += (size_t)snprintf(buf + o, n - o, "\\x%02x", c);
    else
      buf[o++] = (char)c;
  }
  if (s[i]) { /* cut: drop a partial UTF-8 sequence, then say so */
    while (o > 1 && ((unsigned char)buf[o - 1] & 0xc0) == 0x80) o--;
    if (o > 1 && ((unsigned char)buf[o - 1] & 0xc0) == 0xc0) o--;
    if (o + 5 < n) o += (size_t)snprintf(buf + o, n - o, "...");
  }
  snprintf(buf + o, n - o, "'");
}

static int fail(char *err, size_t n, const char *expected, const char *s) {
  char q[200];
  num_quote(s, q, sizeof q);
  snprintf(err, n, "expected %s, got %s", expected, *s ? q : "nothing");
  return -1;
}

/* [+-]?[0-9]+ and nothing else */
static int integer_syntax(const char *s, int sign_ok) {
  if (sign_ok && (*s == '-' || *s == '+')) s++;
  if (!*s) return 0;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return 0;
  return 1;
}

int num_int(const char *s, long long lo, long long hi, long long *out, char *err, size_t n) {
  char what[96];
  snprintf(what, sizeof what, "an integer from %lld to %lld", lo, hi);
  if (!integer_syntax(s, 1)) return fail(err, n, what, s);
  errno = 0;
  char *end;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return fail(err, n, what, s);
  *out = v;
  return 0;
}

int num_u64(const char *s, uint64_t *out, char *err, size_t n) {
  const char *what = "an integer from 0 to 18446744073709551615";
  if (!integer_syntax(s, 0)) return fail(err, n, what, s);
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end) return fail(err, n, what, s);
  *out = (uint64_t)v;
  return 0;
}

/* [+-]?digits[.digits][e[+-]digits], at least one digit before the exponent */
static int real_syntax(const char *s) {
  int digits = 0;
  if (*s == '-' || *s == '+') s++;
  for (; *s >= '0' && *s <= '9'; s++) digits++;
  if (*s == '.')
    for (s++; *s >= '0' && *s <= '9'; s++) digits++;
  if (!digits) return 0;
  if (*s == 'e' || *s == 'E') {
    s++;
    if (*s == '-' || *s == '+') s++;
    if (*s < '0' || *s > '9') return 0;
    while (*s >= '0' && *s <= '9') s++;
  }
  return *s == '\0';
}

int num_real(const char *s, double lo, double hi, int flags, float *out, char *err, size_t n) {
  char what[96];
  if ((flags & NUM_NONZERO) && lo == -FLT_MAX && hi == FLT_MAX)
    snprintf(what, sizeof what, "a finite non-zero number");
  else if (flags & NUM_NONZERO)
    snprintf(what, sizeof what, "a non-zero number from %g to %g", lo, hi);
  else if (flags & NUM_ABOVE_LO)
    snprintf(what, sizeof what, "a number above %g and at most %g", lo, hi);
  else
    snprintf(what, sizeof what, "a number from %g to %g", lo, hi);
  if (!real_syntax(s)) return fail(err, n, what, s);
  errno = 0;
  char *end;
  double v = strtod(s, &end);
  if (*end || !isfinite(v) || (errno == ERANGE && fabs(v) > 1.0)) return fail(err, n, what, s);
  if (v < lo || v > hi || fabs(v) > FLT_MAX || ((flags & NUM_ABOVE_LO) && v == lo) ||
      ((flags & NUM_NONZERO) && (float)v == 0.0f))
    return fail(err, n, what, s);
  *out = (float)v;
  return 0;
}

int num_ratio(const char *s, int *w, int *h, char *err, size_t n) {
  const char *what = "W:H with W and H integers from 1 to 100 (e.g. 16:9)";
  const char *colon = strchr(s, ':');
  char a[32];
  long long x, y;
  char e[8];
  if (!colon || (size_t)(colon - s) >= sizeof a) return fail(err, n, what, s);
  memcpy(a, s, (size_t)(colon - s));
  a[colon - s] = '\0';
  if (num_int(a, 1, 100, &x, e, sizeof e) || num_int(colon + 1, 1, 100, &y, e, sizeof e))
    return fail(err, n, what, s);
  *w = (int)x;
  *h = (int)y;
  return 0;
}

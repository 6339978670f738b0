/* signal-at-rename.c — an LD_PRELOAD shim for tests/cli/test-cli.sh: when
 * DIF_TEST_SIGNAL_AT_RENAME is set to a signal number, every rename() first
 * raises that signal, so the test can deliver SIGINT/SIGTERM at the one
 * moment a saved image exists only as its temporary file. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

int rename(const char *from, const char *to) {
  int (*real)(const char *, const char *) =
      (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
  const char *sig = getenv("DIF_TEST_SIGNAL_AT_RENAME");
  if (sig && atoi(sig) > 0) raise(atoi(sig));
  return real ? real(from, to) : -1;
}

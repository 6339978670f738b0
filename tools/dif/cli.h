/* cli.h — shared pieces of the dif command. */
#ifndef DIF_TOOLS_CLI_H
#define DIF_TOOLS_CLI_H

#include <dif.h>

#define DIF_CLI_VERSION "0.1"

/* A loaded context, or NULL after printing why. verbose: log to stderr. */
dif_context *cli_open(const char *model, const char *prior, int threads, int verbose);
int cli_generate(int argc, char **argv);

#endif

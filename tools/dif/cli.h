/* cli.h — shared pieces of the dif command. */
#ifndef DIF_TOOLS_CLI_H
#define DIF_TOOLS_CLI_H

#include <dif.h>

#define DIF_CLI_VERSION "0.1"

/* A loaded context, or NULL after printing why. model: a folder or a
 * single-file checkpoint, whose configs come from config (NULL: none).
 * verbose: log to stderr.
 * precision: -1 for the default (auto), else a dif_precision; record: a
 * record whose precision is used when precision is -1 (NULL: none). */
dif_context *cli_open(const char *model, const char *config, const char *prior, int threads,
                      int precision, const char *record, int verbose);
int cli_generate(int argc, char **argv);

#endif

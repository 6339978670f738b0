/* embedding_dir.h — textual-inversion embeddings for dif generate:
 * --embedding FILE[:TOKEN] and --embedding-dir DIR (AUTOMATIC1111's
 * embeddings folder).
 *
 * --embedding-dir rule: every DIR/NAME.safetensors whose NAME appears in
 * the prompt or the negative prompt as a word — NAME exactly (case
 * included, as the token then matches), with neither side touching a
 * letter, digit, '_' or a non-ASCII byte — is added with NAME as its token (as AUTOMATIC1111 names
 * an embedding by its file). Files are taken in name order; a NAME also
 * given with --embedding is not added twice. */
#ifndef DIF__TOOLS_EMBEDDING_DIR_H
#define DIF__TOOLS_EMBEDDING_DIR_H

#include <stddef.h>

#include "cli.h"

/* --embedding FILE[:TOKEN]: TOKEN after the last ':' unless that leaves an
 * empty file name or token, or the whole value names an existing file. Returns 0, or -1 with a message in err. */
int embedding_option(const char *v, cli_loras *out, char *err, size_t n);

/* Adds the embeddings of dir that the texts (NULLs skipped) name. Returns
 * 0, or -1 with a message in err. */
int embedding_dir_scan(const char *dir, const char *const *texts, int n_texts, cli_loras *out,
                       char *err, size_t n);

#endif

/* embedding.h — textual-inversion embedding files (.safetensors), read as
 * diffusers v0.26.3's load_textual_inversion reads a state dict
 * (loaders/textual_inversion.py, _retrieve_tokens_and_embeddings):
 *   - diffusers layout: one tensor, named by its token ("<cat-toy>"), of
 *     shape [dim] or [n, dim] (n vectors);
 *   - AUTOMATIC1111 layout (.safetensors as civitai and A1111 write them):
 *     one tensor "emb_params" [n, dim]; its token is the file's name
 *     without ".safetensors", as AUTOMATIC1111 names it. (diffusers v0.26.3
 *     reads such a file as its own layout, i.e. with the token
 *     "emb_params", unless told the token.)
 * An explicit token overrides the file's. Values F32, F16 or BF16 (widened
 * to float32), all finite. Refused, naming the file (and tensor): pickles
 * (.pt / .bin: libdif never runs a pickle), no tensor, several tensors (the
 * names listed), another dtype, a shape that is not [dim] / [n, dim] with
 * n, dim >= 1, more than DIF__EMBEDDING_MAX_VECTORS vectors (DIF_ERR_LIMIT), a
 * non-finite value, an empty token. */
#ifndef DIF__IO_EMBEDDING_H
#define DIF__IO_EMBEDDING_H

#include <stdint.h>

#include "core/error.h"
#include "io/safetensors.h"

/* At most this many vectors per file (DIF_ERR_LIMIT): real ones have 1 to
 * ~75, and a prompt holds 75 tokens, so more could never all be used. */
#define DIF__EMBEDDING_MAX_VECTORS 1024

typedef struct dif__embedding {
  char *path;         /* as given */
  char *token;        /* the token (the file's or the explicit one), as given */
  char *tensor;       /* the tensor's name in the file, for messages */
  const char *layout; /* "diffusers" or "AUTOMATIC1111" */
  int64_t n, dim;     /* n vectors of dim floats */
  float *data;        /* [n, dim] */
  uint64_t xxh3;      /* of the whole file */
} dif__embedding;

/* Reads path into *e (zeroed on failure); token NULL: the file's. Errors:
 * DIF_ERR_IO, DIF_ERR_BAD_MODEL (the rules above), DIF_ERR_UNSUPPORTED (a
 * pickle, a dtype), DIF_ERR_NON_FINITE, DIF_ERR_INVALID_ARGUMENT (empty
 * token), DIF_ERR_OUT_OF_MEMORY. */
dif_status dif__embedding_read(const char *path, const char *token, dif__embedding *e,
                               dif__error *err);
/* The same from an open handle (fuzzing: dif__st_open_memory); path names
 * it in messages and gives A1111's token. */
dif_status dif__embedding_from_st(dif__safetensors *st, const char *path, const char *token,
                                  dif__embedding *e, dif__error *err);
/* Frees what e holds (NULL-safe) and zeroes it. */
void dif__embedding_free(dif__embedding *e);

#endif

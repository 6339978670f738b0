/* golden.h — the golden runner's shared helpers.
 *
 * dif-golden CASES ROOT runs every case under CASES (a whole cases/ folder or
 * one kind's folder, the kind being the folder's name) against fixtures whose
 * model and tokenizer folders are resolved under ROOT. Each kind lives in
 * kind_<name>.c and is listed in kinds.c. A kind compares what libdif
 * computes with the stored tensors through golden_check*, which prints one
 * line per tensor (max-abs error, normalised MSE, tolerance) and counts
 * failures; the program exits non-zero on any failure or unknown kind.
 */
#ifndef DIF__GOLDEN_H
#define DIF__GOLDEN_H

#include <stddef.h>
#include <stdint.h>

#include "core/backend.h"
#include "core/error.h"
#include "core/ops.h"
#include "io/safetensors.h"

typedef struct golden {
  const char *const *roots; /* fixture roots holding models/ and tokenizers/ */
  int n_roots;              /* >= 1 */
  int checks_passed, checks_failed;
  int cases;
  dif__kctx k; /* threads and scratch for the models under test */
  /* --wino: the backend that runs the VAE's 3x3 convolutions by float32
   * Winograd (core/backend.h), as a context in exact does where it can;
   * NULL: im2col + sgemm. Only the VAE's kernel contexts carry a Winograd
   * state (kind_vae.c, and dif__generate for the pipeline kinds); every
   * tolerance stays what it is. */
  const dif__backend *wino;
  int64_t wino_weights, wino_refused; /* over every case (golden_wino_end) */
  /* --channels-last: the VAE's and the UNet's activations
   * channels-last (dif__kctx.channels_last, what fast runs where their
   * convolutions are all bf16): here on the exact path, each convolution
   * changing the layout there and back, so the layout's own code (GroupNorm
   * statistics, the attention on pixel rows, the walks) is held to the same
   * tolerances on every CPU. */
  bool channels_last;
} golden;

typedef int (*golden_kind_fn)(golden *g, const char *kind_dir);

typedef struct golden_kind {
  const char *name;
  golden_kind_fn run;
} golden_kind;

extern const golden_kind golden_kinds[];

/* Element i passes when |got - want| <= abs_tol + rel_tol * |want|. */
int golden_check_vals(golden *g, const char *case_name, const char *what, const float *got,
                      const double *want, int64_t n, double abs_tol, double rel_tol);
/* Compares got[n] with tensor `key` of st (its element count must be n). */
int golden_check(golden *g, const char *case_name, const char *key, const float *got, int64_t n,
                 const dif__safetensors *st, double abs_tol, double rel_tol);
/* Bit-exact float comparison. */
int golden_check_bits(golden *g, const char *case_name, const char *what, const float *got,
                      const float *want, int64_t n);
/* Records a failed case with a reason (e.g. a load error). */
void golden_fail(golden *g, const char *case_name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Loads tensor key of st as newly malloc'd doubles (NULL + failure if absent). */
double *golden_tensor(golden *g, const char *case_name, const dif__safetensors *st, const char *key,
                      int64_t *n);
/* Same as floats. */
float *golden_tensor_f32(golden *g, const char *case_name, const dif__safetensors *st,
                         const char *key, int64_t *n);

/* Resolves a fixture-relative path ("models/tiny-sd/unet") under the first
 * root that has it (else the first root) into a static per-call buffer slot (8 rotating slots). */
const char *golden_path(const golden *g, const char *rel);

/* Sorted list of the regular files in dir ending in suffix; free with
 * golden_free_list. */
char **golden_list(const char *dir, const char *suffix, size_t *n);
void golden_free_list(char **list, size_t n);

/* Opens a case file; on failure records it and returns NULL. */
dif__safetensors *golden_open_case(golden *g, const char *dir, const char *file);

/* Runs run(g, file name, case) on every .safetensors case of dir, in name
 * order; returns how many there were. */
typedef void (*golden_case_fn)(golden *g, const char *name, const dif__safetensors *st);
int golden_each_case(golden *g, const char *dir, golden_case_fn run);

/* A model hook that compares each module's output with the fixture's
 * "hook.<module>" tensor, when the fixture recorded that module. */
typedef struct golden_hooks {
  golden *g;
  const char *name;
  const dif__safetensors *st;
  double tol; /* abs */
} golden_hooks;
void golden_on_hook(void *user, const char *module, const float *data, int64_t n);

/* With --wino, a new Winograd state for one case's models (it finds weights
 * by address, and the next case's models may lie where this one's did), or
 * NULL (none asked for; out of memory: the case then runs im2col + sgemm
 * and the weight count shows it). golden_wino_end adds its counts to g's
 * and frees it (NULL: nothing). */
dif__wino *golden_wino_begin(golden *g);
void golden_wino_end(golden *g, dif__wino *w);
/* A pipeline case's kernel context: exact, the fixtures' float32 path, on
 * g's pool and the case's arena; with --wino a new Winograd state
 * (golden_wino_begin: the caller ends it, k.wino) for the VAE and the
 * networks up to DIF__WINO_NETS_MAX_CC, at every size (the fixtures are
 * tiny); with --channels-last that layout. */
dif__kctx golden_pipeline_kctx(golden *g, dif__arena *arena);

/* Reads a whole file (NUL-terminated); NULL on failure. */
char *golden_read_file(const char *path, size_t *len);

#endif

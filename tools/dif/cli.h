/* cli.h — shared pieces of the dif command. */
#ifndef DIF__TOOLS_CLI_H
#define DIF__TOOLS_CLI_H

#include <dif.h>

#define DIF__CLI_VERSION "0.1"

/* LoRA files to merge at load (--lora FILE[:WEIGHT], repeatable). */
typedef struct cli_loras {
  const char *file[DIF_MAX_LORAS];
  float weight[DIF_MAX_LORAS];
  int n;
  /* textual-inversion embeddings (--embedding, --embedding-dir): file and
   * token (NULL: the file's), malloc'd */
  char *emb_file[DIF_MAX_EMBEDDINGS], *emb_token[DIF_MAX_EMBEDDINGS];
  int n_emb;
} cli_loras;

/* A loaded context, or NULL after printing why. model: a folder or a
 * single-file checkpoint, whose configs come from config (NULL: none);
 * loras: LoRAs to merge and embeddings to add (NULL: none, or the
 * record's when record names some; record_dir: the folder its LoRA and
 * embedding files are relative to).
 * verbose: log to stderr.
 * precision: -1 for the default (auto), else a dif_precision; record: a
 * record whose precision is used when precision is -1 (NULL: none). */
dif_context *cli_open(const char *model, const char *config, const char *prior, int threads,
                      int precision, const char *record, const char *record_dir, int verbose,
                      const cli_loras *loras);
int cli_generate(int argc, char **argv);
/* dif vary, dif zoom, dif pan (edit.c). */
int cli_vary(int argc, char **argv);
int cli_zoom(int argc, char **argv);
int cli_pan(int argc, char **argv);
int cli_upscale(int argc, char **argv);

/* Prints a failure: "dif: MESSAGE", or "COMMAND: OPTION: MESSAGE" when what
 * the user gave as OPTION was refused; C names in libdif's message become
 * the command's words; under -v (cli_set_verbose) the raw message too. */
void cli_say(const char *command, const char *option, const char *msg);
void cli_set_verbose(int verbose);
/* A value the user gave that libdif refused is a usage error (exit 2); a
 * file that cannot be read or a model that cannot run is a failure (1). */
int cli_exit_code(dif_status st);
/* Runs the sample on a thread, polling so that Ctrl-C (SIGINT, SIGTERM)
 * cancels it within one step; cli_interrupted() then names the signal. */
dif_status cli_run(dif_sample *s);
int cli_interrupted(void);

/* The progress bar (a dif_progress_fn over a cli_bar): the phase ("prior
 * 3/25", "decoder 7/20") and the time left in it, on a terminal. */
typedef struct cli_bar {
  int quiet;
  int prior;       /* the run's first `prior` steps are the prior's (every text part's), 0: none */
  int phase_first; /* the step the current phase started after */
  double phase_t0; /* when it started */
} cli_bar;
int cli_progress(int32_t step, int32_t total, void *user);

#endif

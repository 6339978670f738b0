/* main.c — the `dif` command: an example of libdif's public API.
 *
 *   dif generate "a red circle::2 a blue square --ar 16:9" [options] -o out.png
 *   dif generate --from out.png           reproduce an image from its record
 *   dif info [MODEL_DIR] [--prior DIR]    components, configs, fingerprints
 *   dif version
 *
 * Everything here uses include/dif.h only. */
#include <dif.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f) {
  fprintf(f, "usage: dif generate PROMPT [options]   (dif generate --help for the options)\n"
             "       dif generate --from IMAGE.png [-o OUT.png]\n"
             "       dif info [MODEL_DIR] [--prior PRIOR_DIR]\n"
             "       dif version\n");
}

static int info(int argc, char **argv) {
  const char *model = NULL, *prior = NULL;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--prior") && i + 1 < argc)
      prior = argv[++i];
    else if (argv[i][0] != '-' && !model)
      model = argv[i];
    else {
      fprintf(stderr, "dif info: unexpected argument '%s'\n", argv[i]);
      return 2;
    }
  }
  if (!model) model = dif_default_model_dir();
  if (!model) {
    fprintf(stderr, "dif info: no MODEL_DIR given and no default model installed\n");
    return 2;
  }
  dif_context *ctx = cli_open(model, prior, 0, 0);
  if (!ctx) return 1;
  printf("%s\n", dif_context_info(ctx));
  dif_context_free(ctx);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "generate")) return cli_generate(argc - 2, argv + 2);
  if (!strcmp(argv[1], "info")) return info(argc - 2, argv + 2);
  if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
    const char *m = dif_default_model_dir();
    printf("dif %s (libdif %s), BLAS kernels %s, default model %s\n", DIF_CLI_VERSION,
           dif_version_string(), dif_blas_core(), m ? m : "(none)");
    return 0;
  }
  if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(stdout);
    return 0;
  }
  fprintf(stderr, "dif: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}

/* dif-eval-default-model — the default model's measured quality, with
 * libdif, on the protocol of its eval.json (models/dif-shapes-64/README.md,
 * "Evaluation"): the 20 held-out prompts × seeds 0/1000/2000, 64×64, DDIM 25
 * steps, guidance 3, prior 25 steps, prior guidance 2, noise level 0.
 *
 *   (1) CLIP retrieval top-1: the model's own CLIP image embedding of the
 *       picture (image_encoder, image_embeds) against the 20 prompts' CLIP
 *       text embeddings (prior_text_encoder, text_embeds — the text tower
 *       trained with that image tower), by cosine; its own prompt must rank
 *       first;
 *   (2)-(3) pixel checks (shapes.h): background colour, shape colour(s),
 *       and shape kind;
 *   (4) image variations (image only, no text, noise level 0) of 6 pictures
 *       drawn like the training data: background colour kept, and the mean
 *       CLIP cosine between input and variation.
 *
 * Two ways to draw the random numbers:
 *   --protocol batched (default) — eval.json's: the 20 prompts are one
 *       diffusers call, pipe(prompts, generator=manual_seed(seed)), so one
 *       generator draws the noise of all 20 pictures in a batch and picture
 *       i gets row i. libdif reproduces it by running prompt i as a batch of
 *       20 (every row draws the same numbers whatever its prompt) and keeping
 *       row i. A batch of 20 is above DIF_MAX_BATCH, so this mode calls the
 *       pipeline layer (dif__generate) directly: 20× the work, ~30 min.
 *   --protocol per-image — one generator per picture seeded with the seed,
 *       what `dif generate --seed N` and the semantic tests do.
 * With the batched protocol every seed-0 picture is also compared with
 * eval.json's per-prompt record (diffusers' predicted background and colours).
 *
 * usage: dif-eval-default-model [-m MODEL_DIR] [--protocol batched|per-image]
 *                               [--seeds 0,1000,2000] [--threads N] [-o DIR]
 */
#include <dif.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/context.h" /* the batched protocol: the context's models */
#include "core/arena.h"
#include "pipelines/generate.h"
#include "shapes.h"

#define SIDE 64
#define MAX_SEEDS 8
#define N_VAR 6

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static void die(const char *what, const char *msg) {
  fprintf(stderr, "dif-eval-default-model: %s: %s\n", what, msg);
  exit(1);
}

/* One generation with eval.json's settings; image into px. */
static double generate(dif_context *ctx, const char *text, const uint8_t *image, uint64_t seed,
                       uint8_t *px) {
  dif_prompt *p = NULL;
  dif_sample *s = NULL;
  if (dif_prompt_new(&p)) die("prompt", dif_last_error());
  if (text && dif_prompt_add_text(p, text, 1.0f)) die("prompt", dif_prompt_last_error(p));
  if (image && dif_prompt_add_image_rgb(p, image, SIDE, SIDE, SIDE * 3, 1.0f))
    die("prompt", dif_prompt_last_error(p));
  if (dif_sample_new(ctx, p, &s)) die("sample", dif_context_last_error(ctx));
  if (dif_sample_set_size(s, SIDE, SIDE) || dif_sample_set_steps(s, 25) ||
      dif_sample_set_guidance(s, 3) || dif_sample_set_prior_steps(s, 25) ||
      dif_sample_set_prior_guidance(s, 2) || dif_sample_set_noise_level(s, 0) ||
      dif_sample_set_seed(s, seed))
    die("settings", dif_sample_last_error(s));
  double t0 = now();
  if (dif_sample_run(s)) die(text ? text : "variation", dif_sample_last_error(s));
  double t = now() - t0;
  if (dif_sample_copy_image(s, 0, px, SIDE * SIDE * 3)) die("copy", dif_sample_last_error(s));
  dif_sample_free(s);
  dif_prompt_free(p);
  return t;
}

/* eval.json's batched protocol: picture `row` of a batch of `batch` drawn by
 * one generator (see the top of this file). */
static double generate_row(dif_context *ctx, const char *text, uint64_t seed, int row, int batch,
                           uint8_t *px) {
  dif__part part = {DIF__PART_TEXT, text, NULL, 1.0f};
  dif__request r = {.parts = &part,
                    .n_parts = 1,
                    .blend = DIF__BLEND_RULE_SUM,
                    .width = SIDE,
                    .height = SIDE,
                    .steps = 25,
                    .batch = batch,
                    .guidance = 3,
                    .prior_steps = 25,
                    .prior_guidance = 2,
                    .noise_level = 0,
                    .text_to_prior = true,
                    .seed = seed};
  dif__arena arena;
  dif__arena_init(&arena, 16u << 20);
  dif__kctx k = dif__ctx_kernels(ctx, &arena);
  dif__result res;
  dif__error err = {0};
  double t0 = now();
  dif_status st = dif__generate(&ctx->models, &k, &r, &res, &err);
  double t = now() - t0;
  dif__arena_free(&arena);
  if (st) die(text, err.msg);
  memcpy(px, res.rgb + (size_t)row * SIDE * SIDE * 3, SIDE * SIDE * 3);
  dif__result_free(&res);
  return t / batch;
}

static float *embed_image(dif_context *ctx, const uint8_t *px, size_t n) {
  float *e = malloc(n * sizeof *e);
  size_t count = n;
  if (!e || dif_context_encode_image_rgb(ctx, px, SIDE, SIDE, SIDE * 3, e, &count))
    die("image embedding", dif_context_last_error(ctx));
  return e;
}

static void list_colours(const shapes_picture *p, char *buf, size_t n) {
  buf[0] = '\0';
  for (int i = 0; i < p->n_present; i++)
    snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", i ? "," : "",
             shapes_colour_name(p->present[i]));
  if (!p->n_present) snprintf(buf, n, "(none)");
}

static const char *str(const json_t *v) { return json_is_string(v) ? json_string_value(v) : "?"; }

/* eval.json's per_prompt_seed0 entry for prompt i: bg and colours as text. */
static void reference_seed0(json_t *ref, int i, char *bg, char *cols, size_t n) {
  snprintf(bg, n, "?");
  snprintf(cols, n, "?");
  json_t *e = json_array_get(json_object_get(ref, "per_prompt_seed0"), (size_t)i);
  if (!e || strcmp(str(json_object_get(e, "prompt")), shapes_eval_prompts[i])) return;
  snprintf(bg, n, "%s", str(json_object_get(e, "bg_pred")));
  json_t *a = json_object_get(e, "colors_present");
  cols[0] = '\0';
  /* eval.json lists them sorted by name; ours are sorted too below */
  for (size_t k = 0; k < json_array_size(a); k++)
    snprintf(cols + strlen(cols), n - strlen(cols), "%s%s", k ? "," : "",
             str(json_array_get(a, k)));
  if (!json_array_size(a)) snprintf(cols, n, "(none)");
}

static void sorted_colours(const shapes_picture *p, char *buf, size_t n) {
  shapes_picture q = *p;
  for (int i = 0; i + 1 < q.n_present; i++)
    if (strcmp(shapes_colour_name(q.present[i]), shapes_colour_name(q.present[i + 1])) > 0) {
      int t = q.present[i];
      q.present[i] = q.present[i + 1];
      q.present[i + 1] = t;
    }
  list_colours(&q, buf, n);
}

static double ref_num(json_t *ref, const char *obj, const char *key) {
  json_t *o = obj ? json_object_get(ref, obj) : ref;
  json_t *v = json_object_get(o, key);
  return json_is_number(v) ? json_number_value(v) : -1;
}

int main(int argc, char **argv) {
  const char *model = NULL, *outdir = NULL;
  uint64_t seeds[MAX_SEEDS] = {0, 1000, 2000};
  int n_seeds = 3, threads = 0, batched = 1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-m") && i + 1 < argc)
      model = argv[++i];
    else if (!strcmp(argv[i], "-o") && i + 1 < argc)
      outdir = argv[++i];
    else if (!strcmp(argv[i], "--protocol") && i + 1 < argc &&
             (!strcmp(argv[i + 1], "batched") || !strcmp(argv[i + 1], "per-image")))
      batched = !strcmp(argv[++i], "batched");
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
      threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--seeds") && i + 1 < argc) {
      n_seeds = 0;
      for (char *p = argv[++i]; *p && n_seeds < MAX_SEEDS;) {
        seeds[n_seeds++] = strtoull(p, &p, 10);
        if (*p == ',') p++;
      }
    } else {
      fprintf(stderr, "usage: dif-eval-default-model [-m MODEL_DIR] [--protocol "
                      "batched|per-image] [--seeds 0,1000,2000] [--threads N] [-o DIR]\n");
      return 2;
    }
  }
  if (!model) model = dif_default_model_dir();
  if (!model) die("model", "no -m MODEL_DIR and no default model found");
  dif_context *ctx = NULL;
  if (dif_context_new(&ctx)) die("context", dif_last_error());
  if ((threads && dif_context_set_threads(ctx, threads)) || dif_context_load(ctx, model))
    die(model, dif_context_last_error(ctx));
  char path[4096];
  snprintf(path, sizeof path, "%s/eval.json", model);
  json_error_t je;
  json_t *ref = json_load_file(path, 0, &je); /* NULL: no comparison */
  printf("model %s, %d threads, libdif %s, %s protocol\n", model, dif_context_threads(ctx),
         dif_version_string(),
         batched ? "eval.json's batched" : "per-image (one generator per picture)");

  /* the prompts' CLIP text embeddings */
  size_t dim = 0;
  if (dif_context_encode_text(ctx, "", DIF_EMBED_TEXT_PROJECTED, NULL, &dim))
    die("text embedding", dif_context_last_error(ctx));
  float *text = malloc(SHAPES_N_EVAL * dim * sizeof *text);
  for (int i = 0; i < SHAPES_N_EVAL; i++) {
    size_t n = dim;
    if (dif_context_encode_text(ctx, shapes_eval_prompts[i], DIF_EMBED_TEXT_PROJECTED,
                                text + i * dim, &n))
      die("text embedding", dif_context_last_error(ctx));
  }

  int n_img = 0, hit = 0, bg_ok = 0, col_ok = 0, kind_ok = 0, ho_n = 0, ho_bg = 0, ho_col = 0,
      ho_kind = 0, same_bg = 0, same_cols = 0, n_ref = 0;
  int seed_hits[MAX_SEEDS] = {0};
  double seconds = 0;
  size_t px_bytes = SIDE * SIDE * 3;
  uint8_t *sheet = calloc((size_t)n_seeds * SHAPES_N_EVAL, px_bytes), px[SIDE * SIDE * 3];
  printf("\n%-5s %-3s %-4s %-7s %-15s %-17s %s\n", "seed", "#", "clip", "bg", "colours", "kinds",
         "prompt");
  for (int si = 0; si < n_seeds; si++)
    for (int i = 0; i < SHAPES_N_EVAL; i++) {
      const char *prompt = shapes_eval_prompts[i];
      seconds += batched ? generate_row(ctx, prompt, seeds[si], i, SHAPES_N_EVAL, px)
                         : generate(ctx, prompt, NULL, seeds[si], px);
      memcpy(sheet + ((size_t)si * SHAPES_N_EVAL + i) * px_bytes, px, px_bytes);
      shapes_caption c;
      shapes_picture p;
      shapes_parse(prompt, &c);
      shapes_analyse(px, SIDE, SIDE, c.n_colours, &p);
      float *e = embed_image(ctx, px, dim), sims[SHAPES_N_EVAL];
      for (int j = 0; j < SHAPES_N_EVAL; j++) sims[j] = shapes_cosine(e, text + j * dim, (int)dim);
      free(e);
      int r = shapes_argmax(sims, SHAPES_N_EVAL) == i;
      int b = shapes_background_ok(&c, &p), co = shapes_colours_ok(&c, &p),
          k = shapes_kinds_ok(&c, &p);
      n_img++, hit += r, bg_ok += b, col_ok += co, kind_ok += k, seed_hits[si] += r;
      if (shapes_is_held_out(i)) ho_n++, ho_bg += b, ho_col += co, ho_kind += k;
      char cols[64], kinds[64] = "";
      list_colours(&p, cols, sizeof cols);
      for (int j = 0; j < p.n_present; j++)
        snprintf(kinds + strlen(kinds), sizeof kinds - strlen(kinds), "%s%s", j ? "," : "",
                 shapes_kind_name(p.kind[j]));
      printf("%-5llu %-3d %-4s %-7s %-15s %-17s %s\n", (unsigned long long)seeds[si], i,
             r ? "ok" : "--", shapes_colour_name(p.background), cols, kinds[0] ? kinds : "-",
             prompt);
      printf("%-9s %s%s %s\n", "", b ? "bg ok" : "BG WRONG",
             co ? ", colours ok" : ", COLOURS WRONG", k ? ", kind ok" : "");
      if (seeds[si] == 0 && ref && batched) { /* against diffusers' own picture of it */
        char rbg[32], rcols[64], ours[64];
        reference_seed0(ref, i, rbg, rcols, 32);
        sorted_colours(&p, ours, sizeof ours);
        int sb = !strcmp(rbg, shapes_colour_name(p.background)), sc = !strcmp(rcols, ours);
        n_ref++, same_bg += sb, same_cols += sc;
        if (!sb || !sc) printf("%-9s diffusers (eval.json): bg %s, colours %s\n", "", rbg, rcols);
      }
      if (outdir) {
        char f[4200];
        snprintf(f, sizeof f, "%s/seed%llu-%02d.png", outdir, (unsigned long long)seeds[si], i);
        if (dif_write_png(f, px, SIDE, SIDE, SIDE * 3, NULL)) die(f, dif_last_error());
      }
    }

  /* (4) variations of pictures drawn like the training data */
  static const struct {
    int bg, colour, kind;
    float cx, cy, r;
  } inputs[N_VAR] = {
      {SHAPES_BLUE, SHAPES_RED, SHAPES_CIRCLE, 32, 32, 14},
      {SHAPES_GREEN, SHAPES_YELLOW, SHAPES_SQUARE, 28, 34, 12},
      {SHAPES_PURPLE, SHAPES_WHITE, SHAPES_TRIANGLE, 34, 30, 16},
      {SHAPES_ORANGE, SHAPES_BLUE, SHAPES_CIRCLE, 22, 40, 10},
      {SHAPES_BLACK, SHAPES_GREEN, SHAPES_SQUARE, 36, 28, 13},
      {SHAPES_WHITE, SHAPES_ORANGE, SHAPES_TRIANGLE, 30, 34, 18},
  };
  int var_bg = 0, var_col = 0;
  double var_cos = 0;
  printf("\nimage variations (image only, noise level 0, seed 0):\n");
  for (int v = 0; v < N_VAR; v++) {
    uint8_t in[SIDE * SIDE * 3];
    shapes_render(in, SIDE, SIDE, inputs[v].bg, inputs[v].colour, inputs[v].kind, inputs[v].cx,
                  inputs[v].cy, inputs[v].r);
    seconds += generate(ctx, NULL, in, 0, px);
    n_img++;
    shapes_picture p;
    shapes_analyse(px, SIDE, SIDE, 1, &p);
    float *a = embed_image(ctx, in, dim), *b = embed_image(ctx, px, dim);
    float cs = shapes_cosine(a, b, (int)dim);
    free(a);
    free(b);
    int kb = p.background == inputs[v].bg, kc = p.n_present && p.present[0] == inputs[v].colour;
    var_bg += kb, var_col += kc, var_cos += cs;
    printf("  a %s %s on %s -> bg %s%s, colour %s, CLIP cosine %.2f\n",
           shapes_colour_name(inputs[v].colour), shapes_kind_name(inputs[v].kind),
           shapes_colour_name(inputs[v].bg), shapes_colour_name(p.background),
           kb ? " (kept)" : " (CHANGED)", p.n_present ? shapes_colour_name(p.present[0]) : "-",
           (double)cs);
    if (outdir) {
      char f[4200];
      snprintf(f, sizeof f, "%s/variation-%d-in.png", outdir, v);
      dif_write_png(f, in, SIDE, SIDE, SIDE * 3, NULL);
      snprintf(f, sizeof f, "%s/variation-%d-out.png", outdir, v);
      dif_write_png(f, px, SIDE, SIDE, SIDE * 3, NULL);
    }
  }

  int n = n_seeds * SHAPES_N_EVAL;
  printf("\n%d prompts x %d seeds, %.2f s per generation (%d threads)\n", SHAPES_N_EVAL, n_seeds,
         seconds / n_img, dif_context_threads(ctx));
  printf("%-44s %8s %10s\n", "metric", "libdif", "diffusers");
  printf("%-44s %7.1f%% %9.1f%%\n", "(1) CLIP retrieval top-1 among 20", 100.0 * hit / n,
         100 * ref_num(ref, NULL, "retrieval_top1_generated"));
  printf("%-44s %7.1f%% %9.1f%%\n", "(2) background colour", 100.0 * bg_ok / n,
         100 * ref_num(ref, "pixel_generated", "bg_ok"));
  printf("%-44s %7.1f%% %9.1f%%\n", "(3) shape colour(s)", 100.0 * col_ok / n,
         100 * ref_num(ref, "pixel_generated", "color_ok"));
  printf("%-44s %7.1f%% %9.1f%%\n", "    shape kind (fill ratio)", 100.0 * kind_ok / n,
         100 * ref_num(ref, "pixel_generated", "shape_ok"));
  printf("%-44s %3.0f/%.0f/%.0f%% %5.0f/%.0f/%.0f%%\n", "    held-out triples: bg/colour/kind",
         100.0 * ho_bg / (ho_n ? ho_n : 1), 100.0 * ho_col / (ho_n ? ho_n : 1),
         100.0 * ho_kind / (ho_n ? ho_n : 1),
         100 * ref_num(ref, "pixel_generated_heldout_triples", "bg_ok"),
         100 * ref_num(ref, "pixel_generated_heldout_triples", "color_ok"),
         100 * ref_num(ref, "pixel_generated_heldout_triples", "shape_ok"));
  printf("    retrieval per seed:");
  for (int si = 0; si < n_seeds; si++)
    printf(" %llu: %.0f%%", (unsigned long long)seeds[si], 100.0 * seed_hits[si] / SHAPES_N_EVAL);
  printf("\n%-44s %5d/%d %10s\n", "(4) variation keeps the background", var_bg, N_VAR, "-");
  printf("%-44s %5d/%d %10s\n", "    variation keeps the shape colour", var_col, N_VAR, "-");
  printf("%-44s %8.2f %10s\n", "    mean CLIP cosine(input, variation)", var_cos / N_VAR,
         "0.58 (other inputs)");
  if (n_ref)
    printf("seed 0 against eval.json's per-prompt record: background %d/%d, colours %d/%d the "
           "same\n",
           same_bg, n_ref, same_cols, n_ref);
  if (outdir) { /* a contact sheet: per seed two rows of 10, prompts in eval.json's order */
    int cols = 10, rows = n_seeds * SHAPES_N_EVAL / cols, sw = cols * SIDE;
    uint8_t *img = malloc((size_t)rows * SIDE * sw * 3);
    for (int j = 0; j < n_seeds * SHAPES_N_EVAL; j++)
      for (int y = 0; y < SIDE; y++)
        memcpy(img + (((size_t)(j / cols) * SIDE + y) * sw + (size_t)(j % cols) * SIDE) * 3,
               sheet + (size_t)j * px_bytes + (size_t)y * SIDE * 3, SIDE * 3);
    snprintf(path, sizeof path, "%s/sheet.png", outdir);
    if (dif_write_png(path, img, sw, rows * SIDE, sw * 3, NULL)) die(path, dif_last_error());
    printf("pictures in %s (sheet.png: two rows of 10 per seed, in eval.json's order)\n", outdir);
    free(img);
  }
  free(sheet);
  free(text);
  json_decref(ref);
  dif_context_free(ctx);
  return 0;
}

/* dif_plugin.c — the plugin: one worker thread per instance does everything
 * slow (loading, dif_sample_run); the engine-facing calls only take a mutex
 * that the worker holds for a few assignments, never while computing. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "dif_plugin.h"

#include <dif.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct plugin {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t wake;
  /* guarded by mu */
  int state, pending, quit, dead, trim, width, height, req_w, req_h, req_steps;
  uint64_t req_seed;
  int64_t released; /* by the last trim */
  char *req_prompt;
  uint8_t *rgba; /* the finished texture, width × height × 4 */
  char error[512], error_out[512];
  /* written by the worker's progress callback, read by difp_poll */
  atomic_int step, total, cancel;
  /* worker only */
  char *model_dir, *prior_dir;
  int threads;
} plugin;

static void fail(plugin *p, const char *what, const char *msg) {
  pthread_mutex_lock(&p->mu);
  snprintf(p->error, sizeof p->error, "%s: %s", what, msg);
  p->state = DIFP_FAILED;
  pthread_mutex_unlock(&p->mu);
}

static int on_progress(int32_t step, int32_t total, void *user) {
  plugin *p = user;
  atomic_store(&p->total, total);
  atomic_store(&p->step, step);
  return atomic_load(&p->cancel);
}

/* One request on the worker thread; the result is published under mu. */
static void generate(plugin *p, dif_context *ctx, const char *text, int w, int h, int steps,
                     uint64_t seed) {
  dif_prompt *prompt = NULL;
  dif_sample *s = NULL;
  if (dif_prompt_new(&prompt) != DIF_OK) {
    fail(p, "request", dif_last_error());
    return;
  }
  if (dif_prompt_add_text(prompt, text, 1.0f) != DIF_OK) {
    fail(p, "request", dif_prompt_last_error(prompt));
    dif_prompt_free(prompt);
    return;
  }
  dif_status new_st = dif_sample_new(ctx, prompt, &s);
  dif_prompt_free(prompt); /* the sample has its own copy */
  if (new_st != DIF_OK) {
    fail(p, "request", dif_context_last_error(ctx));
    return;
  }
  dif_status st = DIF_OK;
  if (w > 0 && h > 0) st = dif_sample_set_size(s, w, h);
  if (st == DIF_OK && steps > 0) st = dif_sample_set_steps(s, steps);
  if (st == DIF_OK) st = dif_sample_set_seed(s, seed);
  if (st == DIF_OK) st = dif_sample_set_progress(s, on_progress, p);
  if (st == DIF_OK) st = dif_sample_run(s);
  if (st == DIF_ERR_CANCELLED) {
    pthread_mutex_lock(&p->mu);
    p->state = DIFP_CANCELLED;
    pthread_mutex_unlock(&p->mu);
  } else if (st != DIF_OK) {
    fail(p, "generate", dif_sample_last_error(s));
  } else { /* RGB8 → RGBA8 outside the lock, then swap the buffer in */
    int sw = dif_sample_width(s), sh = dif_sample_height(s);
    size_t n = (size_t)sw * (size_t)sh;
    uint8_t *rgb = malloc(n * 3), *rgba = malloc(n * 4);
    if (!rgb || !rgba || dif_sample_copy_image(s, 0, rgb, n * 3) != DIF_OK) {
      fail(p, "generate", "out of memory");
      free(rgba);
    } else {
      for (size_t i = 0; i < n; i++) {
        memcpy(rgba + 4 * i, rgb + 3 * i, 3);
        rgba[4 * i + 3] = 255;
      }
      pthread_mutex_lock(&p->mu);
      free(p->rgba);
      p->rgba = rgba;
      p->width = sw;
      p->height = sh;
      p->state = DIFP_DONE;
      pthread_mutex_unlock(&p->mu);
    }
    free(rgb);
  }
  dif_sample_free(s);
}

static void *worker(void *arg) {
  plugin *p = arg;
  dif_context *ctx = NULL;
  const char *load_error = NULL;
  if (dif_context_new(&ctx) != DIF_OK)
    load_error = dif_last_error();
  else if ((p->threads && dif_context_set_threads(ctx, p->threads) != DIF_OK) ||
           (p->prior_dir && dif_context_set_prior(ctx, p->prior_dir) != DIF_OK) ||
           dif_context_load(ctx, p->model_dir) != DIF_OK)
    load_error = dif_context_last_error(ctx);
  if (load_error) {
    fail(p, "load", load_error);
    pthread_mutex_lock(&p->mu);
    p->dead = 1; /* nothing more to do: requests are refused */
    pthread_mutex_unlock(&p->mu);
  } else {
    pthread_mutex_lock(&p->mu);
    p->state = p->pending ? DIFP_RUNNING : DIFP_IDLE;
    for (;;) {
      while (!p->pending && !p->quit && !p->trim) pthread_cond_wait(&p->wake, &p->mu);
      if (p->quit) break;
      if (p->trim) { /* before a pending request: the order they were asked in */
        p->trim = 0;
        pthread_mutex_unlock(&p->mu);
        size_t scratch = 0, packed = 0;
        /* never busy: this thread runs the context's only samples */
        if (dif_context_release_scratch(ctx, &scratch) != DIF_OK ||
            dif_context_release_packed(ctx, &packed) != DIF_OK)
          fail(p, "trim", dif_context_last_error(ctx));
        pthread_mutex_lock(&p->mu);
        p->released = (int64_t)(scratch + packed);
        continue;
      }
      char *text = p->req_prompt;
      int w = p->req_w, h = p->req_h, steps = p->req_steps;
      uint64_t seed = p->req_seed;
      p->req_prompt = NULL;
      p->pending = 0;
      p->state = DIFP_RUNNING;
      pthread_mutex_unlock(&p->mu);
      generate(p, ctx, text, w, h, steps, seed);
      free(text);
      pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
  }
  dif_context_free(ctx);
  return NULL;
}

void *difp_create(const char *model_dir, const char *prior_dir, int threads) {
  plugin *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->model_dir = strdup(model_dir ? model_dir : "");
  p->prior_dir = prior_dir && *prior_dir ? strdup(prior_dir) : NULL;
  p->threads = threads;
  p->state = DIFP_LOADING;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->wake, NULL);
  if (!p->model_dir || pthread_create(&p->thread, NULL, worker, p) != 0) {
    free(p->model_dir);
    free(p->prior_dir);
    free(p);
    return NULL;
  }
  return p;
}

void difp_destroy(void *plugin_) {
  plugin *p = plugin_;
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->quit = 1;
  atomic_store(&p->cancel, 1);
  pthread_cond_signal(&p->wake);
  pthread_mutex_unlock(&p->mu);
  pthread_join(p->thread, NULL); /* the one call allowed to wait: shutting down */
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->wake);
  free(p->req_prompt);
  free(p->rgba);
  free(p->model_dir);
  free(p->prior_dir);
  free(p);
}

int difp_request(void *plugin_, const char *prompt, int width, int height, int steps,
                 uint64_t seed) {
  plugin *p = plugin_;
  char *text = prompt ? strdup(prompt) : NULL;
  if (!p || !text) {
    free(text);
    return 0;
  }
  pthread_mutex_lock(&p->mu);
  int ok = !p->pending && p->state != DIFP_RUNNING && !p->dead;
  if (ok) {
    p->req_prompt = text;
    p->req_w = width;
    p->req_h = height;
    p->req_steps = steps;
    p->req_seed = seed;
    p->pending = 1;
    p->error[0] = '\0';
    atomic_store(&p->cancel, 0);
    atomic_store(&p->step, 0);
    atomic_store(&p->total, 0);
    if (p->state != DIFP_LOADING) p->state = DIFP_RUNNING;
    pthread_cond_signal(&p->wake);
  }
  pthread_mutex_unlock(&p->mu);
  if (!ok) free(text);
  return ok;
}

int difp_poll(void *plugin_, float *progress) {
  plugin *p = plugin_;
  if (!p) return DIFP_FAILED;
  pthread_mutex_lock(&p->mu);
  int state = p->state;
  pthread_mutex_unlock(&p->mu);
  if (progress) {
    int step = atomic_load(&p->step), total = atomic_load(&p->total);
    *progress = state == DIFP_DONE ? 1.0f : total > 0 ? (float)step / (float)total : 0.0f;
  }
  return state;
}

int difp_texture(void *plugin_, uint8_t *rgba, int capacity, int *width, int *height) {
  plugin *p = plugin_;
  if (!p) return 0;
  pthread_mutex_lock(&p->mu);
  int bytes = p->rgba ? p->width * p->height * 4 : 0;
  if (width) *width = p->width;
  if (height) *height = p->height;
  if (bytes && rgba && capacity >= bytes) memcpy(rgba, p->rgba, (size_t)bytes);
  pthread_mutex_unlock(&p->mu);
  return bytes;
}

void difp_trim(void *plugin_) {
  plugin *p = plugin_;
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->trim = 1;
  pthread_cond_signal(&p->wake);
  pthread_mutex_unlock(&p->mu);
}

int64_t difp_released(void *plugin_) {
  plugin *p = plugin_;
  if (!p) return 0;
  pthread_mutex_lock(&p->mu);
  int64_t bytes = p->released;
  pthread_mutex_unlock(&p->mu);
  return bytes;
}

void difp_cancel(void *plugin_) {
  plugin *p = plugin_;
  if (p) atomic_store(&p->cancel, 1);
}

const char *difp_error(void *plugin_) {
  plugin *p = plugin_;
  if (!p) return "no plugin";
  pthread_mutex_lock(&p->mu);
  memcpy(p->error_out, p->error, sizeof p->error_out);
  pthread_mutex_unlock(&p->mu);
  return p->error_out;
}

/* dif_plugin.h — a game-engine style native plugin over libdif.
 *
 * The shape Unity ([DllImport] of a native plugin), Godot (a GDExtension's C
 * calls) and Unreal (a module loading a DLL and calling its exports) use:
 * plain C functions, plain types, one opaque instance pointer, no callbacks
 * into the engine, and nothing that blocks the game loop. Model loading and
 * generation run on the plugin's own thread; the engine polls once per frame
 * and uploads the finished RGBA8 buffer as a texture.
 *
 *   void *p = difp_create(model, prior, 2);    // returns at once, loads in the background
 *   difp_request(p, "a red cat", 512, 512, 20, seed);
 *   every frame: switch (difp_poll(p, &progress)) { case DIFP_DONE: difp_texture(p, ...); }
 *   between scenes: difp_trim(p);              // the memory kept between pictures goes back
 *   difp_cancel(p); difp_destroy(p);
 */
#ifndef DIF__PLUGIN_H
#define DIF__PLUGIN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DIFP_EXPORT __attribute__((visibility("default")))

typedef enum difp_state {
  DIFP_LOADING = 0,   /* the models are still loading (a request waits for them) */
  DIFP_IDLE = 1,      /* ready, nothing requested */
  DIFP_RUNNING = 2,   /* generating; *progress goes from 0 to 1 */
  DIFP_DONE = 3,      /* the texture of the last request is ready */
  DIFP_CANCELLED = 4, /* the last request was cancelled */
  DIFP_FAILED = 5     /* loading or the last request failed: difp_error() says why */
} difp_state;

/* Creates an instance and starts loading on its thread; NULL only when out of
 * memory. threads: libdif's threads (0: all cores; leave one to the game). */
DIFP_EXPORT void *difp_create(const char *model_dir, const char *prior_dir, int threads);
/* Cancels what runs, joins the plugin's thread, frees everything. NULL: no-op. */
DIFP_EXPORT void difp_destroy(void *plugin);
/* Requests a picture; returns 1 if accepted, 0 if one is already pending or
 * running (or the plugin failed to load). width/height 0: the model's size. */
DIFP_EXPORT int difp_request(void *plugin, const char *prompt, int width, int height, int steps,
                             uint64_t seed);
/* Never blocks: the state, and the progress of a running request in [0, 1]. */
DIFP_EXPORT int difp_poll(void *plugin, float *progress);
/* Copies the finished texture (RGBA8, rows top to bottom) if capacity bytes
 * suffice; returns the bytes it has (0: none yet) and its size. */
DIFP_EXPORT int difp_texture(void *plugin, uint8_t *rgba, int capacity, int *width, int *height);
/* Asks a running request to stop (within one denoising step). */
DIFP_EXPORT void difp_cancel(void *plugin);
/* Gives back the memory the plugin keeps between pictures (libdif's scratch
 * and the weights' packed forms: dif_context_release_scratch and
 * dif_context_release_packed) and keeps the model; returns at once, the
 * plugin's thread does it once a running request has finished, before the
 * next one. For a game between scenes: the next picture packs the weights
 * again (as slow as the first) and is the same picture. */
DIFP_EXPORT void difp_trim(void *plugin);
/* The bytes the last trim gave back (0 before one has run). */
DIFP_EXPORT int64_t difp_released(void *plugin);
/* Why the last failure happened ("" if none); valid until the next call. */
DIFP_EXPORT const char *difp_error(void *plugin);

#ifdef __cplusplus
}
#endif
#endif

/* randmodel.h — full-size component folders with seeded random weights.
 *
 * A component folder (config.json + model.safetensors) is written from a
 * config alone: the model's own loader is run once in schema-recording mode
 * (models/weights.h) against an empty weights file, which lists every tensor
 * with its shape; then the safetensors file is streamed out with values from
 * a seeded generator (PyTorch-like default init: U(±1/√fan_in) for weights,
 * norms 1/0, small biases and embeddings), never holding more than a small
 * buffer in memory. No download, no Python.
 */
#ifndef DIF_BENCH_RANDMODEL_H
#define DIF_BENCH_RANDMODEL_H

#include <stddef.h>
#include <stdint.h>

typedef enum bench_kind {
  BENCH_UNET,
  BENCH_VAE,
  BENCH_CLIP_TEXT,
  BENCH_CLIP_VISION,
  BENCH_PRIOR,
} bench_kind;

/* Writes dir/config.json (a copy of config_path) and dir/model.safetensors.
 * Returns 0, or -1 with a message in msg. *bytes is the weights file size. */
int bench_make_component(const char *dir, const char *config_path, bench_kind kind, uint64_t seed,
                         uint64_t *bytes, char *msg, size_t msg_size);

#endif

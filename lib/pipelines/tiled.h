/* tiled.h — an img2img request run tile by tile (Upscale Subtle / Creative
 * beyond the model's own size), so memory stays one tile's generation plus
 * the output, whatever the output's size.
 *
 * Tiles of tile × tile pixels (smaller only where the output is) start
 * every tile − overlap pixels along each side, the last one flush with the
 * edge. Each is its own img2img run (dif_generate) of the request on its
 * crop of the init image, with seed + its index (row-major) so the tiles'
 * noise differs, and no trace. The tiles are blended: each pixel is the
 * weighted mean of the tiles covering it, a tile's weight rising linearly
 * from 1/(overlap + 1) to 1 across the overlap on the sides that have a
 * neighbour, so no seam shows. Progress counts every tile's steps. */
#ifndef DIF_PIPELINES_TILED_H
#define DIF_PIPELINES_TILED_H

#include "pipelines/generate.h"

/* r must have an init image of r's size and no mask; tile and overlap are
 * multiples of 8 with 0 <= overlap < tile. Errors as dif_generate's, and
 * DIF_ERR_INVALID_ARGUMENT for a bad tiling. */
dif_status dif_generate_tiled(const dif_models *m, const dif_kctx *k, const dif_request *r,
                              int tile, int overlap, dif_result *out, dif_error *err);

#endif

/* checkpoint_info.c — dif_checkpoint_info: a single-file checkpoint described
 * without loading it. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api/context.h"
#include "io/checkpoint.h"

static json_t *describe(const dif__checkpoint *c) {
  const dif__ckpt_info *in = dif__checkpoint_describe(c);
  json_t *parts = json_array();
  if (in->has_unet) json_array_append_new(parts, json_string("unet"));
  if (in->has_vae) json_array_append_new(parts, json_string("vae"));
  if (in->has_text_encoder) json_array_append_new(parts, json_string("text_encoder"));
  json_t *unused = json_array();
  if (in->has_ema) json_array_append_new(unused, json_string("model_ema (EMA copy of the UNet)"));
  if (in->has_image_embedder)
    json_array_append_new(unused, json_string("embedder (unCLIP image encoder: the config "
                                              "folder's image_encoder is used, as diffusers)"));
  const char *why, *preset = dif__checkpoint_preset(c, &why);
  return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:o, s:s}", "file",
                   dif__checkpoint_path(c), "family", in->family, "dtype", in->dtype, "parts",
                   parts, "not_loaded", unused, "text_encoder",
                   in->text_encoder ? json_string(in->text_encoder) : json_null(), "text_width",
                   (json_int_t)in->text_width, "unet_in_channels", (json_int_t)in->unet_in_channels,
                   "cross_attention_dim", (json_int_t)in->context_dim, "image_embedding_dim",
                   (json_int_t)(in->class_embed_in / 2), "preset",
                   preset ? json_string(preset) : json_null(), "load", why);
}

DIF_API dif_status dif_checkpoint_info(const char *path, char *buf, size_t *size) {
  if (!path || !size)
    return dif__thread_fail(DIF_ERR_INVALID_ARGUMENT, "dif_checkpoint_info: %s is NULL",
                            path ? "size" : "path");
  dif__checkpoint *c;
  dif__error err = {0};
  if (dif__checkpoint_open(path, &c, &err)) return dif__thread_fail(err.status, "%s", err.msg);
  json_t *o = describe(c);
  char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
  json_decref(o);
  dif__checkpoint_close(c);
  if (!text) return dif__thread_fail(DIF_ERR_OUT_OF_MEMORY, "dif_checkpoint_info: out of memory");
  size_t need = strlen(text) + 1;
  dif_status s = DIF_OK;
  if (buf && *size < need)
    s = dif__thread_fail(DIF_ERR_INVALID_ARGUMENT,
                         "dif_checkpoint_info: the buffer holds %zu bytes, %zu needed", *size,
                         need);
  else if (buf)
    memcpy(buf, text, need);
  *size = need;
  free(text);
  if (!s) dif__thread_ok();
  return s;
}

/* models/weights.h schema recording (what dif-bench builds random full-size
 * models from): loading a real model folder in recording mode must list
 * exactly the tensors of its weights file, with their shapes. */
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "models/clip_text.h"
#include "models/unet.h"
#include "models/vae.h"
#include "models/weights.h"
#include "test.h"

typedef struct rec {
  dif_safetensors *st;
  int seen, mismatched, has_calls;
} rec;

static void on_tensor(void *user, const char *name, int ndim, const int64_t *shape) {
  rec *r = user;
  const dif_st_entry *e = dif_st_find(r->st, name);
  int same = e && e->ndim == ndim;
  for (int i = 0; same && i < ndim; i++) same = e->shape[i] == shape[i];
  if (!same) {
    fprintf(stderr, "  recorded %s does not match the file\n", name);
    r->mismatched++;
  }
  r->seen++;
}

static int on_has(void *user, const char *name) {
  rec *r = user;
  r->has_calls++;
  return dif_st_find(r->st, name) != NULL;
}

static void check_folder(const char *rel, const char *file, int kind) {
  char dir[4096], path[4200];
  snprintf(dir, sizeof dir, "%s", dif_test_path(rel));
  snprintf(path, sizeof path, "%s/%s", dir, file);
  rec r = {0};
  dif_error err;
  dif_error_clear(&err);
  CHECK_MSG(dif_st_open(path, &r.st, &err) == DIF_OK, "%s", err.msg);
  if (!r.st) return;
  dif_wl_recorder hooks = {on_tensor, on_has, &r};
  dif_wl_set_recorder(&hooks);
  dif_status s;
  if (kind == 0) {
    dif_unet u;
    if (!(s = dif_unet_load(dir, &u, &err))) dif_unet_free(&u);
  } else if (kind == 1) {
    dif_vae v;
    if (!(s = dif_vae_load(dir, &v, &err))) dif_vae_free(&v);
  } else {
    dif_clip_text t;
    if (!(s = dif_clip_text_load(dir, &t, &err))) dif_clip_text_free(&t);
  }
  dif_wl_set_recorder(NULL);
  CHECK_MSG(s == DIF_OK, "%s", err.msg);
  CHECK_MSG(r.mismatched == 0 && (size_t)r.seen == dif_st_count(r.st),
            "%s: recorded %d tensors (%d mismatched), the file has %zu", rel, r.seen, r.mismatched,
            dif_st_count(r.st));
  dif_st_close(r.st);
}

TEST(unet_schema) {
  check_folder("golden/models/tiny-sd/unet", "diffusion_pytorch_model.safetensors", 0);
  check_folder("golden/models/tiny-unclip/unet", "diffusion_pytorch_model.safetensors", 0);
}
TEST(vae_schema) {
  check_folder("golden/models/tiny-sd/vae", "diffusion_pytorch_model.safetensors", 1);
}
TEST(clip_text_schema) {
  check_folder("golden/models/tiny-sd/text_encoder", "model.safetensors", 2);
}

int main(void) {
  RUN(unet_schema);
  RUN(vae_schema);
  RUN(clip_text_schema);
  return dif_test_finish();
}

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
  dif__safetensors *st;
  int seen, mismatched, has_calls;
} rec;

static void on_tensor(void *user, const char *name, int ndim, const int64_t *shape) {
  rec *r = user;
  const dif__st_entry *e = dif__st_find(r->st, name);
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
  return dif__st_find(r->st, name) != NULL;
}

static void check_folder(const char *rel, const char *file, int kind) {
  char dir[4096], path[4200];
  snprintf(dir, sizeof dir, "%s", dif__test_path(rel));
  snprintf(path, sizeof path, "%s/%s", dir, file);
  rec r = {0};
  dif__error err;
  dif__error_clear(&err);
  CHECK_MSG(dif__st_open(path, &r.st, &err) == DIF_OK, "%s", err.msg);
  if (!r.st) return;
  dif__wl_recorder hooks = {on_tensor, on_has, &r};
  dif__wl_set_recorder(&hooks);
  dif_status s;
  if (kind == 0) {
    dif__unet u;
    if (!(s = dif__unet_load(dir, &u, &err))) dif__unet_free(&u);
  } else if (kind == 1) {
    dif__vae v;
    if (!(s = dif__vae_load(dir, &v, &err))) dif__vae_free(&v);
  } else {
    dif__clip_text t;
    if (!(s = dif__clip_text_load(dir, &t, &err))) dif__clip_text_free(&t);
  }
  dif__wl_set_recorder(NULL);
  CHECK_MSG(s == DIF_OK, "%s", err.msg);
  CHECK_MSG(r.mismatched == 0 && (size_t)r.seen == dif__st_count(r.st),
            "%s: recorded %d tensors (%d mismatched), the file has %zu", rel, r.seen, r.mismatched,
            dif__st_count(r.st));
  dif__st_close(r.st);
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
  return dif__test_finish();
}

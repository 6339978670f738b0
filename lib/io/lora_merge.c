/* lora_merge.c — merging LoRA modules into a component's weights (see
 * lora.h): resolve and check every module first, then compute each merged
 * float32 weight, then install them all at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops.h"
#include "core/strmap.h"
#include "io/lora.h"

/* One (use, module) pair and the target tensor it adds to. */
typedef struct pair {
  const dif__lora_use *use;
  const dif__lora_module *m;
  int32_t target; /* index into the distinct targets */
} pair;

typedef struct merge {
  dif__safetensors *st;
  dif__strmap *kohya;   /* target weight name with '.' as '_', minus ".weight" -> entry index */
  dif__strmap *targets; /* entry name -> index into names/bufs */
  const char **names;   /* distinct target tensors */
  float **bufs;         /* their merged values */
  int32_t n_targets;
  pair *pairs;
  size_t n_pairs;
} merge;

#define KOHYA_AMBIGUOUS (-1)

/* The kohya form of every float weight of 2 or 4 dimensions in the target. */
static dif_status index_kohya(merge *g, dif__error *err) {
  size_t n = dif__st_count(g->st);
  dif_status s = dif__strmap_new(n, &g->kohya, err);
  for (size_t i = 0; i < n && !s; i++) {
    const dif__st_entry *e = dif__st_entry_at(g->st, i);
    size_t len = strlen(e->name);
    char k[256];
    if ((e->ndim != 2 && e->ndim != 4) || len < 8 || len - 7 >= sizeof k ||
        strcmp(e->name + len - 7, ".weight") != 0)
      continue;
    memcpy(k, e->name, len - 7);
    for (size_t j = 0; j < len - 7; j++) k[j] = k[j] == '.' ? '_' : e->name[j];
    int existed = 0;
    s = dif__strmap_put(g->kohya, k, len - 7, (int32_t)i, &existed, err);
    /* two weights with the same kohya form (they differ only in '.' against
     * '_'): a kohya name for it is ambiguous, refused when a LoRA uses it */
    if (!s && existed) s = dif__strmap_put(g->kohya, k, len - 7, KOHYA_AMBIGUOUS, NULL, err);
  }
  return s;
}

/* The target entry of module m, or a message naming the LoRA tensor. */
static dif_status resolve(merge *g, const dif__lora *l, const dif__lora_module *m,
                          const dif__st_entry **out, dif__error *err) {
  int32_t idx = -2; /* not found */
  char name[272];
  *out = NULL;
  if (m->kohya) {
    if (dif__strmap_get(g->kohya, m->name, strlen(m->name), &idx) && idx == KOHYA_AMBIGUOUS)
      return dif__fail(err, DIF_ERR_BAD_MODEL,
                       "%s: LoRA tensor '%s' names %s, which fits more than one weight of %s "
                       "(their names differ only in '.' against '_'): refused rather than guessed",
                       l->path, m->down_key, m->name, dif__st_path(g->st));
    if (idx >= 0) *out = dif__st_entry_at(g->st, (size_t)idx);
  } else {
    snprintf(name, sizeof name, "%s.weight", m->name);
    *out = dif__st_find(g->st, name);
  }
  if (!*out)
    return dif__fail(err, DIF_ERR_BAD_MODEL,
                     "%s: LoRA tensor '%s' is for a module this model does not have (no weight "
                     "%s%s in %s): a LoRA for another model?",
                     l->path, m->down_key, m->name, m->kohya ? " (kohya name)" : ".weight",
                     dif__st_path(g->st));
  return DIF_OK;
}

/* W [out, in(, kh, kw)] against down [r, in(, kh, kw) or 1x1] and up [out, r]. */
static dif_status check_shapes(const merge *g, const dif__lora *l, const dif__lora_module *m,
                               const dif__st_entry *e, dif__error *err) {
  const int64_t kh = e->ndim == 4 ? e->shape[2] : 1, kw = e->ndim == 4 ? e->shape[3] : 1;
  const int64_t dk = m->down.ndim == 4 ? m->down.shape[2] * m->down.shape[3] : 1;
  bool ok = (e->ndim == 2 || e->ndim == 4) && m->up.shape[0] == e->shape[0] &&
            m->down.shape[1] == e->shape[1] && dk == kh * kw &&
            (m->down.ndim == 2 || (m->down.shape[2] == kh && m->down.shape[3] == kw));
  if (ok) return DIF_OK;
  char a[96], b[96], c[96];
  return dif__fail(err, DIF_ERR_BAD_MODEL,
                   "%s: LoRA tensors '%s' %s and '%s' %s do not fit %s's '%s' %s: a LoRA for "
                   "another model?",
                   l->path, m->down_key, dif__shape_str(m->down.shape, m->down.ndim, a, sizeof a),
                   m->up_key, dif__shape_str(m->up.shape, m->up.ndim, b, sizeof b),
                   dif__st_path(g->st), e->name, dif__shape_str(e->shape, e->ndim, c, sizeof c));
}

/* Every module of component c resolved and checked, its target numbered. */
static dif_status plan(merge *g, const dif__lora_use *uses, int n, dif__lora_component c,
                       dif__error *err) {
  size_t total = 0;
  for (int u = 0; u < n; u++) total += uses[u].lora->n;
  dif_status s = index_kohya(g, err);
  if (!s) s = dif__strmap_new(total, &g->targets, err);
  if (!s && !(g->pairs = calloc(total ? total : 1, sizeof *g->pairs)))
    s = dif__fail_oom(err, "LoRA merge plan", total * sizeof *g->pairs);
  if (!s && !(g->names = calloc(total ? total : 1, sizeof *g->names)))
    s = dif__fail_oom(err, "LoRA merge targets", total * sizeof *g->names);
  if (!s && !(g->bufs = calloc(total ? total : 1, sizeof *g->bufs)))
    s = dif__fail_oom(err, "LoRA merge buffers", total * sizeof *g->bufs);
  for (int u = 0; u < n && !s; u++) {
    const dif__lora *l = uses[u].lora;
    for (size_t i = 0; i < l->n && !s; i++) {
      const dif__lora_module *m = &l->mods[i];
      const dif__st_entry *e;
      if (m->component != c) continue;
      if ((s = resolve(g, l, m, &e, err)) || (s = check_shapes(g, l, m, e, err))) break;
      int32_t t;
      if (!dif__strmap_get(g->targets, e->name, strlen(e->name), &t)) {
        t = g->n_targets++;
        g->names[t] = e->name;
        s = dif__strmap_put(g->targets, e->name, strlen(e->name), t, NULL, err);
      }
      g->pairs[g->n_pairs++] = (pair){&uses[u], m, t};
    }
  }
  return s;
}

/* bufs[t] = the target's weight widened to float32. */
static dif_status widen(merge *g, int32_t t, dif__error *err) {
  dif__weight w;
  dif_status s = dif__st_get_weight(g->st, g->names[t], 0, NULL, &w, err);
  if (s) return s;
  const dif__st_entry *e = dif__st_find(g->st, g->names[t]);
  int64_t rows = e->shape[0], cols = w.numel / (rows ? rows : 1);
  if (!(g->bufs[t] = malloc((size_t)(w.numel ? w.numel : 1) * sizeof(float))))
    return dif__fail_oom(err, g->names[t], (size_t)w.numel * sizeof(float));
  dif__weight_tile_f32(NULL, w, cols, 0, rows, 0, cols, g->bufs[t]);
  return DIF_OK;
}

/* W += weight · alpha/rank · up · down, in the order of the uses. */
static dif_status compute(merge *g, dif__error *err) {
  dif_status s = DIF_OK;
  for (int32_t t = 0; t < g->n_targets && !s; t++) s = widen(g, t, err);
  for (size_t i = 0; i < g->n_pairs && !s; i++) {
    const pair *p = &g->pairs[i];
    const dif__lora_module *m = p->m;
    const int64_t out = m->up.shape[0], r = m->rank, k = dif__tensor_numel(&m->down) / r;
    const float scale = p->use->weight * (m->alpha / (float)r);
    dif__gemm(false, false, out, k, r, scale, m->up.data, r, m->down.data, k, 1.0f,
              g->bufs[p->target], k);
  }
  for (int32_t t = 0; t < g->n_targets && !s; t++) {
    int64_t n = dif__st_numel(dif__st_find(g->st, g->names[t]));
    if (dif__first_nonfinite(g->bufs[t], n) >= 0)
      s = dif__fail(err, DIF_ERR_NON_FINITE,
                    "%s: merging the LoRAs into '%s' gives non-finite values (weights too large?)",
                    dif__st_path(g->st), g->names[t]);
  }
  return s;
}

dif_status dif__lora_apply(const dif__lora_use *uses, int n, dif__lora_component c,
                           dif__safetensors *target, dif__error *err) {
  merge g = {.st = target};
  dif_status s = plan(&g, uses, n, c, err);
  if (!s) s = compute(&g, err);
  if (!s && g.n_targets)
    s = dif__st_replace_weights(target, g.names, g.bufs, (size_t)g.n_targets, err);
  if (s)
    for (int32_t t = 0; t < g.n_targets; t++) free(g.bufs[t]);
  for (int u = 0; u < n && !s; u++) uses[u].lora->merged[c] += dif__lora_count(uses[u].lora, c) > 0;
  dif__strmap_free(g.kohya);
  dif__strmap_free(g.targets);
  free((void *)g.names);
  free(g.bufs);
  free(g.pairs);
  return s;
}

/* backend_onednn.c — the `onednn` backend: oneDNN's matmul primitive, in
 * float32 or in bf16 with float32 accumulation, its bf16 direct convolution
 * for the fast path, and its float32 Winograd convolution (3×3, stride 1,
 * pad 1) for the exact path's VAE.
 *
 * oneDNN (the library PyTorch runs its CPU bf16 products on) picks its
 * kernels from the CPU itself: AMX tiles where the CPU has them, AVX512-BF16
 * dot products (vdpbf16ps) where it has those, bf16 emulated with AVX-512
 * integer and float instructions on other AVX-512 CPUs; oneDNN 2.6 has no
 * bf16 matmul below AVX-512 (then `supports` says so and the backend offers
 * float32 only).
 *
 * Weights. dif__backend_pack asks the matmul primitive which layout it wants
 * for the weights (format `any`, for the m_hint row count) and reorders W
 * into it once — a blocked layout in bf16 or float32 owned by the packed
 * weight. A BF16 source is reordered as stored into a bf16 layout; an F16
 * one is rounded to bf16 first (dif__bf16_rne of its exact float32 value:
 * the bits oneDNN's float32 → bf16 reorder gives), and for float32 layouts
 * F16/BF16 are widened to float32 (exact); so the only rounding is float32
 * → bf16, to nearest even (core/dtype.h's model).
 *
 * A bf16 product: x (float32) → reorder to bf16 (oneDNN, parallel) into
 * scratch → matmul bf16 × bf16 → float32 y, bias and accumulation (the
 * `sum` post-op) inside the same primitive; linear_bf16 (x already bf16:
 * bf16 Winograd's tiles) runs the matmul alone. matmul on two activations
 * reorders both operands (A to plain bf16, B to the layout the primitive
 * chose) per call.
 *
 * Primitives are cached per shape, because creating one (choosing and
 * JIT-compiling a kernel) costs far more than a small product: a linear's
 * primitives in its packed weight (keyed by m, bias, acc), matmul's in one
 * table for the process (keyed by the whole problem). Both caches are
 * append-only arrays under a mutex: an entry, once published, is never
 * changed or freed while the process runs, so threads use it after
 * unlocking. Creation happens under the lock (two threads wanting the same
 * new shape build it once). When a cache is full, a product builds a
 * primitive, runs it and destroys it (correct, slower).
 *
 * Primitives are executed concurrently from several threads safely: they
 * run with a user scratchpad (dnnl_scratchpad_mode_user) taken from the
 * caller's arena, never a scratchpad shared inside oneDNN, and each call has
 * its own stream and memory objects.
 *
 * Threads: Debian's oneDNN runs on OpenMP (libgomp); a product uses
 * omp_get_max_threads() threads of the calling thread, which libdif sets to
 * the kernel context's thread count before each product (follow_threads).
 */
#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/backend.h"
#include "core/blas.h"
#include "core/kern_simd.h"
#include "core/ops_internal.h"
#include "core/threadpool.h"

/* ---- oneDNN, loaded when first needed ----
 *
 * libdnnl (40 MB, with libgomp, libstdc++ and the OpenCL loader behind it)
 * is opened with dlopen the first time the backend is asked anything, not
 * when a program linking libdif starts: a process that never runs a bf16
 * product — exact precision, small models under auto, every AVX2 CPU —
 * never maps it, except that exact loads it on AVX-512 CPUs for the VAE's
 * Winograd convolutions (core/wino.c, at context load). Its functions are called through `dl`,
 * typed from oneDNN's own header. */
#define DNNL_FUNCTIONS(X)                                                                          \
  X(convolution_forward_desc_init)                                                                 \
  X(cpu_isa2str)                                                                                   \
  X(engine_create)                                                                                 \
  X(get_effective_cpu_isa)                                                                         \
  X(matmul_desc_init)                                                                              \
  X(memory_create)                                                                                 \
  X(memory_desc_get_size)                                                                          \
  X(memory_desc_init_by_strides)                                                                   \
  X(memory_desc_equal)                                                                             \
  X(memory_desc_init_by_tag)                                                                       \
  X(memory_destroy)                                                                                \
  X(post_ops_append_sum)                                                                           \
  X(post_ops_create)                                                                               \
  X(post_ops_destroy)                                                                              \
  X(primitive_attr_create)                                                                         \
  X(primitive_attr_destroy)                                                                        \
  X(primitive_attr_set_output_scales)                                                              \
  X(primitive_attr_set_post_ops)                                                                   \
  X(primitive_attr_set_scratchpad_mode)                                                            \
  X(primitive_create)                                                                              \
  X(primitive_desc_create)                                                                         \
  X(primitive_desc_destroy)                                                                        \
  X(primitive_desc_query)                                                                          \
  X(primitive_desc_query_md)                                                                       \
  X(primitive_destroy)                                                                             \
  X(primitive_execute)                                                                             \
  X(reorder_primitive_desc_create)                                                                 \
  X(set_max_cpu_isa)                                                                               \
  X(status2str)                                                                                    \
  X(stream_create)                                                                                 \
  X(stream_destroy)                                                                                \
  X(stream_wait)

static struct {
#define DIF__DNNL_DECLARE(f) __typeof__(dnnl_##f) *f;
  DNNL_FUNCTIONS(DIF__DNNL_DECLARE)
#undef DIF__DNNL_DECLARE
  void (*omp_set_num_threads)(int); /* libgomp's, reached through libdnnl */
} dl;
static char dl_error[200];

/* Opens DIF_DNNL_SONAME and finds every function; false (and dl_error) when
 * the library or a function is missing. */
static bool dl_open(void) {
  void *h = dlopen(DIF_DNNL_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    snprintf(dl_error, sizeof dl_error,
             "%s cannot be loaded (%s; Debian: apt-get install libdnnl2)", DIF_DNNL_SONAME,
             dlerror());
    return false;
  }
#define DIF__DNNL_FIND(f)                                                                          \
  if (!(*(void **)&dl.f = dlsym(h, "dnnl_" #f))) {                                                 \
    snprintf(dl_error, sizeof dl_error, "%s has no dnnl_" #f, DIF_DNNL_SONAME);                    \
    return false;                                                                                  \
  }
  DNNL_FUNCTIONS(DIF__DNNL_FIND)
#undef DIF__DNNL_FIND
  *(void **)&dl.omp_set_num_threads = dlsym(h, "omp_set_num_threads");
  return true;
}

/* Built with ThreadSanitizer (GCC says __SANITIZE_THREAD__, Clang
 * __has_feature(thread_sanitizer)). */
#if defined(__SANITIZE_THREAD__)
#define DIF__UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DIF__UNDER_TSAN 1
#endif
#endif

/* oneDNN's products use the kernel context's thread count (its pool; 1
 * without one), as libdif's own kernels do: OpenMP's thread count of the
 * calling thread, which is the thread running the product. Under
 * ThreadSanitizer, one thread: libgomp is not instrumented, so the ordering
 * its barriers give between its workers and the caller is invisible and
 * every buffer they hand over reads as a race (tools/test runs that step
 * with OMP_NUM_THREADS=1 too, for the calls made before this one, as it
 * does OpenBLAS single-threaded, for the same reason). */
static void follow_threads(const dif__kctx *k) {
  int n = k && k->pool ? dif__pool_threads(k->pool) : 1;
#if defined(DIF__UNDER_TSAN)
  n = 1;
#endif
  if (dl.omp_set_num_threads) dl.omp_set_num_threads(n);
}

#define LINEAR_CACHE 8    /* distinct (m, bias, acc, layouts) per packed weight */
#define MATMUL_CACHE 1024 /* distinct matmul problems per process (a model run has ~100) */
#define PACK_M_DEFAULT 1024

/* ---- the engine and what this CPU runs ---- */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static dnnl_engine_t engine;
static dnnl_status_t engine_status;
static bool bf16_ok;
static char bf16_why[256];

static void init(void);

/* oneDNN's ISA in its own words; init() calls it too, inside pthread_once,
 * so it must not ask for init (a second pthread_once on the same control
 * from inside its routine waits for itself: every load hung on AVX2-only
 * CPUs, where the bf16 probe fails and init names the ISA). */
static const char *isa_name(void) {
  return engine_status ? "unavailable" : dl.cpu_isa2str(dl.get_effective_cpu_isa());
}

static const char *on_isa(void) {
  pthread_once(&once, init);
  return isa_name();
}

static dnnl_status_t md_plain(dnnl_memory_desc_t *md, int64_t rows, int64_t cols,
                              dnnl_data_type_t dt, int64_t row_stride, int64_t col_stride) {
  const dnnl_dims_t dims = {rows, cols}, strides = {row_stride, col_stride};
  return dl.memory_desc_init_by_strides(md, 2, dims, dt, strides);
}

static dnnl_status_t md_any(dnnl_memory_desc_t *md, int64_t rows, int64_t cols,
                            dnnl_data_type_t dt) {
  const dnnl_dims_t dims = {rows, cols};
  return dl.memory_desc_init_by_tag(md, 2, dims, dt, dnnl_format_tag_any);
}

/* A primitive and the memory layouts it was made for. */
typedef struct prim {
  dnnl_primitive_t p;
  dnnl_memory_desc_t src, wei, dst, scratch; /* matmul: src, weights, dst; reorder: from, to */
  char impl[48];                             /* oneDNN's implementation name */
} prim;

static void prim_destroy(prim *p) {
  if (p->p) dl.primitive_destroy(p->p);
  p->p = NULL;
}

static dnnl_status_t attr_new(dnnl_primitive_attr_t *attr, float alpha, float sum) {
  dnnl_status_t s = dl.primitive_attr_create(attr);
  if (s) return s;
  s = dl.primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user);
  if (!s && alpha != 1.0f) s = dl.primitive_attr_set_output_scales(*attr, 1, 0, &alpha);
  if (!s && sum != 0.0f) {
    dnnl_post_ops_t po;
    s = dl.post_ops_create(&po);
    if (!s) {
      s = dl.post_ops_append_sum(po, sum);
      if (!s) s = dl.primitive_attr_set_post_ops(*attr, po);
      dl.post_ops_destroy(po);
    }
  }
  if (s) dl.primitive_attr_destroy(*attr);
  return s;
}

/* Fills out from a primitive descriptor (which it destroys). */
static dnnl_status_t prim_from_pd(prim *out, dnnl_primitive_desc_t pd, bool reorder) {
  const dnnl_memory_desc_t *md;
  if (reorder) {
    if ((md = dl.primitive_desc_query_md(pd, dnnl_query_src_md, 0))) out->src = *md;
    if ((md = dl.primitive_desc_query_md(pd, dnnl_query_dst_md, 0))) out->dst = *md;
  } else {
    if ((md = dl.primitive_desc_query_md(pd, dnnl_query_src_md, 0))) out->src = *md;
    if ((md = dl.primitive_desc_query_md(pd, dnnl_query_weights_md, 0))) out->wei = *md;
    if ((md = dl.primitive_desc_query_md(pd, dnnl_query_dst_md, 0))) out->dst = *md;
  }
  if ((md = dl.primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0))) out->scratch = *md;
  const char *impl = NULL;
  if (dl.primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) || !impl) impl = "?";
  snprintf(out->impl, sizeof out->impl, "%s", impl);
  dnnl_status_t s = dl.primitive_create(&out->p, pd);
  dl.primitive_desc_destroy(pd);
  return s;
}

/* A matmul primitive; bias may be NULL; sum != 0 adds sum·dst (beta). With
 * pd_only, out gets the layouts but no primitive. */
static dnnl_status_t matmul_new(prim *out, const dnnl_memory_desc_t *src,
                                const dnnl_memory_desc_t *wei, const dnnl_memory_desc_t *bias,
                                const dnnl_memory_desc_t *dst, float alpha, float sum) {
  memset(out, 0, sizeof *out);
  dnnl_matmul_desc_t desc;
  dnnl_status_t s = dl.matmul_desc_init(&desc, src, wei, bias, dst);
  if (s) return s;
  dnnl_primitive_attr_t attr;
  if ((s = attr_new(&attr, alpha, sum))) return s;
  dnnl_primitive_desc_t pd;
  s = dl.primitive_desc_create(&pd, &desc, attr, engine, NULL);
  dl.primitive_attr_destroy(attr);
  if (s) return s;
  return prim_from_pd(out, pd, false);
}

static dnnl_status_t reorder_new(prim *out, const dnnl_memory_desc_t *from,
                                 const dnnl_memory_desc_t *to) {
  memset(out, 0, sizeof *out);
  dnnl_primitive_attr_t attr;
  dnnl_status_t s = attr_new(&attr, 1.0f, 0.0f);
  if (s) return s;
  dnnl_primitive_desc_t pd;
  s = dl.reorder_primitive_desc_create(&pd, from, engine, to, engine, attr);
  dl.primitive_attr_destroy(attr);
  if (s) return s;
  return prim_from_pd(out, pd, true);
}

/* Runs a primitive: n arguments (ids, layouts, pointers) plus the
 * scratchpad, on a stream of its own, and waits for it. */
static dnnl_status_t run(const prim *p, int n, const int *ids, const dnnl_memory_desc_t *const *mds,
                         void *const *ptrs, void *scratch) {
  dnnl_exec_arg_t args[6];
  dnnl_memory_t mem[6] = {0};
  dnnl_stream_t stream = NULL;
  dnnl_status_t s = dl.stream_create(&stream, engine, dnnl_stream_default_flags);
  int used = 0;
  for (int i = 0; i < n && !s; i++, used++) {
    s = dl.memory_create(&mem[i], mds[i], engine, ptrs[i]);
    args[i] = (dnnl_exec_arg_t){ids[i], mem[i]};
  }
  if (!s && dl.memory_desc_get_size(&p->scratch)) {
    s = dl.memory_create(&mem[used], &p->scratch, engine, scratch);
    args[used] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, mem[used]};
    used++;
  }
  if (!s) s = dl.primitive_execute(p->p, stream, used, args);
  if (!s) s = dl.stream_wait(stream);
  for (int i = 0; i < used; i++)
    if (mem[i]) dl.memory_destroy(mem[i]);
  if (stream) dl.stream_destroy(stream);
  return s;
}

static dif_status fail(dif__error *err, dnnl_status_t s, const char *what) {
  const dif_status st = s == dnnl_out_of_memory   ? DIF_ERR_OUT_OF_MEMORY
                        : s == dnnl_unimplemented ? DIF_ERR_UNSUPPORTED
                                                  : DIF_ERR_INTERNAL;
  return dif__fail(err, st, "onednn: %s: %s", what, dl.status2str(s));
}

static void init(void) {
  if (!dl_open()) {
    engine_status = dnnl_runtime_error;
    snprintf(bf16_why, sizeof bf16_why, "oneDNN is not available: %s", dl_error);
    return;
  }
  /* DIF_MAX_CPU_ISA (core/blas.h) caps oneDNN too, before its first
   * primitive: AVX-512 keeps bf16 without AMX. oneDNN refuses a cap once
   * its ISA was asked (not yet here) or where ONEDNN_MAX_CPU_ISA already
   * set one; the note in the log then stands for the rest. */
  const dif__isa cap = dif__cpu_isa_cap();
  if (cap != DIF__ISA_UNKNOWN)
    (void)dl.set_max_cpu_isa(cap >= DIF__ISA_AVX512 ? dnnl_cpu_isa_avx512_core_bf16
                             : cap == DIF__ISA_AVX2 ? dnnl_cpu_isa_avx2
                             : cap == DIF__ISA_AVX  ? dnnl_cpu_isa_avx
                                                    : dnnl_cpu_isa_sse41);
  engine_status = dl.engine_create(&engine, dnnl_cpu, 0);
  char cpu[160];
  dif__cpu_describe(cpu, sizeof cpu);
  if (engine_status) {
    snprintf(bf16_why, sizeof bf16_why, "oneDNN could not start (%s)",
             dl.status2str(engine_status));
    return;
  }
  /* Does a bf16 matmul exist here, and not only oneDNN's reference code? */
  dnnl_memory_desc_t a, b, c;
  prim p;
  dnnl_status_t s = md_any(&a, 32, 32, dnnl_bf16);
  if (!s) s = md_any(&b, 32, 32, dnnl_bf16);
  if (!s) s = md_any(&c, 32, 32, dnnl_f32);
  if (!s) s = matmul_new(&p, &a, &b, NULL, &c, 1.0f, 0.0f);
  if (s) {
    snprintf(bf16_why, sizeof bf16_why,
             "needs AVX-512 (oneDNN 2.6 runs bf16 only there; this CPU: %s; oneDNN ISA %s)", cpu,
             isa_name());
    return;
  }
  bf16_ok = strncmp(p.impl, "ref", 3) != 0;
  if (!bf16_ok)
    snprintf(bf16_why, sizeof bf16_why,
             "needs AVX-512 (oneDNN has only its reference bf16 code here; this CPU: %s)", cpu);
  prim_destroy(&p);
}

/* bf16 natively: oneDNN's effective ISA includes AVX512-BF16 (AMX ISAs
 * include it too); plain AVX-512 emulates bf16. */
static bool on_native(dif__dtype math) {
  if (math == DIF__DTYPE_F32) return true;
  if (math != DIF__DTYPE_BF16) return false;
  pthread_once(&once, init);
  const unsigned isa = (unsigned)dl.get_effective_cpu_isa(),
                 want = (unsigned)dnnl_cpu_isa_avx512_core_bf16;
  return !engine_status && bf16_ok && (isa & want) == want;
}

/* AMX: oneDNN's effective ISA includes avx512_core_amx's bits (its bf16
 * products then run on tiles where oneDNN has AMX kernels for them). */
static bool on_bf16_tiles(void) {
  pthread_once(&once, init);
  const unsigned isa = (unsigned)dl.get_effective_cpu_isa(),
                 want = (unsigned)dnnl_cpu_isa_avx512_core_amx;
  return !engine_status && bf16_ok && (isa & want) == want;
}

static bool on_supports(dif__dtype math, char *why, size_t size) {
  pthread_once(&once, init);
  if (engine_status) {
    snprintf(why, size, "%s", bf16_why);
    return false;
  }
  if (math == DIF__DTYPE_F32) return true;
  if (math == DIF__DTYPE_BF16 && bf16_ok) return true;
  snprintf(why, size, "%s", math == DIF__DTYPE_BF16 ? bf16_why : "unknown precision");
  return false;
}

static dnnl_data_type_t dt_of(dif__dtype math) {
  return math == DIF__DTYPE_BF16 ? dnnl_bf16 : dnnl_f32;
}

/* ---- scratch: from the caller's arena, else the heap ---- */

typedef struct scratch {
  dif__arena *arena;
  dif__arena_mark mark;
  void *heap;
} scratch;

static void *scratch_get(scratch *sc, const dif__kctx *k, size_t bytes, dif__error *err) {
  memset(sc, 0, sizeof *sc);
  if (!bytes) return NULL;
  if (k && k->arena) {
    sc->arena = k->arena;
    sc->mark = dif__arena_get_mark(k->arena);
    return dif__arena_alloc(k->arena, bytes, err);
  }
  sc->heap = aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (!sc->heap) dif__fail_oom(err, "oneDNN scratch", bytes);
  return sc->heap;
}

static void scratch_put(scratch *sc) {
  if (sc->arena) dif__arena_release(sc->arena, sc->mark);
  free(sc->heap);
}

static size_t round64(size_t n) { return (n + 63) / 64 * 64; }

/* What a weight reorder into a layout of data type dt (bf16 or f32) reads:
 * w itself where oneDNN reorders from its dtype — F32, and BF16 into bf16
 * (bits copied) —, else a temporary in *tmp (the caller puts it back)
 * holding F16 rounded to bf16 bits (dif__weight_bf16: the rounding oneDNN's
 * float32 → bf16 reorder does, so the packed bits are those of widening
 * first; oneDNN 2.6 has no f16 reorder on CPUs without AVX512-FP16) or
 * F16 / BF16 widened to float32 (exact), w read as rows × cols (its
 * numel). The temporary comes from kx's arena (its pages reused from one
 * weight to the next: fresh ones cost a page fault each), else from the
 * heap; it is filled on kx's pool (serially without one). *from_dt is the
 * data type read. NULL (err set) when the temporary cannot be allocated or
 * rows × cols is not w's size. */
static const void *reorder_source(const dif__kctx *kx, dif__weight w, int64_t rows, int64_t cols,
                                  dnnl_data_type_t dt, dnnl_data_type_t *from_dt, scratch *tmp,
                                  dif__error *err) {
  memset(tmp, 0, sizeof *tmp);
  *from_dt = w.dtype == DIF__DTYPE_F32 || dt != dnnl_bf16 ? dnnl_f32 : dnnl_bf16;
  if (w.dtype == DIF__DTYPE_F32 || (w.dtype == DIF__DTYPE_BF16 && dt == dnnl_bf16)) return w.data;
  const size_t count = (size_t)w.numel;
  if (rows < 1 || cols < 1 || (size_t)rows * (size_t)cols != count) {
    dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "onednn: a weight of %lld values read as %lld x %lld",
              (long long)w.numel, (long long)rows, (long long)cols);
    return NULL;
  }
  if (*from_dt == dnnl_bf16) { /* F16 into bf16: half the bytes of widening first */
    uint16_t *b = scratch_get(tmp, kx, count * sizeof *b, err);
    if (b) dif__weight_bf16(dif__kpool(kx), w, b);
    return b;
  }
  float *f = scratch_get(tmp, kx, count * sizeof *f, err);
  if (f) dif__weight_tile_f32(dif__kpool(kx), w, cols, 0, rows, 0, cols, f);
  return f;
}

/* ---- packed weights and linear ---- */

typedef struct lin_entry {
  int64_t m;
  bool bias, acc, x_cf, y_cf;
  bool xb;  /* x given in bf16 (linear_bf16): no conversion */
  prim mm;  /* the matmul */
  prim cvt; /* bf16: x float32 → bf16 */
} lin_entry;

typedef struct on_packed {
  dif__packed base;
  void *data;             /* W in the primitive's layout */
  dnnl_memory_desc_t wei; /* that layout */
  pthread_mutex_t lock;
  int used;
  lin_entry cache[LINEAR_CACHE];
} on_packed;

/* oneDNN loaded and started (the first call loads it), else why not. */
static dif_status ready(dif__error *err) {
  pthread_once(&once, init);
  return engine_status ? dif__fail(err, DIF_ERR_UNSUPPORTED, "onednn: %s", bf16_why) : DIF_OK;
}

static dif_status on_pack(const dif__kctx *kx, dif__dtype math, dif__dtype src, const void *w,
                          int64_t n, int64_t k, int64_t m_hint, dif__packed **out,
                          dif__error *err) {
  if (ready(err)) return DIF_ERR_UNSUPPORTED;
  const int64_t m = m_hint > 0 ? m_hint : PACK_M_DEFAULT;
  const dnnl_data_type_t dt = dt_of(math);
  dnnl_memory_desc_t x_md, w_any, y_md, w_src;
  prim probe;
  dnnl_status_t s = md_plain(&x_md, m, k, dt, k, 1);
  if (!s) s = md_any(&w_any, k, n, dt);
  if (!s) s = md_plain(&y_md, m, n, dnnl_f32, n, 1);
  if (!s) s = matmul_new(&probe, &x_md, &w_any, NULL, &y_md, 1.0f, 0.0f);
  if (s) return fail(err, s, "choosing the weight layout");
  prim_destroy(&probe);

  on_packed *p = calloc(1, sizeof *p);
  const size_t bytes = dl.memory_desc_get_size(&probe.wei);
  const size_t count = (size_t)n * (size_t)k;
  dnnl_data_type_t from_dt = dnnl_f32;
  scratch tmp = {0};
  const dif__weight wt = {w, src, (int64_t)count, false};
  const void *from = p ? reorder_source(kx, wt, n, k, dt, &from_dt, &tmp, err) : NULL;
  if (p && from) p->data = aligned_alloc(64, round64(bytes));
  if (!p || !from || !p->data) {
    const bool staged = p && !from; /* err says why (reorder_source) */
    if (p) free(p->data);
    free(p), scratch_put(&tmp);
    if (staged) {
      dif__error_prefix(err, "packing a weight");
      return err ? err->status : DIF_ERR_OUT_OF_MEMORY;
    }
    return dif__fail_oom(err, "a packed weight", bytes);
  }
  p->wei = probe.wei;

  /* W[n, k] row-major is the [k, n] matrix with strides (1, k). */
  prim cvt;
  s = md_plain(&w_src, k, n, from_dt, 1, k);
  if (!s) s = reorder_new(&cvt, &w_src, &p->wei);
  scratch sc = {0};
  void *pad = NULL;
  if (!s) {
    pad = scratch_get(&sc, kx, dl.memory_desc_get_size(&cvt.scratch), err);
    if (dl.memory_desc_get_size(&cvt.scratch) && !pad) s = dnnl_out_of_memory;
  }
  if (!s) {
    const int ids[2] = {DNNL_ARG_FROM, DNNL_ARG_TO};
    const dnnl_memory_desc_t *mds[2] = {&w_src, &p->wei};
    void *const ptrs[2] = {(void *)(uintptr_t)from, p->data};
    s = run(&cvt, 2, ids, mds, ptrs, pad);
  }
  scratch_put(&sc);
  prim_destroy(&cvt);
  scratch_put(&tmp);
  if (s) {
    free(p->data);
    free(p);
    return fail(err, s, "packing a weight");
  }
  pthread_mutex_init(&p->lock, NULL);
  p->base = (dif__packed){&dif__backend_onednn, math, src, n, k, bytes};
  *out = &p->base;
  return DIF_OK;
}

/* x[m, k] as given: row-major, or channels-first ([k, m] in memory). */
static dnnl_status_t md_x(dnnl_memory_desc_t *md, int64_t m, int64_t k, dnnl_data_type_t dt,
                          bool cf) {
  return cf ? md_plain(md, m, k, dt, 1, m) : md_plain(md, m, k, dt, k, 1);
}

static dnnl_status_t lin_entry_new(lin_entry *e, const on_packed *p, int64_t m, bool bias, bool acc,
                                   bool x_cf, bool y_cf, bool xb) {
  memset(e, 0, sizeof *e);
  e->m = m, e->bias = bias, e->acc = acc, e->x_cf = x_cf, e->y_cf = y_cf, e->xb = xb;
  const int64_t n = p->base.n, k = p->base.k;
  const dnnl_data_type_t dt = dt_of(p->base.math);
  dnnl_memory_desc_t x_md, b_md, y_md, x32;
  /* The matmul sees plain row-major x and y only: oneDNN 2.6 has nothing
   * but its reference code (measured ~1 GFLOP/s) for a transposed dst or
   * src. So x is reordered (to bf16, and transposed if channels-first) into
   * row-major scratch when it is bf16 or channels-first, and a
   * channels-first y is computed row-major into scratch (bias included, no
   * accumulation) and transposed into y (added when acc). */
  dnnl_status_t s = md_x(&x_md, m, k, dt, false);
  if (!s) s = md_plain(&b_md, 1, n, dnnl_f32, n, 1);
  if (!s) s = md_x(&y_md, m, n, dnnl_f32, false);
  if (!s)
    s = matmul_new(&e->mm, &x_md, &p->wei, bias ? &b_md : NULL, &y_md, 1.0f,
                   acc && !y_cf ? 1.0f : 0);
  if (!s && !xb && (dt == dnnl_bf16 || x_cf)) {
    s = md_x(&x32, m, k, dnnl_f32, x_cf);
    if (!s) s = reorder_new(&e->cvt, &x32, &e->mm.src);
  }
  if (s) prim_destroy(&e->mm), prim_destroy(&e->cvt);
  return s;
}

/* The cached entry for (m, bias, acc), made if new; NULL with *tmp filled
 * when the cache is full (the caller destroys *tmp). */
static dnnl_status_t lin_entry_get(on_packed *p, int64_t m, bool bias, bool acc, bool x_cf,
                                   bool y_cf, bool xb, const lin_entry **e, lin_entry *tmp) {
  dnnl_status_t s = dnnl_success;
  *e = NULL;
  pthread_mutex_lock(&p->lock);
  for (int i = 0; i < p->used; i++)
    if (p->cache[i].m == m && p->cache[i].bias == bias && p->cache[i].acc == acc &&
        p->cache[i].x_cf == x_cf && p->cache[i].y_cf == y_cf && p->cache[i].xb == xb) {
      *e = &p->cache[i];
      break;
    }
  if (!*e) {
    if (p->used < LINEAR_CACHE) {
      s = lin_entry_new(&p->cache[p->used], p, m, bias, acc, x_cf, y_cf, xb);
      if (!s) *e = &p->cache[p->used++];
    } else {
      s = lin_entry_new(tmp, p, m, bias, acc, x_cf, y_cf, xb);
      if (!s) *e = tmp;
    }
  }
  pthread_mutex_unlock(&p->lock);
  return s;
}

/* A channels-first y from the matmul's row-major yt: yt[m, n] → y[n, m]
 * (added when acc), in 32 × 32 tiles (kern_simd's transpose), tile t = (row
 * block, column block) on the pool (a transpose is bound by memory, not
 * arithmetic: done in one thread it took ~1 % of a fast 512² UNet step). */
typedef struct cf_job {
  const float *yt;
  float *y;
  int64_t m, n;
  bool acc;
  int64_t jtiles; /* column blocks of 32 */
} cf_job;

static void cf_task(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const cf_job *c = arg;
  for (int64_t t = begin; t < end; t++) {
    const int64_t i0 = t / c->jtiles * 32, j0 = t % c->jtiles * 32;
    const int64_t ni = c->m - i0 < 32 ? c->m - i0 : 32, nj = c->n - j0 < 32 ? c->n - j0 : 32;
    dif__k_transpose(c->yt + i0 * c->n + j0, c->n, c->y + j0 * c->m + i0, c->m, nj, ni, NULL,
                     c->acc);
  }
}

static dif_status on_linear(const dif__kctx *k, const dif__packed *w, const float *x, bool x_cf,
                            int64_t m, const float *b, bool acc, float *y, bool y_cf,
                            dif__error *err) {
  on_packed *p = (on_packed *)(uintptr_t)w; /* only its cache changes, under its lock */
  follow_threads(k);
  const lin_entry *e;
  lin_entry tmp = {0};
  dnnl_status_t s = lin_entry_get(p, m, b != NULL, acc, x_cf, y_cf, false, &e, &tmp);
  if (s) return fail(err, s, "making a linear product");
  const bool cvt = e->cvt.p != NULL;
  const size_t xb_bytes = cvt ? round64(dl.memory_desc_get_size(&e->mm.src)) : 0;
  const size_t yt_bytes = y_cf ? round64((size_t)m * (size_t)w->n * sizeof(float)) : 0;
  size_t pad_bytes = round64(dl.memory_desc_get_size(&e->mm.scratch));
  if (cvt && dl.memory_desc_get_size(&e->cvt.scratch) > pad_bytes)
    pad_bytes = round64(dl.memory_desc_get_size(&e->cvt.scratch));
  scratch sc;
  char *mem = scratch_get(&sc, k, xb_bytes + yt_bytes + pad_bytes, err);
  if (xb_bytes + yt_bytes + pad_bytes && !mem) {
    if (e == &tmp) prim_destroy(&tmp.mm), prim_destroy(&tmp.cvt);
    return err ? err->status : DIF_ERR_OUT_OF_MEMORY;
  }
  void *xb = mem, *pad = mem ? mem + xb_bytes + yt_bytes : NULL;
  float *yt = y_cf ? (float *)(void *)(mem + xb_bytes) : y; /* the matmul's row-major dst */
  const void *src = x;
  if (cvt) {
    const dnnl_memory_desc_t *mds[2] = {&e->cvt.src, &e->cvt.dst};
    void *const ptrs[2] = {(void *)(uintptr_t)x, xb};
    s = run(&e->cvt, 2, (const int[]){DNNL_ARG_FROM, DNNL_ARG_TO}, mds, ptrs, pad);
    src = xb;
  }
  if (!s) {
    dnnl_memory_desc_t b_md;
    md_plain(&b_md, 1, w->n, dnnl_f32, w->n, 1);
    const dnnl_memory_desc_t *mds[4] = {&e->mm.src, &p->wei, &e->mm.dst, &b_md};
    void *const ptrs[4] = {(void *)(uintptr_t)src, p->data, yt, (void *)(uintptr_t)b};
    const int ids[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS};
    s = run(&e->mm, b ? 4 : 3, ids, mds, ptrs, pad);
  }
  if (!s && y_cf) {
    cf_job job = {yt, y, m, w->n, acc, (w->n + 31) / 32};
    dif__pool_for(k ? k->pool : NULL, (m + 31) / 32 * job.jtiles, 4, cf_task, &job);
  }
  scratch_put(&sc);
  if (e == &tmp) prim_destroy(&tmp.mm), prim_destroy(&tmp.cvt);
  return s ? fail(err, s, "running a linear product") : DIF_OK;
}

/* linear_bf16: the matmul alone, on x as given (bf16, row-major). */
static dif_status on_linear_bf16(const dif__kctx *k, const dif__packed *w, const uint16_t *x,
                                 int64_t m, float *y, dif__error *err) {
  if (w->math != DIF__DTYPE_BF16)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT, "onednn: linear_bf16 on a float32 weight");
  on_packed *p = (on_packed *)(uintptr_t)w; /* only its cache changes, under its lock */
  follow_threads(k);
  const lin_entry *e;
  lin_entry tmp = {0};
  dnnl_status_t s = lin_entry_get(p, m, false, false, false, false, true, &e, &tmp);
  if (s) return fail(err, s, "making a linear product on bf16 input");
  const size_t pad_bytes = round64(dl.memory_desc_get_size(&e->mm.scratch));
  scratch sc;
  void *pad = scratch_get(&sc, k, pad_bytes, err);
  if (pad_bytes && !pad) {
    if (e == &tmp) prim_destroy(&tmp.mm);
    return err ? err->status : DIF_ERR_OUT_OF_MEMORY;
  }
  const dnnl_memory_desc_t *mds[3] = {&e->mm.src, &p->wei, &e->mm.dst};
  void *const ptrs[3] = {(void *)(uintptr_t)x, p->data, y};
  const int ids[3] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST};
  s = run(&e->mm, 3, ids, mds, ptrs, pad);
  scratch_put(&sc);
  if (e == &tmp) prim_destroy(&tmp.mm);
  return s ? fail(err, s, "running a linear product on bf16 input") : DIF_OK;
}

static void on_packed_free(dif__packed *w) {
  on_packed *p = (on_packed *)w;
  for (int i = 0; i < p->used; i++) prim_destroy(&p->cache[i].mm), prim_destroy(&p->cache[i].cvt);
  pthread_mutex_destroy(&p->lock);
  free(p->data);
  free(p);
}

/* ---- convolutions: float32 3×3 Winograd, bf16 direct ----
 *
 * Two kinds, one machinery (a dif__conv's math says which):
 *   - F32: oneDNN's convolution_winograd in float32 throughout (jit_wino_4x3,
 *     F(4,3), on AVX-512; jit_fp32_wino_2x3 for small images; nothing below
 *     AVX-512, where creating the primitive fails and the caller keeps its
 *     own code). Its error against a double reference is float32-class, as
 *     oneDNN's direct convolution's (docs/performance.md). src and dst are
 *     nChw16c, src with one row more above and below than dst (padding 0
 *     there, 1 left and right: the caller runs an image in bands of rows,
 *     with their halo).
 *   - BF16: oneDNN's direct convolution on bf16 channels-last src (nhwc),
 *     float32 channels-last dst, weights in bf16 (brgconv on AVX512-BF16
 *     and AMX CPUs): every multiply done, with the roundings of every fast
 *     product. src holds every row the outputs read (padding 0 above and
 *     below, the geometry's left and right).
 * The weights are reordered once into the layout the primitive asks for
 * (format `any`). That layout may depend on the image size through the
 * kernel oneDNN picks (Winograd's 2x3 kernel's differs from its 4x3's), so
 * a prepared weight keeps one layout per kernel it has met (usually one; a
 * bf16 primitive for a new size is first asked to take the layout already
 * made) and its primitives per (N, H, W); both lists are append-only under
 * the weight's lock, entries never change once published (as a linear's
 * cache above). A primitive for which oneDNN has only its reference code
 * (~1 GFLOP/s) counts as unsupported. */

#define CONV_LAYOUTS 4 /* weight layouts per prepared convolution weight */
#define CONV_PRIMS 16  /* (N, H, W) primitives per prepared convolution weight */

typedef struct conv_layout {
  dnnl_memory_desc_t wei;
  void *data;
} conv_layout;

typedef struct conv_entry {
  int64_t N, H, W; /* the source's size (F32: the output's rows, H + 2 given) */
  bool bias, acc;  /* bf16: a bias [cout] added; dst accumulated onto (a sum post-op) */
  prim pr;
  const conv_layout *layout;
} conv_entry;

typedef struct on_conv {
  dif__conv base;
  dif__weight w; /* the source [cout, cin, kh, kw], valid while this lives */
  pthread_mutex_t lock;
  int n_layouts, n_prims;
  conv_layout layouts[CONV_LAYOUTS];
  conv_entry prims[CONV_PRIMS];
} on_conv;

/* The primitive for N images of H × W (see the kinds above), with a float32
 * bias [cout] and dst accumulated onto (bf16 only); wei NULL asks for the
 * weights' layout (`any`), else the primitive must take it. */
static dnnl_status_t conv_new(prim *out, const dif__conv *c, int64_t N, int64_t H, int64_t W,
                              bool bias, bool acc, const dnnl_memory_desc_t *wei) {
  memset(out, 0, sizeof *out);
  const dif__conv_geom *g = &c->g;
  const bool wino = c->math == DIF__DTYPE_F32;
  const dnnl_data_type_t dt = wino ? dnnl_f32 : dnnl_bf16;
  const dnnl_format_tag_t tag = wino ? dnnl_nChw16c : dnnl_nhwc;
  /* wino: H output rows from H + 2 input rows; bf16: H input rows */
  const int64_t Hs = wino ? H + 2 : H;
  const int64_t OH = (Hs - g->kh) / g->stride + 1;
  const int64_t OW = (W + g->pad_left + g->pad_right - g->kw) / g->stride + 1;
  const dnnl_dims_t sd = {N, g->cin, Hs, W}, wd = {g->cout, g->cin, g->kh, g->kw},
                    dd = {N, g->cout, OH, OW};
  const dnnl_dims_t stride = {g->stride, g->stride}, pl = {0, g->pad_left}, pr = {0, g->pad_right};
  const dnnl_dims_t bd = {g->cout};
  dnnl_memory_desc_t s_md, w_md, d_md, b_md;
  dnnl_convolution_desc_t desc;
  dnnl_primitive_attr_t attr;
  dnnl_status_t s = dl.memory_desc_init_by_tag(&s_md, 4, sd, dt, tag);
  if (!s && wei) w_md = *wei;
  if (!s && !wei) s = dl.memory_desc_init_by_tag(&w_md, 4, wd, dt, dnnl_format_tag_any);
  if (!s) s = dl.memory_desc_init_by_tag(&d_md, 4, dd, dnnl_f32, tag);
  if (!s && bias) s = dl.memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_a);
  if (!s)
    s = dl.convolution_forward_desc_init(&desc, dnnl_forward_inference,
                                         wino ? dnnl_convolution_winograd : dnnl_convolution_direct,
                                         &s_md, &w_md, bias ? &b_md : NULL, &d_md, stride, pl, pr);
  if (!s) s = attr_new(&attr, 1.0f, acc ? 1.0f : 0.0f);
  if (s) return s;
  dnnl_primitive_desc_t pd;
  s = dl.primitive_desc_create(&pd, &desc, attr, engine, NULL);
  dl.primitive_attr_destroy(attr);
  if (s) return s;
  if (!(s = prim_from_pd(out, pd, false)) && strncmp(out->impl, "ref", 3) == 0) {
    prim_destroy(out);
    s = dnnl_unimplemented;
  }
  return s;
}

/* The source weight reordered into layout wei (reorder_source: as stored,
 * or rounded or widened exactly first; a bf16 layout rounds it to nearest
 * even). */
static dnnl_status_t conv_layout_new(const dif__kctx *kx, conv_layout *l, const on_conv *c,
                                     const dnnl_memory_desc_t *wei) {
  l->wei = *wei;
  const dif__conv_geom *g = &c->base.g;
  dnnl_data_type_t from_dt = dnnl_f32;
  scratch tmp;
  dif__error err;
  const void *from = reorder_source(kx, c->w, g->cout, g->cin * g->kh * g->kw, wei->data_type,
                                    &from_dt, &tmp, &err);
  l->data = from ? aligned_alloc(64, round64(dl.memory_desc_get_size(wei))) : NULL;
  if (!l->data) {
    scratch_put(&tmp);
    return dnnl_out_of_memory;
  }
  const dnnl_dims_t wd = {g->cout, g->cin, g->kh, g->kw};
  dnnl_memory_desc_t oihw;
  prim cvt = {0};
  scratch sc = {0};
  void *pad = NULL;
  dnnl_status_t s = dl.memory_desc_init_by_tag(&oihw, 4, wd, from_dt, dnnl_oihw);
  if (!s) s = reorder_new(&cvt, &oihw, wei);
  const size_t pad_bytes = s ? 0 : dl.memory_desc_get_size(&cvt.scratch);
  if (pad_bytes && !(pad = scratch_get(&sc, kx, pad_bytes, &err))) s = dnnl_out_of_memory;
  if (!s) {
    const int ids[2] = {DNNL_ARG_FROM, DNNL_ARG_TO};
    const dnnl_memory_desc_t *mds[2] = {&oihw, wei};
    void *const ptrs[2] = {(void *)(uintptr_t)from, l->data};
    s = run(&cvt, 2, ids, mds, ptrs, pad);
  }
  scratch_put(&sc);
  prim_destroy(&cvt);
  scratch_put(&tmp);
  if (s) free(l->data), l->data = NULL;
  return s;
}

/* The primitive for (N, H, W, bias, acc) with its weights' layout, made if
 * new (under c->lock); *e = tmp when the cache is full (the caller destroys
 * tmp->pr). */
static dnnl_status_t conv_entry_get(const dif__kctx *kx, on_conv *c, int64_t N, int64_t H,
                                    int64_t W, bool bias, bool acc, const conv_entry **e,
                                    conv_entry *tmp) {
  dnnl_status_t s = dnnl_success;
  *e = NULL;
  pthread_mutex_lock(&c->lock);
  for (int i = 0; i < c->n_prims && !*e; i++) {
    const conv_entry *ce = &c->prims[i];
    if (ce->N == N && ce->H == H && ce->W == W && ce->bias == bias && ce->acc == acc) *e = ce;
  }
  if (!*e) {
    conv_entry *ne = c->n_prims < CONV_PRIMS ? &c->prims[c->n_prims] : tmp;
    memset(ne, 0, sizeof *ne);
    ne->N = N, ne->H = H, ne->W = W, ne->bias = bias, ne->acc = acc;
    /* bf16: the layout already made, if the new size's primitive takes it */
    if (c->base.math == DIF__DTYPE_BF16 && c->n_layouts &&
        !conv_new(&ne->pr, &c->base, N, H, W, bias, acc, &c->layouts[0].wei))
      ne->layout = &c->layouts[0];
    else
      s = conv_new(&ne->pr, &c->base, N, H, W, bias, acc, NULL);
    for (int i = 0; !s && i < c->n_layouts && !ne->layout; i++)
      if (dl.memory_desc_equal(&c->layouts[i].wei, &ne->pr.wei)) ne->layout = &c->layouts[i];
    if (!s && !ne->layout) {
      conv_layout *l = &c->layouts[c->n_layouts];
      s = c->n_layouts == CONV_LAYOUTS ? dnnl_unimplemented
                                       : conv_layout_new(kx, l, c, &ne->pr.wei);
      if (!s) {
        ne->layout = l;
        c->n_layouts++;
        c->base.bytes += dl.memory_desc_get_size(&l->wei);
      }
    }
    if (s) {
      prim_destroy(&ne->pr);
    } else {
      if (ne != tmp) c->n_prims++;
      *e = ne;
    }
  }
  pthread_mutex_unlock(&c->lock);
  return s;
}

static void on_conv_free(dif__conv *w) {
  on_conv *c = (on_conv *)w;
  for (int i = 0; i < c->n_prims; i++) prim_destroy(&c->prims[i].pr);
  for (int i = 0; i < c->n_layouts; i++) free(c->layouts[i].data);
  pthread_mutex_destroy(&c->lock);
  free(c);
}

/* A prepared weight of that kind, with its first primitive (N, H, W). */
static dif_status conv_pack(const dif__kctx *kx, dif__dtype math, dif__weight w,
                            const dif__conv_geom *g, int64_t N, int64_t H, int64_t W,
                            const char *what, dif__conv **out, dif__error *err) {
  if (ready(err)) return DIF_ERR_UNSUPPORTED;
  if (!w.data || g->cout < 1 || g->cin < 1 || g->kh < 1 || g->kw < 1 ||
      w.numel / g->cout / g->cin / g->kh / g->kw != 1 ||
      w.numel != g->cout * g->cin * g->kh * g->kw)
    return dif__fail(err, DIF_ERR_INVALID_ARGUMENT,
                     "onednn: %s: bad weight (%lld x %lld x %lld x %lld, %lld values)", what,
                     (long long)g->cout, (long long)g->cin, (long long)g->kh, (long long)g->kw,
                     (long long)w.numel);
  on_conv *c = calloc(1, sizeof *c);
  if (!c) return dif__fail_oom(err, "a packed convolution weight", sizeof *c);
  c->base = (dif__conv){&dif__backend_onednn, math, *g, 0};
  c->w = w;
  pthread_mutex_init(&c->lock, NULL);
  const conv_entry *e;
  conv_entry tmp;
  const dnnl_status_t s = conv_entry_get(kx, c, N, H, W, false, false, &e, &tmp);
  if (s) {
    on_conv_free(&c->base);
    return fail(err, s, what);
  }
  *out = &c->base;
  return DIF_OK;
}

static dif_status conv_run(const dif__kctx *k, const dif__conv *w, int64_t N, int64_t H, int64_t W,
                           const void *src, const float *bias, bool acc, float *dst,
                           const char *what, dif__error *err) {
  on_conv *c = (on_conv *)(uintptr_t)w; /* only its caches change, under its lock */
  follow_threads(k);
  const conv_entry *e;
  conv_entry tmp = {0};
  dnnl_status_t s = conv_entry_get(k, c, N, H, W, bias != NULL, acc, &e, &tmp);
  if (s) return fail(err, s, what);
  const size_t pad_bytes = round64(dl.memory_desc_get_size(&e->pr.scratch));
  scratch sc;
  void *pad = scratch_get(&sc, k, pad_bytes, err);
  if (pad_bytes && !pad) {
    if (e == &tmp) prim_destroy(&tmp.pr);
    return err ? err->status : DIF_ERR_OUT_OF_MEMORY;
  }
  dnnl_memory_desc_t b_md;
  const dnnl_dims_t bd = {w->g.cout};
  if (bias) s = dl.memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_a);
  const dnnl_memory_desc_t *mds[4] = {&e->pr.src, &e->layout->wei, &e->pr.dst, &b_md};
  void *const ptrs[4] = {(void *)(uintptr_t)src, e->layout->data, dst, (void *)(uintptr_t)bias};
  const int ids[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS};
  if (!s) s = run(&e->pr, bias ? 4 : 3, ids, mds, ptrs, pad);
  scratch_put(&sc);
  if (e == &tmp) prim_destroy(&tmp.pr);
  return s ? fail(err, s, what) : DIF_OK;
}

/* conv3x3_f32_slow: an output of at most 4 F(4,3) tiles per image (8 × 8,
 * 16 × 4, ...)
 * with OH · OW · cin · cout under 2^20. oneDNN's Winograd is fast on such
 * shapes while its OpenMP threads spin, but libdif's callers let them sleep
 * (OMP_WAIT_POLICY=passive, include/dif.h), and then each call (one per
 * image) pays their wake-up, ~0.1-0.3 ms, more than the whole product of a
 * small convolution. Measured on Zen 4 (2 threads, a CFG pair, passive;
 * docs/performance.md), Winograd's time over im2col + sgemm's: 32 → 32 at
 * 8² 2.9-3.2, 64 → 128 at 8² 1.24, 128 → 128 at 4² 1.2-1.9, 128 → 256 at
 * 4² 1.24, but 128 → 128 at 8² (2^20) 0.66-0.88, 256 → 256 at 4² 0.66,
 * 640 → 640 at 8² 0.48; from 12 × 12 (9 tiles) 0.28-0.8 but for one noisy
 * 64 → 64 (0.8-1.5). */
static bool on_conv3x3_slow(int64_t cin, int64_t cout, int64_t OH, int64_t OW) {
  const int64_t tiles = (OH + 3) / 4 * ((OW + 3) / 4);
  return tiles <= 4 && OH * OW * cin * cout < ((int64_t)1 << 20);
}

static dif_status on_conv3x3_pack(const dif__kctx *kx, dif__weight w, int64_t cout, int64_t cin,
                                  int64_t H, int64_t W, dif__conv **out, dif__error *err) {
  const dif__conv_geom g = {cout, cin, 3, 3, 1, 1, 1};
  return conv_pack(kx, DIF__DTYPE_F32, w, &g, 1, H, W, "a float32 Winograd 3x3 convolution", out,
                   err);
}

static dif_status on_conv3x3_run(const dif__kctx *k, const dif__conv *w, int64_t N, int64_t H,
                                 int64_t W, const float *src, float *dst, dif__error *err) {
  return conv_run(k, w, N, H, W, src, NULL, false, dst, "a float32 Winograd 3x3 convolution", err);
}

/* Packed with a primitive for one image of kh × 64 columns: a size every
 * geometry has, so a weight oneDNN refuses is refused here, at once. */
static dif_status on_conv_bf16_pack(const dif__kctx *kx, dif__weight w, const dif__conv_geom *g,
                                    dif__conv **out, dif__error *err) {
  if (ready(err)) return DIF_ERR_UNSUPPORTED;
  if (!bf16_ok) return dif__fail(err, DIF_ERR_UNSUPPORTED, "onednn: %s", bf16_why);
  return conv_pack(kx, DIF__DTYPE_BF16, w, g, 1, g->kh, g->kw + 63, "a bf16 convolution", out, err);
}

static dif_status on_conv_bf16_run(const dif__kctx *k, const dif__conv *w, int64_t N, int64_t Hin,
                                   int64_t Win, const uint16_t *src, const float *bias, bool acc,
                                   float *dst, dif__error *err) {
  return conv_run(k, w, N, Hin, Win, src, bias, acc, dst, "a bf16 convolution", err);
}

/* ---- matmul on two activations ---- */

typedef struct mm_key {
  dif__dtype math;
  bool ta, tb;
  int64_t M, N, K, lda, ldb, ldc;
  float alpha, beta;
} mm_key;

typedef struct mm_entry {
  mm_key key;
  prim mm, cvt_a, cvt_b;       /* bf16: A and B reordered to the matmul's layouts */
  dnnl_memory_desc_t a32, b32; /* the operands as given (float32, strided) */
} mm_entry;

/* Entries are allocated one by one (each holds three primitives' layouts,
 * ~15 KiB) and never move or go away once published. */
static pthread_mutex_t mm_lock = PTHREAD_MUTEX_INITIALIZER;
static mm_entry *mm_cache[MATMUL_CACHE];
static int mm_used;

static bool key_eq(const mm_key *a, const mm_key *b) {
  return a->math == b->math && a->ta == b->ta && a->tb == b->tb && a->M == b->M && a->N == b->N &&
         a->K == b->K && a->lda == b->lda && a->ldb == b->ldb && a->ldc == b->ldc &&
         a->alpha == b->alpha && a->beta == b->beta;
}

static void mm_entry_destroy(mm_entry *e) {
  prim_destroy(&e->mm), prim_destroy(&e->cvt_a), prim_destroy(&e->cvt_b);
}

static dnnl_status_t mm_entry_new(mm_entry *e, const mm_key *key) {
  memset(e, 0, sizeof *e);
  e->key = *key;
  const int64_t M = key->M, N = key->N, K = key->K;
  dnnl_memory_desc_t a, b, c;
  /* op(A) is [M, K]: A[M, lda] row-major, or Aᵀ of A[K, lda]: strides (1, lda). */
  dnnl_status_t s = key->ta ? md_plain(&e->a32, M, K, dnnl_f32, 1, key->lda)
                            : md_plain(&e->a32, M, K, dnnl_f32, key->lda, 1);
  if (!s)
    s = key->tb ? md_plain(&e->b32, K, N, dnnl_f32, 1, key->ldb)
                : md_plain(&e->b32, K, N, dnnl_f32, key->ldb, 1);
  if (!s) s = md_plain(&c, M, N, dnnl_f32, key->ldc, 1);
  if (s) return s;
  if (key->math == DIF__DTYPE_F32)
    return matmul_new(&e->mm, &e->a32, &e->b32, NULL, &c, key->alpha, key->beta);
  s = md_plain(&a, M, K, dnnl_bf16, K, 1);
  if (!s) s = md_any(&b, K, N, dnnl_bf16);
  if (!s) s = matmul_new(&e->mm, &a, &b, NULL, &c, key->alpha, key->beta);
  if (!s) s = reorder_new(&e->cvt_a, &e->a32, &e->mm.src);
  if (!s) s = reorder_new(&e->cvt_b, &e->b32, &e->mm.wei);
  if (s) mm_entry_destroy(e);
  return s;
}

static dif_status on_matmul(const dif__kctx *k, dif__dtype math, bool trans_a, bool trans_b,
                            int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                            int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                            int64_t ldc, dif__error *err) {
  if (ready(err)) return DIF_ERR_UNSUPPORTED;
  follow_threads(k);
  const mm_key key = {math, trans_a, trans_b, M, N, K, lda, ldb, ldc, alpha, beta};
  const mm_entry *e = NULL;
  mm_entry tmp;
  dnnl_status_t s = dnnl_success;
  pthread_mutex_lock(&mm_lock);
  for (int i = 0; i < mm_used && !e; i++)
    if (key_eq(&mm_cache[i]->key, &key)) e = mm_cache[i];
  if (!e) {
    mm_entry *slot = mm_used < MATMUL_CACHE ? malloc(sizeof *slot) : NULL;
    if (!slot) slot = &tmp; /* full (or no memory for an entry): made, run and destroyed */
    s = mm_entry_new(slot, &key);
    if (!s) {
      e = slot;
      if (slot != &tmp) mm_cache[mm_used++] = slot;
    } else if (slot != &tmp) {
      free(slot);
    }
  }
  pthread_mutex_unlock(&mm_lock);
  if (s) return fail(err, s, "making a matmul");

  const bool bf16 = math == DIF__DTYPE_BF16;
  const size_t ab = bf16 ? round64(dl.memory_desc_get_size(&e->mm.src)) : 0;
  const size_t bb = bf16 ? round64(dl.memory_desc_get_size(&e->mm.wei)) : 0;
  size_t pad_bytes = round64(dl.memory_desc_get_size(&e->mm.scratch));
  if (bf16) {
    const size_t pa = dl.memory_desc_get_size(&e->cvt_a.scratch),
                 pb = dl.memory_desc_get_size(&e->cvt_b.scratch);
    if (round64(pa) > pad_bytes) pad_bytes = round64(pa);
    if (round64(pb) > pad_bytes) pad_bytes = round64(pb);
  }
  scratch sc;
  char *mem = scratch_get(&sc, k, ab + bb + pad_bytes, err);
  if (ab + bb + pad_bytes && !mem) {
    if (e == &tmp) mm_entry_destroy(&tmp);
    return err ? err->status : DIF_ERR_OUT_OF_MEMORY;
  }
  void *pad = mem ? mem + ab + bb : NULL;
  const void *a = A, *b = B;
  const int cvt_ids[2] = {DNNL_ARG_FROM, DNNL_ARG_TO};
  if (bf16) {
    const dnnl_memory_desc_t *mds_a[2] = {&e->a32, &e->mm.src}, *mds_b[2] = {&e->b32, &e->mm.wei};
    void *const pa[2] = {(void *)(uintptr_t)A, mem}, *const pb[2] = {(void *)(uintptr_t)B,
                                                                     mem + ab};
    s = run(&e->cvt_a, 2, cvt_ids, mds_a, pa, pad);
    if (!s) s = run(&e->cvt_b, 2, cvt_ids, mds_b, pb, pad);
    a = mem, b = mem + ab;
  }
  if (!s) {
    const int ids[3] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST};
    const dnnl_memory_desc_t *mds[3] = {&e->mm.src, &e->mm.wei, &e->mm.dst};
    void *const ptrs[3] = {(void *)(uintptr_t)a, (void *)(uintptr_t)b, C};
    s = run(&e->mm, 3, ids, mds, ptrs, pad);
  }
  scratch_put(&sc);
  if (e == &tmp) mm_entry_destroy(&tmp);
  return s ? fail(err, s, "running a matmul") : DIF_OK;
}

const dif__backend dif__backend_onednn = {
    .name = "onednn",
    .what = "oneDNN matmul and convolution: float32, or bf16 inputs with float32 accumulation "
            "(AVX-512, AMX)",
    .supports = on_supports,
    .isa = on_isa,
    .native = on_native,
    .bf16_tiles = on_bf16_tiles,
    .pack = on_pack,
    .linear = on_linear,
    .linear_bf16 = on_linear_bf16,
    .matmul = on_matmul,
    .packed_free = on_packed_free,
    .conv3x3_f32_pack = on_conv3x3_pack,
    .conv3x3_f32_run = on_conv3x3_run,
    .conv3x3_f32_slow = on_conv3x3_slow,
    .conv_bf16_pack = on_conv_bf16_pack,
    .conv_bf16_run = on_conv_bf16_run,
    .conv_free = on_conv_free,
};

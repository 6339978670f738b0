/* prof.h — optional per-op timing and FLOP counters (for bench/).
 *
 * Off by default. When off, an instrumented kernel pays one well-predicted
 * branch on a global flag per call (a kernel call is microseconds to
 * seconds of work). When on, each kernel adds its wall time, and the matrix
 * products their FLOPs and logical GEMM shape, to process-global counters.
 *
 * Counters are updated only by the thread that calls the kernels (never by
 * pool workers), so they are exact for one forward pass driven by one
 * thread; passes run from several threads at once would mix their numbers.
 * dif__prof_enable / reset are not synchronised with running kernels.
 *
 * Shapes are the *logical* problem of each op, independent of how it is cut
 * up for BLAS: a convolution records one [cout, OH·OW, cin·kh·kw] product per
 * image, attention one [tq, tk, dim] and one [tq, dim, tk] per head and
 * image. The bench replays the shapes with cblas_sgemm to measure what BLAS
 * achieves on the same problems (its "ratio to sgemm").
 */
#ifndef DIF__CORE_PROF_H
#define DIF__CORE_PROF_H

#include <stdbool.h>
#include <stdint.h>

typedef enum dif__prof_op {
  DIF__PROF_CONV_GEMM,    /* convolution products */
  DIF__PROF_CONV_PACK,    /* im2col / padding copies of convolutions */
  DIF__PROF_LINEAR,       /* dif__linear products */
  DIF__PROF_ATTN_GEMM,    /* Q·Kᵀ and P·V */
  DIF__PROF_ATTN_SOFTMAX, /* mask + softmax of the scores */
  DIF__PROF_ATTN_FUSED,   /* fused attention (bf16 or float32): products, softmax, packing */
  DIF__PROF_GEMM_OTHER,   /* dif__gemm called directly */
  DIF__PROF_GROUP_NORM,   /* including a fused SiLU */
  DIF__PROF_LAYER_NORM,
  DIF__PROF_ACTIVATION,  /* GELU, SiLU, QuickGELU, GEGLU */
  DIF__PROF_ELEMENTWISE, /* add, bias fills, concat, copies */
  DIF__PROF_UPSAMPLE,
  DIF__PROF_TRANSPOSE,      /* NCHW <-> tokens */
  DIF__PROF_WEIGHT_CONVERT, /* F16/BF16 weights widened to float32 (exact path) */
  DIF__PROF_OP_COUNT
} dif__prof_op;

/* A short lowercase name ("conv_gemm", ...). */
const char *dif__prof_op_name(dif__prof_op op);

typedef struct dif__prof_stat {
  int64_t calls;
  double seconds;
  double flops; /* multiply-adds × 2, products only */
} dif__prof_stat;

#define DIF__PROF_MAX_SHAPES 512

/* One distinct logical GEMM shape (row-major C[M,N] += A[M,K]·B[K,N]) and
 * how often it was used. */
typedef struct dif__prof_shape {
  dif__prof_op op;
  bool trans_a, trans_b;
  int64_t M, N, K;
  int64_t count;
} dif__prof_shape;

extern bool dif__prof_on;

void dif__prof_enable(bool on);
/* Zeroes every counter and forgets the shapes. */
void dif__prof_reset(void);
dif__prof_stat dif__prof_get(dif__prof_op op);
/* Number of distinct shapes recorded (at most DIF__PROF_MAX_SHAPES; further
 * ones are dropped and counted in dif__prof_shapes_dropped). */
int dif__prof_shape_count(void);
const dif__prof_shape *dif__prof_shape_at(int i);
int64_t dif__prof_shapes_dropped(void);

/* Monotonic seconds. */
double dif__prof_now(void);
/* Adds the time since t0 (from dif__prof_now) and flops to op. */
void dif__prof_add(dif__prof_op op, double t0, double flops);
/* Records `count` uses of a logical product shape. */
void dif__prof_record_shape(dif__prof_op op, bool trans_a, bool trans_b, int64_t M, int64_t N,
                            int64_t K, int64_t count);

/* Instrumenting a span of code:
 *   double t0 = DIF__PROF_START();  ...  DIF__PROF_END(DIF__PROF_LAYER_NORM, t0, 0);  */
#define DIF__PROF_START() (dif__prof_on ? dif__prof_now() : 0.0)
#define DIF__PROF_END(op, t0, flops)                                                               \
  do {                                                                                             \
    if (dif__prof_on) dif__prof_add((op), (t0), (flops));                                          \
  } while (0)

#endif

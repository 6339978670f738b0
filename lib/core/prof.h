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
 * dif_prof_enable / reset are not synchronised with running kernels.
 *
 * Shapes are the *logical* problem of each op, independent of how it is cut
 * up for BLAS: a convolution records one [cout, OH·OW, cin·kh·kw] product per
 * image, attention one [tq, tk, dim] and one [tq, dim, tk] per head and
 * image. The bench replays the shapes with cblas_sgemm to measure what BLAS
 * achieves on the same problems (its "ratio to sgemm").
 */
#ifndef DIF_CORE_PROF_H
#define DIF_CORE_PROF_H

#include <stdbool.h>
#include <stdint.h>

typedef enum dif_prof_op {
  DIF_PROF_CONV_GEMM,    /* convolution products */
  DIF_PROF_CONV_PACK,    /* im2col / padding copies of convolutions */
  DIF_PROF_LINEAR,       /* dif_linear products */
  DIF_PROF_ATTN_GEMM,    /* Q·Kᵀ and P·V */
  DIF_PROF_ATTN_SOFTMAX, /* mask + softmax of the scores */
  DIF_PROF_GEMM_OTHER,   /* dif_gemm called directly */
  DIF_PROF_GROUP_NORM,   /* including a fused SiLU */
  DIF_PROF_LAYER_NORM,
  DIF_PROF_ACTIVATION,  /* GELU, SiLU, QuickGELU, GEGLU */
  DIF_PROF_ELEMENTWISE, /* add, bias fills, concat, copies */
  DIF_PROF_UPSAMPLE,
  DIF_PROF_TRANSPOSE,      /* NCHW <-> tokens */
  DIF_PROF_WEIGHT_CONVERT, /* F16/BF16 weights widened to float32 (exact path) */
  DIF_PROF_OP_COUNT
} dif_prof_op;

/* A short lowercase name ("conv_gemm", ...). */
const char *dif_prof_op_name(dif_prof_op op);

typedef struct dif_prof_stat {
  int64_t calls;
  double seconds;
  double flops; /* multiply-adds × 2, products only */
} dif_prof_stat;

#define DIF_PROF_MAX_SHAPES 512

/* One distinct logical GEMM shape (row-major C[M,N] += A[M,K]·B[K,N]) and
 * how often it was used. */
typedef struct dif_prof_shape {
  dif_prof_op op;
  bool trans_a, trans_b;
  int64_t M, N, K;
  int64_t count;
} dif_prof_shape;

extern bool dif_prof_on;

void dif_prof_enable(bool on);
/* Zeroes every counter and forgets the shapes. */
void dif_prof_reset(void);
dif_prof_stat dif_prof_get(dif_prof_op op);
/* Number of distinct shapes recorded (at most DIF_PROF_MAX_SHAPES; further
 * ones are dropped and counted in dif_prof_shapes_dropped). */
int dif_prof_shape_count(void);
const dif_prof_shape *dif_prof_shape_at(int i);
int64_t dif_prof_shapes_dropped(void);

/* Monotonic seconds. */
double dif_prof_now(void);
/* Adds the time since t0 (from dif_prof_now) and flops to op. */
void dif_prof_add(dif_prof_op op, double t0, double flops);
/* Records `count` uses of a logical product shape. */
void dif_prof_record_shape(dif_prof_op op, bool trans_a, bool trans_b, int64_t M, int64_t N,
                           int64_t K, int64_t count);

/* Instrumenting a span of code:
 *   double t0 = DIF_PROF_START();  ...  DIF_PROF_END(DIF_PROF_LAYER_NORM, t0, 0);  */
#define DIF_PROF_START() (dif_prof_on ? dif_prof_now() : 0.0)
#define DIF_PROF_END(op, t0, flops)                                                                \
  do {                                                                                             \
    if (dif_prof_on) dif_prof_add((op), (t0), (flops));                                            \
  } while (0)

#endif

/* threadpool.h — a fixed pthread pool for our own kernels (not for BLAS).
 *
 * dif_pool_for(pool, n, grain, fn, arg) splits [0, n) into chunks of at least
 * `grain` items and runs fn on them from the pool's workers and the calling
 * thread, returning when all are done. Chunks are claimed from an atomic
 * counter, so uneven work balances itself. A NULL pool runs fn serially.
 *
 * BLAS calls are never made from inside a pool task: the kernels call
 * cblas_sgemm from the calling thread while the workers sleep, and OpenBLAS is
 * given the same thread count, so the two never oversubscribe the cores
 * (docs/architecture.md, "Threads").
 *
 * Calls from several threads at once are serialised by a mutex; calling
 * dif_pool_for from inside a task deadlocks (never needed: kernels are flat).
 */
#ifndef DIF_CORE_THREADPOOL_H
#define DIF_CORE_THREADPOOL_H

#include <stdint.h>

#include "core/error.h"

typedef struct dif_pool dif_pool;

/* fn processes items [begin, end); thread is in [0, dif_pool_threads). */
typedef void (*dif_task_fn)(void *arg, int64_t begin, int64_t end, int thread);

/* n_threads >= 1 counts the caller; n_threads == 1 creates no workers. */
dif_status dif_pool_new(int n_threads, dif_pool **out, dif_error *err);
void dif_pool_free(dif_pool *pool);
int dif_pool_threads(const dif_pool *pool);
void dif_pool_for(dif_pool *pool, int64_t n, int64_t grain, dif_task_fn fn, void *arg);

/* Number of online CPU cores (at least 1). */
int dif_cpu_count(void);

#endif

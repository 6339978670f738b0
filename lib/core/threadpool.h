/* threadpool.h — a fixed pthread pool for our own kernels (not for BLAS).
 *
 * dif__pool_for(pool, n, grain, fn, arg) splits [0, n) into chunks of at least
 * `grain` items and runs fn on them from the pool's workers and the calling
 * thread, returning when all are done. Chunks are claimed from an atomic
 * counter, so uneven work balances itself. A NULL pool runs fn serially.
 * Between jobs the workers poll for 50 us before they sleep, and so does the
 * caller waiting for them (threadpool.c: a small model's ops are shorter
 * than the wake-up of a sleeping thread).
 *
 * BLAS calls are never made from inside a pool task: the kernels call
 * cblas_sgemm from the calling thread while the workers wait, and OpenBLAS is
 * given the same thread count, so the two never oversubscribe the cores
 * (docs/architecture.md, "Threads").
 *
 * Calls from several threads at once are serialised by a mutex; calling
 * dif__pool_for from inside a task deadlocks (never needed: kernels are flat).
 */
#ifndef DIF__CORE_THREADPOOL_H
#define DIF__CORE_THREADPOOL_H

#include <stdint.h>

#include "core/error.h"

typedef struct dif__pool dif__pool;

/* fn processes items [begin, end); thread is in [0, dif__pool_threads). */
typedef void (*dif__task_fn)(void *arg, int64_t begin, int64_t end, int thread);

/* n_threads >= 1 counts the caller; n_threads == 1 creates no workers. */
dif_status dif__pool_new(int n_threads, dif__pool **out, dif__error *err);
void dif__pool_free(dif__pool *pool);
int dif__pool_threads(const dif__pool *pool);
void dif__pool_for(dif__pool *pool, int64_t n, int64_t grain, dif__task_fn fn, void *arg);

/* Number of online CPU cores (at least 1). */
int dif__cpu_count(void);

#endif

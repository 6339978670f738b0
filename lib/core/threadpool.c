#include "core/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

struct dif__pool {
  int n_threads; /* including the caller */
  pthread_t *workers;
  pthread_mutex_t call_lock; /* serialises dif__pool_for callers */
  pthread_mutex_t lock;
  pthread_cond_t work_cv; /* workers wait for a new generation */
  pthread_cond_t done_cv; /* the caller waits for workers to finish */
  uint64_t generation;
  int busy_workers;
  int stop;
  /* the job of the current generation */
  dif__task_fn fn;
  void *arg;
  int64_t n, chunk;
  atomic_llong next;
};

static void run_chunks(dif__pool *p, int thread) {
  for (;;) {
    int64_t begin = atomic_fetch_add(&p->next, p->chunk);
    if (begin >= p->n) break;
    int64_t end = begin + p->chunk < p->n ? begin + p->chunk : p->n;
    p->fn(p->arg, begin, end, thread);
  }
}

typedef struct worker_arg {
  dif__pool *pool;
  int index;
} worker_arg;

static void *worker_main(void *varg) {
  worker_arg wa = *(worker_arg *)varg;
  free(varg);
  dif__pool *p = wa.pool;
  uint64_t seen = 0;
  pthread_mutex_lock(&p->lock);
  for (;;) {
    while (!p->stop && p->generation == seen) pthread_cond_wait(&p->work_cv, &p->lock);
    if (p->stop) break;
    seen = p->generation;
    pthread_mutex_unlock(&p->lock);
    run_chunks(p, wa.index);
    pthread_mutex_lock(&p->lock);
    if (--p->busy_workers == 0) pthread_cond_signal(&p->done_cv);
  }
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

int dif__cpu_count(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : (int)n;
}

dif_status dif__pool_new(int n_threads, dif__pool **out, dif__error *err) {
  *out = NULL;
  if (n_threads < 1) n_threads = 1;
  dif__pool *p = calloc(1, sizeof *p);
  if (!p) return dif__fail_oom(err, "thread pool", sizeof *p);
  p->n_threads = n_threads;
  pthread_mutex_init(&p->call_lock, NULL);
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->work_cv, NULL);
  pthread_cond_init(&p->done_cv, NULL);
  atomic_init(&p->next, 0);
  if (n_threads > 1) {
    p->workers = calloc((size_t)n_threads - 1, sizeof *p->workers);
    if (!p->workers) {
      dif__pool_free(p);
      return dif__fail_oom(err, "thread pool", (size_t)n_threads * sizeof(pthread_t));
    }
    for (int i = 1; i < n_threads; i++) {
      worker_arg *wa = malloc(sizeof *wa);
      int rc = wa ? 0 : -1;
      if (wa) {
        wa->pool = p;
        wa->index = i;
        rc = pthread_create(&p->workers[i - 1], NULL, worker_main, wa);
        if (rc) free(wa);
      }
      if (rc) {
        p->n_threads = i; /* only workers 1..i-1 exist; free joins them */
        dif__pool_free(p);
        return dif__fail(err, DIF_ERR_OUT_OF_MEMORY, "could not start worker thread %d of %d", i,
                         n_threads);
      }
    }
  }
  *out = p;
  return DIF_OK;
}

void dif__pool_free(dif__pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->lock);
  p->stop = 1;
  pthread_cond_broadcast(&p->work_cv);
  pthread_mutex_unlock(&p->lock);
  for (int i = 1; i < p->n_threads; i++) pthread_join(p->workers[i - 1], NULL);
  free(p->workers);
  pthread_cond_destroy(&p->work_cv);
  pthread_cond_destroy(&p->done_cv);
  pthread_mutex_destroy(&p->lock);
  pthread_mutex_destroy(&p->call_lock);
  free(p);
}

int dif__pool_threads(const dif__pool *p) { return p ? p->n_threads : 1; }

void dif__pool_for(dif__pool *p, int64_t n, int64_t grain, dif__task_fn fn, void *arg) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  /* About four chunks per thread balances load without much counter traffic. */
  int threads = p ? p->n_threads : 1;
  int64_t chunk = (n + (int64_t)threads * 4 - 1) / ((int64_t)threads * 4);
  if (chunk < grain) chunk = grain;
  if (!p || threads == 1 || chunk >= n) {
    fn(arg, 0, n, 0);
    return;
  }
  pthread_mutex_lock(&p->call_lock);
  pthread_mutex_lock(&p->lock);
  p->fn = fn;
  p->arg = arg;
  p->n = n;
  p->chunk = chunk;
  atomic_store(&p->next, 0);
  p->busy_workers = p->n_threads - 1;
  p->generation++;
  pthread_cond_broadcast(&p->work_cv);
  pthread_mutex_unlock(&p->lock);
  run_chunks(p, 0);
  pthread_mutex_lock(&p->lock);
  while (p->busy_workers > 0) pthread_cond_wait(&p->done_cv, &p->lock);
  pthread_mutex_unlock(&p->lock);
  pthread_mutex_unlock(&p->call_lock);
}

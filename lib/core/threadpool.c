#include "core/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* How long a worker waiting for the next job, and the caller waiting for the
 * workers, poll before they sleep on a condition variable. Waking a sleeping
 * thread costs tens of microseconds (30-80 us more per call measured on a
 * 2-core KVM guest), and a small model's ops are that short: the default
 * model's generation makes ~13,000 calls, back to back between its products.
 * Measured there (Zen 3, 2 threads, the best of 3 runs of `dif generate`,
 * docs/performance.md): 0.85-1.08 s sleeping at once, 0.56-0.61 s polling
 * 50 us, 0.59-0.74 s polling 20 us. Polling yields the core to anything
 * runnable, and lasts at most this long after each of our jobs (a big
 * model's UNet step, VAE decode and text encoder: no slower, measured). */
#define SPIN_NS 50000

struct dif__pool {
  int n_threads; /* including the caller */
  pthread_t *workers;
  pthread_mutex_t call_lock; /* serialises dif__pool_for callers */
  pthread_mutex_t lock;
  pthread_cond_t work_cv;          /* sleeping workers wait for a new generation */
  pthread_cond_t done_cv;          /* the caller waits for workers to finish */
  atomic_uint_fast64_t generation; /* changed under lock */
  atomic_int busy_workers;         /* workers still in the current generation */
  atomic_int stop;                 /* set under lock */
  int sleepers;                    /* workers in pthread_cond_wait (under lock) */
  /* the job of the current generation: written by the caller before it
   * publishes the generation, read by workers after they see it */
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

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Polls until done(p, ctx) or about SPIN_NS have passed; returns done's
 * last answer. A few pause turns first, then sched_yield: it returns at once
 * when nothing else waits for this core, and hands the core over when
 * something does (OpenBLAS's threads, another process's). */
static int spin_until(int (*done)(dif__pool *, uint64_t), dif__pool *p, uint64_t ctx) {
  for (int i = 0; i < 64; i++) {
    if (done(p, ctx)) return 1;
    cpu_relax();
  }
  const int64_t deadline = now_ns() + SPIN_NS;
  do {
    if (done(p, ctx)) return 1;
    sched_yield();
  } while (now_ns() < deadline);
  return done(p, ctx);
}

static int new_job(dif__pool *p, uint64_t seen) {
  return atomic_load_explicit(&p->stop, memory_order_acquire) ||
         atomic_load_explicit(&p->generation, memory_order_acquire) != seen;
}

static int workers_done(dif__pool *p, uint64_t unused) {
  (void)unused;
  return atomic_load_explicit(&p->busy_workers, memory_order_acquire) == 0;
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
  for (;;) {
    if (!spin_until(new_job, p, seen)) {
      pthread_mutex_lock(&p->lock);
      p->sleepers++;
      while (!new_job(p, seen)) pthread_cond_wait(&p->work_cv, &p->lock);
      p->sleepers--;
      pthread_mutex_unlock(&p->lock);
    }
    if (atomic_load_explicit(&p->stop, memory_order_acquire)) break;
    seen = atomic_load_explicit(&p->generation, memory_order_acquire);
    run_chunks(p, wa.index);
    if (atomic_fetch_sub_explicit(&p->busy_workers, 1, memory_order_acq_rel) == 1) {
      /* the last one: wake the caller if it already sleeps (it checks the
       * count under the lock before it waits, so this cannot be missed) */
      pthread_mutex_lock(&p->lock);
      pthread_cond_signal(&p->done_cv);
      pthread_mutex_unlock(&p->lock);
    }
  }
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
  atomic_init(&p->generation, 0);
  atomic_init(&p->busy_workers, 0);
  atomic_init(&p->stop, 0);
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
  atomic_store_explicit(&p->stop, 1, memory_order_release);
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
  p->fn = fn;
  p->arg = arg;
  p->n = n;
  p->chunk = chunk;
  atomic_store_explicit(&p->next, 0, memory_order_relaxed);
  atomic_store_explicit(&p->busy_workers, p->n_threads - 1, memory_order_relaxed);
  pthread_mutex_lock(&p->lock);
  /* release: a worker that sees the new generation sees the job above */
  atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
  if (p->sleepers) pthread_cond_broadcast(&p->work_cv);
  pthread_mutex_unlock(&p->lock);
  run_chunks(p, 0);
  if (!spin_until(workers_done, p, 0)) {
    pthread_mutex_lock(&p->lock);
    while (!workers_done(p, 0)) pthread_cond_wait(&p->done_cv, &p->lock);
    pthread_mutex_unlock(&p->lock);
  }
  pthread_mutex_unlock(&p->call_lock);
}

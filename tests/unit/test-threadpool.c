/* The kernels' thread pool (core/threadpool.c): every item of a job runs
 * exactly once and before dif__pool_for returns, whether the workers were
 * polling for the next job (calls back to back) or asleep (calls further
 * apart than the polling window), from one calling thread or several; a pool
 * is freed cleanly in either state. The ThreadSanitizer step of tools/test
 * runs it too. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "core/threadpool.h"
#include "test.h"

#define MAX_ITEMS 4096

typedef struct job {
  atomic_int hits[MAX_ITEMS];
  atomic_int bad_thread; /* a thread index outside [0, threads) */
  int threads;
} job;

static void count_task(void *arg, int64_t begin, int64_t end, int thread) {
  job *j = arg;
  if (thread < 0 || thread >= j->threads) atomic_store(&j->bad_thread, 1);
  for (int64_t i = begin; i < end; i++) atomic_fetch_add(&j->hits[i], 1);
}

/* Runs one job of n items on p and checks each ran once; returns 1 if so. */
static int run_once(dif__pool *p, job *j, int64_t n, int64_t grain) {
  for (int64_t i = 0; i < n; i++) atomic_store(&j->hits[i], 0);
  dif__pool_for(p, n, grain, count_task, j);
  for (int64_t i = 0; i < n; i++)
    if (atomic_load(&j->hits[i]) != 1) {
      fprintf(stderr, "  n %lld grain %lld: item %lld ran %d times\n", (long long)n,
              (long long)grain, (long long)i, atomic_load(&j->hits[i]));
      return 0;
    }
  return !atomic_load(&j->bad_thread);
}

static job the_job;

TEST(every_item_once_back_to_back) {
  static const int threads[] = {1, 2, 3, 8};
  for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
    dif__pool *p = NULL;
    dif__error err = {0};
    CHECK(dif__pool_new(threads[t], &p, &err) == DIF_OK);
    if (!p) continue;
    CHECK(dif__pool_threads(p) == threads[t]);
    the_job.threads = threads[t];
    int ok = 1;
    /* many short jobs back to back: the workers are still polling */
    for (int k = 0; k < 3000 && ok; k++) {
      int64_t n = 1 + (k * 37) % MAX_ITEMS, grain = 1 + k % 5;
      ok = run_once(p, &the_job, n, grain);
    }
    CHECK_MSG(ok, "%d threads: back-to-back jobs", threads[t]);
    dif__pool_free(p);
  }
}

TEST(every_item_once_after_the_workers_sleep) {
  dif__pool *p = NULL;
  dif__error err = {0};
  CHECK(dif__pool_new(3, &p, &err) == DIF_OK);
  if (!p) return;
  the_job.threads = 3;
  int ok = 1;
  /* 2 ms between jobs: a hundred times the polling window */
  const struct timespec pause = {0, 2 * 1000 * 1000};
  for (int k = 0; k < 40 && ok; k++) {
    nanosleep(&pause, NULL);
    ok = run_once(p, &the_job, 64 + k, 1);
  }
  CHECK(ok);
  nanosleep(&pause, NULL);
  dif__pool_free(p); /* the workers asleep */
}

typedef struct caller_arg {
  dif__pool *pool;
  job *job;
  int ok;
} caller_arg;

static void *caller_main(void *varg) {
  caller_arg *c = varg;
  c->ok = 1;
  for (int k = 0; k < 500 && c->ok; k++) c->ok = run_once(c->pool, c->job, 1 + (k * 61) % 900, 1);
  return NULL;
}

/* Calls from several threads at once are serialised (threadpool.h). */
TEST(several_callers_share_a_pool) {
  dif__pool *p = NULL;
  dif__error err = {0};
  CHECK(dif__pool_new(2, &p, &err) == DIF_OK);
  if (!p) return;
  static job jobs[3];
  caller_arg args[3];
  pthread_t th[3];
  int started = 0;
  for (int i = 0; i < 3; i++) {
    jobs[i].threads = 2;
    args[i] = (caller_arg){p, &jobs[i], 0};
    if (pthread_create(&th[i], NULL, caller_main, &args[i]) == 0)
      started++;
    else
      break;
  }
  CHECK(started == 3);
  for (int i = 0; i < started; i++) {
    pthread_join(th[i], NULL);
    CHECK_MSG(args[i].ok, "caller %d", i);
  }
  dif__pool_free(p); /* right after a job: the workers still polling */
}

TEST(free_right_after_new) {
  for (int k = 0; k < 20; k++) {
    dif__pool *p = NULL;
    dif__error err = {0};
    CHECK(dif__pool_new(1 + k % 4, &p, &err) == DIF_OK);
    dif__pool_free(p);
  }
  dif__pool_free(NULL);
  /* a NULL pool runs the job on the caller */
  the_job.threads = 1;
  CHECK(run_once(NULL, &the_job, 100, 1));
}

int main(void) {
  RUN(every_item_once_back_to_back);
  RUN(every_item_once_after_the_workers_sleep);
  RUN(several_callers_share_a_pool);
  RUN(free_right_after_new);
  return dif__test_finish();
}

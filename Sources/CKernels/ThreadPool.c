#include "kernels_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

// One job at a time: the caller publishes the job by bumping `generation`,
// workers pick tasks off `next_task`, and the last worker to finish wakes the
// caller. Workers and the caller spin briefly before sleeping, because the
// engine posts jobs back to back (a few per layer) and a sleep and wake-up
// costs tens of microseconds each time.
struct sk_pool {
    int thread_count;
    int spin_nanoseconds;
    pthread_t *threads;

    pthread_mutex_t mutex;
    pthread_cond_t job_posted;
    pthread_cond_t job_finished;

    atomic_uint generation;
    atomic_int stop;
    atomic_int next_task;
    atomic_int busy_workers;

    sk_task_function function;
    void *context;
    int task_count;
};

typedef struct {
    sk_pool *pool;
    int index;
} worker_start;

static int64_t now_nanoseconds(void) {
    struct timespec time;
    clock_gettime(CLOCK_MONOTONIC, &time);
    return (int64_t)time.tv_sec * 1000000000 + time.tv_nsec;
}

static inline void cpu_relax(void) {
#if SK_X86
    __builtin_ia32_pause();
#endif
}

static void run_tasks(sk_pool *pool, int thread) {
    sk_task_function function = pool->function;
    void *context = pool->context;
    int task_count = pool->task_count;
    for (;;) {
        int task = atomic_fetch_add_explicit(&pool->next_task, 1, memory_order_relaxed);
        if (task >= task_count) break;
        function(context, task, thread);
    }
}

/// Waits until `generation` moves past `seen` or the pool stops; returns the new generation.
static unsigned wait_for_job(sk_pool *pool, unsigned seen) {
    int64_t deadline = now_nanoseconds() + pool->spin_nanoseconds;
    int spins = 0;
    for (;;) {
        unsigned current = atomic_load_explicit(&pool->generation, memory_order_acquire);
        if (current != seen || atomic_load_explicit(&pool->stop, memory_order_acquire)) return current;
        cpu_relax();
        if (++spins % 64 == 0 && now_nanoseconds() > deadline) break;
    }

    pthread_mutex_lock(&pool->mutex);
    unsigned current;
    while ((current = atomic_load_explicit(&pool->generation, memory_order_acquire)) == seen &&
           !atomic_load_explicit(&pool->stop, memory_order_acquire)) {
        pthread_cond_wait(&pool->job_posted, &pool->mutex);
    }
    pthread_mutex_unlock(&pool->mutex);
    return current;
}

static void *worker_main(void *argument) {
    worker_start start = *(worker_start *)argument;
    free(argument);
    sk_pool *pool = start.pool;
    unsigned seen = 0;

    for (;;) {
        seen = wait_for_job(pool, seen);
        if (atomic_load_explicit(&pool->stop, memory_order_acquire)) break;

        run_tasks(pool, start.index);

        if (atomic_fetch_sub_explicit(&pool->busy_workers, 1, memory_order_acq_rel) == 1) {
            // Taking the mutex orders this signal after the caller's check, so the wake-up is not lost.
            pthread_mutex_lock(&pool->mutex);
            pthread_cond_signal(&pool->job_finished);
            pthread_mutex_unlock(&pool->mutex);
        }
    }
    return NULL;
}

sk_pool *sk_pool_create(int threads, int spin_microseconds) {
    if (threads < 1) threads = 1;
    sk_pool *pool = calloc(1, sizeof(sk_pool));
    if (pool == NULL) return NULL;
    pool->thread_count = threads;
    pool->spin_nanoseconds = spin_microseconds < 0 ? 0 : spin_microseconds * 1000;
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->job_posted, NULL);
    pthread_cond_init(&pool->job_finished, NULL);
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->stop, 0);
    atomic_init(&pool->next_task, 0);
    atomic_init(&pool->busy_workers, 0);

    pool->threads = calloc((size_t)threads, sizeof(pthread_t));
    if (pool->threads == NULL) {
        free(pool);
        return NULL;
    }
    for (int i = 1; i < threads; i++) {
        worker_start *start = malloc(sizeof(worker_start));
        if (start != NULL) {
            start->pool = pool;
            start->index = i;
        }
        if (start == NULL || pthread_create(&pool->threads[i], NULL, worker_main, start) != 0) {
            free(start);
            pool->thread_count = i;
            sk_pool_destroy(pool);
            return NULL;
        }
    }
    return pool;
}

void sk_pool_destroy(sk_pool *pool) {
    if (pool == NULL) return;
    pthread_mutex_lock(&pool->mutex);
    atomic_store_explicit(&pool->stop, 1, memory_order_release);
    pthread_cond_broadcast(&pool->job_posted);
    pthread_mutex_unlock(&pool->mutex);
    for (int i = 1; i < pool->thread_count; i++) pthread_join(pool->threads[i], NULL);
    pthread_cond_destroy(&pool->job_posted);
    pthread_cond_destroy(&pool->job_finished);
    pthread_mutex_destroy(&pool->mutex);
    free(pool->threads);
    free(pool);
}

int sk_pool_thread_count(const sk_pool *pool) { return pool == NULL ? 1 : pool->thread_count; }

void sk_pool_run(sk_pool *pool, sk_task_function function, void *context, int task_count) {
    if (task_count <= 0) return;
    if (pool == NULL || pool->thread_count == 1 || task_count == 1) {
        for (int task = 0; task < task_count; task++) function(context, task, 0);
        return;
    }

    pool->function = function;
    pool->context = context;
    pool->task_count = task_count;
    atomic_store_explicit(&pool->next_task, 0, memory_order_relaxed);
    atomic_store_explicit(&pool->busy_workers, pool->thread_count - 1, memory_order_relaxed);

    pthread_mutex_lock(&pool->mutex);
    atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
    pthread_cond_broadcast(&pool->job_posted);
    pthread_mutex_unlock(&pool->mutex);

    run_tasks(pool, 0);

    int64_t deadline = now_nanoseconds() + pool->spin_nanoseconds;
    int spins = 0;
    while (atomic_load_explicit(&pool->busy_workers, memory_order_acquire) > 0) {
        cpu_relax();
        if (++spins % 64 == 0 && now_nanoseconds() > deadline) {
            pthread_mutex_lock(&pool->mutex);
            while (atomic_load_explicit(&pool->busy_workers, memory_order_acquire) > 0) {
                pthread_cond_wait(&pool->job_finished, &pool->mutex);
            }
            pthread_mutex_unlock(&pool->mutex);
            break;
        }
    }
}

#include "kernels_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

// One job at a time. The caller publishes a job as a single atomic word
// holding the job's generation, its task count and the next unclaimed task.
// Threads claim tasks by compare-and-swap on that word, so a thread that
// wakes late cannot claim a task of a later job. The caller waits only for
// tasks that were claimed, never for a thread that has not woken yet.
// On a machine shared with other work that matters: a helper thread may
// not be scheduled for milliseconds.
//
// Idle threads spin briefly before sleeping, because the engine posts jobs
// back to back (a few per layer) and a sleep and wake-up costs tens of
// microseconds.

#define TASK_BITS 20
#define TASK_MASK ((UINT64_C(1) << TASK_BITS) - 1)
#define MAX_TASKS_PER_JOB ((int)TASK_MASK)

struct sk_pool {
    int thread_count;
    int64_t spin_nanoseconds;
    pthread_t *threads;

    pthread_mutex_t mutex;
    pthread_cond_t job_posted;
    pthread_cond_t job_finished;

    /// Generation (high 24 bits), task count and next task index (20 bits each).
    _Atomic uint64_t work;
    atomic_int completed;
    atomic_int sleeping_workers;
    atomic_int caller_waiting;
    atomic_int stop;

    uint64_t generation;
    sk_task_function function;
    void *context;
};

typedef struct {
    sk_pool *pool;
    int index;
} worker_start;

static inline uint64_t work_generation(uint64_t work) { return work >> (2 * TASK_BITS); }
static inline int work_count(uint64_t work) { return (int)((work >> TASK_BITS) & TASK_MASK); }
static inline int work_next(uint64_t work) { return (int)(work & TASK_MASK); }

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

/// Claims and runs tasks of job `generation` until none are left.
static void run_tasks(sk_pool *pool, uint64_t generation, int thread) {
    uint64_t work = atomic_load_explicit(&pool->work, memory_order_acquire);
    for (;;) {
        if (work_generation(work) != generation || work_next(work) >= work_count(work)) return;
        if (!atomic_compare_exchange_weak_explicit(&pool->work, &work, work + 1, memory_order_acq_rel,
                                                   memory_order_acquire)) {
            continue;
        }
        // The claimed task keeps the job unfinished, so the caller cannot be rewriting these fields.
        int task = work_next(work);
        int count = work_count(work);
        pool->function(pool->context, task, thread);

        if (atomic_fetch_add_explicit(&pool->completed, 1, memory_order_seq_cst) + 1 == count &&
            atomic_load_explicit(&pool->caller_waiting, memory_order_seq_cst)) {
            pthread_mutex_lock(&pool->mutex);
            pthread_cond_signal(&pool->job_finished);
            pthread_mutex_unlock(&pool->mutex);
        }
        work = atomic_load_explicit(&pool->work, memory_order_acquire);
    }
}

/// Waits until a job newer than `seen` is posted or the pool stops; returns the current work word.
static uint64_t wait_for_job(sk_pool *pool, uint64_t seen) {
    int64_t deadline = now_nanoseconds() + pool->spin_nanoseconds;
    int spins = 0;
    for (;;) {
        uint64_t work = atomic_load_explicit(&pool->work, memory_order_acquire);
        if (work_generation(work) != seen || atomic_load_explicit(&pool->stop, memory_order_acquire)) return work;
        cpu_relax();
        if (++spins % 64 == 0 && now_nanoseconds() > deadline) break;
    }

    pthread_mutex_lock(&pool->mutex);
    atomic_fetch_add_explicit(&pool->sleeping_workers, 1, memory_order_seq_cst);
    uint64_t work;
    while (work_generation(work = atomic_load_explicit(&pool->work, memory_order_seq_cst)) == seen &&
           !atomic_load_explicit(&pool->stop, memory_order_acquire)) {
        pthread_cond_wait(&pool->job_posted, &pool->mutex);
    }
    atomic_fetch_sub_explicit(&pool->sleeping_workers, 1, memory_order_relaxed);
    pthread_mutex_unlock(&pool->mutex);
    return work;
}

static void *worker_main(void *argument) {
    worker_start start = *(worker_start *)argument;
    free(argument);
    sk_pool *pool = start.pool;
    uint64_t seen = 0;

    for (;;) {
        uint64_t work = wait_for_job(pool, seen);
        if (atomic_load_explicit(&pool->stop, memory_order_acquire)) break;
        seen = work_generation(work);
        run_tasks(pool, seen, start.index);
    }
    return NULL;
}

sk_pool *sk_pool_create(int threads, int spin_microseconds) {
    if (threads < 1) threads = 1;
    sk_pool *pool = calloc(1, sizeof(sk_pool));
    if (pool == NULL) return NULL;
    pool->thread_count = threads;
    pool->spin_nanoseconds = spin_microseconds < 0 ? 0 : (int64_t)spin_microseconds * 1000;
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->job_posted, NULL);
    pthread_cond_init(&pool->job_finished, NULL);
    atomic_init(&pool->work, 0);
    atomic_init(&pool->completed, 0);
    atomic_init(&pool->sleeping_workers, 0);
    atomic_init(&pool->caller_waiting, 0);
    atomic_init(&pool->stop, 0);

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
    atomic_store_explicit(&pool->stop, 1, memory_order_seq_cst);
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

/// Runs one job of at most MAX_TASKS_PER_JOB tasks.
static void run_job(sk_pool *pool, sk_task_function function, void *context, int task_count) {
    pool->function = function;
    pool->context = context;
    atomic_store_explicit(&pool->completed, 0, memory_order_relaxed);
    pool->generation = (pool->generation + 1) & ((UINT64_C(1) << (64 - 2 * TASK_BITS)) - 1);
    if (pool->generation == 0) pool->generation = 1;  // workers start having seen generation 0
    uint64_t work = (pool->generation << (2 * TASK_BITS)) | ((uint64_t)task_count << TASK_BITS);
    atomic_store_explicit(&pool->work, work, memory_order_seq_cst);

    if (atomic_load_explicit(&pool->sleeping_workers, memory_order_seq_cst) > 0) {
        pthread_mutex_lock(&pool->mutex);
        pthread_cond_broadcast(&pool->job_posted);
        pthread_mutex_unlock(&pool->mutex);
    }

    run_tasks(pool, pool->generation, 0);

    int64_t deadline = now_nanoseconds() + pool->spin_nanoseconds;
    int spins = 0;
    while (atomic_load_explicit(&pool->completed, memory_order_acquire) < task_count) {
        cpu_relax();
        if (++spins % 64 == 0 && now_nanoseconds() > deadline) {
            pthread_mutex_lock(&pool->mutex);
            atomic_store_explicit(&pool->caller_waiting, 1, memory_order_seq_cst);
            while (atomic_load_explicit(&pool->completed, memory_order_seq_cst) < task_count) {
                pthread_cond_wait(&pool->job_finished, &pool->mutex);
            }
            atomic_store_explicit(&pool->caller_waiting, 0, memory_order_relaxed);
            pthread_mutex_unlock(&pool->mutex);
            break;
        }
    }
}

/// A slice of a job with more tasks than one work word can count.
typedef struct {
    sk_task_function function;
    void *context;
    int offset;
} job_slice;

static void run_slice_task(void *context, int task, int thread) {
    const job_slice *slice = context;
    slice->function(slice->context, slice->offset + task, thread);
}

void sk_pool_run(sk_pool *pool, sk_task_function function, void *context, int task_count) {
    if (task_count <= 0) return;
    if (pool == NULL || pool->thread_count == 1 || task_count == 1) {
        for (int task = 0; task < task_count; task++) function(context, task, 0);
        return;
    }
    if (task_count <= MAX_TASKS_PER_JOB) {
        run_job(pool, function, context, task_count);
        return;
    }
    for (int first = 0; first < task_count; first += MAX_TASKS_PER_JOB) {
        int count = task_count - first < MAX_TASKS_PER_JOB ? task_count - first : MAX_TASKS_PER_JOB;
        job_slice slice = {.function = function, .context = context, .offset = first};
        run_job(pool, run_slice_task, &slice, count);
    }
}

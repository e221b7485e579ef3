/* puffer_pool.h: a small thread pool that splits one job over the caller and N-1 worker threads.
 *
 * Two kinds of job:
 * - puffer_pool_run(pool, task, arg) calls task(arg, t, n) once on each of the n = num_threads
 *   threads (t = 0 is the caller) and returns when all have returned. puffer_pool_range() gives
 *   thread t its contiguous share of a loop, as OpenMP's schedule(static) would.
 * - puffer_pool_run_blocks(pool, task, arg, num_blocks) calls task(arg, b) once for each block b
 *   in [0, num_blocks), on whichever thread claims it, and returns when every block has returned.
 *   Each thread owns a contiguous share of the blocks (the same one every job, so its data stays in
 *   its core's cache) and claims them one at a time from the bottom, in its own cache line; a
 *   thread done with its share takes the others' remaining blocks from the top. The caller starts
 *   at once and waits only for blocks already being run: a worker that wakes late (or not at all,
 *   on a machine busier than its cores) leaves its blocks to the others instead of holding the
 *   job up. A worker that arrives after the job is over finds nothing to claim (each claim carries
 *   the job's number).
 *
 * Idle threads cost nothing between jobs: a worker that finishes spins for PUFFER_POOL_SPIN_NS
 * (enough to catch the next step of a tight loop without a wake-up; pausing, then yielding its
 * core, see puffer_pool_keep_waiting), then sleeps on a futex (Linux) or a condition variable
 * (elsewhere, or with -DPUFFER_POOL_NO_FUTEX). The caller waits for the workers the same way.
 * Nothing here reads or sets process-wide settings (no environment variables, no OpenMP).
 *
 * fork(): only the forking thread survives in the child. A pthread_atfork handler bumps a
 * generation counter, and a pool started in another generation forgets its (absent) threads and
 * starts new ones on its next puffer_pool_start(), so a child steps on threads like its parent.
 *
 * One job at a time per pool: the caller guarantees run() and run_blocks() are not called
 * concurrently.
 */
#ifndef PUFFER_POOL_H
#define PUFFER_POOL_H

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__linux__) && !defined(PUFFER_POOL_NO_FUTEX)
#define PUFFER_POOL_FUTEX 1
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#ifndef PUFFER_POOL_PAUSE_NS
#define PUFFER_POOL_PAUSE_NS 5000   /* 5 us */
#endif
#ifndef PUFFER_POOL_CROWDED_NAP_NS
#define PUFFER_POOL_CROWDED_NAP_NS 1000000   /* 1 ms */
#endif
#ifndef PUFFER_POOL_CROWDED_NAPS
#define PUFFER_POOL_CROWDED_NAPS 50          /* then it sleeps until woken, as any idle worker */
#endif
#ifndef PUFFER_POOL_SPIN_NS
#define PUFFER_POOL_SPIN_NS 50000   /* 50 us */
#endif

typedef void (*PufferTask)(void* arg, int thread, int num_threads);
typedef void (*PufferBlockTask)(void* arg, int block);

/* The most blocks one run_blocks() job may have (a claim packs two block indices in 16 bits each). */
#define PUFFER_POOL_MAX_BLOCKS 65535

/* One thread's share of a blocks job, alone in its cache line: `range` packs the job's number (high
 * 32 bits) and the blocks [lo, hi) not yet claimed (16 bits each); `done` counts the blocks this
 * thread has finished since the pool started; `cpu` is the core it last ran on, when it last
 * looked (-1: unknown). Only this thread writes `done` and `cpu`. */
typedef struct {
    uint64_t range;
    uint32_t done;
    int cpu;
    char pad[64 - sizeof(uint64_t) - sizeof(uint32_t) - sizeof(int)];
} PufferPoolShare;

struct PufferPool;

typedef struct {
    struct PufferPool* pool;
    int index;              /* 1 .. num_threads - 1 */
} PufferPoolSlot;

typedef struct PufferPool {
    int num_threads;        /* threads per job, the caller included */
    int started;
    unsigned generation;    /* the fork generation the threads were started in */
    pthread_t* threads;
    PufferPoolSlot* slots;
    PufferPoolShare* shares; /* one per thread (blocks jobs), cache-line aligned */
    /* The job, published under `seq` as a sequence lock (odd while being written): */
    PufferTask task;        /* a run() job, or NULL */
    PufferBlockTask block_task; /* a run_blocks() job, or NULL */
    void* arg;
    uint32_t job;           /* run_blocks() jobs' number */
    int stop;
    uint32_t seq;           /* bumped by 2 per job (and to stop); workers wait for it to change */
    uint32_t pending;       /* workers that have not finished the current run() job */
    uint32_t blocks_done;   /* blocks finished over all run_blocks() jobs (the caller's count) */
    uint32_t ping;          /* bumped to wake a caller asleep in run_blocks() */
    uint32_t sleepers;      /* workers asleep on seq, or about to be */
    uint32_t caller_asleep; /* the caller is asleep on pending, or about to be */
#ifndef PUFFER_POOL_FUTEX
    pthread_mutex_t mutex;
    pthread_cond_t cond;
#endif
} PufferPool;

static unsigned puffer_pool_fork_generation = 0;
static pthread_once_t puffer_pool_once = PTHREAD_ONCE_INIT;

static void puffer_pool_after_fork_child(void) { puffer_pool_fork_generation++; }
static void puffer_pool_register_fork(void) {
    pthread_atfork(NULL, NULL, puffer_pool_after_fork_child);
}

/* Thread `thread` of `num_threads` runs items [*begin, *end) of n (OpenMP's static schedule). */
static void puffer_pool_range(int n, int thread, int num_threads, int* begin, int* end) {
    int q = n / num_threads, r = n % num_threads;
    *begin = thread * q + (thread < r ? thread : r);
    *end = *begin + q + (thread < r);
}

static inline void puffer_pool_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static inline int64_t puffer_pool_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

#if defined(__linux__)
extern int sched_getcpu(void);   /* glibc and musl; declared here so no _GNU_SOURCE is needed */
static inline int puffer_pool_cpu(void) { return sched_getcpu(); }
#else
static inline int puffer_pool_cpu(void) { return -1; }
#endif

/* Records the core thread `me` runs on, and returns whether another thread of the pool was last
 * seen on it: then the thread this one waits for may be queued behind it on this very core. */
static int puffer_pool_crowded(PufferPool* p, int me) {
    int cpu = puffer_pool_cpu();
    __atomic_store_n(&p->shares[me].cpu, cpu, __ATOMIC_RELAXED);
    if (cpu < 0) return 0;
    for (int t = 0; t < p->num_threads; t++)
        if (t != me && __atomic_load_n(&p->shares[t].cpu, __ATOMIC_RELAXED) == cpu) return 1;
    return 0;
}

/* How thread `me` spends the PUFFER_POOL_SPIN_NS before it sleeps: PUFFER_POOL_PAUSE_NS of pause
 * instructions (it keeps its core, and sees the next step of a tight loop within a few hundred
 * nanoseconds), then sched_yield() between checks (on a machine busier than its cores, the thread
 * it waits for may need this very core; a yielded core may go to another process for a whole time
 * slice, so not sooner). It yields from the start when another thread of the pool shares its core
 * (the scheduler put both there): pausing would only keep that one from running, while a thread
 * that stays runnable is one the scheduler's balancing can move to another core. Returns 1 while
 * it should go on spinning, 0 once it should sleep. */
typedef struct {
    PufferPool* pool;
    int me;
    unsigned checks;
    int64_t start;
} PufferPoolWait;

static int puffer_pool_keep_waiting(PufferPoolWait* w) {
    if (++w->checks < 64) {
        puffer_pool_pause();
        return 1;
    }
    int64_t now = puffer_pool_now_ns();
    if (w->start == 0) w->start = now;
    if (now - w->start >= PUFFER_POOL_SPIN_NS) return 0;
    if (now - w->start < PUFFER_POOL_PAUSE_NS && !puffer_pool_crowded(w->pool, w->me)) {
        w->checks = 0;
        puffer_pool_pause();
        return 1;
    }
    sched_yield();
    return 1;
}

/* Spins while *word == value, for at most PUFFER_POOL_SPIN_NS; returns whether it changed. */
static int puffer_pool_spin(PufferPool* p, int me, const uint32_t* word, uint32_t value) {
    PufferPoolWait wait = {p, me, 0, 0};
    while (__atomic_load_n(word, __ATOMIC_ACQUIRE) == value)
        if (!puffer_pool_keep_waiting(&wait)) return 0;
    return 1;
}

/* Sleeps until *word != value (may return early; callers recheck), or for at most `ns` when
 * ns > 0. */
static void puffer_pool_sleep_for(PufferPool* p, uint32_t* word, uint32_t value, int64_t ns) {
#ifdef PUFFER_POOL_FUTEX
    (void)p;
    struct timespec t = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, value, ns > 0 ? &t : NULL, NULL, 0);
#else
    struct timespec until;
    if (ns > 0) {
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += (time_t)((until.tv_nsec + ns) / 1000000000);
        until.tv_nsec = (long)((until.tv_nsec + ns) % 1000000000);
    }
    pthread_mutex_lock(&p->mutex);
    while (__atomic_load_n(word, __ATOMIC_SEQ_CST) == value)
        if (ns > 0 ? pthread_cond_timedwait(&p->cond, &p->mutex, &until) != 0
                   : pthread_cond_wait(&p->cond, &p->mutex) != 0) break;
    pthread_mutex_unlock(&p->mutex);
#endif
}

static void puffer_pool_sleep(PufferPool* p, uint32_t* word, uint32_t value) {
    puffer_pool_sleep_for(p, word, value, 0);
}

static void puffer_pool_wake(PufferPool* p, uint32_t* word) {
#ifdef PUFFER_POOL_FUTEX
    (void)p;
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
    (void)word;
    pthread_mutex_lock(&p->mutex);
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mutex);
#endif
}

/* Waits until *word != value: spins briefly, then sleeps, counting itself in *asleep meanwhile.
 * The waker changes *word and then wakes only if *asleep is set (both sequentially consistent,
 * so one of the two sides always sees the other).
 *
 * A worker (me > 0) that finds itself on the caller's core sleeps without counting itself, 1 ms
 * at a time for up to 50 ms (then as any idle worker, so an idle pool stays quiet): the caller's
 * wake-ups would otherwise preempt the caller on that core at every job
 * (the scheduler wakes a thread where its waker runs, and a woken thread displaces the running
 * one), and a worker sharing the caller's core cannot speed a job up anyway; the caller steps its
 * blocks (run_blocks) meanwhile. Woken by its timer instead, the worker goes where the scheduler
 * finds room, and takes part again once that is another core. */
static uint32_t puffer_pool_await_change(PufferPool* p, int me, uint32_t* word, uint32_t value,
                                         uint32_t* asleep) {
    uint32_t now;
    if (!puffer_pool_spin(p, me, word, value)) {
        for (int naps = 0; me > 0 && naps < PUFFER_POOL_CROWDED_NAPS
                 && __atomic_load_n(word, __ATOMIC_SEQ_CST) == value && puffer_pool_crowded(p, me); naps++)
            puffer_pool_sleep_for(p, word, value, PUFFER_POOL_CROWDED_NAP_NS);
        __atomic_fetch_add(asleep, 1, __ATOMIC_SEQ_CST);
        while ((now = __atomic_load_n(word, __ATOMIC_SEQ_CST)) == value) puffer_pool_sleep(p, word, value);
        __atomic_fetch_sub(asleep, 1, __ATOMIC_SEQ_CST);
    }
    return __atomic_load_n(word, __ATOMIC_ACQUIRE);
}

/* Blocks finished by all threads, ever (wrapping). */
static uint32_t puffer_pool_blocks_finished(PufferPool* p) {
    uint32_t total = 0;
    for (int t = 0; t < p->num_threads; t++) total += __atomic_load_n(&p->shares[t].done, __ATOMIC_SEQ_CST);
    return total;
}

/* Claims one block of job `job` from `*range`: its lowest (the owner) or its highest (another
 * thread). Returns the block, or -1 when none is left or the range belongs to another job. */
static int puffer_pool_claim(uint64_t* range, uint32_t job, int from_top) {
    uint64_t w = __atomic_load_n(range, __ATOMIC_ACQUIRE);
    for (;;) {
        uint32_t lo = (uint32_t)(w >> 16) & 0xffff, hi = (uint32_t)w & 0xffff;
        if ((uint32_t)(w >> 32) != job || lo >= hi) return -1;
        uint64_t next = from_top ? w - 1 : w + ((uint64_t)1 << 16);
        if (__atomic_compare_exchange_n(range, &w, next, 1, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return (int)(from_top ? hi - 1 : lo);
    }
}

/* Thread `me` runs the blocks of job `job` it can claim: its own share first, then the others'. */
static void puffer_pool_do_blocks(PufferPool* p, PufferBlockTask task, void* arg, uint32_t job, int me) {
    int n = p->num_threads, b;
    PufferPoolShare* own = &p->shares[me];
    for (int k = 0; k < n; k++) {
        uint64_t* range = &p->shares[(me + k) % n].range;
        while ((b = puffer_pool_claim(range, job, k != 0)) >= 0) {
            task(arg, b);
            __atomic_store_n(&own->done, __atomic_load_n(&own->done, __ATOMIC_RELAXED) + 1, __ATOMIC_SEQ_CST);
            if (__atomic_load_n(&p->caller_asleep, __ATOMIC_SEQ_CST)) {
                __atomic_fetch_add(&p->ping, 1, __ATOMIC_SEQ_CST);
                puffer_pool_wake(p, &p->ping);
            }
        }
    }
}

/* Publishes a job (sequence lock: seq is odd while the fields are written). */
static void puffer_pool_publish(PufferPool* p, PufferTask task, PufferBlockTask block_task, void* arg,
                                uint32_t job, int stop) {
    __atomic_store_n(&p->seq, p->seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&p->task, task, __ATOMIC_RELAXED);
    __atomic_store_n(&p->block_task, block_task, __ATOMIC_RELAXED);
    __atomic_store_n(&p->arg, arg, __ATOMIC_RELAXED);
    __atomic_store_n(&p->job, job, __ATOMIC_RELAXED);
    __atomic_store_n(&p->stop, stop, __ATOMIC_RELAXED);
    __atomic_fetch_add(&p->seq, 1, __ATOMIC_SEQ_CST);   /* even again: published */
    if (__atomic_load_n(&p->sleepers, __ATOMIC_SEQ_CST)) puffer_pool_wake(p, &p->seq);
}

static void* puffer_pool_main(void* self) {
    PufferPoolSlot* slot = (PufferPoolSlot*)self;
    PufferPool* p = slot->pool;
    uint32_t seen = 0;    /* seq is 0 when the threads start */
    for (;;) {
        uint32_t s = puffer_pool_await_change(p, slot->index, &p->seq, seen, &p->sleepers);
        if (s & 1) {      /* being written: it is published in a few stores */
            puffer_pool_pause();
            continue;
        }
        PufferTask task = __atomic_load_n(&p->task, __ATOMIC_RELAXED);
        PufferBlockTask block_task = __atomic_load_n(&p->block_task, __ATOMIC_RELAXED);
        void* arg = __atomic_load_n(&p->arg, __ATOMIC_RELAXED);
        uint32_t job = __atomic_load_n(&p->job, __ATOMIC_RELAXED);
        int stop = __atomic_load_n(&p->stop, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&p->seq, __ATOMIC_RELAXED) != s) continue;   /* a newer job: read it */
        seen = s;
        if (stop) return NULL;
        if (block_task != NULL) {
            puffer_pool_do_blocks(p, block_task, arg, job, slot->index);
            continue;
        }
        task(arg, slot->index, p->num_threads);
        if (__atomic_sub_fetch(&p->pending, 1, __ATOMIC_SEQ_CST) == 0
                && __atomic_load_n(&p->caller_asleep, __ATOMIC_SEQ_CST))
            puffer_pool_wake(p, &p->pending);
    }
}

static void puffer_pool_forget(PufferPool* p) {
    free(p->threads);
    free(p->slots);
    free(p->shares);
    p->threads = NULL;
    p->slots = NULL;
    p->shares = NULL;
    p->started = 0;
}

/* Joins the threads; the pool can be started again. Safe to call twice, and in a forked child
 * (where the threads are gone: they are forgotten, not joined). */
static void puffer_pool_stop(PufferPool* p) {
    if (!p->started) return;
    if (p->generation == puffer_pool_fork_generation) {
        puffer_pool_publish(p, NULL, NULL, NULL, p->job, 1);
        puffer_pool_wake(p, &p->seq);
        for (int i = 0; i < p->num_threads - 1; i++) pthread_join(p->threads[i], NULL);
#ifndef PUFFER_POOL_FUTEX
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->mutex);
#endif
    }
    puffer_pool_forget(p);
}

/* Makes sure num_threads - 1 workers run (started in this process). Cheap when they do.
 * Returns 0, or an errno value (ENOMEM, or pthread_create's error) with no thread left running. */
static int puffer_pool_start(PufferPool* p, int num_threads) {
    if (p->started && p->generation == puffer_pool_fork_generation && p->num_threads == num_threads)
        return 0;
    if (p->started && p->generation != puffer_pool_fork_generation) puffer_pool_forget(p);
    puffer_pool_stop(p);
    if (num_threads < 2) return 0;
    pthread_once(&puffer_pool_once, puffer_pool_register_fork);
    p->threads = (pthread_t*)calloc((size_t)num_threads - 1, sizeof(pthread_t));
    p->slots = (PufferPoolSlot*)calloc((size_t)num_threads - 1, sizeof(PufferPoolSlot));
    void* shares = NULL;
    if (posix_memalign(&shares, 64, (size_t)num_threads * sizeof(PufferPoolShare)) == 0) {
        memset(shares, 0, (size_t)num_threads * sizeof(PufferPoolShare));
        p->shares = (PufferPoolShare*)shares;
        for (int t = 0; t < num_threads; t++) p->shares[t].cpu = -1;
    }
    if (p->threads == NULL || p->slots == NULL || p->shares == NULL) {
        puffer_pool_forget(p);
        return ENOMEM;
    }
    p->num_threads = num_threads;
    p->generation = puffer_pool_fork_generation;
    p->task = NULL;
    p->block_task = NULL;
    p->arg = NULL;
    p->job = 0;
    p->stop = 0;
    p->seq = 0;
    p->pending = 0;
    p->blocks_done = 0;
    p->ping = 0;
    p->sleepers = 0;
    p->caller_asleep = 0;
#ifndef PUFFER_POOL_FUTEX
    pthread_mutex_init(&p->mutex, NULL);
    pthread_cond_init(&p->cond, NULL);
#endif
    for (int i = 0; i < num_threads - 1; i++) {
        p->slots[i].pool = p;
        p->slots[i].index = i + 1;
        int rc = pthread_create(&p->threads[i], NULL, puffer_pool_main, &p->slots[i]);
        if (rc != 0) {
            p->num_threads = i + 1;   /* stop exactly the threads that started */
            p->started = 1;
            puffer_pool_stop(p);
            return rc;
        }
    }
    p->started = 1;
    return 0;
}

/* Runs task(arg, t, n) for t in [0, n) and returns when every call has returned; t = 0 runs on
 * the calling thread. A pool that is not started (or was started before a fork) runs the job
 * on the caller alone, as one thread of one. */
static void puffer_pool_run(PufferPool* p, PufferTask task, void* arg) {
    if (!p->started || p->generation != puffer_pool_fork_generation) {
        task(arg, 0, 1);
        return;
    }
    __atomic_store_n(&p->pending, (uint32_t)(p->num_threads - 1), __ATOMIC_RELAXED);
    __atomic_store_n(&p->shares[0].cpu, puffer_pool_cpu(), __ATOMIC_RELAXED);
    puffer_pool_publish(p, task, NULL, arg, p->job, 0);
    puffer_pool_wake(p, &p->seq);   /* every worker must run it: those asleep uncounted too */
    task(arg, 0, p->num_threads);
    uint32_t left = __atomic_load_n(&p->pending, __ATOMIC_ACQUIRE);
    while (left != 0) left = puffer_pool_await_change(p, 0, &p->pending, left, &p->caller_asleep);
}

/* Runs task(arg, b) for b in [0, num_blocks) (at most PUFFER_POOL_MAX_BLOCKS), each once, on the
 * caller and the workers (see the top of this file), and returns when every call has returned.
 * A pool that is not started (or was started before a fork) runs the blocks in order on the caller. */
static void puffer_pool_run_blocks(PufferPool* p, PufferBlockTask task, void* arg, int num_blocks) {
    if (!p->started || p->generation != puffer_pool_fork_generation) {
        for (int b = 0; b < num_blocks; b++) task(arg, b);
        return;
    }
    int n = p->num_threads, first, last;
    uint32_t job = p->job + 1;    /* only the caller writes p->job (in publish) */
    for (int t = 0; t < n; t++) {   /* the caller (t = 0) takes the last share, as run() does */
        puffer_pool_range(num_blocks, n - 1 - t, n, &first, &last);
        __atomic_store_n(&p->shares[t].range,
                         ((uint64_t)job << 32) | ((uint64_t)first << 16) | (uint64_t)last, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&p->shares[0].cpu, puffer_pool_cpu(), __ATOMIC_RELAXED);
    puffer_pool_publish(p, NULL, task, arg, job, 0);
    puffer_pool_do_blocks(p, task, arg, job, 0);
    p->blocks_done += (uint32_t)num_blocks;
    /* What is left: blocks that workers claimed and are still running. */
    PufferPoolWait wait = {p, 0, 0, 0};
    while (puffer_pool_blocks_finished(p) != p->blocks_done) {
        if (puffer_pool_keep_waiting(&wait)) continue;
        uint32_t ping = __atomic_load_n(&p->ping, __ATOMIC_SEQ_CST);
        __atomic_fetch_add(&p->caller_asleep, 1, __ATOMIC_SEQ_CST);
        if (puffer_pool_blocks_finished(p) != p->blocks_done) puffer_pool_sleep(p, &p->ping, ping);
        __atomic_fetch_sub(&p->caller_asleep, 1, __ATOMIC_SEQ_CST);
    }
}

#endif /* PUFFER_POOL_H */

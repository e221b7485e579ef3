/* puffer_worker.h: one background thread that runs one job at a time, for send()/recv().
 *
 * submit() hands a job to the thread and returns at once; wait() blocks until it has finished.
 * Both sides sleep on a condition variable, so an idle worker or a waiting caller uses no CPU.
 */
#ifndef PUFFER_WORKER_H
#define PUFFER_WORKER_H

#include <pthread.h>

typedef void (*PufferJob)(void* arg);

typedef struct {
    pthread_t thread;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    PufferJob job;
    void* arg;
    int busy;       /* a job is submitted and not finished */
    int stop;
    int started;
} PufferWorker;

static void* puffer_worker_main(void* self) {
    PufferWorker* w = (PufferWorker*)self;
    pthread_mutex_lock(&w->mutex);
    for (;;) {
        while (!w->busy && !w->stop) pthread_cond_wait(&w->cond, &w->mutex);
        if (w->busy) {
            PufferJob job = w->job;
            void* arg = w->arg;
            pthread_mutex_unlock(&w->mutex);
            job(arg);
            pthread_mutex_lock(&w->mutex);
            w->busy = 0;
            pthread_cond_broadcast(&w->cond);
        } else {
            break;
        }
    }
    pthread_mutex_unlock(&w->mutex);
    return NULL;
}

/* Returns 0, or the pthread error code when the thread could not be created. */
static int puffer_worker_start(PufferWorker* w) {
    w->job = NULL;
    w->arg = NULL;
    w->busy = 0;
    w->stop = 0;
    pthread_mutex_init(&w->mutex, NULL);
    pthread_cond_init(&w->cond, NULL);
    int rc = pthread_create(&w->thread, NULL, puffer_worker_main, w);
    if (rc != 0) {
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->mutex);
        return rc;
    }
    w->started = 1;
    return 0;
}

/* The caller guarantees no job is pending (wait() first). */
static void puffer_worker_submit(PufferWorker* w, PufferJob job, void* arg) {
    pthread_mutex_lock(&w->mutex);
    w->job = job;
    w->arg = arg;
    w->busy = 1;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mutex);
}

static void puffer_worker_wait(PufferWorker* w) {
    pthread_mutex_lock(&w->mutex);
    while (w->busy) pthread_cond_wait(&w->cond, &w->mutex);
    pthread_mutex_unlock(&w->mutex);
}

/* Finishes the pending job, if any, then joins the thread. Safe to call twice. */
static void puffer_worker_stop(PufferWorker* w) {
    if (!w->started) return;
    pthread_mutex_lock(&w->mutex);
    while (w->busy) pthread_cond_wait(&w->cond, &w->mutex);
    w->stop = 1;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mutex);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mutex);
    w->started = 0;
}

#endif /* PUFFER_WORKER_H */

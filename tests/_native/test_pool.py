"""The engine's thread pool (csrc/puffer_pool.h), compiled on its own and checked from C.

Every job must run each of its threads' task exactly once and each block of a loop exactly once
(run() jobs and run_blocks() jobs, whose blocks any thread may take, interleaved), at 1 to 8
threads, through the spinning and the sleeping paths, across stop and restart; built with
ThreadSanitizer too where the compiler has it (a data race between a job and the next fails).
"""
import os
import shutil
import subprocess

import pytest

CSRC = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "csrc")

CHECK = r"""
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "puffer_pool.h"

typedef struct { int blocks; int runs[64]; int threads[8]; } Job;

static void task(void* arg, int thread, int num_threads) {
    Job* job = (Job*)arg;
    int first, last;
    job->threads[thread]++;
    puffer_pool_range(job->blocks, thread, num_threads, &first, &last);
    for (int b = first; b < last; b++) job->runs[b]++;
}

/* A run_blocks() block: counts itself in the job, which the caller clears before the job and reads
 * after it (a data race, for ThreadSanitizer, unless the job's end happens after every block).
 * Block 7 is slow (others steal around it), and sometimes slower than the spin (the caller sleeps). */
static void block_task(void* arg, int block) {
    Job* job = (Job*)arg;
    job->runs[block]++;
    if (block == 7) for (volatile int k = 0; k < 20000; k++) {}
    if (block == 7 && job->blocks % 10 == 8) usleep(300);
}

static int run_jobs(PufferPool* pool, int num_threads, int count) {
    Job job;
    for (int j = 0; j < count; j++) {
        memset(&job, 0, sizeof(job));
        job.blocks = j % 40;                      /* 0 to 39 blocks: some threads get none */
        if (j % 3 == 1) {                         /* a blocks job: every block once, any thread */
            puffer_pool_run_blocks(pool, block_task, &job, job.blocks);
            for (int b = 0; b < job.blocks; b++)
                if (job.runs[b] != 1) { printf("blocks job %d: block %d ran %d times\n", j, b, job.runs[b]); return 1; }
            if (j % 100 == 97) usleep(200);       /* past the spin: the workers sleep */
            continue;
        }
        puffer_pool_run(pool, task, &job);
        for (int t = 0; t < num_threads; t++)
            if (job.threads[t] != 1) {
                printf("job %d: thread %d ran %d times\n", j, t, job.threads[t]);
                return 1;
            }
        for (int b = 0; b < job.blocks; b++)
            if (job.runs[b] != 1) { printf("job %d: block %d ran %d times\n", j, b, job.runs[b]); return 1; }
        if (j % 100 == 99) usleep(200);           /* past the spin: the workers sleep */
    }
    return 0;
}

int main(void) {
    for (int n = 1; n <= 8; n++) {
        PufferPool pool;
        memset(&pool, 0, sizeof(pool));
        for (int round = 0; round < 2; round++) { /* stop, then start and use again */
            if (puffer_pool_start(&pool, n) != 0) { printf("cannot start %d threads\n", n); return 1; }
            if (puffer_pool_start(&pool, n) != 0) return 1;   /* already running: nothing to do */
            if (run_jobs(&pool, n, 600)) return 1;
            puffer_pool_stop(&pool);
            puffer_pool_stop(&pool);              /* twice is harmless */
        }
    }
    for (int n = 1; n <= 8; n++)                  /* the static ranges tile 0..blocks in order */
        for (int blocks = 0; blocks < 40; blocks++) {
            int expect = 0, first, last;
            for (int t = 0; t < n; t++) {
                puffer_pool_range(blocks, t, n, &first, &last);
                if (first != expect || last < first) {
                    printf("range %d/%d of %d\n", t, n, blocks);
                    return 1;
                }
                expect = last;
            }
            if (expect != blocks) return 1;
        }
    printf("ok\n");
    return 0;
}
"""


def _compile_and_run(tmp_path, *flags):
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        pytest.skip("no C compiler")
    source = tmp_path / "pool_check.c"
    source.write_text(CHECK)
    binary = tmp_path / "pool_check"
    # not the sanitizer runtime the test run may be preloaded with (ThreadSanitizer cannot share it)
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    build = subprocess.run([cc, "-O1", "-g", "-pthread", *flags, "-I", CSRC, str(source), "-o", str(binary)],
                           capture_output=True, text=True, env=env)
    if build.returncode != 0 and flags:
        pytest.skip(f"the compiler cannot build with {' '.join(flags)}: {build.stderr[-300:]}")
    assert build.returncode == 0, build.stderr
    result = subprocess.run([str(binary)], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0 and result.stdout == "ok\n", result.stdout + result.stderr


def test_every_block_runs_exactly_once_per_job_at_1_to_8_threads(tmp_path):
    _compile_and_run(tmp_path)


def test_the_pool_has_no_data_race(tmp_path):
    _compile_and_run(tmp_path, "-fsanitize=thread")


def test_the_condition_variable_fallback_for_systems_without_futexes(tmp_path):
    _compile_and_run(tmp_path, "-DPUFFER_POOL_NO_FUTEX")

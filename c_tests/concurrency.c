/* Starts N CPU-bound threads as fast as possible, then joins them all, and
 * reports how many ran at the same time.
 *
 * Usage: concurrency [N]   (default 16)
 * Prints: created= eagain= other_errors= finished= peak=
 *
 * Each worker spins until it has used WORK_NS of its own CPU time, so the work
 * is the same on a fast or a slow, idle or loaded machine. `peak` is the most
 * workers that were between their start and their end at once. A failed
 * pthread_create is counted and the loop goes on. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define WORK_NS (60L * 1000 * 1000)

static atomic_int running;
static atomic_int peak;
static atomic_int finished;

static long thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static void *worker(void *arg) {
    (void)arg;
    int now = atomic_fetch_add(&running, 1) + 1;
    int seen = atomic_load(&peak);
    while (now > seen && !atomic_compare_exchange_weak(&peak, &seen, now)) {
    }

    long start = thread_cpu_ns();
    volatile double x = 1.0;
    do {
        for (int i = 0; i < 10000; i++)
            x = x * 1.0000001 + 0.5;
    } while (thread_cpu_ns() - start < WORK_NS);

    atomic_fetch_sub(&running, 1);
    atomic_fetch_add(&finished, 1);
    return NULL;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 16;
    if (n < 1 || n > 4096) {
        fprintf(stderr, "concurrency: bad thread count\n");
        return 2;
    }
    pthread_t *tids = calloc(n, sizeof *tids);
    char *ok = calloc(n, 1);
    if (!tids || !ok)
        return 2;

    int created = 0, eagain = 0, other_errors = 0;
    for (int i = 0; i < n; i++) {
        int rc = pthread_create(&tids[i], NULL, worker, NULL);
        if (rc == 0) {
            ok[i] = 1;
            created++;
        } else if (rc == EAGAIN) {
            eagain++;
        } else {
            other_errors++;
        }
    }
    for (int i = 0; i < n; i++)
        if (ok[i] && pthread_join(tids[i], NULL) != 0)
            other_errors++;

    printf("created=%d\n", created);
    printf("eagain=%d\n", eagain);
    printf("other_errors=%d\n", other_errors);
    printf("finished=%d\n", atomic_load(&finished));
    printf("peak=%d\n", atomic_load(&peak));
    free(tids);
    free(ok);
    return 0;
}

/* 16 threads that all wait at one barrier (count 16) before finishing: no
 * thread can finish until every one has been created. A cap that counted the
 * blocked threads as running would deadlock here.
 *
 * Prints: created= errors= finished= */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#define N 16

static pthread_barrier_t barrier;
static atomic_int finished;

static void *worker(void *arg) {
    (void)arg;
    pthread_barrier_wait(&barrier);
    atomic_fetch_add(&finished, 1);
    return NULL;
}

int main(void) {
    pthread_t tids[N];
    int created = 0, errors = 0;
    if (pthread_barrier_init(&barrier, NULL, N) != 0)
        return 2;
    for (int i = 0; i < N; i++) {
        if (pthread_create(&tids[i], NULL, worker, NULL) != 0) {
            /* The barrier would never open: report and stop. */
            errors++;
            break;
        }
        created++;
    }
    if (errors) {
        printf("created=%d\nerrors=%d\nfinished=0\n", created, errors);
        fflush(stdout);
        return 1;
    }
    for (int i = 0; i < N; i++)
        pthread_join(tids[i], NULL);
    printf("created=%d\n", created);
    printf("errors=%d\n", errors);
    printf("finished=%d\n", atomic_load(&finished));
    return 0;
}

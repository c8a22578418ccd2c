/* Creates and joins N threads (argv[1]), one after another, each returning at
 * once, and with B threads kept alive beside them (argv[2]), so that the cost
 * of pthread_create itself dominates. Prints ns_per_thread=. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void *nothing(void *arg) { return arg; }
static void *sleeper(void *arg) { pause(); return arg; }

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 20000;
    int background = argc > 2 ? atoi(argv[2]) : 0;
    pthread_t t;
    for (int i = 0; i < background; i++) pthread_create(&t, NULL, sleeper, NULL);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        if (pthread_create(&t, NULL, nothing, NULL) != 0) { perror("pthread_create"); return 1; }
        pthread_join(t, NULL);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
    printf("ns_per_thread=%.0f\n", ns / n);
    return 0;
}

/* Starts N threads (argv[1], default 4) that spin until all exist, then each
 * reads its own real affinity mask through the raw system call (which the
 * library cannot intercept). After they are joined, main reads its own.
 *
 * Prints: created= max_thread_cpus= min_thread_cpus= main_cpus_after= */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static atomic_int started, go;
static atomic_int max_cpus, min_cpus = 1 << 30;

static int real_cpus(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (syscall(SYS_sched_getaffinity, 0, sizeof set, &set) < 0) return -1;
    return CPU_COUNT(&set);
}

static void *spin(void *arg) {
    (void)arg;
    atomic_fetch_add(&started, 1);
    while (!atomic_load(&go)) { /* spin: a CPU-bound thread */ }
    int n = real_cpus();
    int m = atomic_load(&max_cpus);
    while (n > m && !atomic_compare_exchange_weak(&max_cpus, &m, n)) {}
    m = atomic_load(&min_cpus);
    while (n < m && !atomic_compare_exchange_weak(&min_cpus, &m, n)) {}
    return NULL;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 4;
    pthread_t threads[64];
    int created = 0;
    for (int i = 0; i < n && i < 64; i++)
        if (pthread_create(&threads[created], NULL, spin, NULL) == 0) created++;
    while (atomic_load(&started) < created) { }
    atomic_store(&go, 1);
    for (int i = 0; i < created; i++) pthread_join(threads[i], NULL);
    printf("created=%d\n", created);
    printf("max_thread_cpus=%d\n", atomic_load(&max_cpus));
    printf("min_thread_cpus=%d\n", atomic_load(&min_cpus));
    printf("main_cpus_after=%d\n", real_cpus());
    return 0;
}

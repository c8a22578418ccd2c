/* One member of a tree, for the placement test: waits (up to 20 s) until
 * its CPU count is the one given (its share, once every member has claimed),
 * reads the CPUs its virtual affinity mask shows, and with a third argument
 * starts 2 spinning threads (over a share of 1: under `confine` they are
 * pinned) and reads a thread's real mask through the raw system call. Prints
 * one line, then stays alive 1 s so that the other members read theirs while
 * it still holds its rank.
 *
 * Usage: placement TAG WANT [threads]
 * Prints: TAG nprocs=N cpus=a,b,... [real=a,b,...] */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static atomic_int started;
static cpu_set_t thread_real;

static void *spin(void *arg) {
    atomic_fetch_add(&started, 1);
    while (atomic_load(&started) < 2) { /* spin until both exist */ }
    if (arg) {
        CPU_ZERO(&thread_real);
        syscall(SYS_sched_getaffinity, 0, sizeof thread_real, &thread_real);
    }
    return NULL;
}

static int append_cpus(char *line, int len, int size, const cpu_set_t *set) {
    const char *sep = "";
    for (int cpu = 0; cpu < CPU_SETSIZE && len < size - 16; cpu++) {
        if (CPU_ISSET(cpu, set)) {
            len += snprintf(line + len, size - len, "%s%d", sep, cpu);
            sep = ",";
        }
    }
    return len;
}

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    long want = atol(argv[2]);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    for (int i = 0; i < 4000 && n != want; i++) {
        usleep(5000);
        n = sysconf(_SC_NPROCESSORS_ONLN);
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof set, &set);
    char line[4096];
    int len = snprintf(line, sizeof line, "%s nprocs=%ld cpus=", argv[1], n);
    len = append_cpus(line, len, sizeof line, &set);
    if (argc > 3) {
        pthread_t a, b;
        pthread_create(&a, NULL, spin, (void *)1);
        pthread_create(&b, NULL, spin, NULL);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        len += snprintf(line + len, sizeof line - len, " real=");
        len = append_cpus(line, len, sizeof line, &thread_real);
    }
    /* One write: the lines of the two members never interleave. */
    line[len++] = '\n';
    if (write(1, line, len) != len)
        return 1;
    sleep(1);
    return 0;
}

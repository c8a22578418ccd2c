/* sysconf, which POSIX lets signal handlers call, called first from one: a
 * member of a tree that claims its share there must not start a thread (or
 * allocate) inside the handler; what it defers happens at its next ordinary
 * hooked call (get_nprocs here).
 *
 * Prints: cpus_in_handler= tasks_after_handler= nprocs= tasks_after_nprocs= */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <sys/sysinfo.h>
#include <unistd.h>
#include "task_count.h"

static volatile long cpus = -1;

static void handler(int sig) {
    (void)sig;
    cpus = sysconf(_SC_NPROCESSORS_ONLN);
}

int main(void) {
    struct sigaction sa = {0};
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    int after_handler = task_count();
    int nprocs = get_nprocs();
    /* A steward started now comes up within a moment. */
    int after_nprocs = task_count();
    for (int i = 0; i < 100 && after_nprocs == after_handler; i++) {
        usleep(10000);
        after_nprocs = task_count();
    }
    printf("cpus_in_handler=%ld\ntasks_after_handler=%d\nnprocs=%d\ntasks_after_nprocs=%d\n", cpus,
           after_handler, nprocs, after_nprocs);
    return 0;
}

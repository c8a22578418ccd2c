/* abort() called from a signal handler (SIGUSR1, then SIGSEGV), as an
 * assertion in a crash handler does. The process dies of SIGABRT on both
 * sides (status 134 through a shell). usage: crash_abort usr1|segv */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

/* Real work first, so that the process is a working member of its tree:
 * a CPU-count query and a worker thread. */
static void *work(void *arg) {
    unsigned long n = (unsigned long)arg, h = 1469598103934665603UL;
    for (unsigned long i = 0; i < n; i++) h = (h ^ i) * 1099511628211UL;
    return (void *)h;
}

static void do_work(void) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    fprintf(stderr, "corpus-pool cpus %ld\n", cpus);
    pthread_t t;
    void *r;
    pthread_create(&t, NULL, work, (void *)20000000UL);
    pthread_join(t, &r);
    printf("work %016lx\n", (unsigned long)r);
}

static void handler(int sig) {
    static const char msg[] = "handler: abort\n";
    write(1, msg, sizeof msg - 1);
    (void)sig;
    abort();
}

int main(int argc, char **argv) {
    int segv = argc > 1 && strcmp(argv[1], "segv") == 0;
    do_work();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaction(segv ? SIGSEGV : SIGUSR1, &sa, NULL);
    printf("raising %s\n", segv ? "SIGSEGV" : "SIGUSR1");
    fflush(stdout);
    if (segv) {
        volatile int *p = (volatile int *)0;
        *p = 1;
    } else {
        raise(SIGUSR1);
    }
    puts("not reached");
    return 0;
}

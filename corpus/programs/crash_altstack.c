/* A signal handler on a small alternate stack (sigaltstack) that ends the
 * process with _exit(3), as crash reporters and language runtimes do.
 * usage: crash_altstack STACK_BYTES segv|usr1
 * Exits 3 (printed by the handler path) on both sides. */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/mman.h>
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
    static const char msg[] = "handler ran on the alternate stack\n";
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && (cur.ss_flags & SS_ONSTACK))
        write(1, msg, sizeof msg - 1);
    (void)sig;
    _exit(3);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s STACK_BYTES segv|usr1\n", argv[0]);
        return 2;
    }
    size_t size = strtoul(argv[1], NULL, 0);
    int sig = strcmp(argv[2], "segv") == 0 ? SIGSEGV : SIGUSR1;
    /* A guard page below the stack: an overflow faults at once instead of
     * silently overwriting whatever malloc put below a malloc'ed stack. */
    char *map = mmap(NULL, size + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED || mprotect(map, 4096, PROT_NONE) != 0) { perror("mmap"); return 1; }
    stack_t ss;
    ss.ss_sp = map + 4096;
    ss.ss_size = size;
    ss.ss_flags = 0;
    if (sigaltstack(&ss, NULL) != 0) { perror("sigaltstack"); return 1; }
    do_work();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
    printf("stack %zu bytes, signal %s\n", size, argv[2]);
    fflush(stdout);
    if (sig == SIGSEGV) {
        volatile int *p = (volatile int *)0;
        *p = 42;
    } else {
        raise(SIGUSR1);
    }
    puts("not reached");
    return 0;
}

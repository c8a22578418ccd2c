/* A crash handler on a small alternate signal stack, as many programs
 * install one: `altstack_exit BYTES exit|abort|segv`. The handler runs on a
 * BYTES-byte sigaltstack and ends the process with _exit(3), abort(), or, for
 * `segv`, it is reached through a real SIGSEGV and calls _exit(3). A thread
 * is created first, so that the library has a thread to report. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *how;

static void handler(int sig) {
    (void)sig;
    if (strcmp(how, "abort") == 0) abort();
    _exit(3);
}

static void *work(void *arg) { return arg; }

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: altstack_exit BYTES exit|abort|segv\n");
        return 2;
    }
    how = argv[2];
    size_t bytes = strtoul(argv[1], NULL, 10);
    /* A guard page below the stack, so that overflowing it faults at once
     * (a malloc'ed stack would silently overwrite the heap below it). */
    char *map = mmap(NULL, bytes + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED || mprotect(map, 4096, PROT_NONE) != 0) {
        perror("mmap");
        return 2;
    }
    stack_t ss = {.ss_sp = map + 4096, .ss_size = bytes, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) {
        perror("sigaltstack");
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_ONSTACK;
    /* Only the signal that is raised gets the handler: a SIGSEGV handler on
     * the same stack would hide an overflow of it (it would run again from
     * the top and exit with the same status). */
    sigaction(strcmp(how, "segv") == 0 ? SIGSEGV : SIGUSR1, &sa, NULL);
    pthread_t t;
    pthread_create(&t, NULL, work, NULL);
    pthread_join(t, NULL);
    printf("handler on a %zu-byte stack\n", bytes);
    fflush(stdout);
    if (strcmp(how, "segv") == 0) {
        volatile int *nowhere = NULL;
        return *nowhere;
    }
    raise(SIGUSR1);
    return 0;
}

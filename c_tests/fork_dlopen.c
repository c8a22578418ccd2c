/* Forks while the library's steward is busy: a thread rewrites the budget
 * file (argv[1]) every millisecond, between 1 and 2, so that the steward
 * wakes and puts the new share in force over and over; meanwhile the main
 * thread forks argv[2] children, each of which calls dlopen (a library not
 * loaded yet) and exits. glibc re-initialises only some of the loader's
 * locks in a fork child: a child forked while the steward held another one
 * (walking the loader's list) hangs in its dlopen. A child not done within
 * 5 s is killed and counted.
 *
 * Linked against Debian's pthreads OpenBLAS, whose pool the steward sets.
 * Prints: forks= hung= dgemm_ok= */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GEMM_N 64
#include "gemm.h"
static atomic_int done;
static const char *budget;

static void *flipper(void *arg) {
    (void)arg;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.new", budget);
    for (int i = 0; !atomic_load(&done); i++) {
        FILE *f = fopen(tmp, "w");
        if (f) {
            fprintf(f, "%d\n", 1 + i % 2);
            fclose(f);
            rename(tmp, budget);
        }
        usleep(1000);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: fork_dlopen BUDGET_FILE FORKS\n");
        return 2;
    }
    budget = argv[1];
    int forks = atoi(argv[2]), hung = 0;
    gemm_fill();
    int ok = gemm_ok();
    pthread_t t;
    pthread_create(&t, NULL, flipper, NULL);
    for (int i = 0; i < forks; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            void *h = dlopen(i % 2 ? "libz.so.1" : "libutil.so.1", RTLD_NOW);
            _exit(h ? 0 : 3);
        }
        int status = 0;
        struct timespec start, now;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
            if (waitpid(pid, &status, WNOHANG) == pid)
                break;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec - start.tv_sec >= 5) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                hung++;
                break;
            }
            usleep(200);
        }
        ok &= gemm_ok();
    }
    atomic_store(&done, 1);
    pthread_join(t, NULL);
    printf("forks=%d\nhung=%d\ndgemm_ok=%d\n", forks, hung, ok);
    return 0;
}

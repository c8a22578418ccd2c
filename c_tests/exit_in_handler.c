/* Ends by `_exit` from a signal handler, as programs do on SIGALRM or
 * SIGTERM, while the main thread is busy in malloc and free: the library's
 * `_exit` hook runs its end-of-process work right there, so it must neither
 * allocate nor take a lock the interrupted thread may hold (else the
 * process hangs instead of ending).
 *
 * Asks for the CPU count first (a claim, under a tree) and starts a thread
 * that sleeps (with one thread, glibc's malloc takes no lock at all), then
 * loops on malloc/free until the timer's handler calls _exit(5). Prints
 * `cpus=N` before the loop. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static void *sleeper(void *arg) {
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

static void on_alarm(int sig) {
    (void)sig;
    _exit(5);
}

int main(void) {
    printf("cpus=%ld\n", sysconf(_SC_NPROCESSORS_ONLN));
    fflush(stdout);
    pthread_t t_sleeper;
    if (pthread_create(&t_sleeper, NULL, sleeper, NULL) != 0)
        return 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGALRM, &sa, NULL) != 0)
        return 1;
    struct itimerval t = {.it_value = {.tv_sec = 0, .tv_usec = 20000}};
    if (setitimer(ITIMER_REAL, &t, NULL) != 0)
        return 1;
    void *keep[64] = {0};
    for (unsigned long i = 0;; i++) {
        size_t slot = i % 64, size = 16 + (i * 7919) % 4096;
        free(keep[slot]);
        keep[slot] = malloc(size);
        if (keep[slot])
            memset(keep[slot], 1, 16);
    }
}

/* Forks CHILDREN processes that start at the same moment, each creating
 * THREADS threads that overlap (each sleeps 50 ms), so that every child meets
 * its cap at once and many processes append to one event log together.
 *
 * Usage: fork_burst [CHILDREN] [THREADS]   (defaults 8 and 8)
 * Each child joins what it created and leaves through exit(0), so that its
 * exit event is written. Prints (parent): children= failed= */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void *nap(void *arg) {
    (void)arg;
    usleep(50 * 1000);
    return NULL;
}

static void child(int go_fd, int nthreads) {
    char c;
    /* Wait for the parent to close the pipe: all children go together. */
    while (read(go_fd, &c, 1) > 0) {
    }
    pthread_t tids[256];
    int created = 0;
    for (int i = 0; i < nthreads && i < 256; i++)
        if (pthread_create(&tids[created], NULL, nap, NULL) == 0)
            created++;
    for (int i = 0; i < created; i++)
        pthread_join(tids[i], NULL);
    exit(0);
}

int main(int argc, char **argv) {
    int nchildren = argc > 1 ? atoi(argv[1]) : 8;
    int nthreads = argc > 2 ? atoi(argv[2]) : 8;
    int go[2];
    if (nchildren < 1 || nchildren > 256 || nthreads < 0 || pipe(go) != 0)
        return 2;
    fflush(stdout);
    pid_t pids[256];
    for (int i = 0; i < nchildren; i++) {
        pids[i] = fork();
        if (pids[i] < 0)
            return 2;
        if (pids[i] == 0) {
            close(go[1]);
            child(go[0], nthreads);
        }
    }
    close(go[0]);
    close(go[1]);
    int failed = 0;
    for (int i = 0; i < nchildren; i++) {
        int status;
        if (waitpid(pids[i], &status, 0) != pids[i] || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            failed++;
    }
    printf("children=%d\n", nchildren);
    printf("failed=%d\n", failed);
    return 0;
}

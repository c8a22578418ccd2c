/* vfork, a failed exec, and exit(127) in the child: a common bug (the child
 * should call _exit), which runs the parent's atexit handlers and
 * destructors in the parent's memory. Then the parent creates a thread,
 * waits for the child and exits 0. Prints cpus=, child_status=, pid=. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void *work(void *arg) { return arg; }

int main(void) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    pid_t pid = vfork();
    if (pid == 0) {
        char *argv[] = {"/nonexistent/program", NULL};
        execv(argv[0], argv);
        exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    pthread_t t;
    pthread_create(&t, NULL, work, NULL);
    pthread_join(t, NULL);
    printf("cpus=%ld\nchild_status=%d\npid=%d\n", cpus, WEXITSTATUS(status), (int)getpid());
    return 0;
}

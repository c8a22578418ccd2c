/* A process at its cap forks; the child must start from one live thread.
 *
 * Usage: fork_child CAP [PARENT_THREADS]   (PARENT_THREADS default 7)
 * The parent starts PARENT_THREADS threads that block reading a pipe (those
 * the library refuses are counted, not fatal), so it has up to 8 live threads;
 * then it forks. The child creates CAP-1 threads that each do a little work,
 * joins them, prints its results and leaves through exit(0) (so its exit
 * report is written). The parent waits for the child, releases its threads by
 * closing the pipe, joins them.
 *
 * Prints (parent): parent_pid= parent_created= parent_eagain= parent_errors=
 *                  child_status= parent_joined=
 * Prints (child):  child_pid= child_created= child_errors= child_work= */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int block_pipe[2];
static atomic_int child_work;

static void *blocker(void *arg) {
    (void)arg;
    char c;
    while (read(block_pipe[0], &c, 1) > 0) {
    }
    return NULL;
}

static void *little_work(void *arg) {
    (void)arg;
    volatile int x = 0;
    for (int i = 0; i < 1000; i++)
        x += i;
    atomic_fetch_add(&child_work, 1);
    return NULL;
}

static int run_child(int cap) {
    int want = cap - 1, created = 0, errors = 0;
    pthread_t *tids = calloc(want > 0 ? want : 1, sizeof *tids);
    if (!tids)
        return 2;
    for (int i = 0; i < want; i++) {
        if (pthread_create(&tids[created], NULL, little_work, NULL) == 0)
            created++;
        else
            errors++;
    }
    for (int i = 0; i < created; i++)
        if (pthread_join(tids[i], NULL) != 0)
            errors++;
    printf("child_pid=%d\n", (int)getpid());
    printf("child_created=%d\n", created);
    printf("child_errors=%d\n", errors);
    printf("child_work=%d\n", atomic_load(&child_work));
    free(tids);
    exit(0);
}

int main(int argc, char **argv) {
    int cap = argc > 1 ? atoi(argv[1]) : 4;
    int nparent = argc > 2 ? atoi(argv[2]) : 7;
    if (cap < 1 || nparent < 0 || nparent > 1024 || pipe(block_pipe) != 0)
        return 2;

    pthread_t *tids = calloc(nparent > 0 ? nparent : 1, sizeof *tids);
    if (!tids)
        return 2;
    int created = 0, eagain = 0, errors = 0;
    for (int i = 0; i < nparent; i++) {
        int rc = pthread_create(&tids[created], NULL, blocker, NULL);
        if (rc == 0)
            created++;
        else if (rc == EAGAIN)
            eagain++;
        else
            errors++;
    }

    fflush(stdout); /* nothing buffered may be printed twice */
    pid_t pid = fork();
    if (pid < 0)
        return 2;
    if (pid == 0)
        run_child(cap);

    int status = -1;
    if (waitpid(pid, &status, 0) != pid)
        errors++;
    close(block_pipe[1]);
    int joined = 0;
    for (int i = 0; i < created; i++)
        if (pthread_join(tids[i], NULL) == 0)
            joined++;

    printf("parent_pid=%d\n", (int)getpid());
    printf("parent_created=%d\n", created);
    printf("parent_eagain=%d\n", eagain);
    printf("parent_errors=%d\n", errors);
    printf("child_status=%d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    printf("parent_joined=%d\n", joined);
    free(tids);
    return 0;
}

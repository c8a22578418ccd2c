/* A single-threaded parent that forks: linked against Debian's pthreads
 * OpenBLAS, whose own fork handler joins its pool, so that right after
 * fork() returns the parent runs one thread, as it did before its first
 * BLAS call. Without the library (and with it) the parent must still be
 * single-threaded there: Python 3.12+ warns at a fork of a multi-threaded
 * process, and unshare(CLONE_NEWUSER) fails in one (EINVAL).
 *
 * Does a dgemm (the pool starts), forks a child that exits at once, and in
 * the parent, right after fork() returns, counts /proc/self/task and tries
 * unshare(CLONE_NEWUSER) (argv[1] == "unshare"). Then another dgemm, to
 * show the pool works on.
 *
 * Prints: pool= tasks_before_fork= tasks_after_fork= unshare= (0, or the
 * errno) dgemm_ok= */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "task_count.h"

#define GEMM_N 256
#include "gemm.h"

int main(int argc, char **argv) {
    gemm_fill();
    int ok = gemm_ok();
    int before = task_count();
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    int after = task_count();
    int unshared = -1;
    if (argc > 1 && strcmp(argv[1], "unshare") == 0)
        unshared = unshare(CLONE_NEWUSER) == 0 ? 0 : errno;
    waitpid(pid, NULL, 0);
    ok &= gemm_ok();
    printf("pool=%d\ntasks_before_fork=%d\ntasks_after_fork=%d\nunshare=%d\ndgemm_ok=%d\n",
           openblas_get_num_threads(), before, after, unshared, ok);
    return 0;
}

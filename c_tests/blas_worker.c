/* A member of a process tree that computes with Debian's OpenBLAS (built
 * against the pthreads build, or the OpenMP one with -DRT_OPENMP), in the
 * protocol of tests/tree.rs's Python WORKER: argv TAG STOP_FILE [busy].
 *
 * Prints `TAG ready pid=N threads=T` once, then `TAG threads=T live=L
 * gemms=G bad=W` about every 100 ms until STOP_FILE exists, then `TAG done
 * gemms=G bad=W`. T is openblas_get_num_threads(), L the process's threads,
 * G the products done, W those with a wrong result. Gives up after 150 s. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "task_count.h"

#define GEMM_N 192
#include "gemm.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: blas_worker TAG STOP_FILE [busy]\n");
        return 2;
    }
    const char *tag = argv[1], *stop = argv[2];
    int busy = argc > 3 && strcmp(argv[3], "busy") == 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    gemm_fill();
    long gemms = 1, bad = !gemm_ok();
    printf("%s ready pid=%d threads=%d\n", tag, (int)getpid(), openblas_get_num_threads());
    double limit = now() + 150, last = 0;
    while (access(stop, F_OK) != 0 && now() < limit) {
        bad += !gemm_ok();
        gemms++;
        double t = now();
        if (t - last >= 0.1) {
            last = t;
            printf("%s threads=%d live=%d gemms=%ld bad=%ld\n", tag, openblas_get_num_threads(),
                   task_count(), gemms, bad);
        }
        if (!busy)
            usleep(100000);
    }
    printf("%s done gemms=%ld bad=%ld\n", tag, gemms, bad);
    return 0;
}

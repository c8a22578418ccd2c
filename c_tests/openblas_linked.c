/* Linked against Debian's OpenBLAS (-lopenblas): a DT_NEEDED library whose
 * constructor sizes its thread pool, and starts the pool's threads, before the
 * preloaded library's own constructor has run.
 *
 * Calls cblas_dgemm once on small matrices so the pool is in use, then prints
 * the pool size and the process's live threads (entries of /proc/self/task).
 *
 * Prints: openblas_threads= live_threads= dgemm_ok= */
#define _GNU_SOURCE
#include <cblas.h>
#include <dirent.h>
#include <stdio.h>
#include "task_count.h"

#define N 64

static double a[N * N], b[N * N], c[N * N];


int main(void) {
    for (int i = 0; i < N * N; i++) {
        a[i] = 1.0;
        b[i] = 2.0;
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0, a, N, b, N, 0.0, c, N);
    int ok = 1;
    for (int i = 0; i < N * N; i++)
        if (c[i] != 2.0 * N)
            ok = 0;
    printf("openblas_threads=%d\n", openblas_get_num_threads());
    printf("live_threads=%d\n", task_count());
    printf("dgemm_ok=%d\n", ok);
    return 0;
}

/* A square dgemm through OpenBLAS's CBLAS interface, checked: for the test
 * programs linked against Debian's OpenBLAS (either build). Declared here
 * so that a program needs only the runtime library, not a -dev package.
 * Define GEMM_N before including; gemm_fill() once, then gemm_ok() per
 * product (1 when every element is right). */
#ifndef GEMM_H
#define GEMM_H

enum { RowMajor = 101, NoTrans = 111 };
void cblas_dgemm(int order, int ta, int tb, int m, int n, int k, double alpha, const double *a,
                 int lda, const double *b, int ldb, double beta, double *c, int ldc);
int openblas_get_num_threads(void);

static double gemm_a[GEMM_N * GEMM_N], gemm_b[GEMM_N * GEMM_N], gemm_c[GEMM_N * GEMM_N];

static void gemm_fill(void) {
    for (int i = 0; i < GEMM_N * GEMM_N; i++) {
        gemm_a[i] = 1.0;
        gemm_b[i] = 2.0;
    }
}

static int gemm_ok(void) {
    cblas_dgemm(RowMajor, NoTrans, NoTrans, GEMM_N, GEMM_N, GEMM_N, 1.0, gemm_a, GEMM_N, gemm_b,
                GEMM_N, 0.0, gemm_c, GEMM_N);
    for (int i = 0; i < GEMM_N * GEMM_N; i++)
        if (gemm_c[i] != 2.0 * GEMM_N)
            return 0;
    return 1;
}

#endif

/* OpenBLAS, linked into the executable (DT_NEEDED: its constructor sizes and
 * starts the pool before the preloaded library's constructor runs). Built
 * twice, against Debian's pthreads build and its OpenMP build (-DRT_OPENMP),
 * each by full path with an rpath to its directory.
 *
 * argv[1], the case:
 *   default   nothing: the pool as the constructor sized it
 *   setter64  openblas_set_num_threads(64), linked
 *   goto64    goto_set_num_threads(64), linked
 *   dlsym64   dlsym(dlopen("libopenblas.so.0", RTLD_NOLOAD), "openblas_set_num_threads")(64)
 *   omp64     omp_set_num_threads(64) (OpenMP build: OpenBLAS follows
 *             omp_get_max_threads() at each call)
 *   setter1   openblas_set_num_threads(1): must stay 1
 * then cblas_dgemm (512x512) repeated for 0.3 s under the monitor.
 *
 * Prints: runtime= version= lib= case= needed= threads_at_main= reported=
 * result_ok= and the monitor's keys (rt_monitor.h). */
#include "rt_monitor.h"


/* Debian's OpenBLAS: 32-bit integers. Declared here so the program needs
 * only the runtime library, not a -dev package per build. */
enum { RowMajor = 101 };
enum { NoTrans = 111 };
void cblas_dgemm(int order, int ta, int tb, int m, int n, int k, double alpha, const double *a,
                 int lda, const double *b, int ldb, double beta, double *c, int ldc);
void openblas_set_num_threads(int);
void goto_set_num_threads(int);
int openblas_get_num_threads(void);
char *openblas_get_config(void);
#ifdef RT_OPENMP
void omp_set_num_threads(int);
#define RT_NAME "openblas-openmp"
#else
#define RT_NAME "openblas-pthread"
#endif

#define N 512
static double a[N * N], b[N * N], c[N * N];

static void product(void) {
    cblas_dgemm(RowMajor, NoTrans, NoTrans, N, N, N, 1.0, a, N, b, N, 0.0, c, N);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "default";
    int threads_at_main = task_count();
    const char *lib = rt_lib_path("libopenblas");
    printf("runtime=%s\n", RT_NAME);
    printf("version=%s\n", openblas_get_config());
    printf("lib=%s\n", lib);
    printf("case=%s\n", mode);
    printf("needed=%d\n", rt_needed("libopenblas.so"));
    printf("threads_at_main=%d\n", threads_at_main);

    if (strcmp(mode, "default") == 0) {
    } else if (strcmp(mode, "setter64") == 0) {
        openblas_set_num_threads(64);
    } else if (strcmp(mode, "goto64") == 0) {
        goto_set_num_threads(64);
    } else if (strcmp(mode, "dlsym64") == 0) {
        void (*set)(int) = (void (*)(int))rt_loaded_symbol("libopenblas.so.0", "openblas_set_num_threads");
        if (!set)
            return 2;
        set(64);
#ifdef RT_OPENMP
    } else if (strcmp(mode, "omp64") == 0) {
        omp_set_num_threads(64);
#endif
    } else if (strcmp(mode, "setter1") == 0) {
        openblas_set_num_threads(1);
    } else {
        fprintf(stderr, "unknown case %s\n", mode);
        return 2;
    }

    rt_time_products(N, a, b, c, product);
    printf("reported=%d\n", openblas_get_num_threads());
    return 0;
}

/* Intel oneMKL through its single dynamic library libmkl_rt (from the `mkl`
 * wheel on PyPI, on demand: THROTTLE_TEST_MKL=1), linked into the executable
 * by full path with an rpath to the wheel's lib/ directory, threaded by
 * Intel OpenMP (libiomp5) by default.
 *
 * argv[1], the case:
 *   default   nothing: MKL_NUM_THREADS (with MKL_DYNAMIC=FALSE) decides
 *   setter64  MKL_Set_Num_Threads(64), linked
 *   lower64   mkl_set_num_threads(&64): the lowercase exports of libmkl_rt
 *             are the Fortran entry points (same address as
 *             MKL_SET_NUM_THREADS), taking their arguments by reference;
 *             C code reaches MKL_Set_Num_Threads through mkl_service.h's macro
 *   lowerlocal64   mkl_set_num_threads_local(&64), by reference
 *   lowerdomain64  mkl_domain_set_num_threads(&64, &MKL_DOMAIN_BLAS), by reference
 *   local64   mkl_set_num_threads_local(64)
 *   domain64  MKL_Domain_Set_Num_Threads(64, MKL_DOMAIN_BLAS)
 *   dlsym64   dlsym(dlopen(<libmkl_rt>, RTLD_NOLOAD), "MKL_Set_Num_Threads")(64)
 *   setter1   MKL_Set_Num_Threads(1): must stay 1
 * then cblas_dgemm (512x512) repeated for 0.3 s under the monitor.
 *
 * Prints: runtime= version= lib= case= needed= reported= (mkl_get_max_threads())
 * result_ok= and the monitor's keys. */
#include "rt_monitor.h"


enum { RowMajor = 101 };
enum { NoTrans = 111 };
enum { MKL_DOMAIN_BLAS = 1 };
void cblas_dgemm(int order, int ta, int tb, int m, int n, int k, double alpha, const double *a,
                 int lda, const double *b, int ldb, double beta, double *c, int ldc);
void MKL_Set_Num_Threads(int);
void mkl_set_num_threads(const int *);
int MKL_Set_Num_Threads_Local(int);
int MKL_Domain_Set_Num_Threads(int, int);
int mkl_set_num_threads_local(const int *);
int mkl_domain_set_num_threads(const int *, const int *);
int MKL_Get_Max_Threads(void);
void MKL_Get_Version_String(char *buf, int len);

#define N 512
static double a[N * N], b[N * N], c[N * N];

static void product(void) {
    cblas_dgemm(RowMajor, NoTrans, NoTrans, N, N, N, 1.0, a, N, b, N, 0.0, c, N);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "default";
    const char *lib = rt_lib_path("libmkl_rt");
    char version[256] = {0};
    MKL_Get_Version_String(version, sizeof version - 1);
    printf("runtime=mkl\n");
    printf("version=%s\n", version);
    printf("lib=%s\n", lib);
    printf("case=%s\n", mode);
    printf("needed=%d\n", rt_needed("libmkl_rt.so"));
    printf("threads_at_main=%d\n", task_count());

    int sixty_four = 64;
    if (strcmp(mode, "default") == 0) {
    } else if (strcmp(mode, "setter64") == 0) {
        MKL_Set_Num_Threads(64);
    } else if (strcmp(mode, "lower64") == 0) {
        mkl_set_num_threads(&sixty_four);
    } else if (strcmp(mode, "lowerlocal64") == 0) {
        mkl_set_num_threads_local(&sixty_four);
    } else if (strcmp(mode, "lowerdomain64") == 0) {
        int blas = MKL_DOMAIN_BLAS;
        mkl_domain_set_num_threads(&sixty_four, &blas);
    } else if (strcmp(mode, "local64") == 0) {
        MKL_Set_Num_Threads_Local(64);
    } else if (strcmp(mode, "domain64") == 0) {
        MKL_Domain_Set_Num_Threads(64, MKL_DOMAIN_BLAS);
    } else if (strcmp(mode, "dlsym64") == 0) {
        void (*set)(int) = (void (*)(int))rt_loaded_symbol(lib, "MKL_Set_Num_Threads");
        if (!set)
            return 2;
        set(64);
    } else if (strcmp(mode, "setter1") == 0) {
        MKL_Set_Num_Threads(1);
    } else {
        fprintf(stderr, "unknown case %s\n", mode);
        return 2;
    }

    rt_time_products(N, a, b, c, product);
    printf("reported=%d\n", MKL_Get_Max_Threads());
    return 0;
}

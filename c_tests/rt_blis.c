/* BLIS, linked into the executable: built against Debian's pthreads build and
 * its OpenMP build (-DRT_OPENMP), each by full path with an rpath to its
 * directory. BLIS starts its threads at each level-3 call (no pool), as many
 * as BLIS_NUM_THREADS / its setters say, whatever the CPU count.
 *
 * argv[1], the case:
 *   default   nothing: BLIS_NUM_THREADS (or OMP_NUM_THREADS) decides
 *   setter64  bli_thread_set_num_threads(64), linked
 *   dlsym64   dlsym(dlopen("libblis.so.4", RTLD_NOLOAD), "bli_thread_set_num_threads")(64)
 *   ways64    bli_thread_set_ways(1, 1, 8, 8, 1): 64 threads by loop
 *   setter1   bli_thread_set_num_threads(1): must stay 1
 * then dgemm_ (96x96) repeated for 0.3 s (at least once) under the monitor.
 *
 * Prints: runtime= version= lib= case= needed= reported= (the product of the
 * per-loop ways when they are set, as BLIS then uses them, else
 * bli_thread_get_num_threads()) result_ok= and
 * the monitor's keys. */
#include "rt_monitor.h"


/* Debian's libblis4: 32-bit BLAS integers, 64-bit dim_t. */
typedef long dim_t;
void dgemm_(const char *ta, const char *tb, const int *m, const int *n, const int *k,
            const double *alpha, const double *a, const int *lda, const double *b, const int *ldb,
            const double *beta, double *c, const int *ldc);
void bli_thread_set_num_threads(dim_t n);
void bli_thread_set_ways(dim_t jc, dim_t pc, dim_t ic, dim_t jr, dim_t ir);
dim_t bli_thread_get_num_threads(void);
dim_t bli_thread_get_jc_nt(void);
dim_t bli_thread_get_pc_nt(void);
dim_t bli_thread_get_ic_nt(void);
dim_t bli_thread_get_jr_nt(void);
dim_t bli_thread_get_ir_nt(void);
const char *bli_info_get_version_str(void);
#ifdef RT_OPENMP
#define RT_NAME "blis-openmp"
#else
#define RT_NAME "blis-pthread"
#endif

/* Small: BLIS's spinning barriers make every call of an oversubscribed team
 * (64 threads on 2 CPUs) cost scheduler quanta, so keep a call cheap. */
#define N 96
static double a[N * N], b[N * N], c[N * N];

static void product(void) {
    int n = N;
    double one = 1.0, zero = 0.0;
    dgemm_("N", "N", &n, &n, &n, &one, a, &n, b, &n, &zero, c, &n);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "default";
    const char *lib = rt_lib_path("libblis");
    printf("runtime=%s\n", RT_NAME);
    printf("version=%s\n", bli_info_get_version_str());
    printf("lib=%s\n", lib);
    printf("case=%s\n", mode);
    printf("needed=%d\n", rt_needed("libblis.so"));
    printf("threads_at_main=%d\n", task_count());

    if (strcmp(mode, "default") == 0) {
    } else if (strcmp(mode, "setter64") == 0) {
        bli_thread_set_num_threads(64);
    } else if (strcmp(mode, "dlsym64") == 0) {
        void (*set)(dim_t) = (void (*)(dim_t))rt_loaded_symbol("libblis.so.4", "bli_thread_set_num_threads");
        if (!set)
            return 2;
        set(64);
    } else if (strcmp(mode, "ways64") == 0) {
        bli_thread_set_ways(1, 1, 8, 8, 1);
    } else if (strcmp(mode, "setter1") == 0) {
        bli_thread_set_num_threads(1);
    } else {
        fprintf(stderr, "unknown case %s\n", mode);
        return 2;
    }

    rt_time_products(N, a, b, c, product);
    dim_t ways = bli_thread_get_jc_nt() * bli_thread_get_pc_nt() * bli_thread_get_ic_nt() *
                 bli_thread_get_jr_nt() * bli_thread_get_ir_nt();
    dim_t nt = bli_thread_get_num_threads();
    printf("num_threads=%ld\n", nt);
    printf("ways=%ld\n", ways);
    printf("reported=%ld\n", ways > 0 ? ways : nt);
    return 0;
}

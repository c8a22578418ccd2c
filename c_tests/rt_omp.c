/* An OpenMP runtime, linked into the executable: built with gcc -fopenmp
 * (libgomp) and with clang -fopenmp=libomp (LLVM libomp). Counts the threads
 * concurrently inside each parallel region with an atomic counter (every
 * member of a team is in the region at its barrier), and samples
 * /proc/self/task beside it (rt_monitor.h).
 *
 * argv[1], the case:
 *   default   #pragma omp parallel: the team OMP_NUM_THREADS / the CPUs give
 *   setter64  omp_set_num_threads(64), linked, then parallel
 *   dlsym64   dlsym(dlopen(<the runtime's soname>, RTLD_NOLOAD), "omp_set_num_threads")(64)
 *   clause64  #pragma omp parallel num_threads(64)
 *   nested    omp_set_max_active_levels(2); parallel num_threads(64) with a
 *             parallel num_threads(64) inside: counts the threads inside the
 *             inner regions of the whole outer team at once
 *   setter1   omp_set_num_threads(1): must stay 1
 *
 * Prints: runtime= version= case= needed= reported= (omp_get_max_threads()
 * before the regions) team= (largest omp_get_num_threads() seen, the
 * outermost level for nested) inner_team= peak_inside= (most threads inside
 * the (inner) regions at once) and the monitor's keys. */
#include "rt_monitor.h"

#include <omp.h>
#include <stdatomic.h>

#ifdef __clang__
#define RT_NAME "libomp"
#define RT_SONAME "libomp.so"
#else
#define RT_NAME "libgomp"
#define RT_SONAME "libgomp.so"
#endif

#define REGIONS 5

static atomic_int inside, peak_inside, max_team, max_inner_team;

static void atomic_max(atomic_int *m, int v) {
    int cur = atomic_load(m);
    while (v > cur && !atomic_compare_exchange_weak(m, &cur, v))
        ;
}

/* About a millisecond of floating-point work, so the thread is seen running. */
static double busy(int units) {
    volatile double x = 1.0;
    for (int i = 0; i < units * 200000; i++)
        x = x * 1.0000001 + 1e-9;
    return x;
}

static void enter(int expected) {
    atomic_max(&peak_inside, atomic_fetch_add(&inside, 1) + 1);
    /* Wait (bounded, yielding) until everyone expected is inside, so that
     * teams of a nested region are counted together. */
    double t0 = rt_now();
    while (atomic_load(&inside) < expected && rt_now() - t0 < 0.05)
        sched_yield();
    atomic_max(&peak_inside, atomic_load(&inside));
}

static void flat(int clause) {
    for (int r = 0; r < REGIONS; r++) {
#pragma omp parallel num_threads(clause) if (clause > 0)
        {
            atomic_max(&max_team, omp_get_num_threads());
            enter(omp_get_num_threads());
#pragma omp barrier
            busy(2);
#pragma omp barrier
            atomic_fetch_sub(&inside, 1);
        }
    }
}

static void flat_default(void) {
    for (int r = 0; r < REGIONS; r++) {
#pragma omp parallel
        {
            atomic_max(&max_team, omp_get_num_threads());
            enter(omp_get_num_threads());
#pragma omp barrier
            busy(2);
#pragma omp barrier
            atomic_fetch_sub(&inside, 1);
        }
    }
}

static void nested(int width) {
    omp_set_max_active_levels(2);
#pragma omp parallel num_threads(width)
    {
        atomic_max(&max_team, omp_get_num_threads());
#pragma omp parallel num_threads(width)
        {
            int outer = omp_get_team_size(1), inner = omp_get_num_threads();
            atomic_max(&max_inner_team, inner);
            enter(outer * inner);
#pragma omp barrier
            busy(1);
#pragma omp barrier
            atomic_fetch_sub(&inside, 1);
        }
    }
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "default";
    printf("runtime=%s\n", RT_NAME);
    printf("version=%d\n", _OPENMP);
    printf("case=%s\n", mode);
    printf("needed=%d\n", rt_needed(RT_SONAME));
    printf("threads_at_main=%d\n", task_count());

    int clause = 0;
    if (strcmp(mode, "default") == 0 || strcmp(mode, "nested") == 0) {
    } else if (strcmp(mode, "setter64") == 0) {
        omp_set_num_threads(64);
    } else if (strcmp(mode, "dlsym64") == 0) {
        void (*set)(int) = (void (*)(int))rt_loaded_symbol(RT_SONAME
#ifdef __clang__
                                                           ".5"
#else
                                                           ".1"
#endif
                                                           , "omp_set_num_threads");
        if (!set)
            return 2;
        set(64);
    } else if (strcmp(mode, "clause64") == 0) {
        clause = 64;
    } else if (strcmp(mode, "setter1") == 0) {
        omp_set_num_threads(1);
    } else {
        fprintf(stderr, "unknown case %s\n", mode);
        return 2;
    }
    printf("reported=%d\n", omp_get_max_threads());

    rt_monitor_start();
    if (strcmp(mode, "nested") == 0)
        nested(argc > 2 ? atoi(argv[2]) : 64);
    else if (clause)
        flat(clause);
    else
        flat_default();
    rt_monitor_stop();
    printf("team=%d\n", atomic_load(&max_team));
    printf("inner_team=%d\n", atomic_load(&max_inner_team));
    printf("peak_inside=%d\n", atomic_load(&peak_inside));
    printf("result_ok=1\n");
    return 0;
}

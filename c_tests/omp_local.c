/* An OpenMP library meant to be loaded RTLD_LOCAL (as Python loads an
 * extension, and with it the libgomp a wheel bundles): its regions call the
 * OpenMP runtime in its own scope only. Built with gcc -fopenmp (libgomp) and
 * with clang -fopenmp (LLVM's libomp) by tests/host_safety.rs.
 *
 * local_work(requested, &team): one region, with num_threads(requested) when
 * requested > 0; every thread adds its number + 1. Returns 1 if the sum is
 * right for the team that ran (a call routed to another runtime's team gives
 * the thread numbers of the wrong runtime: 0 everywhere). */
#include <omp.h>

int local_work(int requested, int *team) {
    long sum = 0;
    int size = 0;
    if (requested > 0) {
#pragma omp parallel num_threads(requested) reduction(+ : sum)
        {
            sum += omp_get_thread_num() + 1;
#pragma omp single
            size = omp_get_num_threads();
        }
    } else {
#pragma omp parallel reduction(+ : sum)
        {
            sum += omp_get_thread_num() + 1;
#pragma omp single
            size = omp_get_num_threads();
        }
    }
    *team = size;
    return sum == (long)size * (size + 1) / 2;
}

/* Hybrid MPI + OpenMP: every rank sums an integer series over its slice
 * with an OpenMP reduction (exact, whatever the thread count), the ranks
 * combine with MPI_Reduce and MPI_Allreduce, rank 0 prints the result.
 * Each rank prints `corpus-pool rankR N` (omp_get_max_threads()) on stderr.
 * usage: hybrid [N_TERMS] [NUM_THREADS_CLAUSE (0: none)] */
#include <inttypes.h>
#include <mpi.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t term(uint64_t i) {
    uint64_t x = i * 0x9E3779B97F4A7C15ull;
    for (int k = 0; k < 40; k++) { x ^= x >> 29; x *= 0xBF58476D1CE4E5B9ull; x ^= x >> 32; }
    return x >> 40;
}

int main(int argc, char **argv) {
    int provided, rank, size;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 40000000ull;
    int clause = argc > 2 ? atoi(argv[2]) : 0;

    fprintf(stderr, "corpus-pool rank%d %d\n", rank, omp_get_max_threads());
    uint64_t lo = n * rank / size, hi = n * (rank + 1) / size;
    uint64_t local = 0;
    int team = 0;
    if (clause > 0) {
#pragma omp parallel for reduction(+ : local) num_threads(clause)
        for (uint64_t i = lo; i < hi; i++) local += term(i);
    } else {
#pragma omp parallel reduction(+ : local)
        {
#pragma omp single
            team = omp_get_num_threads();
#pragma omp for
            for (uint64_t i = lo; i < hi; i++) local += term(i);
        }
    }
    (void)team;
    uint64_t total = 0, check = 0, mine = local % 1000003;
    MPI_Reduce(&local, &total, 1, MPI_UINT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
    MPI_Allreduce(&mine, &check, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("ranks %d terms %" PRIu64 " sum %" PRIu64 " check %" PRIu64 "\n", size, n, total, check);
    MPI_Finalize();
    return 0;
}

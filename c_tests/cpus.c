/* Prints every CPU count a runtime might size its pool by, plus the real
 * affinity mask read through the raw system call, which a preloaded library
 * cannot intercept.
 *
 * Prints: nprocs_onln= nprocs_conf= get_nprocs= get_nprocs_conf=
 *         affinity_count= affinity_cpus= pthread_affinity_count=
 *         real_affinity_count= real_affinity_cpus= */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <unistd.h>

static void print_cpus(const char *key, const cpu_set_t *set) {
    printf("%s=", key);
    const char *sep = "";
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (CPU_ISSET(cpu, set)) {
            printf("%s%d", sep, cpu);
            sep = ",";
        }
    }
    printf("\n");
}

int main(void) {
    printf("nprocs_onln=%ld\n", sysconf(_SC_NPROCESSORS_ONLN));
    printf("nprocs_conf=%ld\n", sysconf(_SC_NPROCESSORS_CONF));
    printf("get_nprocs=%d\n", get_nprocs());
    printf("get_nprocs_conf=%d\n", get_nprocs_conf());

    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        printf("affinity_count=%d\n", CPU_COUNT(&set));
        print_cpus("affinity_cpus", &set);
    } else {
        printf("affinity_count=-1\naffinity_cpus=\n");
    }

    CPU_ZERO(&set);
    if (pthread_getaffinity_np(pthread_self(), sizeof set, &set) == 0)
        printf("pthread_affinity_count=%d\n", CPU_COUNT(&set));
    else
        printf("pthread_affinity_count=-1\n");

    /* The kernel writes only as many bytes as its mask has: the rest stays zero. */
    CPU_ZERO(&set);
    if (syscall(SYS_sched_getaffinity, 0, sizeof set, &set) > 0) {
        printf("real_affinity_count=%d\n", CPU_COUNT(&set));
        print_cpus("real_affinity_cpus", &set);
    } else {
        printf("real_affinity_count=-1\nreal_affinity_cpus=\n");
    }
    return 0;
}

/* One member of a tree, for the placement test: waits (up to 20 s) until
 * its CPU count is the one given (its share, once every member has claimed),
 * prints the CPUs its virtual affinity mask shows, then stays alive 1 s so
 * that the other members print while it still holds its rank.
 *
 * Usage: placement TAG WANT
 * Prints: TAG nprocs=N cpus=a,b,... */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3)
        return 2;
    long want = atol(argv[2]);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    for (int i = 0; i < 4000 && n != want; i++) {
        usleep(5000);
        n = sysconf(_SC_NPROCESSORS_ONLN);
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof set, &set);
    char line[4096];
    int len = snprintf(line, sizeof line, "%s nprocs=%ld cpus=", argv[1], n);
    const char *sep = "";
    for (int cpu = 0; cpu < CPU_SETSIZE && len < (int)sizeof line - 16; cpu++) {
        if (CPU_ISSET(cpu, &set)) {
            len += snprintf(line + len, sizeof line - len, "%s%d", sep, cpu);
            sep = ",";
        }
    }
    /* One write: the lines of the two members never interleave. */
    line[len++] = '\n';
    if (write(1, line, len) != len)
        return 1;
    sleep(1);
    return 0;
}

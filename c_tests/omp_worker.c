/* A member of a process tree that computes with OpenMP, in the protocol of
 * tests/tree.rs's Python WORKER: argv TAG STOP_FILE [busy] [request].
 *
 * Prints `TAG ready pid=N threads=T` once, then `TAG threads=T live=L
 * regions=R bad=0` about every 100 ms until STOP_FILE exists, then `TAG done
 * regions=R bad=0`. T is the team of the latest parallel region: a default
 * one (`#pragma omp parallel`, no clause) or, with `request`, one asking for
 * `num_threads(64)`. L is the number of the process's threads.
 *
 * Built with gcc -fopenmp (libgomp) and clang -fopenmp=libomp (LLVM). Gives
 * up by itself after 150 s. */
#include <dirent.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int live_threads(void) {
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* About a millisecond of work per thread. */
static void busy(void) {
    volatile double x = 1.0;
    for (int i = 0; i < 200000; i++)
        x = x * 1.0000001 + 1e-9;
}

static int region(int request) {
    int team = 0;
    if (request) {
#pragma omp parallel num_threads(64)
        {
            busy();
#pragma omp master
            team = omp_get_num_threads();
        }
    } else {
#pragma omp parallel
        {
            busy();
#pragma omp master
            team = omp_get_num_threads();
        }
    }
    return team;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: omp_worker TAG STOP_FILE [busy] [request]\n");
        return 2;
    }
    const char *tag = argv[1], *stop = argv[2];
    int is_busy = 0, request = 0;
    for (int i = 3; i < argc; i++) {
        is_busy |= strcmp(argv[i], "busy") == 0;
        request |= strcmp(argv[i], "request") == 0;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    int team = region(request);
    printf("%s ready pid=%d threads=%d\n", tag, (int)getpid(), team);
    double limit = now() + 150, last = 0;
    long regions = 1;
    while (access(stop, F_OK) != 0 && now() < limit) {
        team = region(request);
        regions++;
        double t = now();
        if (t - last >= 0.1) {
            last = t;
            printf("%s threads=%d live=%d regions=%ld bad=0\n", tag, team, live_threads(), regions);
        }
        if (!is_busy)
            usleep(100000);
    }
    printf("%s done regions=%ld bad=0\n", tag, regions);
    return 0;
}

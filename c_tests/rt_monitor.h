/* Shared by the c_tests/rt_*.c runtime programs: a monitoring thread that
 * samples /proc/self/task/<tid>/stat every millisecond while a runtime
 * computes, and the checks every program prints.
 *
 * What it measures, the monitoring thread itself always left out:
 *   peak_running  the most threads in state R (running or runnable) at one
 *                 sample: how many threads were doing work concurrently
 *   threads       live threads at that sample
 *   max_threads   the most live threads at any sample
 *   workers       threads whose CPU time (utime+stime) grew while sampling
 * The monitoring thread is a pthread too: the process has one more live
 * thread than `threads` says while it runs (printed as monitor=1).
 *
 * Also: rt_needed() says whether the executable names a library in its own
 * DT_NEEDED entries (so that library's constructor ran before the preloaded
 * library's), rt_lib_path() finds a loaded library's path, rt_loaded_symbol()
 * looks a symbol up in a loaded library as a program that finds its runtime
 * at run time does, and task_count() (task_count.h) counts /proc/self/task. */
#ifndef RT_MONITOR_H
#define RT_MONITOR_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "task_count.h"

/* The symbol `name` of the already loaded library `lib` (a soname or a
 * path), through dlopen(RTLD_NOLOAD) and dlsym, as a program that finds its
 * runtime at run time would; NULL, with a line on stderr, when either is not
 * found. */
static inline void *rt_loaded_symbol(const char *lib, const char *name) {
    void *h = dlopen(lib, RTLD_NOW | RTLD_NOLOAD);
    void *sym = h ? dlsym(h, name) : NULL;
    if (!sym) {
        const char *why = dlerror();
        fprintf(stderr, "dlsym %s in %s: %s\n", name, lib, why ? why : "not found");
    }
    return sym;
}

/* The path of the loaded object whose name contains `part`, or "?". */
static inline int rt_lib_path_cb(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    const char **found = (const char **)data;
    if (strstr(info->dlpi_name, found[0])) {
        found[1] = info->dlpi_name;
        return 1;
    }
    return 0;
}
static inline const char *rt_lib_path(const char *part) {
    const char *found[2] = {part, "?"};
    dl_iterate_phdr(rt_lib_path_cb, found);
    return found[1];
}

#define RT_MAX_TIDS 8192


/* 1 when the executable's DT_NEEDED entries include a name starting with
 * `prefix` (e.g. "libopenblas.so"). */
/* _DYNAMIC, the executable's dynamic section, is declared by <link.h>. */
static int rt_main_base_cb(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    *(ElfW(Addr) *)data = info->dlpi_addr; /* the first object is the executable */
    return 1;
}
static int rt_needed(const char *prefix) {
    ElfW(Addr) base = 0;
    dl_iterate_phdr(rt_main_base_cb, &base);
    const char *strtab = NULL;
    for (ElfW(Dyn) *d = _DYNAMIC; d->d_tag != DT_NULL; d++)
        if (d->d_tag == DT_STRTAB) /* relocated in place by ld.so, or not */
            strtab = (const char *)(d->d_un.d_ptr < base ? d->d_un.d_ptr + base : d->d_un.d_ptr);
    if (!strtab)
        return 0;
    for (ElfW(Dyn) *d = _DYNAMIC; d->d_tag != DT_NULL; d++)
        if (d->d_tag == DT_NEEDED &&
            strncmp(strtab + d->d_un.d_val, prefix, strlen(prefix)) == 0)
            return 1;
    return 0;
}

static struct {
    pthread_t thread;
    int stop, started; /* touched with __atomic builtins: C and C++ alike */
    pid_t tid; /* the monitor's own tid, never counted */
    int peak_running, threads_at_peak, max_threads, samples;
    int ntids;
    pid_t tids[RT_MAX_TIDS];
    unsigned long long first[RT_MAX_TIDS], last[RT_MAX_TIDS];
} rt_mon;

/* State and utime+stime of one thread; 0 if it is gone. */
static int rt_read_stat(const char *tid, char *state, unsigned long long *cpu) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/self/task/%s/stat", tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    /* after ") ": field 3 state, then 4..13, 14 utime, 15 stime */
    unsigned long long ut = 0, st = 0;
    char s = 0;
    if (sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &s, &ut, &st) != 3)
        return 0;
    *state = s;
    *cpu = ut + st;
    return 1;
}

static void rt_sample(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return;
    int running = 0, live = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        pid_t tid = (pid_t)atoi(e->d_name);
        if (tid == rt_mon.tid)
            continue;
        char state;
        unsigned long long cpu;
        if (!rt_read_stat(e->d_name, &state, &cpu))
            continue;
        live++;
        if (state == 'R')
            running++;
        int i;
        for (i = 0; i < rt_mon.ntids; i++)
            if (rt_mon.tids[i] == tid)
                break;
        if (i == rt_mon.ntids && i < RT_MAX_TIDS) {
            rt_mon.tids[i] = tid;
            rt_mon.first[i] = cpu;
            rt_mon.ntids++;
        }
        if (i < RT_MAX_TIDS)
            rt_mon.last[i] = cpu;
    }
    closedir(d);
    rt_mon.samples++;
    if (running > rt_mon.peak_running) {
        rt_mon.peak_running = running;
        rt_mon.threads_at_peak = live;
    }
    if (live > rt_mon.max_threads)
        rt_mon.max_threads = live;
}

static void *rt_monitor_main(void *arg) {
    (void)arg;
    rt_mon.tid = (pid_t)syscall(SYS_gettid);
    __atomic_store_n(&rt_mon.started, 1, __ATOMIC_SEQ_CST);
    struct timespec ms = {0, 1000000};
    while (!__atomic_load_n(&rt_mon.stop, __ATOMIC_SEQ_CST)) {
        rt_sample();
        nanosleep(&ms, NULL);
    }
    rt_sample();
    return NULL;
}

/* Starts sampling; returns once the monitor knows its own tid. */
static void rt_monitor_start(void) {
    if (pthread_create(&rt_mon.thread, NULL, rt_monitor_main, NULL) != 0) {
        fprintf(stderr, "rt_monitor: cannot create the monitoring thread\n");
        exit(3);
    }
    while (!__atomic_load_n(&rt_mon.started, __ATOMIC_SEQ_CST))
        sched_yield();
}

/* Stops sampling and prints what it saw. */
static void rt_monitor_stop(void) {
    __atomic_store_n(&rt_mon.stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(rt_mon.thread, NULL);
    int workers = 0;
    for (int i = 0; i < rt_mon.ntids; i++)
        if (rt_mon.last[i] > rt_mon.first[i])
            workers++;
    printf("peak_running=%d\n", rt_mon.peak_running);
    printf("threads=%d\n", rt_mon.threads_at_peak);
    printf("max_threads=%d\n", rt_mon.max_threads);
    printf("workers=%d\n", workers);
    printf("samples=%d\n", rt_mon.samples);
    printf("monitor=1\n");
}

static double rt_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Bounded by the clock, not the work: every run stays short whatever the
 * thread count. */
#define RT_SECONDS 0.3

/* What the BLAS programs time: `product` multiplies the n x n matrices `a`
 * (filled with ones here) and `b` (twos) into `c`; it runs over and over
 * under the monitor for RT_SECONDS, and at least twice. Prints
 * iterations= and result_ok= (every entry of c is 2n). */
static inline void rt_time_products(int n, double *a, double *b, const double *c,
                                    void (*product)(void)) {
    for (int i = 0; i < n * n; i++) {
        a[i] = 1.0;
        b[i] = 2.0;
    }
    rt_monitor_start();
    double t0 = rt_now();
    int iters = 0;
    do {
        product();
        iters++;
    } while (rt_now() - t0 < RT_SECONDS || iters < 2);
    rt_monitor_stop();
    int ok = 1;
    for (int i = 0; i < n * n; i++)
        if (c[i] != 2.0 * n)
            ok = 0;
    printf("iterations=%d\n", iters);
    printf("result_ok=%d\n", ok);
}

#endif

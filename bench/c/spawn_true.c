/* What a preloaded library adds to a process's start: a driver that starts a
 * program N times, one after another, waiting for each, and prints the mean
 * wall time per process.
 *
 *   spawn_true N PROG [ARG...]
 *   spawn_true --hold
 *
 * The driver itself runs without the library (run it with no LD_PRELOAD; any
 * it has is never passed on): its children get LD_PRELOAD=$CHILD_PRELOAD,
 * or no LD_PRELOAD when CHILD_PRELOAD is unset or empty. Every other variable
 * of the driver's environment reaches them as it is (THROTTLE_LEDGER, say).
 * Children start with posix_spawn (PROG is looked up in PATH), their stdout
 * on /dev/null; 3 untimed starts come first (page cache, ld.so cache). A
 * child that fails ends the run (status 1). Prints:
 *
 *   processes=       N
 *   ns_per_process=  wall time from the first spawn to the last reap, over N
 *   cpu_ns_per_process=  the children's CPU time (user + system), over N
 *   minflt_per_process=  the children's minor page faults, over N: unlike
 *                    time, the same from run to run (what a library's code,
 *                    data and memory cost it to map in)
 *
 * --hold (run it preloaded): a process that makes a tree's ledger exist and
 * keeps it alive: it claims a share (a CPU-count query: the library creates
 * the tree's ledger at a process's first claim), prints the ledger's path
 * (THROTTLE_LEDGER, which the library set at start) on stdout, then reads
 * stdin until end of file and exits (the tree's creator: its exit removes
 * the ledger). Prints "none" when THROTTLE_LEDGER is unset.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define WARMUP 3

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static int hold(void) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN); /* the claim */
    const char *ledger = getenv("THROTTLE_LEDGER");
    printf("%s\n", ledger && *ledger ? ledger : "none");
    fflush(stdout);
    char buf[256];
    for (;;) {
        ssize_t n = read(0, buf, sizeof buf);
        if (n == 0 || (n < 0 && errno != EINTR)) break;
    }
    return cpus > 0 ? 0 : 1;
}

/* The children's environment: the driver's, LD_PRELOAD and CHILD_PRELOAD
 * left out, LD_PRELOAD=$CHILD_PRELOAD added when it is set and not empty. */
static char **child_environment(void) {
    size_t n = 0;
    while (environ[n]) n++;
    char **env = calloc(n + 2, sizeof *env);
    if (!env) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], "LD_PRELOAD=", 11) == 0 || strncmp(environ[i], "CHILD_PRELOAD=", 14) == 0)
            continue;
        env[k++] = environ[i];
    }
    const char *preload = getenv("CHILD_PRELOAD");
    if (preload && *preload) {
        size_t len = strlen(preload) + sizeof "LD_PRELOAD=";
        char *var = malloc(len);
        if (!var) return NULL;
        snprintf(var, len, "LD_PRELOAD=%s", preload);
        env[k++] = var;
    }
    env[k] = NULL;
    return env;
}

static int run_one(char **argv, char **env, const posix_spawn_file_actions_t *actions) {
    pid_t pid;
    int err = posix_spawnp(&pid, argv[0], actions, NULL, argv, env);
    if (err != 0) {
        fprintf(stderr, "spawn_true: posix_spawnp %s: %s\n", argv[0], strerror(err));
        return -1;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            perror("spawn_true: waitpid");
            return -1;
        }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "spawn_true: %s failed (status %#x)\n", argv[0], status);
        return -1;
    }
    return 0;
}

static double cpu_ns(const struct rusage *r) {
    return (r->ru_utime.tv_sec + r->ru_stime.tv_sec) * 1e9 +
           (r->ru_utime.tv_usec + r->ru_stime.tv_usec) * 1e3;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--hold") == 0) return hold();
    long n = argc > 2 ? atol(argv[1]) : 0;
    if (argc < 3 || n < 1) {
        fprintf(stderr, "usage: spawn_true N PROG [ARG...]   (children get LD_PRELOAD=$CHILD_PRELOAD)\n"
                        "       spawn_true --hold            (preloaded: claim, print THROTTLE_LEDGER, wait for EOF)\n");
        return 2;
    }
    char **env = child_environment();
    if (!env) {
        perror("spawn_true: malloc");
        return 1;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);

    for (int i = 0; i < WARMUP; i++)
        if (run_one(argv + 2, env, &actions) != 0) return 1;
    struct rusage before, after;
    getrusage(RUSAGE_CHILDREN, &before);
    double t0 = now_ns();
    for (long i = 0; i < n; i++)
        if (run_one(argv + 2, env, &actions) != 0) return 1;
    double wall = now_ns() - t0;
    getrusage(RUSAGE_CHILDREN, &after);
    printf("processes=%ld\n", n);
    printf("ns_per_process=%.0f\n", wall / n);
    printf("cpu_ns_per_process=%.0f\n", (cpu_ns(&after) - cpu_ns(&before)) / n);
    printf("minflt_per_process=%.1f\n", (double)(after.ru_minflt - before.ru_minflt) / n);
    return 0;
}

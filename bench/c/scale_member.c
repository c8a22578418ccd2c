/* How the costs of a process-tree ledger grow with the number of members: a
 * launcher that starts N long-lived members one after another, keeps them
 * idle, then tells them all to exit, and times each step.
 *
 *   scale_member [--info THROTTLE] N IDLE_S SETTLE_S
 *
 * Run it preloaded (LD_PRELOAD=libthrottle.so, THROTTLE_THREADS=2N: a share
 * of 2 for every member) to measure the library, or without to measure the
 * baseline. The launcher itself only forks, execs, reads pipes and /proc and
 * waits: it claims nothing, like a shell (preloaded, it creates the tree's
 * ledger before its first fork and is an idle member of it). Each member is
 * this program again, exec'd (/proc/self/exe --member ...), so the library's
 * constructor runs and joins the ledger named by THROTTLE_LEDGER. A member:
 * times its first sysconf(_SC_NPROCESSORS_ONLN) (with the library: its claim
 * of a share, which runs a census of the ledger), creates one thread that
 * sleeps forever (so it holds a share above 1 in a tree of working processes:
 * the library gives it a steward thread), reports on a pipe, then blocks
 * reading a pipe the launcher holds open; end of file (the launcher closes
 * its end, or dies) makes it return from main (a normal exit: the library
 * leaves the ledger).
 *
 * Steps and what they print (key=value lines; times are CLOCK_MONOTONIC,
 * system-wide, so a child's stamps compare with its parent's):
 *
 *   join     members started one after another: fork, then wait for the
 *            member's report before the next fork.
 *              main_us=   mean, fork to the member's main (exec, ld.so, the
 *                         library's constructor: the join)
 *              start_us=  mean, fork to the member's report (main_us plus
 *                         the claim, the thread, a steward if any)
 *              claim_us=  median over members of the first sysconf call,
 *                         timed in the member; claim_mean_us= its mean;
 *                         claim_cpu_us= the median of its CPU time on the
 *                         member's thread;
 *              join_cpu_us=  the members' CPU time from their start to the
 *                         end of the join step, over the members
 *              join_s=    wall time of the whole step
 *   idle     after SETTLE_S seconds (the library counts a member younger than
 *            2 s as about to work, so shares settle by then), every member's
 *            CPU time (all its threads: its process CPU clock, what
 *            utime+stime in /proc/PID/stat add up to, in ns instead of clock
 *            ticks) read before and after IDLE_S seconds.
 *              idle_cpu_us_per_s=         all members' CPU us per second
 *              idle_cpu_us_per_s_member=  the same, per member
 *              launcher_cpu_us_per_s=     the launcher's own
 *              threads=                   mean threads per member (/proc)
 *              rss_kib=                   mean resident KiB per member
 *   info     (--info THROTTLE, when THROTTLE_LEDGER is set: the launcher is
 *            preloaded) `THROTTLE info` run 5 times, without LD_PRELOAD:
 *              info_ms=       median wall time of one run (it reads the
 *                             ledger, checks every member in /proc)
 *              info_members=  member processes it counted (N + the launcher)
 *              info_working=  members it counted as claimed (working or resting)
 *   reclaim  member N/2 killed (SIGKILL: no leave) and reaped; with
 *            --info, `THROTTLE info` run back to back until it shows no
 *            member gone without leaving (a surviving member's steward
 *            reclaims dead members every 100 ms):
 *              reclaim_ms=    SIGKILL to the start of the first run that
 *                             shows it reclaimed (-1: not within 5 s);
 *                             resolution: one run (info_ms)
 *              reclaim_members=  member processes that run counted
 *   leave    the launcher closes the pipe every remaining member blocks on;
 *              leave_ms=         close to the last reap
 *              leave_us_member=  leave_ms over the members that left (N - 1)
 *
 * Also printed: processes= (N), ledger= (THROTTLE_LEDGER, when set).
 *
 * With SCALE_PIDS_FILE set, every member's pid is appended to that file as it
 * is forked (for the caller's cleanup). With SCALE_JOIN_LIMIT_S set, a join
 * step that has taken longer than that many seconds stops: the members
 * started so far are released and reaped, and the launcher prints
 * incomplete=1, started=K, join_s=, start_us= (join_s over K) and ledger=
 * and exits with status 3. Status 1 when a member fails.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_N 4096
#define INFO_RUNS 5

struct record {
    long idx;
    long pid;
    int64_t t_main;
    int64_t claim_ns;
    /* The same call's CPU time on the member's own thread: what the claim
     * costs the member, without the wait for a CPU that N other processes
     * being woken on 2 CPUs adds to its wall time. */
    int64_t claim_cpu_ns;
    long cpus;
};

static int64_t thread_cpu_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void *sleeper(void *arg) {
    for (;;) pause();
    return arg;
}

static int member(int report_fd, int go_fd, long idx) {
    struct record r = {.idx = idx, .pid = getpid(), .t_main = now_ns()};
    int64_t t0 = now_ns(), c0 = thread_cpu_ns();
    r.cpus = sysconf(_SC_NPROCESSORS_ONLN);
    r.claim_cpu_ns = thread_cpu_ns() - c0;
    r.claim_ns = now_ns() - t0;
    pthread_t t;
    int err = pthread_create(&t, NULL, sleeper, NULL);
    if (err != 0) {
        fprintf(stderr, "scale_member: pthread_create: %s\n", strerror(err));
        return 1;
    }
    pthread_detach(t);
    /* One write of less than PIPE_BUF bytes: never interleaved. */
    if (write(report_fd, &r, sizeof r) != (ssize_t)sizeof r) {
        perror("scale_member: write");
        return 1;
    }
    close(report_fd);
    char c;
    for (;;) {
        ssize_t n = read(go_fd, &c, 1);
        if (n == 0 || (n < 0 && errno != EINTR)) break;
    }
    return 0; /* return from main: exit handlers and destructors run */
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double median_i64(int64_t *v, long n) {
    qsort(v, n, sizeof *v, cmp_i64);
    return n % 2 ? (double)v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

static void sleep_s(double s) {
    struct timespec t = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (time_t)s) * 1e9)};
    while (clock_nanosleep(CLOCK_MONOTONIC, 0, &t, &t) == EINTR) {
    }
}

/* Reads exactly len bytes from fd, waiting at most timeout_ms in all. */
static int read_full(int fd, void *buf, size_t len, int timeout_ms) {
    size_t got = 0;
    int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
    while (got < len) {
        int left = (int)((deadline - now_ns()) / 1000000);
        if (left <= 0) return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, left);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        got += n;
    }
    return 0;
}

/* Process CPU time (all threads, ns) of pid, or -1. */
static int64_t cpu_ns(pid_t pid) {
    clockid_t clock;
    struct timespec t;
    if (clock_getcpuclockid(pid, &clock) != 0 || clock_gettime(clock, &t) != 0) return -1;
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* num_threads (field 20) and rss in pages (field 24) of /proc/PID/stat. */
static int proc_stat(pid_t pid, long *threads, long *rss) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    p += 2; /* field 3, the state */
    for (int field = 3; field <= 24 && p; field++) {
        if (field == 20) *threads = atol(p);
        if (field == 24) *rss = atol(p);
        p = strchr(p, ' ');
        if (p) p++;
    }
    return 0;
}

/* The environment without LD_PRELOAD, for `throttle info`. */
static char **without_preload(void) {
    size_t n = 0;
    while (environ[n]) n++;
    char **env = calloc(n + 1, sizeof *env);
    if (!env) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0) env[k++] = environ[i];
    return env;
}

/* Runs `throttle info`, its output in out (cut at outlen - 1). Returns the
 * wall time in ns, or -1. */
static int64_t run_info(const char *throttle, char **env, char *out, size_t outlen) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    char *argv[] = {(char *)throttle, "info", NULL};
    int64_t t0 = now_ns();
    pid_t pid;
    int err = posix_spawn(&pid, throttle, &actions, NULL, argv, env);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (err != 0) {
        fprintf(stderr, "scale_member: posix_spawn %s: %s\n", throttle, strerror(err));
        close(fds[0]);
        return -1;
    }
    size_t got = 0;
    for (;;) {
        char sink[4096];
        char *dst = got + 1 < outlen ? out + got : sink;
        size_t room = got + 1 < outlen ? outlen - 1 - got : sizeof sink;
        ssize_t n = read(fds[0], dst, room);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (dst == out + got) got += n;
    }
    out[got] = 0;
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    int64_t wall = now_ns() - t0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "scale_member: %s info failed (status %#x)\n", throttle, status);
        return -1;
    }
    return wall;
}

/* From `throttle info`'s "budget B shared by W working and A about to work,
 * of M member processes (R resting: ...) (and D gone ...)" line; `working`
 * is the members that claimed, W + R (idle members rest after a second). */
static void parse_info(const char *out, long *working, long *members, long *gone) {
    *working = *members = -1;
    *gone = 0;
    const char *p = strstr(out, " shared by ");
    if (!p) return;
    long about;
    if (sscanf(p, " shared by %ld working and %ld about to work, of %ld member", working, &about, members) != 3)
        *working = *members = -1;
    const char *eol = strchr(p, '\n');
    const char *r = strstr(p, " resting: ");
    if (r && (!eol || r < eol) && *working >= 0) {
        const char *open = r;
        while (open > p && *open != '(') open--;
        *working += atol(open + 1);
    }
    const char *g = strstr(p, "(and ");
    if (g && (!eol || g < eol)) *gone = atol(g + 5);
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "--member") == 0)
        return member(atoi(argv[2]), atoi(argv[3]), atol(argv[4]));
    const char *throttle = NULL;
    int a = 1;
    if (argc > 2 && strcmp(argv[1], "--info") == 0) {
        throttle = argv[2];
        a = 3;
    }
    long n = argc - a == 3 ? atol(argv[a]) : 0;
    double idle_s = argc - a == 3 ? atof(argv[a + 1]) : 0, settle_s = argc - a == 3 ? atof(argv[a + 2]) : -1;
    if (argc - a != 3 || n < 2 || n > MAX_N || idle_s <= 0 || settle_s < 0) {
        fprintf(stderr, "usage: scale_member [--info THROTTLE] N IDLE_S SETTLE_S   (2 <= N <= %d)\n", MAX_N);
        return 2;
    }
    const char *limit = getenv("SCALE_JOIN_LIMIT_S");
    double join_limit_s = limit && *limit ? atof(limit) : 0;
    const char *ledger = getenv("THROTTLE_LEDGER");
    if (!ledger || !*ledger) throttle = NULL; /* not preloaded: no ledger to read */
    FILE *pids_file = NULL;
    const char *pids_path = getenv("SCALE_PIDS_FILE");
    if (pids_path && *pids_path && !(pids_file = fopen(pids_path, "a"))) {
        perror("scale_member: SCALE_PIDS_FILE");
        return 1;
    }

    int report[2], go[2];
    if (pipe2(report, O_CLOEXEC) != 0 || pipe2(go, O_CLOEXEC) != 0) {
        perror("scale_member: pipe");
        return 1;
    }
    char report_arg[16], go_arg[16];
    snprintf(report_arg, sizeof report_arg, "%d", report[1]);
    snprintf(go_arg, sizeof go_arg, "%d", go[0]);

    static pid_t pids[MAX_N];
    static int64_t t_fork[MAX_N], main_ns[MAX_N], start_ns[MAX_N], claim_ns[MAX_N];
    static int64_t claim_cpu_ns[MAX_N];
    static int64_t cpu0[MAX_N];

    /* join */
    int64_t t_join = now_ns();
    for (long i = 0; i < n; i++) {
        char idx_arg[24];
        snprintf(idx_arg, sizeof idx_arg, "%ld", i);
        t_fork[i] = now_ns();
        pid_t pid = fork();
        if (pid < 0) {
            perror("scale_member: fork");
            return 1;
        }
        if (pid == 0) {
            fcntl(report[1], F_SETFD, 0);
            fcntl(go[0], F_SETFD, 0);
            char *args[] = {argv[0], "--member", report_arg, go_arg, idx_arg, NULL};
            execv("/proc/self/exe", args);
            perror("scale_member: execv");
            _exit(127);
        }
        pids[i] = pid;
        if (pids_file) {
            fprintf(pids_file, "%d\n", (int)pid);
            fflush(pids_file);
        }
        struct record r;
        if (read_full(report[0], &r, sizeof r, 60000) != 0 || r.idx != i) {
            fprintf(stderr, "scale_member: member %ld sent no report within 60 s\n", i);
            return 1;
        }
        start_ns[i] = now_ns() - t_fork[i];
        main_ns[i] = r.t_main - t_fork[i];
        claim_ns[i] = r.claim_ns;
        claim_cpu_ns[i] = r.claim_cpu_ns;
        if (join_limit_s > 0 && i + 1 < n && (now_ns() - t_join) / 1e9 > join_limit_s) {
            /* Over the limit: release the members started so far and stop. */
            double join_s = (now_ns() - t_join) / 1e9;
            close(go[1]);
            while (wait(NULL) > 0 || errno == EINTR) {
            }
            printf("processes=%ld\nincomplete=1\nstarted=%ld\njoin_s=%.3f\n", n, i + 1, join_s);
            if (ledger && *ledger) printf("ledger=%s\n", ledger);
            printf("start_us=%.1f\n", join_s * 1e6 / (i + 1));
            return 3;
        }
    }
    double join_s = (now_ns() - t_join) / 1e9;
    double main_sum = 0, start_sum = 0, claim_sum = 0;
    for (long i = 0; i < n; i++) {
        main_sum += main_ns[i];
        start_sum += start_ns[i];
        claim_sum += claim_ns[i];
    }

    /* The members' CPU from their start to the end of the join: their own
     * start, and what the later ones' joins cost them (with the library,
     * every share changes at every claim). */
    int64_t join_cpu = 0;
    for (long i = 0; i < n; i++) join_cpu += cpu_ns(pids[i]);

    /* idle */
    sleep_s(settle_s);
    long threads_sum = 0, rss_sum = 0;
    for (long i = 0; i < n; i++) {
        long threads = 0, rss = 0;
        proc_stat(pids[i], &threads, &rss);
        threads_sum += threads;
        rss_sum += rss;
    }
    int64_t self0 = cpu_ns(0), t_idle = now_ns();
    for (long i = 0; i < n; i++) cpu0[i] = cpu_ns(pids[i]);
    sleep_s(idle_s);
    int64_t idle_cpu = 0;
    for (long i = 0; i < n; i++) {
        int64_t c = cpu_ns(pids[i]);
        if (c < 0 || cpu0[i] < 0) {
            fprintf(stderr, "scale_member: cannot read member %ld's CPU clock\n", i);
            return 1;
        }
        idle_cpu += c - cpu0[i];
    }
    double idle_wall = (now_ns() - t_idle) / 1e9;
    int64_t self_cpu = cpu_ns(0) - self0;

    /* info */
    char **info_env = throttle ? without_preload() : NULL;
    static char out[1 << 20];
    double info_ms = -1;
    long info_working = -1, info_members = -1, gone = 0;
    if (throttle) {
        int64_t runs[INFO_RUNS];
        for (int k = 0; k < INFO_RUNS; k++) {
            if ((runs[k] = run_info(throttle, info_env, out, sizeof out)) < 0) return 1;
        }
        info_ms = median_i64(runs, INFO_RUNS) / 1e6;
        parse_info(out, &info_working, &info_members, &gone);
    }

    /* reclaim: a member from the middle (the last ones to start are the
     * likeliest to have found no room in a full ledger) */
    double reclaim_ms = -1;
    long reclaim_members = -1;
    pid_t victim = pids[n / 2];
    int64_t t_kill = now_ns();
    kill(victim, SIGKILL);
    while (waitpid(victim, NULL, 0) < 0 && errno == EINTR) {
    }
    if (throttle) {
        while (now_ns() - t_kill < 5000000000LL) {
            int64_t t = now_ns();
            long w, m, g;
            if (run_info(throttle, info_env, out, sizeof out) < 0) return 1;
            parse_info(out, &w, &m, &g);
            if (m >= 0 && g == 0) {
                reclaim_ms = (t - t_kill) / 1e6;
                reclaim_members = m;
                break;
            }
        }
    }

    /* leave */
    int64_t t_leave = now_ns();
    close(go[1]);
    int failed = 0;
    for (long left = 0; left < n - 1; left++) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR) {
                left--;
                continue;
            }
            perror("scale_member: waitpid");
            return 1;
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "scale_member: member %d failed (status %#x)\n", (int)pid, status);
            failed = 1;
        }
    }
    double leave_ms = (now_ns() - t_leave) / 1e6;

    printf("processes=%ld\n", n);
    if (ledger && *ledger) printf("ledger=%s\n", ledger);
    printf("main_us=%.1f\n", main_sum / n / 1e3);
    printf("start_us=%.1f\n", start_sum / n / 1e3);
    printf("claim_us=%.2f\n", median_i64(claim_ns, n) / 1e3);
    printf("claim_mean_us=%.2f\n", claim_sum / n / 1e3);
    printf("claim_cpu_us=%.2f\n", median_i64(claim_cpu_ns, n) / 1e3);
    printf("join_cpu_us=%.1f\n", join_cpu / 1e3 / n);
    printf("join_s=%.3f\n", join_s);
    printf("threads=%.2f\n", (double)threads_sum / n);
    printf("rss_kib=%.0f\n", (double)rss_sum / n * (sysconf(_SC_PAGESIZE) / 1024));
    printf("idle_s=%.3f\n", idle_wall);
    printf("idle_cpu_us_per_s=%.1f\n", idle_cpu / 1e3 / idle_wall);
    printf("idle_cpu_us_per_s_member=%.2f\n", idle_cpu / 1e3 / idle_wall / n);
    printf("launcher_cpu_us_per_s=%.1f\n", self_cpu / 1e3 / idle_wall);
    if (throttle) {
        printf("info_ms=%.2f\n", info_ms);
        printf("info_members=%ld\n", info_members);
        printf("info_working=%ld\n", info_working);
        printf("reclaim_ms=%.1f\n", reclaim_ms);
        printf("reclaim_members=%ld\n", reclaim_members);
    }
    printf("leave_ms=%.2f\n", leave_ms);
    printf("leave_us_member=%.1f\n", leave_ms * 1e3 / (n - 1));
    return failed;
}

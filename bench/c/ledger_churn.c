/* What joining and leaving a process-tree ledger costs: a launcher that
 * starts N short-lived children at once, ROUNDS times, and times them.
 *
 *   ledger_churn N ROUNDS
 *
 * Each child is this program again, exec'd (so the preloaded library's
 * constructor runs and joins the ledger named by THROTTLE_LEDGER, if any),
 * creates and joins one thread (its claim of a share: its first thread
 * creation), then returns from main (a normal exit: the library leaves the
 * ledger). The launcher itself only forks, execs and waits: it queries no CPU
 * count and creates no thread, so it claims nothing, as a shell would not.
 *
 * Every child reports, through a pipe, CLOCK_MONOTONIC (system-wide) stamps
 * taken at main's entry, after its thread was joined, and just before it
 * returns; the launcher stamps each fork and each reap. Prints key=value lines:
 *
 *   processes=     children started, N * ROUNDS
 *   us_per_process= launcher wall time over processes: throughput, with N
 *                   children competing for the CPUs at once
 *   start_us=      median, fork to the child's main: fork, exec, ld.so, the
 *                  preloaded library's constructor (the join)
 *   claim_us=      median, the child's first pthread_create + join (the claim)
 *   exit_us=       median, return from main to the launcher's reap: exit
 *                  handlers and destructors (the leave), exit, wakeup
 *   total_us=      median, fork to reap
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_N 1024

struct record {
    long idx;
    double t_main, t_claimed, t_exit;
};

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void *nothing(void *arg) { return arg; }

static int child(int fd, long idx) {
    struct record r = {.idx = idx, .t_main = now_us()};
    pthread_t t;
    int err = pthread_create(&t, NULL, nothing, NULL);
    if (err != 0) {
        fprintf(stderr, "ledger_churn: pthread_create: %s\n", strerror(err));
        return 1;
    }
    pthread_join(t, NULL);
    r.t_claimed = now_us();
    r.t_exit = now_us();
    /* One write of less than PIPE_BUF bytes: never interleaved. */
    if (write(fd, &r, sizeof r) != (ssize_t)sizeof r) {
        perror("ledger_churn: write");
        return 1;
    }
    return 0; /* return from main: exit handlers and destructors run */
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, long n) {
    qsort(v, n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--child") == 0)
        return child(atoi(argv[2]), atol(argv[3]));
    long n = argc > 1 ? atol(argv[1]) : 0, rounds = argc > 2 ? atol(argv[2]) : 0;
    if (argc != 3 || n < 1 || n > MAX_N || rounds < 1) {
        fprintf(stderr, "usage: ledger_churn N ROUNDS   (1 <= N <= %d)\n", MAX_N);
        return 2;
    }

    int fds[2];
    if (pipe(fds) != 0) {
        perror("ledger_churn: pipe");
        return 1;
    }
    char fdarg[16];
    snprintf(fdarg, sizeof fdarg, "%d", fds[1]);

    long total = n * rounds;
    double *start = malloc(total * sizeof *start), *claim = malloc(total * sizeof *claim);
    double *leave = malloc(total * sizeof *leave), *whole = malloc(total * sizeof *whole);
    double t_fork[MAX_N], t_reap[MAX_N];
    pid_t pids[MAX_N];
    struct record rec[MAX_N];
    if (!start || !claim || !leave || !whole) {
        perror("ledger_churn: malloc");
        return 1;
    }

    double t0 = now_us();
    long k = 0;
    for (long round = 0; round < rounds; round++) {
        for (long i = 0; i < n; i++) {
            char idxarg[24];
            snprintf(idxarg, sizeof idxarg, "%ld", i);
            t_fork[i] = now_us();
            pid_t pid = fork();
            if (pid < 0) {
                perror("ledger_churn: fork");
                return 1;
            }
            if (pid == 0) {
                close(fds[0]);
                char *args[] = {argv[0], "--child", fdarg, idxarg, NULL};
                execv("/proc/self/exe", args);
                perror("ledger_churn: execv");
                _exit(127);
            }
            pids[i] = pid;
        }
        for (long reaped = 0; reaped < n; reaped++) {
            int status;
            pid_t pid = waitpid(-1, &status, 0);
            double t = now_us();
            if (pid < 0) {
                perror("ledger_churn: waitpid");
                return 1;
            }
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "ledger_churn: child %d failed (status %#x)\n", (int)pid, status);
                return 1;
            }
            for (long i = 0; i < n; i++)
                if (pids[i] == pid) t_reap[i] = t;
        }
        /* Every child has exited, so each record is in the pipe (N records
         * of a few dozen bytes fit in its buffer). */
        for (long got = 0; got < n; got++) {
            struct record r;
            ssize_t len = read(fds[0], &r, sizeof r);
            if (len != (ssize_t)sizeof r || r.idx < 0 || r.idx >= n) {
                fprintf(stderr, "ledger_churn: short or bad record from a child\n");
                return 1;
            }
            rec[r.idx] = r;
        }
        for (long i = 0; i < n; i++, k++) {
            start[k] = rec[i].t_main - t_fork[i];
            claim[k] = rec[i].t_claimed - rec[i].t_main;
            leave[k] = t_reap[i] - rec[i].t_exit;
            whole[k] = t_reap[i] - t_fork[i];
        }
    }
    double wall = now_us() - t0;

    printf("processes=%ld\n", total);
    printf("us_per_process=%.1f\n", wall / total);
    printf("start_us=%.1f\n", median(start, total));
    printf("claim_us=%.1f\n", median(claim, total));
    printf("exit_us=%.1f\n", median(leave, total));
    printf("total_us=%.1f\n", median(whole, total));
    return 0;
}

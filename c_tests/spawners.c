/* Starts programs every way the library hooks, ROUNDS times each, and checks
 * that each call behaves as libc's own: `vfork` (the child execs /bin/true,
 * or _exits with a status), `posix_spawn`, `posix_spawnp`, `system` and
 * `popen` (reading the child's output). The parent's locals must survive
 * `vfork`, which returns twice on one stack.
 *
 * With the argument `pool`, an OpenMP region runs first: libgomp's pool is
 * a runtime pool, so a throttled process alone in its tree starts its
 * steward thread (named "libthrottle") at the first of these calls.
 *
 * Prints: pool= vfork_exec= vfork_exit= spawn= spawnp= system= popen=
 * stewards= errors= pid= */
#define _GNU_SOURCE
#include <dirent.h>
#include <omp.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 50

extern char **environ;

static int exited_with(pid_t pid, int code) {
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return 0;
    return WIFEXITED(status) && WEXITSTATUS(status) == code;
}

/* Threads of this process named "libthrottle". */
static int stewards(void) {
    int n = 0;
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[300], comm[32] = "";
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f && fgets(comm, sizeof comm, f) && strcmp(comm, "libthrottle\n") == 0)
            n++;
        if (f)
            fclose(f);
    }
    if (d)
        closedir(d);
    return n;
}

int main(int argc, char **argv) {
    int pool = 0;
    if (argc > 1 && strcmp(argv[1], "pool") == 0) {
#pragma omp parallel reduction(+ : pool)
        pool += 1;
    }
    int vfork_exec = 0, vfork_exit = 0, spawn = 0, spawnp = 0, sys = 0, pop = 0, errors = 0;
    for (int i = 0; i < ROUNDS; i++) {
        volatile int canary = 0x5eed + i;
        pid_t pid = vfork();
        if (pid == 0) {
            execl("/bin/true", "true", (char *)NULL);
            _exit(127);
        }
        if (pid > 0 && exited_with(pid, 0) && canary == 0x5eed + i)
            vfork_exec++;
        else
            errors++;

        pid = vfork();
        if (pid == 0)
            _exit(i % 100 + 1);
        if (pid > 0 && exited_with(pid, i % 100 + 1) && canary == 0x5eed + i)
            vfork_exit++;
        else
            errors++;

        char *true_argv[] = {"true", NULL};
        if (posix_spawn(&pid, "/bin/true", NULL, NULL, true_argv, environ) == 0 && exited_with(pid, 0))
            spawn++;
        else
            errors++;
        char *false_argv[] = {"false", NULL};
        if (posix_spawnp(&pid, "false", NULL, NULL, false_argv, environ) == 0 && exited_with(pid, 1))
            spawnp++;
        else
            errors++;

        int status = system("exit 3");
        if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
            sys++;
        else
            errors++;

        char line[64] = "";
        FILE *f = popen("echo spawned", "r");
        int read_ok = f && fgets(line, sizeof line, f) && strcmp(line, "spawned\n") == 0;
        if (f && pclose(f) == 0 && read_ok)
            pop++;
        else
            errors++;
    }
    /* system(NULL) asks whether a shell exists: nothing is started. */
    if (system(NULL) == 0)
        errors++;
    printf("pool=%d\nvfork_exec=%d\nvfork_exit=%d\nspawn=%d\nspawnp=%d\nsystem=%d\npopen=%d\n"
           "stewards=%d\nerrors=%d\npid=%d\n",
           pool, vfork_exec, vfork_exit, spawn, spawnp, sys, pop, stewards(), errors, getpid());
    return errors != 0;
}

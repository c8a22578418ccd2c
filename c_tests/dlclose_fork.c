/* A working process loads OpenBLAS with dlopen, looks up its setter by
 * handle (so that libthrottle finds the runtime and remembers its setter for
 * fork), closes it with dlclose, then forks. libthrottle lowers remembered
 * pools inside fork: the runtime must still be there (it is pinned when
 * remembered), or the fork would crash in the parent.
 *
 * Prints: cpus=N loaded=0|1 threads_before=N still_loaded=0|1
 *         child_status=S forked=1 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    /* A CPU-count query: the process claims its share (it works). */
    printf("cpus=%ld\n", sysconf(_SC_NPROCESSORS_ONLN));
    void *h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    printf("loaded=%d\n", h != NULL);
    if (!h)
        return 0;
    int (*get)(void) = (int (*)(void))dlsym(h, "openblas_get_num_threads");
    printf("threads_before=%d\n", get ? get() : -1);
    dlclose(h);
    void *again = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_NOLOAD);
    printf("still_loaded=%d\n", again != NULL);
    if (again)
        dlclose(again);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(7);
    int status = 0;
    waitpid(pid, &status, 0);
    printf("child_status=%d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    printf("forked=1\n");
    return 0;
}

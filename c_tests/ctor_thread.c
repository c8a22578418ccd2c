/* A library whose constructor, run by dlopen, waits for a helper thread that
 * itself starts a worker thread: built with -DCTOR_LIB -shared -fPIC as the
 * library, and without it as the program that dlopens it (argv[1]).
 *
 * dlopen holds the loader's lock while constructors run. Since glibc 2.35,
 * pthread_create takes no loader lock, so this works without the library; a
 * pthread_create hook that asks the loader (dladdr, dlsym) on the helper
 * thread waits for that lock forever. The program prints `ok` and exits 0;
 * a hang is caught by the test's timeout. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#ifdef CTOR_LIB
static void *worker(void *arg) { return arg; }

static void *helper(void *arg) {
    pthread_t t;
    (void)arg;
    if (pthread_create(&t, NULL, worker, NULL) != 0)
        return (void *)1;
    pthread_join(t, NULL);
    return NULL;
}

int ctor_ok = -1;

__attribute__((constructor)) static void start(void) {
    pthread_t t;
    void *rc = (void *)1;
    if (pthread_create(&t, NULL, helper, NULL) == 0)
        pthread_join(t, &rc);
    ctor_ok = rc == NULL;
}
#else
int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: ctor_thread LIBRARY\n");
        return 2;
    }
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    int *ok = dlsym(h, "ctor_ok");
    printf("%s\n", ok && *ok == 1 ? "ok" : "failed");
    return ok && *ok == 1 ? 0 : 1;
}
#endif

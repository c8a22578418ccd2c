/* Times N dlsym lookups by handle (argv[1]) of a symbol that is not a
 * runtime setter: what every ctypes attribute access or plugin lookup pays.
 * Prints ns_per_lookup=. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    if (!libc) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 1; }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++)
        if (!dlsym(libc, "strlen")) { fprintf(stderr, "dlsym failed\n"); return 1; }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("ns_per_lookup=%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
    return 0;
}

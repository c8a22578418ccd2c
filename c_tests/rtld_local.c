/* Loads argv[1] (liblocal_caller.so, which needs OpenBLAS) with RTLD_LOCAL,
 * then calls its set_and_get(argv[2]): the setter call by name reaches
 * libthrottle's export first, which must forward to the OpenBLAS that only
 * the local scope can see.
 *
 * Prints: threads_after_set= global_scope_sees_openblas= */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 1; }
    int (*set_and_get)(int) = (int (*)(int))dlsym(lib, "set_and_get");
    if (!set_and_get) { fprintf(stderr, "dlsym: %s\n", dlerror()); return 1; }
    printf("global_scope_sees_openblas=%d\n", dlsym(RTLD_DEFAULT, "openblas_get_num_threads") != NULL);
    printf("threads_after_set=%d\n", set_and_get(atoi(argv[2])));
    return 0;
}

/* A runtime loaded RTLD_LOCAL whose setter calls another of its exported
 * setters (c_tests/two_copies.c built with -DCOPY_LIB): the program sets
 * its count through dlsym, closes it with dlclose, then loads a second copy
 * from another file and does the same. The library's export of the inner
 * setter cached the first copy's definition: had that copy been unloaded,
 * the second copy's call would jump into unmapped memory.
 *
 * Prints: first= (its count after the call) second= first_still_loaded= */
#include <dlfcn.h>
#include <stdio.h>

static int set_and_get(void *h, int n) {
    void (*set)(int) = (void (*)(int))dlsym(h, "openblas_set_num_threads");
    int (*get)(void) = (int (*)(void))dlsym(h, "openblas_get_num_threads");
    if (!set || !get)
        return -1;
    set(n);
    return get();
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: dlclose_setter FIRST SECOND\n");
        return 2;
    }
    void *a = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!a)
        return 1;
    printf("first=%d\n", set_and_get(a, 1));
    dlclose(a);
    void *again = dlopen(argv[1], RTLD_NOW | RTLD_NOLOAD);
    printf("first_still_loaded=%d\n", again != NULL);
    if (again)
        dlclose(again);
    void *b = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
    if (!b)
        return 1;
    printf("second=%d\n", set_and_get(b, 1));
    fflush(stdout);
    return 0;
}

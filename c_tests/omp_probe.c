/* A program that probes for OpenMP: looks omp_get_max_threads up in the
 * global scope and calls it if found. With no OpenMP runtime loaded, the
 * library's export (it routes the query to the caller's runtime) is what the
 * probe finds: it must answer as OpenMP's stubs do (1), not end the
 * program. Prints: found= value= */
#include <dlfcn.h>
#include <stdio.h>
int main(void) {
    int (*f)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "omp_get_max_threads");
    printf("found=%d\nvalue=%d\n", f != NULL, f ? f() : -1);
    return 0;
}

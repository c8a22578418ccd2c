/* Loads each library named on the command line with RTLD_LOCAL (none of
 * them, nor this program, puts an OpenMP runtime in the global scope) and
 * runs its local_work (c_tests/omp_local.c) with the default team and with
 * num_threads(64). Prints, per library i:
 *   lib<i>_default= lib<i>_default_ok= lib<i>_64= lib<i>_64_ok=
 * and global_gomp=0|1: whether the global scope defines GOMP_parallel
 * besides libthrottle (it must not, or the test shows nothing). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    void *global = dlsym(RTLD_DEFAULT, "omp_get_num_threads");
    printf("global_omp=%d\n", global != NULL);
    for (int i = 1; i < argc; i++) {
        void *lib = dlopen(argv[i], RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
            fprintf(stderr, "dlopen %s: %s\n", argv[i], dlerror());
            return 2;
        }
        int (*work)(int, int *) = (int (*)(int, int *))dlsym(lib, "local_work");
        if (!work) {
            fprintf(stderr, "no local_work in %s\n", argv[i]);
            return 2;
        }
        int team = 0, ok = work(0, &team);
        printf("lib%d_default=%d\nlib%d_default_ok=%d\n", i, team, i, ok);
        ok = work(64, &team);
        printf("lib%d_64=%d\nlib%d_64_ok=%d\n", i, team, i, ok);
        fflush(stdout);
    }
    return 0;
}

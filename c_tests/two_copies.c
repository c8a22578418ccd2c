/* Two copies of a runtime, each loaded RTLD_LOCAL, whose exported setter
 * calls another of its exported setters through its PLT, as OpenBLAS's
 * `openblas_set_num_threads` calls `goto_set_num_threads`. Built with
 * -DCOPY_LIB -shared -fPIC as the runtime (twice, under two names), and
 * without it as the program, which loads both (argv[1], argv[2]) and calls
 * the second copy's `openblas_set_num_threads(1)` through dlsym.
 *
 * Without the library, the second copy's internal call binds in its own
 * local scope (no copy is in the global scope): the second copy changes, the
 * first does not. The library exports `goto_set_num_threads` in the global
 * scope, so the internal call reaches it: it must go back to the caller's
 * own copy.
 *
 * Prints: first= second= (each copy's count after the call; both start
 * at 8) */
#include <dlfcn.h>
#include <stdio.h>

#ifdef COPY_LIB
#ifdef COPY_PAD
/* Another layout: the setters sit 64 KiB further in (dlclose_setter.c). */
__attribute__((used)) static void pad(void) { __asm__(".skip 65536, 0xcc"); }
#endif
static int count = 8;
void goto_set_num_threads(int n) { count = n; }
void openblas_set_num_threads(int n) { goto_set_num_threads(n); }
int openblas_get_num_threads(void) { return count; }
#else
int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: two_copies FIRST SECOND\n");
        return 2;
    }
    void *a = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    void *b = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
    if (!a || !b) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    int (*get_a)(void) = (int (*)(void))dlsym(a, "openblas_get_num_threads");
    int (*get_b)(void) = (int (*)(void))dlsym(b, "openblas_get_num_threads");
    void (*set_b)(int) = (void (*)(int))dlsym(b, "openblas_set_num_threads");
    set_b(1);
    printf("first=%d\nsecond=%d\n", get_a(), get_b());
    return 0;
}
#endif

/* A shared object linked against OpenBLAS, like a Python extension module:
 * loaded with dlopen(RTLD_LOCAL), its OpenBLAS is outside the global scope.
 * Built by tests/rtld_local.rs as liblocal_caller.so. */
void openblas_set_num_threads(int);
int openblas_get_num_threads(void);

int set_and_get(int n) {
    openblas_set_num_threads(n);
    return openblas_get_num_threads();
}

/* A malloc replacement that behaves like jemalloc at start: its first call
 * takes a non-recursive lock and, holding it, asks how many CPUs there are
 * (sysconf, get_nprocs, sched_getaffinity, pthread_getaffinity_np). Where
 * jemalloc then hangs forever on its own lock, this one reports the
 * re-entry and exits with status 99, so a test fails instead of hanging.
 * Preloaded beside libthrottle (tests/host_safety.rs). Memory comes from a
 * static arena and is never given back. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

static char arena[256 << 20] __attribute__((aligned(4096)));
static size_t used;
/* volatile: the calls below must see these (they are static, and the
 * compiler could otherwise keep them in registers across the calls). */
static volatile int initialised, locked;
static volatile pthread_t holder;

static void reentered(void) {
    static const char msg[] = "reentrant_alloc: malloc re-entered during its initialisation\n";
    write(2, msg, sizeof msg - 1);
    _exit(99);
}

static void init_once(void) {
    if (initialised) return;
    if (locked && pthread_equal(holder, pthread_self())) reentered();
    locked = 1;
    holder = pthread_self();
    cpu_set_t set;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    n += get_nprocs();
    n += sched_getaffinity(0, sizeof set, &set);
    n += pthread_getaffinity_np(pthread_self(), sizeof set, &set);
    (void)n;
    initialised = 1;
    locked = 0;
}

static void *take(size_t size, size_t align) {
    init_once();
    if (align < 16) align = 16;
    size_t start = __atomic_load_n(&used, __ATOMIC_RELAXED), at, end;
    do {
        at = (start + align - 1) & ~(align - 1);
        end = at + size;
        if (end > sizeof arena) { errno = ENOMEM; return NULL; }
    } while (!__atomic_compare_exchange_n(&used, &start, end, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    return arena + at;
}

void *malloc(size_t size) { return take(size, 16); }
void free(void *p) { (void)p; }
void *calloc(size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) { errno = ENOMEM; return NULL; }
    return take(n * size, 16); /* the arena is zeroed and never reused */
}
void *realloc(void *p, size_t size) {
    void *q = take(size, 16);
    if (p && q) {
        /* Sizes are not recorded: copy what lies between the old block and
         * the new one (the old block and whatever followed it), at most size. */
        size_t old = (size_t)((char *)q - (char *)p);
        memcpy(q, p, old < size ? old : size);
    }
    return q;
}
void *memalign(size_t align, size_t size) { return take(size, align); }
void *aligned_alloc(size_t align, size_t size) { return take(size, align); }
int posix_memalign(void **out, size_t align, size_t size) {
    void *p = take(size, align);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
void *valloc(size_t size) { return take(size, 4096); }
void *pvalloc(size_t size) { return take((size + 4095) & ~(size_t)4095, 4096); }
size_t malloc_usable_size(void *p) { (void)p; return 0; }

/* Like jemalloc, initialise in a constructor: with the library preloaded
 * after this one, this runs before the library's own constructor. (The other
 * order is covered by linking libstdc++, whose constructor allocates first.) */
__attribute__((constructor)) static void early(void) { free(malloc(1)); }

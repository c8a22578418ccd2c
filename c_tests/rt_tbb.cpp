/* oneTBB, linked into the executable. TBB sizes its default arena by the
 * affinity mask (the virtual CPU count covers it); its C++ controls are not
 * interposable by name, so arena64 shows what an explicit request gets.
 *
 * argv[1], the case:
 *   default   tbb::parallel_for in the default arena
 *   arena64   tbb::global_control(max_allowed_parallelism, 64) and a
 *             tbb::task_arena(64) around the same parallel_for
 *
 * Counts the threads inside the loop body at once (an atomic counter, each
 * chunk doing about a millisecond of work) beside the monitor.
 *
 * Prints: runtime= version= case= needed= reported= (the arena's
 * max_concurrency) peak_inside= distinct= (threads that ran a chunk) and the
 * monitor's keys. */
#include <atomic>
#include <mutex>
#include <set>
#include <tbb/global_control.h>
#include <tbb/info.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <tbb/version.h>
#include <thread>

#include "rt_monitor.h"

static std::atomic<int> inside{0}, peak_inside{0};
static std::mutex seen_lock;
static std::set<pid_t> seen;

static void body(int) {
    int now = inside.fetch_add(1) + 1;
    int cur = peak_inside.load();
    while (now > cur && !peak_inside.compare_exchange_weak(cur, now)) {
    }
    {
        std::lock_guard<std::mutex> g(seen_lock);
        seen.insert((pid_t)syscall(SYS_gettid));
    }
    volatile double x = 1.0;
    for (int i = 0; i < 200000; i++)
        x = x * 1.0000001 + 1e-9;
    inside.fetch_sub(1);
}

static void work() {
    double t0 = rt_now();
    do {
        tbb::parallel_for(0, 256, body);
    } while (rt_now() - t0 < RT_SECONDS);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "default";
    printf("runtime=onetbb\n");
    printf("version=%s\n", TBB_runtime_version());
    printf("case=%s\n", mode);
    printf("needed=%d\n", rt_needed("libtbb.so"));
    printf("threads_at_main=%d\n", task_count());
    printf("default_concurrency=%d\n", tbb::info::default_concurrency());

    int reported;
    rt_monitor_start();
    if (strcmp(mode, "default") == 0) {
        reported = tbb::this_task_arena::max_concurrency();
        work();
    } else if (strcmp(mode, "arena64") == 0) {
        tbb::global_control gc(tbb::global_control::max_allowed_parallelism, 64);
        tbb::task_arena arena(64);
        // Asked from inside: an arena is initialised lazily at its first
        // execute, and before that reports the concurrency it was asked for.
        arena.execute([&reported] {
            reported = tbb::this_task_arena::max_concurrency();
            work();
        });
    } else {
        fprintf(stderr, "unknown case %s\n", mode);
        return 2;
    }
    rt_monitor_stop();
    printf("reported=%d\n", reported);
    printf("peak_inside=%d\n", peak_inside.load());
    printf("distinct=%zu\n", seen.size());
    printf("result_ok=1\n");
    return 0;
}

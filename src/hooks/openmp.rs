//! OpenMP teams: the `num_threads` clause and nested regions. A compiled
//! `#pragma omp parallel num_threads(64)` calls libgomp's `GOMP_parallel*`
//! (or LLVM/Intel's `__kmpc_push_num_threads`) with 64: these hooks lower the
//! team so that, with the teams it is nested in, it fits the cap. Without a
//! clause (0), the runtime's default is used, and lowered if it is larger.
//!
//! Every entry point takes the team size third (`fn, data, num_threads, ...`),
//! as declared in GCC's libgomp_g.h; the rest is forwarded untouched.
//! `C-unwind`: the region's body runs inside these calls, and cancellation or
//! a C++ exception may unwind through them.

use super::next_fn;
use crate::log::always;
use crate::next::{cstr, Next};
use crate::{cap, clamp, init};
use libc::{c_int, c_long, c_uint, c_void};

type Body = Option<unsafe extern "C-unwind" fn(*mut c_void)>;

static OMP_GET_LEVEL: Next = Next::new(c"omp_get_level");
static OMP_GET_TEAM_SIZE: Next = Next::new(c"omp_get_team_size");
static OMP_GET_MAX_THREADS: Next = Next::new(c"omp_get_max_threads");

/// The team size to pass for a region asking for `requested` (0: default).
fn team_size(requested: c_uint) -> c_uint {
    super::guarded(|| lowered_team(requested), || requested)
}

fn lowered_team(requested: c_uint) -> c_uint {
    if !init::active() {
        return requested;
    }
    crate::tree::claim();
    // None of these is exported by libthrottle, so the "next" definition is
    // the OpenMP runtime's own.
    let (Some(level), Some(team), Some(max)) = (
        OMP_GET_LEVEL.get(0),
        OMP_GET_TEAM_SIZE.get(0),
        OMP_GET_MAX_THREADS.get(0),
    ) else {
        return requested;
    };
    // SAFETY: the runtime's `int omp_get_level(void)`, `int
    // omp_get_team_size(int)` and `int omp_get_max_threads(void)`.
    let (level, team, max) = unsafe {
        (
            std::mem::transmute::<usize, unsafe extern "C" fn() -> c_int>(level),
            std::mem::transmute::<usize, unsafe extern "C" fn(c_int) -> c_int>(team),
            std::mem::transmute::<usize, unsafe extern "C" fn() -> c_int>(max),
        )
    };
    // SAFETY: plain queries of the calling thread's OpenMP state.
    let (outer, default) = unsafe {
        let outer = (1..=level())
            .map(|l| team(l).max(1) as usize)
            .product::<usize>();
        (outer, max().max(1) as c_uint)
    };
    clamp::team(requested, default, outer, cap::cap())
}

/// A program calling a GOMP entry point that no OpenMP runtime defines
/// could not have started without libthrottle: there is nothing to run it.
fn unavailable(name: &str) -> ! {
    always(format_args!(
        "{name}: no OpenMP runtime defines it; aborting"
    ));
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}

/// Exports a GOMP entry point `(fn, data, num_threads, rest...)`.
macro_rules! gomp {
    ($name:ident ( $($arg:ident : $ty:ty),* ) $(-> $ret:ty)?) => {
        /// libgomp's entry point of the same name, with the team lowered.
        ///
        /// # Safety
        /// As libgomp's own function.
        #[no_mangle]
        #[allow(non_snake_case)]
        pub unsafe extern "C-unwind" fn $name(body: Body, data: *mut c_void, num_threads: c_uint $(, $arg: $ty)*) $(-> $ret)? {
            type Real = unsafe extern "C-unwind" fn(Body, *mut c_void, c_uint $(, $ty)*) $(-> $ret)?;
            static NEXT: Next = Next::new(cstr!($name));
            let Some(real) = next_fn!(NEXT, $name, Real) else {
                unavailable(stringify!($name));
            };
            let num_threads = team_size(num_threads);
            // SAFETY: the runtime's definition, with the caller's arguments.
            unsafe { real(body, data, num_threads $(, $arg)*) }
        }
    };
}

gomp!(GOMP_parallel(flags: c_uint));
gomp!(GOMP_parallel_reductions(flags: c_uint) -> c_uint);
gomp!(GOMP_parallel_start());
gomp!(GOMP_parallel_sections(count: c_uint, flags: c_uint));
gomp!(GOMP_parallel_sections_start(count: c_uint));
gomp!(GOMP_parallel_loop_static(start: c_long, end: c_long, incr: c_long, chunk: c_long, flags: c_uint));
gomp!(GOMP_parallel_loop_dynamic(start: c_long, end: c_long, incr: c_long, chunk: c_long, flags: c_uint));
gomp!(GOMP_parallel_loop_guided(start: c_long, end: c_long, incr: c_long, chunk: c_long, flags: c_uint));
gomp!(GOMP_parallel_loop_nonmonotonic_dynamic(start: c_long, end: c_long, incr: c_long, chunk: c_long, flags: c_uint));
gomp!(GOMP_parallel_loop_nonmonotonic_guided(start: c_long, end: c_long, incr: c_long, chunk: c_long, flags: c_uint));
gomp!(GOMP_parallel_loop_runtime(start: c_long, end: c_long, incr: c_long, flags: c_uint));
gomp!(GOMP_parallel_loop_nonmonotonic_runtime(start: c_long, end: c_long, incr: c_long, flags: c_uint));
gomp!(GOMP_parallel_loop_maybe_nonmonotonic_runtime(start: c_long, end: c_long, incr: c_long, flags: c_uint));
gomp!(GOMP_parallel_loop_static_start(start: c_long, end: c_long, incr: c_long, chunk: c_long));
gomp!(GOMP_parallel_loop_dynamic_start(start: c_long, end: c_long, incr: c_long, chunk: c_long));
gomp!(GOMP_parallel_loop_guided_start(start: c_long, end: c_long, incr: c_long, chunk: c_long));
gomp!(GOMP_parallel_loop_runtime_start(start: c_long, end: c_long, incr: c_long));

static NEXT_PUSH: Next = Next::new(c"__kmpc_push_num_threads");

/// LLVM/Intel OpenMP: the `num_threads` clause, pushed before the fork.
///
/// # Safety
/// As the runtime's own function.
#[no_mangle]
pub unsafe extern "C" fn __kmpc_push_num_threads(loc: *mut c_void, gtid: i32, num_threads: i32) {
    type Real = unsafe extern "C" fn(*mut c_void, i32, i32);
    let Some(real) = next_fn!(NEXT_PUSH, __kmpc_push_num_threads, Real) else {
        return;
    };
    let lowered = if num_threads > 0 {
        team_size(num_threads as c_uint) as i32
    } else {
        num_threads
    };
    // SAFETY: the runtime's definition, with the caller's other arguments.
    unsafe { real(loc, gtid, lowered) }
}

//! OpenMP teams: the `num_threads` clause and nested regions. A compiled
//! `#pragma omp parallel num_threads(64)` calls libgomp's `GOMP_parallel*`
//! (or LLVM/Intel's `__kmpc_push_num_threads`) with 64: these hooks lower the
//! team so that, with the teams it is nested in, it fits the cap. Without a
//! clause (0), the runtime's default is used, and lowered if it is larger.
//!
//! Every entry point takes the team size third (`fn, data, num_threads, ...`),
//! as declared in GCC's libgomp_g.h; the rest is forwarded untouched, to the
//! runtime the caller itself would have called (see `Scope`).

use crate::lock::FutexLock;
use crate::log::always;
use crate::ranges::RangeTable;
use crate::{cap, clamp, init, loaded};
use libc::{c_int, c_uint};
use std::ffi::CStr;
use std::sync::atomic::{AtomicUsize, Ordering::*};

/// This module's state, in one value (docs/design.md, section 3).
struct State {
    /// Scope 0 is the global one; the others are callers' objects, published by
    /// `count` once filled, never changed after (objects holding an OpenMP
    /// runtime are pinned when recorded, so the addresses stay valid).
    scopes: [Scope; MAX_SCOPES],
    /// Scopes filled, the global one included.
    count: AtomicUsize,
    /// 0: the global scope not looked at yet; 1: it has no runtime; 2: it has.
    global: AtomicUsize,
    /// For callers the table cannot hold: see [`anywhere`]; the state as `global`'s.
    anywhere: Scope,
    anywhere_state: AtomicUsize,
    filling: FutexLock,
}

// Among the cold statics (docs/design.md, section 3): touched only by a
// process that runs OpenMP.
#[link_section = ".sbss.throttle_cold"]
static STATE: State = State {
    scopes: [EMPTY; MAX_SCOPES],
    count: AtomicUsize::new(0),
    global: AtomicUsize::new(0),
    anywhere: EMPTY,
    anywhere_state: AtomicUsize::new(0),
    filling: FutexLock::new(),
};

/// Every entry point forwarded here, by index: the GOMP ones take the team
/// size third (`fn, data, num_threads, ...`), as declared in GCC's
/// libgomp_g.h, and so does `__kmpc_push_num_threads (loc, gtid, n)`.
const ENTRIES: [&CStr; 19] = [
    c"GOMP_parallel",
    c"GOMP_parallel_reductions",
    c"GOMP_parallel_start",
    c"GOMP_parallel_sections",
    c"GOMP_parallel_sections_start",
    c"GOMP_parallel_loop_static",
    c"GOMP_parallel_loop_dynamic",
    c"GOMP_parallel_loop_guided",
    c"GOMP_parallel_loop_nonmonotonic_dynamic",
    c"GOMP_parallel_loop_nonmonotonic_guided",
    c"GOMP_parallel_loop_runtime",
    c"GOMP_parallel_loop_nonmonotonic_runtime",
    c"GOMP_parallel_loop_maybe_nonmonotonic_runtime",
    c"GOMP_parallel_loop_static_start",
    c"GOMP_parallel_loop_dynamic_start",
    c"GOMP_parallel_loop_guided_start",
    c"GOMP_parallel_loop_runtime_start",
    c"__kmpc_push_num_threads",
    c"__kmpc_fork_call",
];
const PUSH_NUM_THREADS: usize = 17;
#[cfg(target_arch = "x86_64")]
const FORK_CALL: usize = 18;
/// The queries the team size is computed from, of the same runtime copy,
/// and LLVM's `__kmpc_global_thread_num`, for a push of our own.
const QUERIES: [&CStr; 4] = [
    c"omp_get_level",
    c"omp_get_team_size",
    c"omp_get_max_threads",
    c"__kmpc_global_thread_num",
];
#[cfg(target_arch = "x86_64")]
const GLOBAL_THREAD_NUM: usize = 3;
#[cfg(target_arch = "x86_64")]
const MAX_THREADS: usize = 2;
const WORDS: usize = ENTRIES.len() + QUERIES.len();

/// The definitions one caller uses: the global scope's (what the caller
/// binds to when any loaded object exports them there), or those of the
/// OpenMP runtime in the caller's own scope: a wheel's bundled libgomp,
/// reached only from an extension loaded `RTLD_LOCAL` (scikit-learn's
/// `scikit_learn.libs/libgomp-*.so`), which `RTLD_NEXT` cannot see.
struct Scope {
    /// The caller object's address range (0, 0 for the global scope).
    start: AtomicUsize,
    end: AtomicUsize,
    words: [AtomicUsize; WORDS],
}

const MAX_SCOPES: usize = 256;

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicUsize = AtomicUsize::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Scope = Scope {
    start: ZERO,
    end: ZERO,
    words: [ZERO; WORDS],
};

/// The scope whose definitions a call from `ret` uses. Found through the
/// loader once per caller object, then from the table alone.
fn scope_of(ret: usize) -> Option<&'static Scope> {
    if STATE.global.load(Acquire) == 0 {
        let _guard = STATE.filling.lock();
        if STATE.global.load(Acquire) == 0 {
            let found = fill(&STATE.scopes[0], |name| {
                let next = loaded::lookup(libc::RTLD_NEXT, name);
                (next != 0 && !is_ours(next)).then_some(next)
            });
            STATE.global.store(if found { 2 } else { 1 }, Release);
        }
    }
    if STATE.global.load(Acquire) == 2 {
        return Some(&STATE.scopes[0]);
    }
    let known = |count: usize| {
        STATE.scopes[1..count].iter().find(|s| {
            let (start, end) = (s.start.load(Relaxed), s.end.load(Relaxed));
            start <= ret && ret < end
        })
    };
    if let Some(scope) = known(STATE.count.load(Acquire).max(1)) {
        return Some(scope);
    }
    let _guard = STATE.filling.lock();
    let count = STATE.count.load(Acquire).max(1);
    if let Some(scope) = known(count) {
        return Some(scope);
    }
    // A caller outside every loaded object (JIT-compiled code), or a table
    // already full: the first runtime found anywhere, rather than nothing.
    let (Some(caller), Some(scope)) = (loaded::containing(ret), STATE.scopes.get(count)) else {
        return anywhere();
    };
    // SAFETY: RTLD_NOLOAD loads nothing; RTLD_NODELETE pins the caller and
    // with it the runtime it depends on. The handle is kept: its scope is
    // what the caller's own symbol lookups search.
    let handle = unsafe {
        libc::dlopen(
            caller
                .path
                .as_ref()
                .map_or(std::ptr::null(), |p| p.as_ptr()),
            libc::RTLD_NOLOAD | libc::RTLD_NODELETE | libc::RTLD_LAZY,
        )
    };
    let found = !handle.is_null()
        && fill(scope, |name| {
            let addr = loaded::lookup(handle, name);
            (addr != 0 && !is_ours(addr)).then_some(addr)
        });
    if !found {
        // Not in the caller's scope (a main program, whose scope is the
        // global one): any loaded runtime.
        return anywhere();
    }
    scope.start.store(caller.start, Relaxed);
    scope.end.store(caller.end, Relaxed);
    STATE.count.store(count + 1, Release);
    Some(scope)
}

/// The first runtime found in any loaded object, filled once (under
/// `filling`, held by the caller) and never changed after.
fn anywhere() -> Option<&'static Scope> {
    if STATE.anywhere_state.load(Acquire) == 0 {
        let found = fill(&STATE.anywhere, |name| {
            loaded::definition_elsewhere(name).filter(|&a| !is_ours(a))
        });
        STATE
            .anywhere_state
            .store(if found { 2 } else { 1 }, Release);
    }
    (STATE.anywhere_state.load(Acquire) == 2).then_some(&STATE.anywhere)
}

/// Fills `scope` with what `find` finds; true if the runtime's main entry
/// point was found.
fn fill(scope: &Scope, find: impl Fn(&CStr) -> Option<usize>) -> bool {
    for (word, name) in scope.words.iter().zip(ENTRIES.iter().chain(QUERIES.iter())) {
        word.store(find(name).unwrap_or(0), Relaxed);
    }
    // Any GOMP entry, or LLVM's, marks a runtime.
    scope.words[..ENTRIES.len()]
        .iter()
        .any(|w| w.load(Relaxed) != 0)
}

fn is_ours(addr: usize) -> bool {
    loaded::object_of(addr).is_some_and(|(base, _)| base == loaded::own_base())
}

/// Where a forwarded call goes, and with which team size.
#[repr(C)]
pub struct Route {
    target: usize,
    team: usize,
}

/// Called by every entry point's trampoline with the entry's index, the
/// caller's return address and its team-size argument.
extern "C" fn route(entry: usize, ret: usize, requested: c_uint) -> Route {
    let found = std::panic::catch_unwind(|| {
        let scope = scope_of(ret)?;
        let target = scope.words[entry].load(Relaxed);
        (target != 0).then_some((scope, target))
    });
    let Ok(Some((scope, target))) = found else {
        unavailable(ENTRIES.get(entry).copied().unwrap_or(c"?"));
    };
    if entry == PUSH_NUM_THREADS {
        // The next `__kmpc_fork_call` of this thread forms the team this
        // clause asked for: it is not a default team.
        // `try_with`: nothing may panic across the trampoline.
        let _ = PUSHED.try_with(|p| p.set(true));
    }
    let team = if (entry == PUSH_NUM_THREADS && (requested as i32) <= 0) || needs_exact_teams(ret) {
        requested
    } else {
        super::guarded(|| lowered_team(scope, requested), || requested)
    };
    Route {
        target,
        team: team as usize,
    }
}

thread_local! {
    /// Set by `__kmpc_push_num_threads` (a `num_threads` clause), taken by
    /// the `__kmpc_fork_call` that follows it on the same thread.
    static PUSHED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Called by `__kmpc_fork_call`'s trampoline with the caller's return
/// address and the region's source location: returns the runtime's
/// definition to jump to. LLVM's and Intel's OpenMP form a team without a
/// clause from the calling thread's default, with no argument to replace:
/// where that default is above what fits, the team is pushed first, as a
/// clause would (`__kmpc_push_num_threads` of the same runtime).
#[cfg(target_arch = "x86_64")]
extern "C" fn route_fork(ret: usize, loc: usize) -> usize {
    let found = std::panic::catch_unwind(|| {
        let scope = scope_of(ret)?;
        let target = scope.words[FORK_CALL].load(Relaxed);
        (target != 0).then_some((scope, target))
    });
    let Ok(Some((scope, target))) = found else {
        unavailable(ENTRIES[FORK_CALL]);
    };
    if !PUSHED.try_with(|p| p.replace(false)).unwrap_or(false) {
        super::guarded(|| push_default_team(scope, loc), || ());
    }
    target
}

#[cfg(target_arch = "x86_64")]
fn push_default_team(scope: &Scope, loc: usize) {
    let team = lowered_team(scope, 0);
    let push = scope.words[PUSH_NUM_THREADS].load(Relaxed);
    let gtid = scope.words[ENTRIES.len() + GLOBAL_THREAD_NUM].load(Relaxed);
    if team == 0 || push == 0 || gtid == 0 {
        return;
    }
    // SAFETY: the runtime's `kmp_int32 __kmpc_global_thread_num(ident_t *)`
    // and `void __kmpc_push_num_threads(ident_t *, kmp_int32, kmp_int32)`,
    // called with the region's own location, on the thread about to fork.
    unsafe {
        let gtid = std::mem::transmute::<usize, unsafe extern "C" fn(usize) -> i32>(gtid)(loc);
        std::mem::transmute::<usize, unsafe extern "C" fn(usize, i32, i32)>(push)(
            loc,
            gtid,
            team as i32,
        );
    }
}

/// Whether `ret` is in an object of a runtime that needs its teams exactly
/// as asked (`Runtime::exact_teams`: OpenBLAS's OpenMP build, whose level-3
/// routines split the work for the team they ask for and spin until every
/// part is done; a team lowered below its request deadlocks them, seen
/// with `dgemm` under a budget flipping between 1 and 2). Their regions are
/// forwarded unchanged; what they ask is lowered earlier, where they size
/// themselves (see [`omp_get_max_threads`]). Cached by object.
fn needs_exact_teams(ret: usize) -> bool {
    static KNOWN: RangeTable<16> = RangeTable::new();
    if let Some(exact) = KNOWN.get(ret) {
        return exact == 1;
    }
    let Some(object) = loaded::containing(ret) else {
        return false;
    };
    let exact = object
        .path
        .as_ref()
        .and_then(|p| crate::runtimes::runtime_of(p.to_bytes()))
        .is_some_and(|r| r.exact_teams);
    let _guard = KNOWN.lock();
    if KNOWN.get(ret).is_none() {
        KNOWN.insert(object.start, object.end, usize::from(exact));
    }
    exact
}

/// `omp_get_max_threads()`, routed to the caller's runtime like the entry
/// points. The program is told the runtime's answer (the default team,
/// sized to the process's own cap: an upper bound it may size arrays by).
/// OpenBLAS's OpenMP build is told the share in force: it asks this at
/// every call and resizes itself to the answer (`goto_set_num_threads`, on
/// the calling thread, before it splits the work), its own safe point for
/// following a share.
#[cfg(target_arch = "x86_64")]
extern "C" fn max_threads(ret: usize) -> c_int {
    let found = std::panic::catch_unwind(|| {
        let scope = scope_of(ret)?;
        let target = scope.words[ENTRIES.len() + MAX_THREADS].load(Relaxed);
        (target != 0).then_some(target)
    });
    // No OpenMP runtime anywhere: a program that found this export by
    // probing (`dlsym(RTLD_DEFAULT, "omp_get_max_threads")`) gets what
    // OpenMP's own stubs answer without a runtime.
    let Ok(Some(target)) = found else {
        return 1;
    };
    // SAFETY: the runtime's `int omp_get_max_threads(void)`.
    let value = unsafe { std::mem::transmute::<usize, unsafe extern "C" fn() -> c_int>(target)() };
    if value <= 1 || !init::enforcing() {
        return value;
    }
    super::guarded(
        || {
            if needs_exact_teams(ret) {
                crate::tree::claim();
                value
                    .min(cap::cap().min(c_int::MAX as usize) as c_int)
                    .max(1)
            } else {
                value
            }
        },
        || value,
    )
}

/// The exported `omp_get_max_threads`: passes its return address to
/// [`max_threads`], which returns to the caller.
///
/// # Safety
/// As the runtime's own function.
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C" fn omp_get_max_threads() -> c_int {
    std::arch::naked_asm!("mov rdi, [rsp]", "jmp {f}", f = sym max_threads)
}

/// The team size to pass for a region asking for `requested` (0: default),
/// from the queries of the runtime the call goes to.
fn lowered_team(scope: &Scope, requested: c_uint) -> c_uint {
    if !init::enforcing() {
        return requested;
    }
    crate::tree::claim();
    let word = |i: usize| scope.words[ENTRIES.len() + i].load(Relaxed);
    let (level, team, max) = (word(0), word(1), word(2));
    if level == 0 || team == 0 || max == 0 {
        return requested;
    }
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

/// No loaded object defines the entry point: the program could not have
/// been linked or loaded without one, so this cannot happen; if it does,
/// end as the loader ends a program with an unresolved symbol (status 127),
/// never with an abort.
fn unavailable(name: &CStr) -> ! {
    always(format_args!(
        "symbol lookup error: {} is defined by no loaded OpenMP runtime",
        name.to_string_lossy()
    ));
    // SAFETY: ends the process, as ld.so does for an unresolved symbol.
    unsafe { libc::_exit(127) }
}

/// Exports an entry point as a trampoline: it asks [`route`] where the call
/// goes (the caller's own runtime) and with which team, then jumps there
/// with the caller's arguments, the team replaced. The trampoline leaves no
/// frame: the region's body, a cancellation or a C++ exception runs and
/// unwinds as if the caller had called the runtime directly.
#[cfg(target_arch = "x86_64")]
macro_rules! routed {
    ($index:expr, $name:ident) => {
        /// The OpenMP runtime's entry point of the same name, forwarded to the
        /// caller's runtime with the team lowered.
        ///
        /// # Safety
        /// As the runtime's own function.
        #[unsafe(naked)]
        #[no_mangle]
        pub unsafe extern "C" fn $name() {
            // At entry: rsp + 8 is 16-byte aligned, [rsp] is the return
            // address. Six argument registers saved, 8 bytes of padding.
            std::arch::naked_asm!(
                "push rdi",
                "push rsi",
                "push rdx",
                "push rcx",
                "push r8",
                "push r9",
                "sub rsp, 8",
                "mov edi, {index}",
                "mov rsi, [rsp + 56]",
                "mov edx, [rsp + 32]",
                "call {route}",
                "mov r11, rax",
                "mov r10, rdx",
                "add rsp, 8",
                "pop r9",
                "pop r8",
                "pop rcx",
                "pop rdx",
                "pop rsi",
                "pop rdi",
                "mov edx, r10d",
                "jmp r11",
                index = const $index,
                route = sym route,
            )
        }
    };
}

/// Elsewhere: the call is forwarded from a frame of ours, to the first
/// runtime found (no caller address), with the team-size argument replaced.
#[cfg(not(target_arch = "x86_64"))]
macro_rules! routed {
    ($index:expr, $name:ident) => {
        /// The OpenMP runtime's entry point of the same name, with the team
        /// lowered.
        ///
        /// # Safety
        /// As the runtime's own function.
        #[no_mangle]
        pub unsafe extern "C-unwind" fn $name(
            a: usize,
            b: usize,
            n: c_uint,
            d: usize,
            e: usize,
            f: usize,
            g: usize,
            h: usize,
        ) -> usize {
            let to = route($index, 0, n);
            type Real = unsafe extern "C-unwind" fn(
                usize,
                usize,
                c_uint,
                usize,
                usize,
                usize,
                usize,
                usize,
            ) -> usize;
            // SAFETY: the runtime's definition; every entry point takes at
            // most eight integer arguments, and extra ones are ignored.
            let real = unsafe { std::mem::transmute::<usize, Real>(to.target) };
            // SAFETY: as above, with the caller's arguments.
            unsafe { real(a, b, to.team as c_uint, d, e, f, g, h) }
        }
    };
}

routed!(0, GOMP_parallel);
routed!(1, GOMP_parallel_reductions);
routed!(2, GOMP_parallel_start);
routed!(3, GOMP_parallel_sections);
routed!(4, GOMP_parallel_sections_start);
routed!(5, GOMP_parallel_loop_static);
routed!(6, GOMP_parallel_loop_dynamic);
routed!(7, GOMP_parallel_loop_guided);
routed!(8, GOMP_parallel_loop_nonmonotonic_dynamic);
routed!(9, GOMP_parallel_loop_nonmonotonic_guided);
routed!(10, GOMP_parallel_loop_runtime);
routed!(11, GOMP_parallel_loop_nonmonotonic_runtime);
routed!(12, GOMP_parallel_loop_maybe_nonmonotonic_runtime);
routed!(13, GOMP_parallel_loop_static_start);
routed!(14, GOMP_parallel_loop_dynamic_start);
routed!(15, GOMP_parallel_loop_guided_start);
routed!(16, GOMP_parallel_loop_runtime_start);
routed!(17, __kmpc_push_num_threads);

/// LLVM's and Intel's `__kmpc_fork_call(loc, argc, microtask, ...)`,
/// variadic: the trampoline keeps every argument register and `al` (the
/// count of vector registers a variadic call passes) and leaves no frame,
/// then jumps to the caller's runtime (see [`route_fork`]).
///
/// # Safety
/// As the runtime's own function.
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C" fn __kmpc_fork_call() {
    // At entry rsp + 8 is 16-byte aligned; seven pushes leave rsp aligned
    // for the call, with the return address at [rsp + 56].
    std::arch::naked_asm!(
        "push rdi",
        "push rsi",
        "push rdx",
        "push rcx",
        "push r8",
        "push r9",
        "push rax",
        "mov rsi, rdi",
        "mov rdi, [rsp + 56]",
        "call {route}",
        "mov r11, rax",
        "pop rax",
        "pop r9",
        "pop r8",
        "pop rcx",
        "pop rdx",
        "pop rsi",
        "pop rdi",
        "jmp r11",
        route = sym route_fork,
    )
}

//! Lowering loaded pools: bring down the pools of runtimes that are already loaded
//! and initialised, through each one's own getter and setter, as threadpoolctl
//! does from inside Python. This is what reaches a library linked into the
//! executable, whose constructor sized its pool before libthrottle's ran.
//!
//! When: from libthrottle's constructor (every library it depends on... no:
//! every library initialised before it is complete by then), and after a
//! `dlopen`, noticed at the next lookup by handle (the `dlsym` hook) through
//! the loader's count of added objects. Not from a `dlopen` hook: wrapping
//! `dlopen` would make glibc see libthrottle as the caller, and resolve the
//! caller's RUNPATH and `$ORIGIN` wrongly. Not from inside another library's
//! constructor either: a runtime whose constructor is still running must not
//! be called.

use crate::log::info;
use crate::runtimes::{self, AnyThread, Control};
use crate::{cap, events, loaded, status};
use libc::c_int;
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};

/// This module's state, in one value (docs/design.md, section 3).
struct State {
    /// The loader's count of objects added when pools were last lowered: a
    /// change means a `dlopen` since (`loaded::adds`).
    last_adds: AtomicU64,
    /// Held by whoever calls runtimes' setters: two threads never do at once.
    busy: AtomicBool,
    /// Up to 16 remembered runtimes, filled in order.
    remembered: [Remembered; 16],
    /// The most a per-region runtime's default team may be (the process's own
    /// cap), and whether the user sized it (`OMP_NUM_THREADS`): see
    /// `Runtime::per_region`. Written once by initialisation.
    team_ceiling: AtomicUsize,
    teams_user_sized: AtomicBool,
    /// Set by the first `fork::lower_pools` of a `fork`, cleared after it.
    fork_lowered: AtomicBool,
    /// Set while `hold_for_fork` holds `busy`, until the fork is over.
    fork_holds_busy: AtomicBool,
    /// The most threads the program itself last asked a runtime for: when a
    /// share grows, pools grow back to it, never past what the program chose.
    requested: std::sync::atomic::AtomicI64,
}

static STATE: State = State {
    last_adds: AtomicU64::new(0),
    busy: AtomicBool::new(false),
    remembered: [const {
        Remembered {
            get: AtomicUsize::new(0),
            set: AtomicUsize::new(0),
            long: AtomicBool::new(false),
        }
    }; 16],
    team_ceiling: AtomicUsize::new(usize::MAX),
    teams_user_sized: AtomicBool::new(true),
    fork_lowered: AtomicBool::new(false),
    fork_holds_busy: AtomicBool::new(false),
    requested: std::sync::atomic::AtomicI64::new(i64::MAX),
};

/// A getter and setter of a runtime that may be called at any time, as
/// `lower_loaded` or `set_pools` last found them, for lowering pools inside
/// `fork` without asking the loader (fork.rs, `lower_pools`).
struct Remembered {
    get: AtomicUsize,
    set: AtomicUsize,
    long: AtomicBool,
}

/// Called under `busy` only (one writer at a time), for a control whose setter
/// may be called from any thread (`Control::any_thread`). A runtime seen for
/// the first time is pinned (never unloaded: its setter is called later, by
/// the steward and inside `fork`, without asking the loader); `fork.rs`
/// registers a handler after its own (`fork::watch_pools`).
fn remember(object: &loaded::Object, get: usize, set: usize, long: bool) {
    for r in &STATE.remembered {
        match r.set.load(Acquire) {
            0 => {
                if !loaded::pin(object) {
                    return;
                }
                r.get.store(get, Relaxed);
                r.long.store(long, Relaxed);
                r.set.store(set, Release);
                return;
            }
            known if known == set => return,
            _ => {}
        }
    }
}

/// Whether `control`'s setter, in `object`, may be called from a thread that
/// does not compute with the runtime (see `runtimes::AnyThread`).
fn callable_from_any_thread(object: &loaded::Object, control: &Control) -> bool {
    match control.any_thread {
        AnyThread::Never => false,
        AnyThread::When(query, want) => {
            let Some(query) = CString::new(query)
                .ok()
                .and_then(|q| loaded::symbol_in(object, &q))
            else {
                return false;
            };
            // SAFETY: the runtime's own `int f(void)` query, in the object
            // that defines the control.
            let got =
                unsafe { std::mem::transmute::<usize, unsafe extern "C" fn() -> c_int>(query)() };
            got == want
        }
    }
}

pub fn team_ceiling() -> usize {
    STATE.team_ceiling.load(Relaxed)
}

pub fn note_team_default(ceiling: usize, user_sized: bool) {
    STATE.team_ceiling.store(ceiling.max(1), Relaxed);
    STATE.teams_user_sized.store(user_sized, Relaxed);
}

/// How many runtimes are remembered (`fork::watch_pools` registers a
/// handler for each).
pub fn remembered() -> usize {
    STATE
        .remembered
        .iter()
        .filter(|r| r.set.load(Acquire) != 0)
        .count()
}

/// Inside `fork`, before the runtimes' own handlers (`fork::lower_pools`):
/// takes the pools for this fork. A child of a working process is a worker
/// (a `multiprocessing` pool's) that takes a share of its own, and it
/// inherits the parent's pool sizes: lowered in the child, OpenBLAS would
/// start its threads again to do so (it restarts its pool lazily after a
/// fork, even in its setter), and nothing in a numpy loop calls the library
/// again. So the pools are lowered in the parent, to the share the child
/// will have, while the runtimes' own threads still run: prepare handlers
/// run last-registered first, and one is registered after each runtime is
/// found (after its constructor registered its own, which shuts OpenBLAS's
/// pool down), so the first of ours to run comes before every remembered
/// runtime's. The later ones, and any runtime found later, do nothing: the
/// first lowers them all (false here). The parent's own share drops as the
/// child claims; its steward raises it again when the child leaves.
///
/// If the steward is setting pools at that moment, the fork waits for it
/// (bounded) and then holds it off until both fork handlers have run.
pub fn hold_for_fork() -> bool {
    if STATE.fork_lowered.swap(true, AcqRel) || !take_busy(FORK_WAIT_MS) {
        return false;
    }
    STATE.fork_holds_busy.store(true, Relaxed);
    true
}

/// How long a `fork` waits for the steward to finish setting pools: a
/// setter call takes microseconds (OpenBLAS joins or starts its threads).
const FORK_WAIT_MS: u32 = 100;

/// Takes `busy`, waiting at most `ms` milliseconds (1 ms naps) for the thread
/// that holds it. Allocates nothing and takes no lock.
fn take_busy(ms: u32) -> bool {
    for _ in 0..=ms {
        if !STATE.busy.swap(true, Acquire) {
            return true;
        }
        let pause = libc::timespec {
            tv_sec: 0,
            tv_nsec: 1_000_000,
        };
        // SAFETY: a valid relative timeout; async-signal-safe.
        unsafe { libc::nanosleep(&pause, std::ptr::null_mut()) };
    }
    false
}

/// As the process ends (`exit`, `_exit`), before it gives its share back:
/// no pool is set from now on. Otherwise its steward, woken as the share is
/// given back, would put the process's own cap in force in its runtimes
/// while their destructors run (ours runs before those of the runtimes
/// loaded after the library, which is every one a program `dlopen`s).
/// Waits for a setting in progress on another thread, at most a second.
/// Allocates nothing and takes no lock: `_exit` runs it too.
pub fn shut() {
    take_busy(1000);
}

/// After a `fork`, in the parent: the pools are free again.
pub fn after_fork_parent() {
    if STATE.fork_holds_busy.swap(false, Relaxed) {
        STATE.busy.store(false, Release);
    }
}

/// After a `fork`, in the parent, last: the next fork lowers pools again.
pub fn fork_over() {
    STATE.fork_lowered.store(false, Release);
}

/// In a `fork` child: the steward that may have been setting pools is not in
/// this process, so pools are free again.
pub fn reset_after_fork() {
    STATE.fork_holds_busy.store(false, Relaxed);
    STATE.busy.store(false, Release);
    STATE.fork_lowered.store(false, Release);
}

/// Returns whether any pool was above `cap` (and is now at it).
pub fn lower_remembered(cap: i64) -> bool {
    let mut lowered = false;
    for r in &STATE.remembered {
        let set = r.set.load(Acquire);
        if set == 0 {
            break;
        }
        let get = r.get.load(Relaxed);
        // SAFETY: a runtime's own getter and setter, found in this process
        // image by `remember`, in an object pinned there (RTLD_NODELETE).
        lowered |= unsafe { lower(get, set, r.long.load(Relaxed), cap) }.is_some();
    }
    lowered
}

/// Calls the setter with `cap` if the getter says the pool is larger;
/// returns the size it had. `long`: the `dim_t` (int64) prototypes.
///
/// # Safety
/// `get` and `set` must be a runtime's `int f(void)` / `void f(int)` getter
/// and setter (`int64` with `long`).
unsafe fn lower(get: usize, set: usize, long: bool, cap: i64) -> Option<i64> {
    if long {
        let current = std::mem::transmute::<usize, unsafe extern "C" fn() -> i64>(get)();
        (current > cap).then(|| {
            std::mem::transmute::<usize, unsafe extern "C" fn(i64)>(set)(cap);
            current
        })
    } else {
        let current = i64::from(std::mem::transmute::<
            usize,
            unsafe extern "C" fn() -> libc::c_int,
        >(get)());
        (current > cap).then(|| {
            std::mem::transmute::<usize, unsafe extern "C" fn(libc::c_int)>(set)(
                cap as libc::c_int,
            );
            current
        })
    }
}

/// Brings every loaded runtime's pool down to the cap. `at_load` is true
/// only from libthrottle's constructor; after a `dlopen`, runtimes that load
/// further parts of themselves on first use (MKL) are left to the
/// environment, which already sized them. Runs on a thread of the program
/// (the constructor's, or one looking a symbol up by handle), never on the
/// steward.
pub fn lower_loaded(at_load: bool) {
    if !status::is_enforcing() || STATE.busy.swap(true, Acquire) {
        return;
    }
    let (objects, adds) = loaded::objects();
    STATE.last_adds.store(adds, Relaxed);
    let own = loaded::own_base();
    let cap = cap::cap() as i64;
    for object in objects.iter().filter(|o| o.base != own) {
        let Some(runtime) = runtimes::runtime_of(object.path.to_bytes()) else {
            continue;
        };
        if !at_load && !runtime.lower_anytime {
            continue;
        }
        for control in runtime.controls {
            let found = if runtime.per_region {
                default_team(object, control, at_load)
            } else {
                apply(object, control, cap, runtime.lower_anytime)
            };
            if let Some((current, now)) = found {
                let library = object.path.to_string_lossy();
                info!(
                    "{} in {library}: pool of {current} brought down to {now}",
                    control.set
                );
                events::clamp(control.set, &library, current, now);
            }
        }
    }
    STATE.busy.store(false, Release);
}

/// Sets one runtime's pool to `cap` if its getter says it is larger; returns
/// the size it had and `cap`. `anytime`: the runtime may be called at any
/// time, so its getter and setter are remembered for the steward and fork
/// children where another thread may call them.
fn apply(
    object: &loaded::Object,
    control: &Control,
    cap: i64,
    anytime: bool,
) -> Option<(i64, i64)> {
    let get = loaded::symbol_in(object, &CString::new(control.get).ok()?)?;
    let set = loaded::symbol_in(object, &CString::new(control.set).ok()?)?;
    if anytime && callable_from_any_thread(object, control) {
        remember(object, get, set, control.long);
    }
    // SAFETY: both are this library's own definitions of the registry's
    // getter and setter, whose prototypes are `int f(void)`/`void f(int)`,
    // or with `dim_t` (int64) when `long` is set.
    unsafe { lower(get, set, control.long, cap) }.map(|was| (was, cap))
}

/// A per-region runtime (OpenMP): the calling thread's default team is set
/// to the process's own cap, the most it can ever get, where it is above
/// (and, from the constructor, where it is below and the user did not size
/// it: it was counted from the CPUs shown at a smaller share). The hooks
/// lower every region to the share in force, so teams follow the share
/// both ways while `omp_get_max_threads()` stays an upper bound a program
/// may size its arrays by. Returns the size it had and the new one when it
/// was lowered.
fn default_team(object: &loaded::Object, control: &Control, at_load: bool) -> Option<(i64, i64)> {
    let get = loaded::symbol_in(object, &CString::new(control.get).ok()?)?;
    let set = loaded::symbol_in(object, &CString::new(control.set).ok()?)?;
    let ceiling = STATE.team_ceiling.load(Relaxed).min(i32::MAX as usize) as i64;
    // SAFETY: the runtime's own `int omp_get_max_threads(void)`.
    let current =
        i64::from(unsafe { std::mem::transmute::<usize, unsafe extern "C" fn() -> c_int>(get)() });
    let raise = at_load && !STATE.teams_user_sized.load(Relaxed) && current < ceiling;
    if current <= ceiling && !raise {
        return None;
    }
    // SAFETY: the runtime's own `void omp_set_num_threads(int)`, called on
    // the thread whose default it sets.
    unsafe { std::mem::transmute::<usize, unsafe extern "C" fn(c_int)>(set)(ceiling as c_int) };
    (current > ceiling).then_some((current, ceiling))
}

pub fn note_request(n: i64) {
    STATE.requested.store(n, Relaxed);
}

/// Puts a new share in force in the pools of the runtimes whose setters may
/// be called from any thread (`remember`), as found by lowering loaded pools on
/// the program's threads: lowers pools above it, and grows pools below it
/// back up to it (bounded by the CPUs and by what the program itself last
/// asked for). Never asks the loader (the steward calls this, and a `fork`
/// may copy the process at any moment). OpenMP teams need nothing here:
/// the hooks size each region from the share in force. Returns false when
/// it could not run now (pools are being set elsewhere, by lowering loaded pools
/// or inside a `fork`): the caller tries again.
pub fn set_pools(share: usize) -> bool {
    if !status::is_enforcing() {
        return true;
    }
    if STATE.busy.swap(true, Acquire) {
        return false;
    }
    let cpus = cap::cpus() as i64;
    let target = (share as i64)
        .min(STATE.requested.load(Relaxed))
        .min(cpus)
        .max(1);
    for r in &STATE.remembered {
        let set = r.set.load(Acquire);
        if set == 0 {
            break;
        }
        // SAFETY: a runtime's own getter and setter, callable from any
        // thread, in an object pinned by `remember`.
        unsafe { set_to(r.get.load(Relaxed), set, r.long.load(Relaxed), target) };
    }
    STATE.busy.store(false, Release);
    true
}

/// Sets one runtime's pool to exactly `target` if it differs.
///
/// # Safety
/// As [`lower`].
unsafe fn set_to(get: usize, set: usize, long: bool, target: i64) {
    if long {
        if std::mem::transmute::<usize, unsafe extern "C" fn() -> i64>(get)() != target {
            std::mem::transmute::<usize, unsafe extern "C" fn(i64)>(set)(target);
        }
    } else if i64::from(std::mem::transmute::<usize, unsafe extern "C" fn() -> c_int>(get)())
        != target
    {
        std::mem::transmute::<usize, unsafe extern "C" fn(c_int)>(set)(target as c_int);
    }
}

/// After a `dlopen` (noticed by the `dlsym` hook, x86_64 only): clamps again if the loader has added objects since the
/// last look. Costs one step of `dl_iterate_phdr` otherwise.
#[cfg(target_arch = "x86_64")]
pub fn lower_new_objects() {
    if loaded::adds() != STATE.last_adds.load(Relaxed) {
        lower_loaded(false);
    }
}

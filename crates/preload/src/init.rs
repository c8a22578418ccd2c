//! Initialisation, lazy and idempotent: the constructor runs it, and so does
//! the first hook called before the constructor (a `DT_NEEDED` library's
//! constructor runs first and may already create threads or count CPUs).
//! Also the `fork` handler and the exit report.

use crate::config::{self, Policy, Resolution};
use crate::log::{self, debug, info, warn};
use crate::{cap, envsize, events, sys};
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, Ordering::*};

const UNINIT: u8 = 0;
const RUNNING: u8 = 1;
const ACTIVE: u8 = 2;
const INACTIVE: u8 = 3;

static STATE: AtomicU8 = AtomicU8::new(UNINIT);
static INIT_TID: AtomicI32 = AtomicI32::new(0);
static REPORT: AtomicBool = AtomicBool::new(false);
/// This process's pid, for telling a `vfork` child (which shares our memory)
/// from us; updated in `fork` children.
static OWN_PID: AtomicI32 = AtomicI32::new(0);
/// Set when the constructor, not a hook reached earlier, started the
/// initialisation (see `run`).
static BY_CONSTRUCTOR: AtomicBool = AtomicBool::new(false);
/// Set by whichever of `exit` (the destructor) and `_exit` (the hook) runs
/// the end-of-process work first: it runs once.
static ENDED: AtomicBool = AtomicBool::new(false);
static mut SOURCE: &str = "none";
/// The policy of members (a launcher's own is `audit`), for its fork
/// children.
static mut MEMBER_POLICY: &str = "confine";

/// Whether the library is enforcing: initialises on first use. False while
/// this very thread is initialising (a hook reached from inside
/// initialisation passes straight through) and when disabled.
pub fn active() -> bool {
    match STATE.load(Acquire) {
        ACTIVE => true,
        INACTIVE => false,
        _ => {
            initialise(false);
            STATE.load(Acquire) == ACTIVE
        }
    }
}

/// `by_constructor`: the caller is the constructor (see `BY_CONSTRUCTOR`),
/// noted only by the call that starts initialising.
fn initialise(by_constructor: bool) {
    if STATE
        .compare_exchange(UNINIT, RUNNING, AcqRel, Acquire)
        .is_ok()
    {
        BY_CONSTRUCTOR.store(by_constructor, Relaxed);
        INIT_TID.store(sys::gettid(), Release);
        let enforcing = std::panic::catch_unwind(run).unwrap_or(false);
        STATE.store(if enforcing { ACTIVE } else { INACTIVE }, Release);
        return;
    }
    if INIT_TID.load(Acquire) == sys::gettid() {
        return;
    }
    while STATE.load(Acquire) == RUNNING {
        // SAFETY: sched_yield has no preconditions.
        unsafe { libc::sched_yield() };
    }
}

/// The constructor: initialise as soon as the library is loaded, then bring
/// down the runtimes that initialised before us (only from here: see
/// active.rs).
extern "C" fn on_load(
    _argc: libc::c_int,
    argv: *const *const libc::c_char,
    _envp: *const *const libc::c_char,
) {
    // glibc gives constructors the program's arguments.
    events::note_argv(argv);
    crate::hooks::resolve_at_load();
    initialise(true);
    if active() {
        // Here, not in `run`: initialisation may run inside the host's
        // allocator (a hook called by it), and `pthread_atfork` allocates.
        // SAFETY: registering handlers with no arguments; they reset atomics.
        unsafe {
            libc::pthread_atfork(
                Some(before_fork),
                Some(after_fork_parent),
                Some(after_fork_child),
            )
        };
        let _ = std::panic::catch_unwind(|| crate::active::clamp_loaded(true));
    }
}

#[used]
#[link_section = ".init_array"]
static ON_LOAD: extern "C" fn(libc::c_int, *const *const libc::c_char, *const *const libc::c_char) =
    on_load;

#[used]
#[link_section = ".fini_array"]
static ON_EXIT: extern "C" fn() = on_exit;

/// Resolves the settings and applies them. Returns whether to enforce.
fn run() -> bool {
    std::panic::set_hook(Box::new(|panic| {
        log::always(format_args!("internal error, no longer enforcing: {panic}"));
    }));
    // Before the budget file is read: a rewrite from now on is seen.
    crate::tree::note_budget_file();
    let recording = config::Recording::new(&sys::Deciding);
    let settings = config::resolve(&recording);
    crate::tree::keep_environment(recording.finish());
    log::set_level(settings.log);
    for line in &settings.warnings {
        warn!("{line}");
    }
    for c in &settings.consulted {
        debug!("consulted {} = '{}': {}", c.name, c.value, c.verdict);
    }
    if settings.disabled {
        info!("disabled by THROTTLE_DISABLE");
        return false;
    }
    let Some(mask) = sys::affinity(0) else {
        warn!("cannot read the affinity mask; not enforcing");
        return false;
    };
    // A launcher (srun, mpirun) holds no share and is never held back.
    let launcher = events::launcher(&settings.launchers);
    let policy = match &launcher {
        Some(name) => {
            info!("{name} is a launcher: no share of the tree's budget, threads not capped");
            Policy::Audit
        }
        None => settings.policy,
    };
    // Before claiming, a member of a tree starts from the share it would get.
    let start_cap = crate::tree::init(&settings, launcher.is_some());
    let share = start_cap.min(mask.count()).max(1);
    let ceiling = settings.cap.min(mask.count()).max(share);
    let user_sized_teams = right_size_environment(share, ceiling, &mask);
    crate::active::note_team_default(ceiling, user_sized_teams);
    // Initialised by the constructor, no hook came first: the process has
    // not created a thread (every `pthread_create` goes through the hook,
    // which would have initialised), so it has one, and /proc/self/task is
    // not read at every start.
    let live = if BY_CONSTRUCTOR.load(Relaxed) {
        1
    } else {
        sys::count_tasks().unwrap_or(1)
    };
    cap::configure(start_cap, settings.policy, settings.wait_ms, live, mask);
    cap::set_uncapped(launcher.is_some());
    if !crate::hooks::threads::prepare() {
        warn!("cannot allocate a thread-specific key; not enforcing");
        return false;
    }
    OWN_PID.store(sys::getpid(), Relaxed);
    // SAFETY: written once, here, before STATE becomes ACTIVE and so before
    // anything reads them.
    unsafe {
        SOURCE = source_label(&settings);
        MEMBER_POLICY = settings.policy.name();
    }
    REPORT.store(settings.report, Relaxed);
    info!(
        "cap={start_cap} budget={} source={} scope={:?} policy={} wait_ms={} live={live}",
        settings.cap,
        source_label(&settings),
        settings.scope,
        policy.name(),
        settings.wait_ms
    );
    events::open(
        settings.log_file.as_deref(),
        source_label(&settings),
        policy.name(),
    );
    events::start(live, settings.wait_ms);
    true
}

fn source_label(settings: &Resolution) -> &'static str {
    match settings.ceiling {
        Some(_) => "max_threads",
        None => settings.source.label(),
    }
}

/// Sets each runtime's sizing variable to fit the process (see
/// `envsize::plan`). Returns whether the user sized a per-region runtime's
/// teams (`OMP_NUM_THREADS`).
fn right_size_environment(share: usize, ceiling: usize, mask: &crate::cpumask::CpuMask) -> bool {
    let var = |name: &str| {
        let name = CString::new(name).ok()?;
        sys::getenv(&name).and_then(|v| String::from_utf8(v).ok())
    };
    let plan = envsize::plan(var, share, ceiling, mask.count(), || sys::cores(mask));
    for (name, value) in &plan.changes {
        let Ok(cname) = CString::new(*name) else {
            continue;
        };
        debug!(
            "{name}={} (was {})",
            value.as_deref().unwrap_or("unset"),
            var(name).as_deref().unwrap_or("unset")
        );
        match value.as_deref() {
            Some(v) => sys::set_env(&cname, v.as_bytes()),
            None => sys::unset_env(&cname),
        }
    }
    match plan.saved {
        Some(text) => sys::set_env(c"THROTTLE_SAVED_ENV", text.as_bytes()),
        None => sys::unset_env(c"THROTTLE_SAVED_ENV"),
    }
    plan.user_sized_teams
}

extern "C" fn before_fork() {
    let _ = std::panic::catch_unwind(crate::tree::before_fork);
}

extern "C" fn after_fork_parent() {
    crate::active::after_fork_parent();
}

extern "C" fn after_fork_child() {
    crate::heap::reset_after_fork(&crate::HEAP);
    OWN_PID.store(sys::getpid(), Relaxed);
    ENDED.store(false, Relaxed);
    let was_launcher = cap::uncapped();
    cap::after_fork_child();
    crate::active::after_fork_child();
    let _ = std::panic::catch_unwind(crate::tree::after_fork_child);
    // SAFETY: written once before STATE became ACTIVE.
    let member_policy = unsafe { MEMBER_POLICY };
    events::after_fork_child(was_launcher.then_some(member_policy));
}

/// The destructor: `exit` ends the process. Also run by a `vfork` child
/// that calls `exit` (after a failed `exec`, say): it shares this process's
/// memory, and must neither end its tree membership nor report.
extern "C" fn on_exit() {
    if in_own_process() && claim_end() {
        end_of_process();
    }
}

/// False in a `vfork` child (or a child made by a raw `clone`, which ran no
/// `fork` handler): its memory is its parent's, not its own to change.
pub fn in_own_process() -> bool {
    OWN_PID.load(Relaxed) == sys::getpid()
}

/// `_exit` is about to end the process (hooks/exit.rs). Nothing in a `vfork`
/// child, which shares this process's memory: it is not us that ends.
///
/// `_exit` is called from signal handlers, which may run on a small
/// alternate stack (`SIGSTKSZ` is 8 KiB); the end-of-process work needs more
/// than that (line buffers), so it runs on a stack of its own. Only the one
/// thread that claims the end uses it.
pub fn before_exit_now() {
    if in_own_process() && claim_end() {
        on_exit_stack(end_of_process_c);
    }
}

/// Whether this call is the one that ends the process: once, and only for
/// an enforcing process.
fn claim_end() -> bool {
    STATE.load(Acquire) == ACTIVE && !ENDED.swap(true, AcqRel)
}

extern "C" fn end_of_process_c() {
    let _ = std::panic::catch_unwind(end_of_process);
}

const EXIT_STACK_BYTES: usize = 64 * 1024;

#[repr(C, align(16))]
struct ExitStack([u8; EXIT_STACK_BYTES]);

static mut EXIT_STACK: ExitStack = ExitStack([0; EXIT_STACK_BYTES]);

/// Runs `f` on [`EXIT_STACK`] and comes back to the caller's stack.
#[cfg(target_arch = "x86_64")]
fn on_exit_stack(f: extern "C" fn()) {
    // SAFETY: called once per process (`claim_end`), so the stack is ours
    // alone; its top is 16-byte aligned as the ABI wants before a `call`.
    // r12 is callee-saved: `f` keeps it, and it brings our stack back.
    // `f` catches every panic, so nothing unwinds across the switch.
    unsafe {
        let top = (&raw mut EXIT_STACK).cast::<u8>().add(EXIT_STACK_BYTES);
        std::arch::asm!(
            "mov r12, rsp",
            "mov rsp, {top}",
            "call {f}",
            "mov rsp, r12",
            top = in(reg) top,
            f = in(reg) f,
            out("r12") _,
            clobber_abi("C"),
        );
    }
}

/// Elsewhere the work runs on the caller's stack.
#[cfg(not(target_arch = "x86_64"))]
fn on_exit_stack(f: extern "C" fn()) {
    let _ = &raw const EXIT_STACK;
    f();
}

/// What a process does as it ends, by `exit` or by `_exit`, once: the event
/// log's `exit` event, leaving the ledger, the exit report. Allocates nothing
/// and takes no lock, since `_exit` may be called from a signal handler.
fn end_of_process() {
    // The event log's `exit` event, whether or not THROTTLE_REPORT is set. No
    // panic may cross this C boundary.
    let _ = std::panic::catch_unwind(events::exit);
    let (budget, ledger) = crate::tree::budget();
    crate::active::shut();
    let _ = std::panic::catch_unwind(crate::tree::leave);
    if !REPORT.load(Relaxed) {
        return;
    }
    let s = &cap::STATS;
    log::always(format_args!(
        "report pid={} cap={} max_cap={} source={} peak={} live={} created={} over_cap={} waited={} refused={} confined={} managed={} budget={budget} ledger={}",
        sys::getpid(),
        cap::cap(),
        cap::max_cap(),
        // SAFETY: written once before STATE became ACTIVE.
        unsafe { SOURCE },
        s.peak.load(Relaxed),
        s.live.load(Relaxed),
        s.created.load(Relaxed),
        s.over_cap.load(Relaxed),
        s.waited.load(Relaxed),
        s.refused.load(Relaxed),
        s.confined.load(Relaxed),
        s.managed.load(Relaxed),
        if ledger { "yes" } else { "no" },
    ));
}

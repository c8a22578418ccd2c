//! This process's place in its tree's ledger (layer 3): join at start, claim
//! a share on first real work, keep the share in force while others come and
//! go, leave at exit. The table itself is the core's `ledger`; the share,
//! the members about to work and the steward are docs/design.md, section 5.
//!
//! The share is put in force at once where it is read (the hooks read the
//! cap live), and in runtime pools by the *steward*, a thread of the
//! library's own started only where the share can change in a way the pools
//! must follow (`ledger::needs_steward`).

use crate::config::{self, Resolution, Scope};
use crate::ledger::{self, Ledger};
use crate::log::{debug, info, warn};
use crate::{cap, pools, status, sys};
use std::ffi::{c_void, CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering::*};

/// This module's state, in one value (docs/design.md, section 3).
struct State {
    ledger: AtomicUsize,
    ledger_path: std::sync::OnceLock<CString>,
    slot: AtomicUsize,
    pid: AtomicI32,
    /// The process's own resolved cap: its share never exceeds it.
    own_cap: AtomicUsize,
    claimed: AtomicBool,
    /// A launcher's slot: it holds no share, but keeps the tree alive.
    launcher_slot: AtomicUsize,
    steward: AtomicBool,
    creator: AtomicBool,
    /// The highest cap this process has had since it claimed: its runtimes may
    /// have sized their pools from it.
    peak_cap: AtomicUsize,
    /// The share the steward last put in force in the pools (0: none yet); a
    /// `fork` that lowered them writes what it left.
    applied: AtomicUsize,
    /// Set by a `fork` that lowered this process's pools, for its parent handler.
    fork_lowered_pools: AtomicBool,
    /// Set once the process, working, has created a thread (see `threaded`).
    threaded: AtomicBool,
    /// The budget file as this process last read it ([`file_signature`]): noted
    /// before the settings are first resolved, so that a steward started later
    /// (at the first claim) notices a rewrite made meanwhile; then the steward's,
    /// which a `fork` child's steward goes on from.
    budget_file_seen: AtomicU64,
    /// The ledger generation this process last acted on, to notice changes
    /// cheaply from the hooks while it has no steward.
    seen: AtomicU32,
    /// Set as the process leaves its tree at its end: its steward stops.
    leaving: AtomicBool,
    /// When this process last looked for dead members without a steward
    /// (`reclaim_now_and_then`), in monotonic ms; 0: never.
    last_reclaim: AtomicU64,
    /// Set once this process found its ledger overwritten (`Ledger::intact`):
    /// it leaves the tree for good, on its own cap.
    detached: AtomicBool,
    /// A tree's first process, until it needs its ledger: the ledger's path,
    /// named at initialisation, created by [`ensure_ledger`].
    pending: AtomicBool,
    pending_path: std::sync::OnceLock<String>,
    /// Set where a decision was put off: a steward wanted after a `fork` (the
    /// parent's handler must not make the process multi-threaded, see
    /// `after_fork_parent`) or a change noticed in a signal-safe hook.
    deferred: AtomicBool,
    steward_wanted: AtomicBool,
    /// The budget file THROTTLE_BUDGET_FILE names, if it is to be watched: read
    /// from the environment once, at initialisation (see `note_budget_file`),
    /// never while the program runs (it may `setenv` meanwhile).
    budget_file: std::sync::OnceLock<Option<Vec<u8>>>,
    /// The environment as initialisation read it, for `reload`.
    environment: std::sync::OnceLock<config::EnvSnapshot>,
}

static STATE: State = State {
    ledger: AtomicUsize::new(0),
    ledger_path: std::sync::OnceLock::new(),
    slot: AtomicUsize::new(NONE),
    pid: AtomicI32::new(0),
    own_cap: AtomicUsize::new(1),
    claimed: AtomicBool::new(false),
    launcher_slot: AtomicUsize::new(NONE),
    steward: AtomicBool::new(false),
    creator: AtomicBool::new(false),
    peak_cap: AtomicUsize::new(0),
    applied: AtomicUsize::new(0),
    fork_lowered_pools: AtomicBool::new(false),
    threaded: AtomicBool::new(false),
    budget_file_seen: AtomicU64::new(0),
    seen: AtomicU32::new(u32::MAX),
    leaving: AtomicBool::new(false),
    last_reclaim: AtomicU64::new(0),
    detached: AtomicBool::new(false),
    pending: AtomicBool::new(false),
    pending_path: std::sync::OnceLock::new(),
    deferred: AtomicBool::new(false),
    steward_wanted: AtomicBool::new(false),
    budget_file: std::sync::OnceLock::new(),
    environment: std::sync::OnceLock::new(),
};

const NONE: usize = usize::MAX;

fn ledger() -> Option<Ledger> {
    let base = STATE.ledger.load(Acquire);
    // SAFETY: `ledger` only ever holds a `Ledger` leaked by `init`, valid for
    // the life of the process.
    (base != 0).then(|| unsafe { *(base as *const Ledger) })
}

fn member() -> Option<(Ledger, usize)> {
    let slot = STATE.slot.load(Acquire);
    Some((ledger()?, slot)).filter(|_| slot != NONE)
}

/// Whether the ledger still reads as one; if not, says so once and leaves
/// the tree (its slot is left as it is: whoever wrote over the header owns
/// the mess). Allocates nothing unless it warns.
fn intact(ledger: &Ledger) -> bool {
    if ledger.intact() {
        return true;
    }
    if !STATE.detached.swap(true, AcqRel) {
        STATE.slot.store(NONE, Release);
        STATE.launcher_slot.store(NONE, Release);
        // A borrowed path (valid UTF-8): the line is formatted on the stack.
        let path = STATE.ledger_path.get().map(|p| p.to_string_lossy());
        warn!(
            "ledger '{}' was overwritten; using a per-process cap of {}",
            path.as_deref().unwrap_or(""),
            STATE.own_cap.load(Relaxed)
        );
    }
    false
}

/// Where a new ledger goes: the user's runtime directory, else /dev/shm.
fn new_path() -> String {
    // SAFETY: getpid/geteuid have no preconditions.
    let (pid, uid) = unsafe { (libc::getpid(), libc::geteuid()) };
    let nonce = sys::monotonic_ns();
    let runtime_dir = sys::getenv(c"XDG_RUNTIME_DIR")
        .and_then(|d| String::from_utf8(d).ok())
        .filter(|d| d.starts_with('/') && is_users_dir(d, uid));
    match runtime_dir {
        Some(dir) => format!("{dir}/throttle-ledger-{pid}-{nonce:x}"),
        None => format!("/dev/shm/throttle-{uid}-ledger-{pid}-{nonce:x}"),
    }
}

/// The creator's pid in a ledger's file name (`new_path`), given from just
/// after `ledger-` or from the whole name.
fn creator_in_name(name: &str) -> Option<i32> {
    let rest = name.rsplit('/').next()?;
    let rest = rest.split_once("ledger-").map_or(rest, |(_, r)| r);
    rest.split('-').next()?.parse().ok()
}

/// Removes this user's ledgers left behind by trees whose creator died
/// without cleaning up (killed, or ended by a raw `exit_group`): creator
/// gone and no live member. A few at a time, only when creating a ledger.
fn sweep_stale(namespace: u64) {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let runtime_dir = sys::getenv(c"XDG_RUNTIME_DIR").and_then(|d| String::from_utf8(d).ok());
    let places = [
        (runtime_dir, "throttle-ledger-".to_string()),
        (
            Some("/dev/shm".to_string()),
            format!("throttle-{uid}-ledger-"),
        ),
    ];
    // Every entry is read (a busy /dev/shm holds many files), but at most
    // `MAX_EXAMINED` ledgers are opened and judged per call.
    const MAX_EXAMINED: usize = 256;
    let mut examined = 0;
    for (dir, prefix) in places {
        let Some(dir) = dir.and_then(|d| CString::new(d).ok()) else {
            continue;
        };
        let mut stale = Vec::new();
        sys::for_each_entry(&dir, |name| {
            let Some(rest) = std::str::from_utf8(name)
                .ok()
                .and_then(|n| n.strip_prefix(prefix.as_str()))
            else {
                return;
            };
            if examined >= MAX_EXAMINED {
                return;
            }
            let Some(creator) = creator_in_name(rest) else {
                return;
            };
            examined += 1;
            if sys::no_such_process(creator) {
                stale.push(format!("{}/{prefix}{rest}", dir.to_string_lossy()));
            }
        });
        for path in stale {
            if let Ok(ledger) = Ledger::open(&path) {
                // Another namespace's tree (a container's beside its host's,
                // sharing /dev/shm): its creator and members only look gone.
                if !ledger.foreign(namespace) {
                    ledger.reclaim(sys::ended);
                    if !ledger.any_member() {
                        let _ = std::fs::remove_file(&path);
                    }
                }
                ledger.close();
            }
        }
    }
}

fn is_users_dir(dir: &str, uid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(dir)
        .is_ok_and(|m| m.is_dir() && m.uid() == uid && m.mode() & 0o022 == 0)
}

/// Joins (or creates) the tree's ledger. Returns the cap to start with.
pub fn init(settings: &Resolution) -> usize {
    STATE.own_cap.store(settings.cap, Relaxed);
    // Secure execution (setuid): no ledger, neither one the environment
    // names nor one made where the environment points (XDG_RUNTIME_DIR):
    // a user could have root create a file in a directory of their choice.
    if settings.scope == Scope::Process || sys::secure_execution() {
        return settings.cap;
    }
    let named = sys::getenv(c"THROTTLE_LEDGER");
    // A ledger that does not exist here is a tree started elsewhere: on
    // another node (a job step's environment carries THROTTLE_LEDGER
    // there), in another /dev/shm (a container), or one whose processes
    // have all ended. Not an error: this process starts a tree of its own.
    let pid = sys::getpid();
    let mut own_name = None;
    let named = named.filter(|path| {
        let here = std::fs::symlink_metadata(std::ffi::OsStr::from_bytes(path))
            .map_or_else(|e| e.kind() != std::io::ErrorKind::NotFound, |_| true);
        // The name this very process gave its tree before an `exec`, not
        // created yet (see `ensure_ledger`): still its tree.
        let path_text = String::from_utf8_lossy(path);
        if !here && creator_in_name(&path_text) == Some(pid) {
            own_name = Some(path_text.into_owned());
            return false;
        }
        if !here {
            info!(
                "ledger '{}' does not exist here; starting a new one",
                config::shown(path)
            );
        }
        here
    });
    let start = named.as_ref().and_then(|_| sys::own_start_time());
    let opened = match named {
        Some(_) if sys::secure_execution() => return settings.cap,
        Some(path) => {
            let path = String::from_utf8_lossy(&path).into_owned();
            match Ledger::open(&path) {
                // A process in a PID namespace of its own (`apptainer exec
                // --pid`, `unshare --pid`) that still sees its parent's
                // ledger (a shared /dev/shm): the members' pids mean other
                // processes here, and its own would mean others there. It
                // starts a tree of its own, as with a ledger that is not
                // there.
                Ok(l) if foreign(&l, pid, start) => {
                    l.close();
                    info!(
                        "ledger '{}' belongs to another PID namespace; starting a new one",
                        config::shown(path.as_bytes())
                    );
                    None
                }
                Ok(l) => Some((l, path)),
                // Runs alone at its cap, as outside a tree. Warned once per
                // tree, except where the process was refused the ledger: a
                // sandbox (man-db runs groff and its helpers under a
                // system-call filter that refuses every open for writing)
                // is the host's choice, and its output must not change.
                Err(e) => {
                    warn_once_per_tree(
                        &path,
                        e.refused(),
                        format_args!(
                            "ledger '{}' {e}; using a per-process cap of {}",
                            config::shown(path.as_bytes()),
                            settings.cap
                        ),
                    );
                    return settings.cap;
                }
            }
        }
        None => None,
    };
    let Some((ledger, path)) = opened else {
        // A tree of its own, whose ledger is created on first need (see
        // `ensure_ledger`): its name goes in the environment now, for the
        // programs this one starts (a shell reads its environment once).
        let path = own_name.unwrap_or_else(new_path);
        sys::set_env(c"THROTTLE_LEDGER", path.as_bytes());
        // A full file system is told now, once per tree, while the
        // environment still reaches what this process starts (see
        // `no_space_told`); the ledger is then never tried.
        if !room_for_ledger(&path) {
            no_space(
                &path,
                settings.cap,
                "cannot be created (No space left on device)",
            );
            return settings.cap;
        }
        STATE.pid.store(pid, Relaxed);
        if STATE.pending_path.set(path).is_ok() {
            STATE.pending.store(true, Release);
        }
        return settings.cap;
    };
    join_ledger(ledger, path, pid, start, status::launcher())
}

/// Creates this process's ledger, named at initialisation, if it has not
/// yet: called at its first claim and before it starts another process (a
/// `fork`, `posix_spawn`, `vfork`, `system`, `popen`), the two moments a
/// ledger is needed. A process that does neither (`/bin/true`, `ls`, a
/// script's every short command) creates no file.
///
/// Also where signals are blocked, and so perhaps inside a signal handler:
/// bash blocks `SIGINT`, `SIGTERM` and `SIGCHLD` around every `fork`, perl
/// all of them, and a tree started by a shell must still be one. Creating
/// takes no lock: its memory comes from the library's own heap, which never
/// waits (heap.rs), and its files are read and written with plain system
/// calls. Once per process: a handler that forks while the same thread is
/// creating finds the work taken and goes on without it.
fn ensure_ledger() {
    if !STATE.pending.load(Acquire) || in_vfork_child() || !STATE.pending.swap(false, AcqRel) {
        return;
    }
    let Some(path) = STATE.pending_path.get() else {
        return;
    };
    let _ = std::panic::catch_unwind(|| create_ledger(path.clone()));
}

fn create_ledger(path: String) {
    let own = STATE.own_cap.load(Relaxed);
    // A member is known by its pid and start time; a process that cannot
    // read its own (a sandbox hiding /proc) could not take its slot, and
    // would leave a file no member holds.
    let pid = STATE.pid.load(Relaxed);
    let Some(start) = sys::own_start_time() else {
        no_start_time(&path, own);
        return;
    };
    let budget = own.min(u32::MAX as usize) as u32;
    let namespace = sys::pid_namespace();
    sweep_stale(namespace);
    let ledger = match Ledger::create(&path, budget, namespace) {
        Ok(l) => l,
        Err(e) if e.no_space() => {
            no_space(&path, own, &e.why);
            return;
        }
        Err(e) => {
            // Where no ledger can be made (no writable /dev/shm in a
            // container, say) per-process caps are the only choice; not
            // the user's error, so not on stderr by default.
            info!(
                "ledger '{path}' {}; using a per-process cap of {own}",
                e.why
            );
            return;
        }
    };
    STATE.creator.store(true, Relaxed);
    let _ = join_ledger(ledger, path, pid, Some(start), status::launcher());
}

/// Says, at info level, that this process runs outside the tree at `path`
/// because /proc does not give it its own start time: a sandbox that hides
/// /proc (Landlock), or a PID namespace that sees another's /proc (see
/// `sys::own_start_time`), is the host's choice, and its output must not
/// change (docs/limits.md).
fn no_start_time(path: &str, own: usize) {
    info!(
        "ledger '{path}': this process cannot read its own start time in /proc (a sandbox, \
         or a PID namespace whose /proc is another's); using a per-process cap of {own}"
    );
}

/// Takes this process's slot in `ledger` at `path` and makes it the
/// process's (see `publish`); the cap to start with.
fn join_ledger(
    ledger: Ledger,
    path: String,
    pid: i32,
    start: Option<u64>,
    launcher: bool,
) -> usize {
    let own = STATE.own_cap.load(Relaxed);
    // The creator that `exec`ed another program (`throttle run -- env X=1
    // cmd`, a shell's `exec`) is still the creator: the same process, named
    // in the file's name. It removes the ledger at the end, after reclaiming
    // members that never left.
    if creator_in_name(&path) == Some(pid) {
        STATE.creator.store(true, Relaxed);
    }
    if launcher {
        // In the tree (what it starts joins the ledger through its
        // environment; as the creator it removes the ledger at the end), but
        // not a member: a slot that holds no share (the share it had before
        // an `exec` is given back), so that the tree lives on while the
        // launcher runs, even if its creator ends first (`sh -c 'srun ... &'`).
        // With the ledger full it goes without: the tree's other processes
        // keep it alive.
        let slot = start.and_then(|start| ledger.join_launcher(pid, parent(), start));
        STATE.launcher_slot.store(slot.unwrap_or(NONE), Release);
        publish(ledger, pid, path);
        return own;
    }
    let Some(start) = start else {
        ledger.close();
        no_start_time(&path, own);
        return own;
    };
    let Some(slot) = ledger.join(pid, parent(), start) else {
        warn_once_per_tree(
            &path,
            false,
            format_args!("ledger '{path}' is full; using a per-process cap of {own}"),
        );
        return own;
    };
    // After a fork and an `exec`, the process joins the slot it had, claimed
    // by the fork child; the new program claims again on its own first work
    // (a helper that a working process forks and execs, a `tee`, holds none).
    ledger.unclaim(slot);
    STATE.slot.store(slot, Release);
    info!("ledger {path}: budget {}, slot {slot}", ledger.budget());
    publish(ledger, pid, path);
    // Until it claims, a member starts from what it would get if it did.
    target()
}

/// Says that the ledger at `path` has no room (`why`). A full file system
/// is worth an admin's look (every process of the tree now has the whole
/// budget), once per tree: a warning in the first process that meets it,
/// at info level in the processes it starts, which inherit the mark and
/// try again (space may have been freed).
fn no_space(path: &str, cap: usize, why: &str) {
    let text = format!("ledger '{path}' {why}; using a per-process cap of {cap}");
    if no_space_told(path) {
        info!("{text}");
    } else {
        warn!("{text}");
    }
}

/// Whether the file system that would hold the ledger at `path` has room
/// for one (space and an inode); true when it cannot tell. One `statvfs`.
fn room_for_ledger(path: &str) -> bool {
    let dir = path.rsplit_once('/').map_or("/", |(dir, _)| dir);
    let Ok(dir) = CString::new(dir) else {
        return true;
    };
    // SAFETY: zeroes are a valid statvfs, which the call fills.
    let mut fs: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a statvfs to fill.
    if unsafe { libc::statvfs(dir.as_ptr(), &mut fs) } != 0 {
        return true;
    }
    let free = u128::from(fs.f_bavail) * u128::from(fs.f_frsize.max(1));
    // File systems that count no inodes (f_files 0) have room for any.
    free >= ledger::SIZE as u128 && (fs.f_files == 0 || fs.f_favail > 0)
}

/// Set by a process that found no room for a ledger, to the host and the
/// directory, so that the processes it starts, finding none either, do not
/// each warn again.
const NO_SPACE_TOLD: &CStr = c"THROTTLE_LEDGER_NO_SPACE";

/// Whether an ancestor on this host has warned that the directory of `path`
/// has no room for a ledger; if not, notes that this process does.
fn no_space_told(path: &str) -> bool {
    let dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
    told(NO_SPACE_TOLD, dir)
}

/// Set by a process that warned about the ledger its tree names (another
/// user's, readable by others, not a ledger, full), to the host and the
/// ledger's path: the processes it starts, meeting the same ledger, say so
/// at info level only.
const LEDGER_TOLD: &CStr = c"THROTTLE_LEDGER_TOLD";

/// Says `text` once per tree: as a warning in the first process on this
/// host that meets the problem with the ledger at `path`, at info level in
/// the processes it starts (which inherit the mark). At info level only,
/// and not marked, when the process was `refused` the ledger (a sandbox:
/// `LedgerError::refused`): its siblings may well not be.
fn warn_once_per_tree(path: &str, refused: bool, text: std::fmt::Arguments) {
    if refused || told(LEDGER_TOLD, path) {
        info!("{text}");
    } else {
        warn!("{text}");
    }
}

/// Whether `var` holds this host and `what` (an ancestor said so); if not,
/// sets it so that this process's descendants know.
fn told(var: &CStr, what: &str) -> bool {
    let mut host = [0u8; 256];
    // SAFETY: the buffer is writable for its length, less the final NUL.
    unsafe { libc::gethostname(host.as_mut_ptr().cast(), host.len() - 1) };
    let host = CStr::from_bytes_until_nul(&host).map_or(&[][..], CStr::to_bytes);
    let mut mark = host.to_vec();
    mark.push(b':');
    mark.extend_from_slice(what.as_bytes());
    if sys::getenv(var).as_deref() == Some(mark.as_slice()) {
        return true;
    }
    sys::set_env(var, &mark);
    false
}

/// Whether `ledger` belongs to another PID namespace than this process
/// (`Ledger::foreign`). Not asked again of a process that holds a slot in it
/// already, a member's `fork` child that has `exec`ed, which
/// `reset_after_fork` found in the ledger's namespace: the lookup in /proc
/// costs 10-30 us, at every process start.
fn foreign(ledger: &Ledger, pid: i32, start: Option<u64>) -> bool {
    let known = start.is_some_and(|start| ledger.slot_of(pid, start).is_some());
    !known && ledger.foreign(sys::pid_namespace())
}

/// Makes `ledger` this process's, for the hooks and for `leave`.
fn publish(ledger: Ledger, pid: i32, path: String) {
    STATE.ledger.store(
        Box::leak(Box::new(ledger)) as *const Ledger as usize,
        Release,
    );
    STATE.pid.store(pid, Relaxed);
    if let Ok(path) = CString::new(path) {
        let _ = STATE.ledger_path.set(path);
    }
}

fn parent() -> i32 {
    // SAFETY: getppid has no preconditions.
    unsafe { libc::getppid() }
}

/// The cap this process should have now, and what the tree says of it.
fn target_and_census() -> (usize, Option<(Ledger, ledger::Census)>) {
    let own = STATE.own_cap.load(Relaxed);
    let Some((ledger, slot)) = member().filter(|(l, _)| intact(l)) else {
        return (own, None);
    };
    let c = ledger.census_now(Some(slot));
    // No rank: the slot is no longer this process's (it left, at exit): its
    // own cap, as without a tree.
    let share = c.share(ledger.budget()).map_or(own, |s| s as usize);
    (own.min(share).max(1), Some((ledger, c)))
}

fn target() -> usize {
    target_and_census().0
}

/// Called by the hooks on real work (a CPU-count query, a thread, a setter,
/// an OpenMP region): the first time, this process takes its share; after
/// that, until a steward runs, a change in the ledger is applied here (and
/// whether a steward is needed decided again: see `decide`).
pub fn claim() {
    wake_if_resting();
    if STATE.deferred.load(Relaxed) {
        run_deferred();
    }
    if STATE.steward.load(Acquire) {
        return;
    }
    // Called from hooks: no panic may reach their C boundary.
    let _ = std::panic::catch_unwind(|| claim_now(May::Start));
}

/// As [`claim`], from a hook a signal handler may reach (`sysconf`, which
/// POSIX makes async-signal-safe): the share is claimed and followed with
/// atomics and system calls only; whatever would allocate or start a thread
/// (deciding on a steward) is done only where the thread blocks no signal,
/// else left to the next hooked call (see [`May::Defer`]).
pub fn claim_signal_safe() {
    wake_if_resting();
    if STATE.deferred.load(Relaxed) && !sys::any_signal_blocked() {
        run_deferred();
    }
    if STATE.steward.load(Acquire) {
        return;
    }
    let _ = std::panic::catch_unwind(|| claim_now(May::Defer));
}

/// A hook that claims ran in a member that has claimed already: it works,
/// so if it was resting it counts again at once, rather than at the next
/// round (docs/design.md, section 5). Atomics and, only when it rests, the
/// pid check (a `vfork` child must not wake its parent's slot) and one
/// futex wake: a hook inside a signal handler may run it.
fn wake_if_resting() {
    if !STATE.claimed.load(Acquire) {
        return;
    }
    if let Some((ledger, slot)) = member() {
        if ledger.resting(slot) && crate::status::in_own_process() {
            ledger.wake(slot);
        }
    }
}

/// Whether a path may start the steward (and allocate), or must defer it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum May {
    Start,
    /// Possibly inside a signal handler: start nothing if the thread blocks
    /// any signal (a handler runs with its own signal blocked, unless it was
    /// installed with `SA_NODEFER` and an empty mask, which cannot be told
    /// apart from ordinary code); then the next hooked call does it. A
    /// thread that blocks no signal is not in such a handler: a program
    /// whose only hooked calls are `sysconf` (Python's `os.cpu_count()`)
    /// still gets its steward there.
    Defer,
}

impl May {
    fn may_start(self) -> bool {
        self == May::Start || !sys::any_signal_blocked()
    }
}

fn run_deferred() {
    if !STATE.deferred.swap(false, AcqRel) || !crate::status::in_own_process() {
        return;
    }
    let _ = std::panic::catch_unwind(|| {
        if STATE.steward_wanted.swap(false, AcqRel) {
            ensure_steward();
        }
        if let (Some(ledger), false) = (ledger(), STATE.steward.load(Acquire)) {
            if let (cap, Some((_, census))) = target_and_census() {
                decide(ledger, cap, census);
            }
        }
    });
}

fn claim_now(may: May) {
    ensure_ledger();
    let Some((ledger, slot)) = member() else {
        return;
    };
    // A load first: after the first claim this is every hook's path. A
    // `vfork` child shares our memory and slot: it claims nothing of ours.
    if !STATE.claimed.load(Acquire)
        && crate::status::in_own_process()
        && !STATE.claimed.swap(true, AcqRel)
    {
        ledger.claim(slot);
    }
    follow(ledger, may);
}

/// Called by hooks that are not work in themselves (any `sysconf`, any
/// lookup by handle): a process that already works notices a change in its
/// tree there, while it has no steward. Never claims. `signal_safe` from
/// `sysconf` (see [`May::Defer`]).
pub fn tick(signal_safe: bool) {
    let may = if signal_safe { May::Defer } else { May::Start };
    if STATE.deferred.load(Relaxed) && may.may_start() {
        run_deferred();
    }
    if STATE.steward.load(Acquire) || !STATE.claimed.load(Acquire) {
        return;
    }
    if let Some(ledger) = ledger() {
        // Called from hooks: no panic may reach their C boundary.
        let _ = std::panic::catch_unwind(|| follow(ledger, may));
    }
}

/// Whether this is the child of a `vfork` (Python's `subprocess` calls
/// `sysconf` there): it shares the parent's memory until it `exec`s, and may
/// start no thread nor change the parent's state. It has a pid of its own.
fn in_vfork_child() -> bool {
    sys::getpid() != STATE.pid.load(Relaxed)
}

/// Applies a change of the ledger, if any, and starts the steward if this
/// process now needs one (see `decide`), or leaves that to the next
/// ordinary hook (`May::Defer`).
fn follow(ledger: Ledger, may: May) {
    reclaim_now_and_then(ledger);
    let generation = ledger.generation().load(Acquire);
    // The pid check (a system call) only once something changed; before the
    // swap, since a vfork child would write the parent's `seen`.
    if STATE.seen.load(Acquire) == generation
        || in_vfork_child()
        || STATE.seen.swap(generation, AcqRel) == generation
    {
        return;
    }
    // Only the cap here: a hook may be running inside a runtime's own
    // constructor, whose setters must not be called yet. Pools are the
    // steward's (its lookups wait for the loader's lock, so for any
    // constructor in progress).
    let (cap, census) = target_and_census();
    cap::set_cap(cap);
    match census {
        Some((_, census)) if may.may_start() => decide(ledger, cap, census),
        Some(_) => STATE.deferred.store(true, Release),
        None => {}
    }
}

/// Members killed without leaving keep their shares until someone reclaims
/// their slots. Stewards look every 200 ms; but a tree may have no steward
/// left (every working member at 1, then several killed at once, or all the
/// stewards), so a working process without one looks too: at its first
/// claim, then at most once a second, at its hooked calls. Here only one
/// `kill(pid, 0)` per member, which finds the pids that no longer exist; a
/// killed member its parent has not reaped yet (a zombie), or whose pid was
/// reused, is left to the stewards' full look (or to a later look here).
fn reclaim_now_and_then(ledger: Ledger) {
    let now = sys::monotonic_ms().max(1);
    let last = STATE.last_reclaim.load(Relaxed);
    if (last != 0 && now.saturating_sub(last) < 1000)
        || in_vfork_child()
        || STATE
            .last_reclaim
            .compare_exchange(last, now, Relaxed, Relaxed)
            .is_err()
    {
        return;
    }
    // At its first claim (its share must not count the dead), unless a
    // round was done just now: in a tree whose stewards do the rounds, a
    // burst of claims does not look at every member once per claim. After
    // that only where no steward has done a round for a second: then this
    // process does one, for the tree.
    if last == 0 {
        if !ledger.round_recent(now, ROUND_MS) {
            ledger.reclaim(|pid, _| sys::no_such_process(pid));
        }
    } else if ledger.take_round(now, 1000) {
        ledger.reclaim(|pid, _| sys::no_such_process(pid));
    }
}

/// Called by the `pthread_create` hook after a thread was created: once, a
/// working process that has become multi-threaded decides again whether it
/// needs a steward (see `decide`).
pub fn threaded() {
    if STATE.steward.load(Acquire)
        || !STATE.claimed.load(Acquire)
        || STATE.threaded.load(Relaxed)
        || STATE.threaded.swap(true, AcqRel)
    {
        return;
    }
    let Some(ledger) = ledger() else {
        return;
    };
    // Called from a hook: no panic may reach its C boundary.
    let _ = std::panic::catch_unwind(|| {
        if let (cap, Some((_, census))) = target_and_census() {
            decide(ledger, cap, census);
        }
    });
}

/// Starts the steward when this process's share can change in a way it must
/// put in force in its pools, and only then (`ledger::needs_steward`).
fn decide(ledger: Ledger, cap: usize, census: ledger::Census) {
    let budget = ledger.budget();
    let budget_file = budget_file().is_some();
    let needed = ledger::needs_steward(&ledger::Situation {
        budget,
        own: STATE.own_cap.load(Relaxed),
        cap,
        peak: STATE.peak_cap.fetch_max(cap, AcqRel),
        working: census.working(),
        members: census.members,
        pools_started: cap::pools_started(),
        budget_file,
    });
    debug!(
        "tree: budget {budget}, {} claimed and {} about to work: cap {cap}{}",
        census.claimed,
        census.pending,
        if needed { ", steward" } else { "" }
    );
    if needed {
        ensure_steward();
    }
}

/// Before this process starts another program (`posix_spawn`, `vfork`,
/// `system`, `popen`: no `fork` handler runs), which may join the tree and
/// work beside it. A working process with a runtime's pool above 1 and no
/// steward (the sole member of its ledger, which `decide` leaves without
/// one, since nothing else could join) starts one now: when the program
/// claims, it lowers this process's pools to its share, and puts them back
/// when the program is gone. A process at 1, or whose threads are all its
/// own (the `pthread_create` hook applies its share there), needs none.
pub fn before_spawn() {
    ensure_ledger();
    if STATE.steward.load(Acquire)
        || !STATE.claimed.load(Acquire)
        || cap::cap() <= 1
        || !cap::pools_started()
    {
        return;
    }
    if member().is_some() {
        ensure_steward();
    }
}

/// `fork`'s first handler, in the parent: a tree's first process creates
/// its ledger now, for the child to join (see `ensure_ledger`).
pub fn before_fork() {
    ensure_ledger();
}

/// Inside `fork`, in a working parent: the share its child will have (the
/// child claims at once), counting it as one more working member.
pub fn share_of_next_child() -> Option<usize> {
    if !STATE.claimed.load(Acquire) {
        return None;
    }
    let (ledger, slot) = member()?;
    let c = ledger.census_now(Some(slot));
    let working = c.working() + 1;
    let share = ledger::share(ledger.budget(), working, working - 1) as usize;
    Some(STATE.own_cap.load(Relaxed).min(share).max(1))
}

/// Inside `fork`: the pools were lowered to `share`, the child's. The
/// parent's steward puts its own share back once the child has claimed (or,
/// if it `exec`s something else, unclaimed): started after the fork if the
/// parent has none.
pub fn pools_lowered_in_fork(share: usize) {
    STATE.applied.store(share, Release);
    STATE.fork_lowered_pools.store(true, Release);
}

/// After a `fork`, in the parent (from its fork handler). The runtimes' own
/// handlers have just joined their pools (OpenBLAS's does): a parent left
/// with one thread must come out of `fork` with one, as it would without
/// the library (Python 3.12 warns at a later `fork` of a multi-threaded
/// process, and `unshare(CLONE_NEWUSER)` fails in one), so the steward it
/// now needs is started at its next hooked call. A parent with threads of
/// its own (a `multiprocessing` pool's handlers) gets it at once: one more
/// changes nothing there, and its next hooked call may be far away.
pub fn after_fork_parent() {
    if STATE.fork_lowered_pools.swap(false, AcqRel) && !STATE.steward.load(Acquire) {
        if sys::thread_count().is_some_and(|n| n > 1) {
            ensure_steward();
        } else {
            STATE.steward_wanted.store(true, Relaxed);
            STATE.deferred.store(true, Release);
        }
    }
}

/// For a process that has not claimed, reading the CPU files: the share of
/// its nearest working ancestor, this process not counted
/// (`Ledger::working_ancestor`). A helper a working process starts to ask
/// the CPU count for it answers for that process: R's `detectCores()` runs
/// `grep ^processor /proc/cpuinfo` in a shell, and counted beside R the
/// grep would halve R's share and R would start half its workers. None
/// where no ancestor works (a shell's children, a tree's first process):
/// the process is shown its own share, as by any CPU-count query.
pub fn ancestors_share() -> Option<usize> {
    if STATE.claimed.load(Acquire) {
        return None;
    }
    let (ledger, slot) = member().filter(|(l, _)| intact(l))?;
    let ancestor = ledger.working_ancestor(slot)?;
    let now = sys::boot_ns();
    let census = ledger.census_without(Some(ancestor), Some(slot), |pid, start| {
        ledger::about_to_work(now, pid, start)
    });
    let share = census.share(ledger.budget())? as usize;
    Some(STATE.own_cap.load(Relaxed).min(share).max(1))
}

/// A seed that spreads this process's CPUs away from its tree's others: its
/// rank among the working members, else its pid.
pub fn seed() -> usize {
    member()
        .and_then(|(l, slot)| l.rank_of(slot))
        .unwrap_or_else(|| sys::getpid() as usize)
}

/// Starts the steward unless one has been started already.
fn ensure_steward() {
    if STATE.steward.swap(true, AcqRel) {
        return;
    }
    match start_steward() {
        Ok(()) => {}
        // A sandbox that allows the process no thread (a system-call filter
        // refusing `clone`): the host's choice, as with a refused ledger; the
        // process keeps its share, and its output is its own (docs/limits.md).
        Err(rc) if sys::refused_by_filter(rc) => info!(
            "the steward thread is refused (a sandbox, error {rc}); this process keeps its current share"
        ),
        Err(_) => warn!(
            "cannot start the ledger's steward thread; this process keeps its current share"
        ),
    }
}

fn start_steward() -> Result<(), libc::c_int> {
    // SAFETY: sigfillset/pthread_sigmask on local sets; the steward inherits
    // the all-blocked mask, the caller gets its own back.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let started = crate::real::create_untracked(steward, c"libthrottle");
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        started
    }
}

fn budget_file() -> Option<Vec<u8>> {
    STATE.budget_file.get().cloned().flatten()
}

/// Called by initialisation with the environment its resolution read.
pub fn keep_environment(env: config::EnvSnapshot) {
    let _ = STATE.environment.set(env);
}

/// Called at initialisation, before the settings are first resolved (which
/// reads the budget file): see `budget_file_seen`.
pub fn note_budget_file() {
    let path = STATE
        .budget_file
        .get_or_init(|| sys::getenv(c"THROTTLE_BUDGET_FILE").filter(|_| !sys::secure_execution()));
    if let Some(path) = path {
        STATE.budget_file_seen.store(file_signature(path), Relaxed);
    }
}

/// The budget file's identity (modification time, size, inode, device),
/// hashed, to notice a rewrite; 0 when it cannot be read.
fn file_signature(path: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::metadata(std::ffi::OsStr::from_bytes(path)) else {
        return 0;
    };
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (m.mtime(), m.mtime_nsec(), m.size(), m.ino(), m.dev()).hash(&mut h);
    h.finish() | 1
}

extern "C" fn steward(_: *mut c_void) -> *mut c_void {
    let _ = std::panic::catch_unwind(steward_loop);
    std::ptr::null_mut()
}

/// How often a tree's bookkeeping runs: looking for members that died
/// without leaving, and counting those about to work. One member per round
/// does it (`Ledger::take_round`), whatever the tree's size.
const ROUND_MS: u32 = 200;
/// Every how many rounds the look for dead members reads each member's
/// `/proc` entry (its start time, a zombie's state); the rounds between ask
/// only whether its pid exists (`kill(pid, 0)`, a fraction of the cost).
const FULL_LOOK_ROUNDS: u32 = 10;
/// How long a steward that does not do the rounds sleeps at most: should
/// the member doing them end or be killed, another takes over by then.
const BACKSTOP_MS: u32 = 2000;

/// One round of the tree's bookkeeping (see [`ROUND_MS`]).
fn round(ledger: &Ledger, n: u32) {
    if n.is_multiple_of(FULL_LOOK_ROUNDS) {
        ledger.reclaim(sys::ended);
    } else {
        ledger.reclaim(|pid, _| sys::no_such_process(pid));
    }
    // Members turn about to work, and stop, as time passes: no event says
    // so; the round tells every member when the count changes.
    ledger.note_pending(ledger.census_now(None).pending);
    // Nor when a claimed member stops using its share, or starts again.
    ledger.note_activity(sys::monotonic_ms(), |pid| {
        sys::process_cpu_ns(pid).map(|ns| ns / 1_000_000)
    });
}

fn steward_loop() {
    let Some((ledger, slot)) = member() else {
        return;
    };
    let budget_file = budget_file();
    STATE.applied.store(0, Relaxed);
    // The stamp of the last round this steward did, and how many it did.
    let mut my_round = None;
    let mut rounds = 0;
    loop {
        // The process is ending and has given its slot back (see `leave`).
        if STATE.leaving.load(Acquire) {
            return;
        }
        let now = sys::monotonic_ms();
        // Before reading the generation: a change told now is seen below.
        ledger.tell_due(now);
        let generation = ledger.generation().load(Acquire);
        if ledger.take_round(now, ROUND_MS) {
            my_round = Some(ledger.round_stamp());
            round(&ledger, rounds);
            rounds = rounds.wrapping_add(1);
        }
        if let Some(path) = budget_file.as_deref() {
            let now = file_signature(path);
            if STATE.budget_file_seen.swap(now, Relaxed) != now {
                reload(&ledger);
            }
        }
        let (cap, census) = target_and_census();
        let applied = STATE.applied.load(Acquire);
        if cap != applied {
            cap::set_cap(cap);
            cap::follow_confinement(seed);
            // Pools busy elsewhere (lowering loaded pools, a fork): next round.
            if pools::set_pools(cap) {
                ledger.record_applied(slot, cap as u32);
                if applied != 0 {
                    info!("share is now {cap} (budget {})", ledger.budget());
                }
                // A fork may have lowered them meanwhile: then it says so.
                let _ = STATE
                    .applied
                    .compare_exchange(applied, cap, AcqRel, Relaxed);
            }
        }
        let applied = STATE.applied.load(Acquire);
        // The only working member, no budget file, pools in force: nothing
        // to look for on a timer (no dead worker to reclaim, no young one
        // to count), so no wake-ups at all until another member claims.
        let alone = budget_file.is_none()
            && cap == applied
            && census.is_some_and(|(_, c)| c.claimed <= 1 && c.pending == 0 && c.resting == 0);
        // Asleep until the tree changes. The steward doing the rounds wakes
        // for the next; the others only as a backstop: an idle tree costs
        // one round per ROUND_MS, not one per member. A budget file is
        // looked at every 100 ms by every member that watches it.
        let since = (now as u32).wrapping_sub(ledger.round_stamp());
        let timeout = if alone {
            None
        } else if budget_file.is_some() {
            Some(100)
        } else if my_round == Some(ledger.round_stamp()) {
            Some(u64::from(ROUND_MS.saturating_sub(since).max(1)))
        } else {
            Some(u64::from(BACKSTOP_MS))
        };
        // A change not told yet (it came within a window of the last
        // telling): awake by the window's end to tell it, as every steward
        // that saw it is; the first tells, and the others find it told.
        let timeout = match ledger.tell_due(sys::monotonic_ms()) {
            0 => timeout,
            due => Some(timeout.map_or(u64::from(due), |t| t.min(u64::from(due)))),
        };
        sys::futex_wait_shared(ledger.generation(), generation, timeout);
    }
}

/// The budget file changed: resolve again and make the result the tree's
/// budget (every member reading the same file writes the same value).
fn reload(ledger: &Ledger) {
    let Some(env) = STATE.environment.get() else {
        return;
    };
    let settings = config::resolve(&config::Replaying {
        inner: &sys::Deciding::default(),
        env,
    });
    STATE.own_cap.store(settings.cap, Relaxed);
    if settings.source == config::Source::BudgetFile || settings.ceiling.is_some() {
        info!("budget file changed: budget {}", settings.cap);
        ledger.set_budget(settings.cap.min(u32::MAX as usize) as u32);
    }
}

/// The budget this process's cap comes from, and whether it is a tree's.
pub fn budget() -> (usize, bool) {
    match (member(), ledger()) {
        (Some((ledger, _)), _) => (ledger.budget() as usize, true),
        (None, Some(ledger)) if status::launcher() => (ledger.budget() as usize, true),
        _ => (STATE.own_cap.load(Relaxed), false),
    }
}

/// At exit: give the slot back; the creator removes the ledger when it was
/// the last member, and so does the last member of a tree whose creator has
/// ended. Allocates nothing and takes no lock: `_exit`, which may be called
/// from a signal handler, runs it too (hooks/exit.rs).
pub fn leave() {
    let Some(ledger) = ledger() else {
        return;
    };
    // The steward stops (and sets no pool: `pools::shut` came first).
    STATE.leaving.store(true, Release);
    // No longer a member, for the threads still running meanwhile: the slot
    // may go to another process as soon as it is free.
    for slot in [&STATE.slot, &STATE.launcher_slot] {
        let slot = slot.swap(NONE, AcqRel);
        if slot != NONE {
            ledger.leave(slot, STATE.pid.load(Relaxed));
        }
    }
    let creator = STATE.creator.load(Relaxed);
    if !creator && !creator_ended() {
        return;
    }
    // Members that died without leaving (killed) must not keep the file
    // alive after the tree is gone. The creator judges them by pid and start
    // time (/proc); in a tree whose creator has ended, every process that
    // leaves looks, so only for pids gone (one `kill` each): a killed member
    // not yet reaped leaves the file to a later leaver or to the sweep.
    if creator {
        ledger.reclaim(sys::ended);
    } else {
        ledger.reclaim(|pid, _| sys::no_such_process(pid));
    }
    if !ledger.any_member() {
        if let Some(path) = STATE.ledger_path.get() {
            // SAFETY: a NUL-terminated path. unlink, not remove_file: no
            // allocation here (see the doc comment).
            unsafe { libc::unlink(path.as_ptr()) };
        }
    }
}

/// Whether the process that created this process's ledger (named in its
/// file's name) no longer exists. No allocation (see `leave`).
fn creator_ended() -> bool {
    STATE
        .ledger_path
        .get()
        .and_then(|path| path.to_str().ok())
        .and_then(creator_in_name)
        .is_some_and(sys::no_such_process)
}

/// In a `fork` child: a new process, so a new member. A child of a working
/// process works too (a `multiprocessing` worker): it claims at once, with
/// pools the parent lowered to its share just before the fork (see
/// `pools::before_fork`), and starts its steward (if it needs one) at its
/// next hook.
pub fn reset_after_fork() {
    let was_claimed = STATE.claimed.swap(false, Relaxed);
    // Its parent had not created its ledger (another thread of the parent
    // was creating it as the parent forked): the name is the parent's, so
    // the child holds no tree.
    STATE.pending.store(false, Relaxed);
    STATE.steward.store(false, Relaxed);
    STATE.steward_wanted.store(false, Relaxed);
    STATE.deferred.store(false, Relaxed);
    STATE.leaving.store(false, Relaxed);
    STATE.peak_cap.store(0, Relaxed);
    STATE.threaded.store(false, Relaxed);
    STATE.seen.store(u32::MAX, Relaxed);
    STATE.creator.store(false, Relaxed);
    STATE.slot.store(NONE, Release);
    STATE.launcher_slot.store(NONE, Release);
    let pid = sys::getpid();
    STATE.pid.store(pid, Relaxed);
    // A launcher's child is an ordinary member (status.rs): it may compute (a Python
    // launcher's `multiprocessing` worker); if it `exec`s a launcher, that
    // one makes the slot a launcher's again.
    status::no_longer_launcher();
    let Some(ledger) = ledger() else {
        return;
    };
    // Forked into a PID namespace of its own (`unshare --pid --fork`): out
    // of the tree, whose pids mean other processes here (see `init`), on
    // its own cap; the program it `exec`s starts a tree of its own. Only
    // then is the parent, in the namespace above, invisible (pid 0): the
    // lookup in /proc is left to that case.
    if parent() == 0 && ledger.foreign(sys::pid_namespace()) {
        STATE.ledger.store(0, Release);
        return;
    }
    let Some(slot) = sys::own_start_time().and_then(|start| ledger.join(pid, parent(), start))
    else {
        return;
    };
    STATE.slot.store(slot, Release);
    if was_claimed {
        STATE.claimed.store(true, Relaxed);
        ledger.claim(slot);
        let cap = target();
        cap::set_cap(cap);
        STATE.peak_cap.store(cap, Relaxed);
    }
}

//! What this process is, as initialisation decided: whether the library
//! enforces here, its policy, whether it is a launcher, where its cap came
//! from, and the pid the process had when it last started or forked (a
//! `vfork` child shares our memory but not our pid). Each is stored here
//! only. A leaf: every layer reads it; `init` decides it, `fork` renews the
//! pid and a launcher's child stops being one (docs/design.md, section 1).

use crate::config::{Policy, Source};
use crate::sys;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, Ordering::*};

/// Not yet initialised.
pub const UNINIT: u8 = 0;
/// A thread is initialising (`init::enforcing` waits for it).
pub const RUNNING: u8 = 1;
/// Initialised, enforcing.
pub const ACTIVE: u8 = 2;
/// Initialised, not enforcing (disabled, or initialisation failed).
pub const INACTIVE: u8 = 3;

/// One of the four states above; only `init` changes it.
pub static STATE: AtomicU8 = AtomicU8::new(UNINIT);

/// This process's pid, for telling a `vfork` child (which shares our memory)
/// from us; renewed in `fork` children.
static OWN_PID: AtomicI32 = AtomicI32::new(0);

/// Whether the library is enforcing in this process. Never initialises (the
/// hooks do, through `init::enforcing`): code below the hooks runs only
/// after one of them has.
pub fn is_enforcing() -> bool {
    STATE.load(Acquire) == ACTIVE
}

/// Notes the pid this process has now: at initialisation and in a `fork`
/// child.
pub fn note_own_pid() {
    OWN_PID.store(sys::getpid(), Relaxed);
}

/// False in a `vfork` child (or a child made by a raw `clone`, which ran no
/// `fork` handler): its memory is its parent's, not its own to change.
pub fn in_own_process() -> bool {
    OWN_PID.load(Relaxed) == sys::getpid()
}

/// The policy of the tree's members, as an index into `Policy::ALL` (a
/// launcher's own threads are audited whatever it is: [`policy`]).
static POLICY: AtomicU8 = AtomicU8::new(1);
/// A launcher (srun, mpirun) holds no share and is never held back; its
/// fork children are ordinary members.
static LAUNCHER: AtomicBool = AtomicBool::new(false);
/// Where the cap came from: 0 none yet, 1 a `max_threads` ceiling, else
/// 2 + an index into `Source::ALL`.
static SOURCE: AtomicU8 = AtomicU8::new(0);

/// Records what initialisation decided. `ceiling`: a `max_threads` ceiling
/// set the cap, whatever source it lowered.
pub fn decide(policy: Policy, launcher: bool, source: Source, ceiling: bool) {
    fn index<T: PartialEq>(all: &[T], x: T) -> u8 {
        all.iter().position(|y| *y == x).unwrap_or(0) as u8
    }
    POLICY.store(index(&Policy::ALL, policy), Relaxed);
    LAUNCHER.store(launcher, Relaxed);
    SOURCE.store(
        if ceiling {
            1
        } else {
            2 + index(&Source::ALL, source)
        },
        Relaxed,
    );
}

/// The members' policy (what a launcher's fork children follow).
pub fn member_policy() -> Policy {
    Policy::ALL[POLICY.load(Relaxed) as usize % Policy::ALL.len()]
}

/// This process's policy: a launcher's threads are only counted.
pub fn policy() -> Policy {
    if launcher() {
        Policy::Audit
    } else {
        member_policy()
    }
}

pub fn launcher() -> bool {
    LAUNCHER.load(Relaxed)
}

/// In a launcher's `fork` child: an ordinary member (it may compute: a
/// Python launcher's `multiprocessing` worker; if it `exec`s a launcher,
/// that one is a launcher again). Returns whether it was one.
pub fn no_longer_launcher() -> bool {
    LAUNCHER.swap(false, Relaxed)
}

/// Where the cap came from, as the report and the event log name it.
pub fn source() -> &'static str {
    match SOURCE.load(Relaxed) {
        0 => "none",
        1 => "max_threads",
        n => Source::ALL
            .get(n as usize - 2)
            .map_or("none", |s| s.label()),
    }
}

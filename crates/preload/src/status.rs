//! What this process is, as initialisation decided: whether the library
//! enforces here, its policy, whether it is a launcher, where its cap came
//! from, and the pid the process had when it last started or forked (a
//! `vfork` child shares our memory but not our pid). Each is stored here
//! only. A leaf: every layer reads it; `init` decides it, `fork` renews the
//! pid and a launcher's child stops being one (docs/design.md, section 1).

use crate::config::{Policy, Source};
use crate::sys;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, Ordering::*};

/// What this process is, in one value (docs/design.md, section 3).
pub struct State {
    /// `UNINIT`, `RUNNING`, `ACTIVE` or `INACTIVE` (below); only `init`
    /// changes it.
    pub phase: AtomicU8,
    /// This process's pid, for telling a `vfork` child (which shares our memory)
    /// from us; renewed in `fork` children.
    own_pid: AtomicI32,
    /// The policy of the tree's members, as an index into `Policy::ALL` (a
    /// launcher's own threads are audited whatever it is: [`policy`]);
    /// `confine`, the default, until initialisation decides.
    policy: AtomicU8,
    /// A launcher (srun, mpirun) holds no share and is never held back; its
    /// fork children are ordinary members.
    launcher: AtomicBool,
    /// Where the cap came from: 0 none yet, 1 a `max_threads` ceiling, else
    /// 2 + an index into `Source::ALL`.
    source: AtomicU8,
}

pub static PROCESS: State = State {
    phase: AtomicU8::new(UNINIT),
    own_pid: AtomicI32::new(0),
    policy: AtomicU8::new(CONFINE),
    launcher: AtomicBool::new(false),
    source: AtomicU8::new(0),
};

/// `Policy::Confine`'s index in `Policy::ALL`.
const CONFINE: u8 = 1;

/// Not yet initialised.
pub const UNINIT: u8 = 0;
/// A thread is initialising (`init::enforcing` waits for it).
pub const RUNNING: u8 = 1;
/// Initialised, enforcing.
pub const ACTIVE: u8 = 2;
/// Initialised, not enforcing (disabled, or initialisation failed).
pub const INACTIVE: u8 = 3;

/// Whether the library is enforcing in this process. Never initialises (the
/// hooks do, through `init::enforcing`): code below the hooks runs only
/// after one of them has.
pub fn is_enforcing() -> bool {
    PROCESS.phase.load(Acquire) == ACTIVE
}

/// Notes the pid this process has now: at initialisation and in a `fork`
/// child.
pub fn note_own_pid() {
    PROCESS.own_pid.store(sys::getpid(), Relaxed);
}

/// False in a `vfork` child (or a child made by a raw `clone`, which ran no
/// `fork` handler): its memory is its parent's, not its own to change.
pub fn in_own_process() -> bool {
    PROCESS.own_pid.load(Relaxed) == sys::getpid()
}

/// Records what initialisation decided. `ceiling`: a `max_threads` ceiling
/// set the cap, whatever source it lowered.
pub fn decide(policy: Policy, launcher: bool, source: Source, ceiling: bool) {
    fn index<T: PartialEq>(all: &[T], x: T) -> u8 {
        all.iter().position(|y| *y == x).unwrap_or(0) as u8
    }
    PROCESS.policy.store(index(&Policy::ALL, policy), Relaxed);
    PROCESS.launcher.store(launcher, Relaxed);
    PROCESS.source.store(
        if ceiling {
            1
        } else {
            2 + index(&Source::ALL, source)
        },
        Relaxed,
    );
}

/// This process's policy: the members' (which a launcher's fork children
/// follow), or `audit` for a launcher, whose threads are only counted.
pub fn policy() -> Policy {
    if launcher() {
        Policy::Audit
    } else {
        Policy::ALL[PROCESS.policy.load(Relaxed) as usize % Policy::ALL.len()]
    }
}

pub fn launcher() -> bool {
    PROCESS.launcher.load(Relaxed)
}

/// In a launcher's `fork` child: an ordinary member (it may compute: a
/// Python launcher's `multiprocessing` worker; if it `exec`s a launcher,
/// that one is a launcher again).
pub fn no_longer_launcher() {
    PROCESS.launcher.store(false, Relaxed);
}

/// Where the cap came from, as the report and the event log name it.
pub fn source() -> &'static str {
    match PROCESS.source.load(Relaxed) {
        0 => "none",
        1 => "max_threads",
        n => Source::ALL
            .get(n as usize - 2)
            .map_or("none", |s| s.label()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_is_confine() {
        assert_eq!(Policy::ALL[CONFINE as usize], Policy::Confine);
        assert_eq!(policy(), Policy::Confine);
    }
}

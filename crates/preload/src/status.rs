//! What this process is, as initialisation decided: whether the library
//! enforces here, and the pid the process had when it last started or forked
//! (a `vfork` child shares our memory but not our pid). A leaf: every layer
//! reads it; `init` decides it, `fork` renews the pid (docs/design.md,
//! section 1).

use crate::sys;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering::*};

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

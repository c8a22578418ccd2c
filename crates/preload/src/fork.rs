//! `fork`, in one place: the handlers the library registers with
//! `pthread_atfork`, and what each module does around a fork. A `fork` child
//! is a copy of one thread of its parent: every lock another thread held
//! stays held, every thread but the forking one is gone. So each module
//! with state keeps it in one value (its `STATE`; `status`'s `PROCESS`) and
//! has one `reset_after_fork`, which `after_fork_child` below calls; this
//! list says what the child keeps and what starts again:
//!
//! - `lock`: every lock taken before the fork is free (its holder may be a
//!   thread the child does not have).
//! - `heap`: free lists reset (their locks may be held by a vanished thread).
//! - `status`: the child's own pid (a `vfork` child, which runs no handler,
//!   keeps the parent's, and so knows it is not its own process).
//! - `exit`: not ended.
//! - `cap`: one live thread, no waiter, counters zero, the inherited cap in
//!   force until the child's share replaces it; unconfined.
//! - `pools`: the pools free again (the steward that may have been setting
//!   them is not in the child); what was remembered is kept.
//! - `tree`: a new member of the parent's tree, claimed at once if the
//!   parent worked (a `multiprocessing` worker); no steward yet.
//! - `events`: the log's descriptor kept, counters zero, a `fork` event
//!   first.
//!
//! Plus one handler per runtime whose pools the library may set
//! ([`watch_pools`]): inside the fork, before the runtime's own handlers,
//! it lowers the pools to the child's share (docs/design.md, section 5).

use crate::{cap, events, exit, lock, pools, status, tree};
use std::sync::atomic::{AtomicUsize, Ordering::*};

/// Registers the library's fork handlers. From the constructor, once: not
/// from initialisation, which may run inside the host's allocator (a hook
/// called by it), and `pthread_atfork` allocates.
pub fn register() {
    // SAFETY: registering handlers with no arguments; each catches panics.
    unsafe {
        libc::pthread_atfork(
            Some(before_fork),
            Some(after_fork_parent),
            Some(after_fork_child),
        )
    };
}

extern "C" fn before_fork() {
    let _ = std::panic::catch_unwind(tree::before_fork);
}

extern "C" fn after_fork_parent() {
    pools::after_fork_parent();
    // No panic may cross the fork handler's C boundary.
    let _ = std::panic::catch_unwind(tree::after_fork_parent);
    pools::fork_over();
}

extern "C" fn after_fork_child() {
    lock::after_fork_child();
    crate::heap::reset_after_fork(&crate::HEAP);
    status::note_own_pid();
    exit::reset_after_fork();
    cap::reset_after_fork();
    pools::reset_after_fork();
    let _ = std::panic::catch_unwind(tree::reset_after_fork);
    events::reset_after_fork();
}

/// Handlers registered for the runtimes `pools` remembers: one each.
static WATCHED: AtomicUsize = AtomicUsize::new(0);

/// Registers [`lower_pools`] once for each runtime `pools` has remembered
/// since the last call: after that runtime's own handlers, so that it runs
/// before them (prepare handlers run in the reverse order). Called by the
/// layers above after anything that may remember one (lowering loaded pools).
pub fn watch_pools() {
    let wanted = pools::remembered();
    loop {
        let have = WATCHED.load(Acquire);
        if have >= wanted {
            return;
        }
        if WATCHED
            .compare_exchange(have, have + 1, AcqRel, Acquire)
            .is_ok()
        {
            // SAFETY: registering a handler with no arguments, that only
            // touches atomics and remembered setters (see `lower_pools`).
            unsafe { libc::pthread_atfork(Some(lower_pools), None, None) };
        }
    }
}

/// Inside `fork`, before the runtimes' own handlers: in a working parent,
/// lowers the remembered runtimes' pools to the share its child will have,
/// so that the child, which claims at once, starts inside it (and the
/// parent's steward puts the parent's own share back afterwards). Runs
/// once per fork, however many times it is registered.
///
/// Only setters that may be called from any thread are remembered (never
/// `omp_set_num_threads`, which would lower the forking thread's own
/// setting for the rest of its life: OpenMP teams are lowered at each
/// region instead). If the steward is setting pools at that moment, the
/// fork waits for it (bounded) and then holds it off until both fork
/// handlers have run: two threads never call a runtime's setters at once,
/// and no setter is halfway through when the process is copied.
extern "C" fn lower_pools() {
    if !pools::hold_for_fork() {
        return;
    }
    // No panic may cross this C boundary.
    let _ = std::panic::catch_unwind(|| {
        if let Some(share) = tree::share_of_next_child() {
            if pools::lower_remembered(share as i64) {
                tree::pools_lowered_in_fork(share);
            }
        }
    });
}

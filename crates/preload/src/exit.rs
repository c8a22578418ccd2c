//! The end of a process, in one place: by `exit` (the library's destructor,
//! hooks/load.rs) or by `_exit` (hooks/exit.rs), whichever comes first, once:
//! the event log's `exit` event, leaving the tree, the exit report.
//!
//! Allocates nothing and takes no lock: `_exit` is async-signal-safe, and
//! programs call it from signal handlers. Nothing happens in a `vfork`
//! child, which shares this process's memory: it is not us that ends.

use crate::lock::Racy;
use crate::{cap, events, init, log, pools, status, sys, tree};
use std::sync::atomic::{AtomicBool, Ordering::*};

/// This module's state, in one value (docs/design.md, section 3).
struct State {
    /// Set by whichever of `exit` and `_exit` runs the end-of-process work
    /// first: it runs once.
    ended: AtomicBool,
}

static STATE: State = State {
    ended: AtomicBool::new(false),
};

/// The stack the end-of-process work runs on (a handler's alternate stack
/// may be too small for it), used only by the thread that ended. Memory,
/// not state: kept apart from `STATE`, among the cold statics
/// (docs/design.md, section 3), so its 64 KiB never sit between the small
/// statics every process touches at start.
#[link_section = ".sbss.throttle_cold"]
static EXIT_STACK: Racy<ExitStack> = Racy::new(ExitStack([0; EXIT_STACK_BYTES]));

/// From the destructor: `exit` ends the process. Also run by a `vfork` child
/// that calls `exit` (after a failed `exec`, say): it shares this process's
/// memory, and must neither end its tree membership nor report.
pub fn on_exit() {
    if status::in_own_process() && claim_end() {
        end_of_process();
    }
}

/// `_exit` is about to end the process.
///
/// `_exit` is called from signal handlers, which may run on a small
/// alternate stack (`SIGSTKSZ` is 8 KiB); the end-of-process work needs more
/// than that (line buffers), so it runs on a stack of its own. Only the one
/// thread that claims the end uses it.
pub fn before_exit_now() {
    if status::in_own_process() && claim_end() {
        on_exit_stack(end_of_process_c);
    }
}

/// In a `fork` child (fork.rs): a new process, which has not ended.
pub fn reset_after_fork() {
    STATE.ended.store(false, Relaxed);
}

/// Whether this call is the one that ends the process: once, and only for
/// an enforcing process.
fn claim_end() -> bool {
    status::is_enforcing() && !STATE.ended.swap(true, AcqRel)
}

extern "C" fn end_of_process_c() {
    let _ = std::panic::catch_unwind(end_of_process);
}

const EXIT_STACK_BYTES: usize = 64 * 1024;

#[repr(C, align(16))]
struct ExitStack([u8; EXIT_STACK_BYTES]);

/// Runs `f` on `EXIT_STACK` and comes back to the caller's stack.
#[cfg(target_arch = "x86_64")]
fn on_exit_stack(f: extern "C" fn()) {
    // SAFETY: called once per process (`claim_end`), so the stack is ours
    // alone; its top is 16-byte aligned as the ABI wants before a `call`.
    // r12 is callee-saved: `f` keeps it, and it brings our stack back.
    // `f` catches every panic, so nothing unwinds across the switch.
    unsafe {
        let top = EXIT_STACK.get().cast::<u8>().add(EXIT_STACK_BYTES);
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
    let _ = EXIT_STACK.get();
    f();
}

/// What a process does as it ends, once: the event log's `exit` event,
/// leaving the ledger, the exit report.
fn end_of_process() {
    let totals = cap::totals();
    // The event log's `exit` event, whether or not THROTTLE_REPORT is set. No
    // panic may cross this C boundary.
    let _ = std::panic::catch_unwind(|| events::exit(&totals));
    let (budget, ledger) = tree::budget();
    pools::shut();
    let _ = std::panic::catch_unwind(tree::leave);
    if !init::report_wanted() {
        return;
    }
    log::always(format_args!(
        "report pid={} cap={} max_cap={} source={} peak={} live={} created={} over_cap={} waited={} refused={} confined={} managed={} budget={budget} ledger={}",
        sys::getpid(),
        totals.cap,
        totals.max_cap,
        status::source(),
        totals.peak,
        totals.live,
        totals.created,
        totals.over_cap,
        totals.waited,
        totals.refused,
        totals.confined,
        totals.managed,
        if ledger { "yes" } else { "no" },
    ));
}

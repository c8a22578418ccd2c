//! libthrottle.so: the preloaded library that keeps unmodified programs'
//! thread pools inside their CPU allocation. See README.md and docs/.
//! Everything here runs inside other people's processes (docs/design.md,
//! section 2). Calls go one way, down these layers (section 1;
//! `scripts/check-imports.py` checks it):
//!
//! 1. `hooks/`: every exported C symbol, and `hooks/load.rs`, the
//!    constructor and destructor.
//! 2. The process layer: `init` (initialisation, and whether to enforce),
//!    `fork` (every fork handler; what each module's child keeps), `exit`
//!    (the end of the process).
//! 3. State, each above the next: `tree` (the process's place in its tree:
//!    ledger, claim, steward), `pools` (runtimes' pools set through their
//!    own setters), `cap` (the thread cap and its policies), `events` (the
//!    event log).
//! 4. Helpers: `status` (enforcing, policy, launcher, source; own pid),
//!    `real` (libc's `pthread_create` for the library's own thread), `next` (the
//!    definitions hooks forward to), `loaded` (the loaded objects),
//!    `managed` (runtime threads), `lock`, `log`, `heap` (the library's own
//!    allocator), `ranges`, `clamp` (a setter's granted count), `cpuviews`
//!    (the CPU files shown), `sys` (the system calls only the library
//!    makes, and the core's); and the core (`throttle_core`), whose
//!    modules are used here under their own names.

// The unit-test build leaves out the hooks (a test harness must not interpose
// its own pthread_create), so code only they call looks dead there.
#![cfg_attr(test, allow(dead_code, unused_macros, unused_imports))]

// The core's modules, under the names the library's code uses for them.
use throttle_core::{config, cpumask, envsize, launchers, ledger, runtimes};

mod cap;
mod clamp;
mod cpuviews;
mod events;
#[cfg(not(test))]
mod exit;
#[cfg(not(test))]
mod fork;
mod heap;
#[cfg(not(test))]
mod hooks;
#[cfg(not(test))]
mod init;
mod loaded;
mod lock;
mod log;
mod managed;
mod next;
#[cfg(not(test))]
mod pools;
mod ranges;
mod real;
mod status;
mod sys;
#[cfg(not(test))]
mod tree;

/// Every allocation of the library comes from its own heap, never the host's
/// `malloc` (heap.rs).
#[cfg(not(test))]
#[global_allocator]
static HEAP: heap::Heap = heap::Heap::new();

//! libthrottle: a preloaded library that keeps unmodified programs' thread
//! pools inside their CPU allocation. See README.md and docs/.
//!
//! Where things live:
//! - `hooks/`: the only code with `extern "C"` exports, the C surface that
//!   runs inside other people's processes (`threads.rs`: `pthread_create`;
//!   `cpus.rs`: the CPU-count queries).
//! - `init.rs`: lazy initialisation, the constructor, `fork`, the exit report.
//! - `cap.rs`: the thread cap: live-thread count and the policies.
//! - `inputs.rs`: what budget resolution reads (`Inputs`) and
//!   the terms it shares with `allocation.rs` (schedulers and cgroups) and
//!   `sys.rs` (the live inputs); a leaf.
//! - `config.rs`: budget resolution (pure); `envsize.rs`: environment
//!   right-sizing (pure); `runtimes.rs`: the registry of runtimes (data);
//!   `cpumask.rs`: CPU mask arithmetic (pure).
//! - `events.rs`: the JSON-lines event log (`THROTTLE_LOG_FILE`).
//! - `managed.rs`, `next.rs`, `lock.rs`, `sys.rs`, `log.rs`: small helpers.

// The unit-test build leaves out the hooks (a test harness must not interpose
// its own pthread_create), so code only they call looks dead there.
#![cfg_attr(test, allow(dead_code, unused_macros, unused_imports))]

// The core's modules, under the names the library's code uses for them.
use throttle_core::{config, cpumask, envsize, launchers, ledger, runtimes, sys};

#[cfg(not(test))]
mod active;
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
mod ranges;
mod real;
mod status;
#[cfg(not(test))]
mod tree;

/// Every allocation of the library comes from its own heap, never the host's
/// `malloc` (heap.rs).
#[cfg(not(test))]
#[global_allocator]
static HEAP: heap::Heap = heap::Heap::new();

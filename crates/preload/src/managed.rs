//! Is a thread managed? It is when its start routine lives in a recognised
//! runtime library (`runtimes::RUNTIMES`): that runtime sized its pool through
//! layer 1, and failing its thread creation would crash it.
//!
//! The object holding a start routine is found with `dl_iterate_phdr`, which
//! takes only the lock guarding the loader's list (held for a moment while
//! `dlopen` adds an object), never the loader's main lock (`dladdr` does):
//! `dlopen` holds that one while constructors run, and a constructor that
//! waits for a thread which starts another would wait forever. Answers are
//! cached per start routine in a small lock-free table: pools start every
//! worker with the same routine, and the fast path of `pthread_create`
//! stays a few atomic loads.

use crate::log::debug;
use crate::runtimes;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

const SLOTS: usize = 64;

/// Each slot holds `start << 1 | managed`, or 0. User-space addresses are
/// below 2^47, so the shift loses nothing.
static CACHE: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];

pub fn is_managed(start: usize) -> bool {
    let slot = &CACHE[(start.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) % SLOTS];
    let cached = slot.load(Relaxed);
    if cached != 0 && cached >> 1 == start {
        return cached & 1 == 1;
    }
    let object = crate::loaded::containing(start).and_then(|o| o.path);
    let runtime = object.and_then(|path| runtimes::runtime_of(path.to_bytes()));
    let managed = runtime.is_some_and(|r| r.managed);
    if let Some(r) = runtime {
        debug!(
            "threads started at {start:#x} belong to {}: managed={managed}",
            r.name
        );
    }
    slot.store(start << 1 | usize::from(managed), Relaxed);
    managed
}

//! Is a thread managed? It is when its start routine lives in a recognised
//! runtime library (`runtimes::RUNTIMES`): that runtime sized its pool through
//! layer 1, and failing its thread creation would crash it.
//!
//! `dladdr` takes the loader's lock, so answers are cached per start routine in
//! a small lock-free table: pools start every worker with the same routine,
//! and the fast path of `pthread_create` stays a few atomic loads.

use crate::log::debug;
use crate::runtimes;
use std::ffi::CStr;
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
    let runtime = library_of(start).and_then(|path| runtimes::runtime_of(path.to_bytes()));
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

/// The path of the loaded object that contains `addr`.
fn library_of(addr: usize) -> Option<&'static CStr> {
    let mut info = libc::Dl_info {
        dli_fname: std::ptr::null(),
        dli_fbase: std::ptr::null_mut(),
        dli_sname: std::ptr::null(),
        dli_saddr: std::ptr::null_mut(),
    };
    // SAFETY: dladdr only reads the loader's tables and fills `info`.
    let found = unsafe { libc::dladdr(addr as *const libc::c_void, &mut info) } != 0;
    // SAFETY: on success dli_fname is the object's NUL-terminated path, owned
    // by the loader and valid while the object stays loaded.
    (found && !info.dli_fname.is_null()).then(|| unsafe { CStr::from_ptr(info.dli_fname) })
}

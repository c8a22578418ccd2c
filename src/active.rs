//! Active clamping: bring down the pools of runtimes that are already loaded
//! and initialised, through each one's own getter and setter, as threadpoolctl
//! does from inside Python. This is what reaches a library linked into the
//! executable, whose constructor sized its pool before libthrottle's ran.
//!
//! When: from libthrottle's constructor (every library it depends on... no:
//! every library initialised before it is complete by then), and after a
//! `dlopen`, noticed at the next lookup by handle (the `dlsym` hook) through
//! the loader's count of added objects. Not from a `dlopen` hook: wrapping
//! `dlopen` would make glibc see libthrottle as the caller, and resolve the
//! caller's RUNPATH and `$ORIGIN` wrongly. Not from inside another library's
//! constructor either: a runtime whose constructor is still running must not
//! be called.

use crate::log::info;
use crate::runtimes::{self, Control};
use crate::{cap, events, init, loaded};
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};

static LAST_ADDS: AtomicU64 = AtomicU64::new(0);
static BUSY: AtomicBool = AtomicBool::new(false);

/// Brings every loaded runtime's pool down to the cap. `at_load` is true
/// only from libthrottle's constructor; after a `dlopen`, runtimes that load
/// further parts of themselves on first use (MKL) are left to the
/// environment, which already sized them.
pub fn clamp_loaded(at_load: bool) {
    if !init::active() || BUSY.swap(true, Acquire) {
        return;
    }
    let (objects, adds) = loaded::objects();
    LAST_ADDS.store(adds, Relaxed);
    let own = loaded::own_base();
    let cap = cap::cap() as i64;
    for object in objects.iter().filter(|o| o.base != own) {
        let Some(runtime) = runtimes::runtime_of(object.path.to_bytes()) else {
            continue;
        };
        if !at_load && !runtime.clamp_after_dlopen {
            continue;
        }
        for control in runtime.controls {
            if let Some(current) = apply(object, control, cap) {
                let library = object.path.to_string_lossy();
                info!(
                    "{} in {library}: pool of {current} brought down to {cap}",
                    control.set
                );
                events::clamp(control.set, &library, current, cap);
            }
        }
    }
    BUSY.store(false, Release);
}

/// Sets one runtime's pool to `cap` if its getter says it is larger; returns
/// the size it had.
fn apply(object: &loaded::Object, control: &Control, cap: i64) -> Option<i64> {
    let get = loaded::symbol_in(object, &CString::new(control.get).ok()?)?;
    let set = loaded::symbol_in(object, &CString::new(control.set).ok()?)?;
    // SAFETY: both are this library's own definitions of the registry's
    // getter and setter, whose prototypes are `int f(void)`/`void f(int)`,
    // or with `dim_t` (int64) when `long` is set.
    unsafe {
        if control.long {
            let current = std::mem::transmute::<usize, unsafe extern "C" fn() -> i64>(get)();
            (current > cap).then(|| {
                std::mem::transmute::<usize, unsafe extern "C" fn(i64)>(set)(cap);
                current
            })
        } else {
            let current = i64::from(std::mem::transmute::<
                usize,
                unsafe extern "C" fn() -> libc::c_int,
            >(get)());
            (current > cap).then(|| {
                std::mem::transmute::<usize, unsafe extern "C" fn(libc::c_int)>(set)(
                    cap as libc::c_int,
                );
                current
            })
        }
    }
}

/// After a `dlopen`: clamps again if the loader has added objects since the
/// last look. Costs one step of `dl_iterate_phdr` otherwise.
pub fn clamp_new_objects() {
    if loaded::adds() != LAST_ADDS.load(Relaxed) {
        clamp_loaded(false);
    }
}

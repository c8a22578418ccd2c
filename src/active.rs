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
        if !at_load && !runtime.clamp_anytime {
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

/// The most threads the program itself last asked a runtime for: when a
/// share grows, pools grow back to it, never past what the program chose.
static REQUESTED: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(i64::MAX);

pub fn note_request(n: i64) {
    REQUESTED.store(n, Relaxed);
}

/// Puts a new share in force in every loaded runtime that may be called at
/// any time: lowers pools above it, and grows pools below it back up to it
/// (bounded by the CPUs and by what the program itself last asked for).
pub fn set_pools(share: usize) {
    if !init::active() || BUSY.swap(true, Acquire) {
        return;
    }
    let cpus = crate::sys::affinity(0).map_or(1, |m| m.count()) as i64;
    let target = (share as i64).min(REQUESTED.load(Relaxed)).min(cpus).max(1);
    let (objects, _) = loaded::objects();
    let own = loaded::own_base();
    for object in objects.iter().filter(|o| o.base != own) {
        let Some(runtime) = runtimes::runtime_of(object.path.to_bytes()) else {
            continue;
        };
        if !runtime.clamp_anytime {
            continue;
        }
        for control in runtime.controls {
            let _ = set_to(object, control, target);
        }
    }
    BUSY.store(false, Release);
}

/// Sets one runtime's pool to exactly `target` if it differs.
fn set_to(object: &loaded::Object, control: &Control, target: i64) -> Option<()> {
    let get = loaded::symbol_in(object, &CString::new(control.get).ok()?)?;
    let set = loaded::symbol_in(object, &CString::new(control.set).ok()?)?;
    // SAFETY: as in `apply`: the library's own getter and setter.
    unsafe {
        if control.long {
            if std::mem::transmute::<usize, unsafe extern "C" fn() -> i64>(get)() != target {
                std::mem::transmute::<usize, unsafe extern "C" fn(i64)>(set)(target);
            }
        } else if i64::from(std::mem::transmute::<
            usize,
            unsafe extern "C" fn() -> libc::c_int,
        >(get)())
            != target
        {
            std::mem::transmute::<usize, unsafe extern "C" fn(libc::c_int)>(set)(
                target as libc::c_int,
            );
        }
    }
    Some(())
}

/// After a `dlopen`: clamps again if the loader has added objects since the
/// last look. Costs one step of `dl_iterate_phdr` otherwise.
pub fn clamp_new_objects() {
    if loaded::adds() != LAST_ADDS.load(Relaxed) {
        clamp_loaded(false);
    }
}

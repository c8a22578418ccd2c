//! `dlsym(handle, "<setter>")`: ctypes, threadpoolctl, Julia and R call a
//! runtime's setter through a pointer from `dlsym` on the library's handle,
//! which no symbol interposition reaches. This hook hands out a clamping
//! wrapper bound to that library's own definition instead. Every other lookup
//! goes to libc's `dlsym` by a tail jump.
//!
//! Why a naked function: glibc's `dlsym` identifies its caller from its return
//! address (for `RTLD_NEXT`, and for the caller's namespace). A Rust wrapper
//! that called it would make every lookup look as if libthrottle made it.
//! Jumping into it with the original return address still on the stack keeps
//! every lookup exactly as it was. Only x86_64 has the jump; elsewhere the
//! hook is not built and setters are reached through their exported names and
//! lowering loaded pools only.

use super::guarded;
use super::setters::{self, Ret};
use crate::log::warn;
use crate::runtimes::{self, Arg, Setter};
use crate::{init, loaded, pools};
use libc::{c_char, c_int, c_void};
use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};

/// Wrappers handed out per argument shape. A process rarely holds more than a
/// few runtime copies; past this, lookups return the unwrapped setter.
const SLOTS: usize = 8;

/// One pool of wrappers for one argument shape: the wrapped definitions, the
/// setters they belong to, and the wrapper functions themselves.
struct Pool<F: 'static> {
    targets: [AtomicUsize; SLOTS],
    setters: [AtomicUsize; SLOTS],
    wrappers: [F; SLOTS],
}

impl<F: Copy> Pool<F> {
    /// The wrapper bound to `target`, taking a free slot if needed.
    fn wrapper(&self, target: usize, setter: &'static Setter) -> Option<F> {
        for i in 0..SLOTS {
            let current = self.targets[i].load(Acquire);
            if current == target {
                return Some(self.wrappers[i]);
            }
            if current == 0 {
                self.setters[i].store(setter as *const Setter as usize, Release);
                if self.targets[i]
                    .compare_exchange(0, target, AcqRel, Acquire)
                    .is_ok()
                {
                    return Some(self.wrappers[i]);
                }
                if self.targets[i].load(Acquire) == target {
                    return Some(self.wrappers[i]);
                }
            }
        }
        None
    }

    fn slot(&self, i: usize) -> (usize, &'static str) {
        let setter = self.setters[i].load(Acquire) as *const Setter;
        // SAFETY: slots only ever hold pointers to entries of the static
        // registry, or null before their first use.
        let name = unsafe { setter.as_ref() }.map_or("setter", |s| s.name);
        (self.targets[i].load(Acquire), name)
    }
}

/// Declares a pool of wrappers: each calls `$call` on its slot's target.
macro_rules! pool {
    ($pool:ident, $call:path, ($($arg:ident : $ty:ty),*)) => {
        static $pool: Pool<unsafe extern "C" fn($($ty),*) -> Ret> = Pool {
            targets: [const { AtomicUsize::new(0) }; SLOTS],
            setters: [const { AtomicUsize::new(0) }; SLOTS],
            wrappers: pool!(@all $pool, $call, ($($arg : $ty),*), ($($arg),*), [0 1 2 3 4 5 6 7]),
        };
    };
    (@all $pool:ident, $call:path, $params:tt, $args:tt, [$($i:literal)*]) => {
        [$(pool!(@one $pool, $call, $params, $args, $i)),*]
    };
    (@one $pool:ident, $call:path, ($($p:ident : $ty:ty),*), ($($a:ident),*), $i:literal) => {{
        unsafe extern "C" fn wrapper($($p: $ty),*) -> Ret {
            let (target, name) = $pool.slot($i);
            // SAFETY: the slot holds the definition this wrapper was handed
            // out for, whose shape is this pool's.
            unsafe { $call(target, name, $($a),*) }
        }
        wrapper
    }};
}

pool!(INT, setters::int, (n: c_int));
pool!(INT_REF, setters::int_ref, (n: *const c_int));
pool!(LONG, setters::long, (n: i64));
pool!(LONG_REF, setters::long_ref, (n: *const i64));
pool!(INT_INT, setters::int_int, (n: c_int, d: c_int));
pool!(INT_REF_INT_REF, setters::int_ref_int_ref, (n: *const c_int, d: *const c_int));
pool!(WAYS, setters::ways, (a: i64, b: i64, c: i64, d: i64, e: i64));

fn wrapper_for(setter: &'static Setter, target: usize) -> Option<usize> {
    match setter.arg {
        Arg::Int => INT.wrapper(target, setter).map(|f| f as usize),
        Arg::IntRef => INT_REF.wrapper(target, setter).map(|f| f as usize),
        Arg::Long => LONG.wrapper(target, setter).map(|f| f as usize),
        Arg::LongRef => LONG_REF.wrapper(target, setter).map(|f| f as usize),
        Arg::IntInt => INT_INT.wrapper(target, setter).map(|f| f as usize),
        Arg::IntRefIntRef => INT_REF_INT_REF.wrapper(target, setter).map(|f| f as usize),
        Arg::Ways => WAYS.wrapper(target, setter).map(|f| f as usize),
    }
}

static POOL_FULL: AtomicBool = AtomicBool::new(false);
static LAST_HANDLE: AtomicUsize = AtomicUsize::new(0);

/// Decides a lookup: a wrapper to return, or 0 for "let libc's dlsym answer".
/// Called from the naked entry with the caller's arguments.
extern "C" fn decide(handle: *mut c_void, name: *const c_char) -> usize {
    // The tail jump needs libc's dlsym: make sure it is known before saying 0.
    if loaded::real_dlsym().is_none()
        || name.is_null()
        || handle.is_null()
        || handle == libc::RTLD_NEXT
    {
        return 0;
    }
    guarded(
        || {
            // SAFETY: dlsym's contract: `name` is a NUL-terminated string.
            let name = unsafe { CStr::from_ptr(name) };
            let Some(setter) = runtimes::setter_named(name.to_bytes()) else {
                // Lookups by handle follow a dlopen: bring down any runtime it
                // loaded (see pools.rs for why not in a dlopen hook). A new
                // object means a new handle, so repeated lookups in the same
                // one skip even the loader's counter.
                if init::enforcing() {
                    if LAST_HANDLE.swap(handle as usize, Relaxed) != handle as usize {
                        pools::lower_new_objects();
                        crate::fork::watch_pools();
                    }
                    crate::tree::tick(false);
                }
                return 0;
            };
            if !init::enforcing() {
                return 0;
            }
            let target = loaded::lookup(handle, name);
            if target == 0 {
                return 0;
            }
            if loaded::object_of(target).map(|(base, _)| base) == Some(loaded::own_base()) {
                // The handle's scope reaches our exported wrapper: it clamps.
                return target;
            }
            wrapper_for(setter, target).unwrap_or_else(|| {
                if !POOL_FULL.swap(true, Relaxed) {
                    warn!("more than {SLOTS} copies of runtimes looked up by handle; {} is not clamped", setter.name);
                }
                0
            })
        },
        || 0,
    )
}

/// The exported `dlsym`: asks [`decide`]; on 0, jumps into libc's `dlsym`
/// with the caller's return address and arguments untouched.
///
/// # Safety
/// As POSIX `dlsym`.
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C" fn dlsym(handle: *mut c_void, name: *const c_char) -> *mut c_void {
    // `REAL_DLSYM` is libc's dlsym, filled by `decide` before it returns 0.
    // At entry the stack is 8 bytes off 16-byte alignment (the return
    // address): two pushes and 8 more bytes realign it for the call.
    std::arch::naked_asm!(
        "push rdi",
        "push rsi",
        "sub rsp, 8",
        "call {decide}",
        "add rsp, 8",
        "pop rsi",
        "pop rdi",
        "test rax, rax",
        "jz 2f",
        "ret",
        "2:",
        "jmp qword ptr [rip + {real}]",
        decide = sym decide,
        real = sym crate::loaded::REAL_DLSYM,
    )
}

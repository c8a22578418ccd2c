//! The runtimes' own thread setters (`openblas_set_num_threads(64)`,
//! `omp_set_num_threads`, MKL, BLIS, FlexiBLAS): every name in the registry
//! (`runtimes::RUNTIMES`) is exported here as a wrapper that lowers the count
//! to the cap and forwards to the runtime's definition. The `dlsym` hook hands
//! out the same wrappers, bound to one library, for lookups by handle.

use crate::clamp;
use crate::loaded;
use crate::log::info;
use crate::next::{cstr, Next};
use crate::ranges::RangeTable;
use crate::{cap, events, init};
use libc::c_int;
use std::ffi::CStr;
use std::mem::{transmute, MaybeUninit};

/// What a setter returns, passed back untouched: `void` for most, an `int`
/// for some (`openblas_set_num_threads_local`). Never read, so a `void`
/// function's leftover register is never interpreted.
pub type Ret = MaybeUninit<i64>;

/// The count to forward, and a note when it was lowered.
fn granted(setter: &str, target: usize, requested: i64) -> i64 {
    super::guarded(|| lowered(setter, target, requested), || requested)
}

fn lowered(setter: &str, target: usize, requested: i64) -> i64 {
    if !init::enforcing() {
        return requested;
    }
    crate::tree::claim();
    if requested >= 1 {
        crate::pools::note_request(requested);
    }
    // OpenMP's setters set the default team, which the hooks lower at each
    // region to the share in force: lowered to the process's own cap here,
    // so that the team can grow back when the share does.
    let limit = if crate::runtimes::per_region_setter(setter) {
        crate::pools::team_ceiling()
    } else {
        cap::cap()
    };
    let granted = clamp::granted(requested, limit);
    if granted != requested {
        let library = loaded::object_of(target).map(|(_, p)| p.to_string_lossy().into_owned());
        let library = library.as_deref().unwrap_or("?");
        info!("{setter}({requested}) in {library} lowered to {granted}");
        events::clamp(setter, library, requested, granted);
    }
    granted
}

// The calls, one per argument shape (`runtimes::Arg`). `target` is the
// runtime's own definition of `setter`, whose C prototype the shape mirrors.

/// # Safety
/// `target` must be a function taking one `int`.
pub unsafe fn int(target: usize, setter: &str, n: c_int) -> Ret {
    let n = granted(setter, target, n.into()) as c_int;
    // SAFETY: per this function's contract.
    unsafe { transmute::<usize, unsafe extern "C" fn(c_int) -> Ret>(target)(n) }
}

/// # Safety
/// `target` must be a function taking one `const int *`; `n` as its caller passed it.
pub unsafe fn int_ref(target: usize, setter: &str, n: *const c_int) -> Ret {
    let f = unsafe { transmute::<usize, unsafe extern "C" fn(*const c_int) -> Ret>(target) };
    if n.is_null() {
        // SAFETY: the caller's null pointer, for the runtime to handle as before.
        return unsafe { f(n) };
    }
    // SAFETY: a non-null pointer from the caller to the count it passes.
    let lowered = granted(setter, target, unsafe { *n }.into()) as c_int;
    // SAFETY: `lowered` lives across the call.
    unsafe { f(&lowered) }
}

/// # Safety
/// `target` must be a function taking one 64-bit integer.
pub unsafe fn long(target: usize, setter: &str, n: i64) -> Ret {
    let n = granted(setter, target, n);
    // SAFETY: per this function's contract.
    unsafe { transmute::<usize, unsafe extern "C" fn(i64) -> Ret>(target)(n) }
}

/// # Safety
/// `target` must be a function taking one `const int64_t *`.
pub unsafe fn long_ref(target: usize, setter: &str, n: *const i64) -> Ret {
    let f = unsafe { transmute::<usize, unsafe extern "C" fn(*const i64) -> Ret>(target) };
    if n.is_null() {
        // SAFETY: the caller's null pointer, unchanged.
        return unsafe { f(n) };
    }
    // SAFETY: a non-null pointer from the caller.
    let lowered = granted(setter, target, unsafe { *n });
    // SAFETY: `lowered` lives across the call.
    unsafe { f(&lowered) }
}

/// # Safety
/// `target` must be a function taking `(int n, int domain)`.
pub unsafe fn int_int(target: usize, setter: &str, n: c_int, domain: c_int) -> Ret {
    let n = granted(setter, target, n.into()) as c_int;
    // SAFETY: per this function's contract.
    unsafe { transmute::<usize, unsafe extern "C" fn(c_int, c_int) -> Ret>(target)(n, domain) }
}

/// # Safety
/// `target` must be a function taking `(const int *n, const int *domain)`.
pub unsafe fn int_ref_int_ref(
    target: usize,
    setter: &str,
    n: *const c_int,
    domain: *const c_int,
) -> Ret {
    let f = unsafe {
        transmute::<usize, unsafe extern "C" fn(*const c_int, *const c_int) -> Ret>(target)
    };
    if n.is_null() {
        // SAFETY: the caller's pointers, unchanged.
        return unsafe { f(n, domain) };
    }
    // SAFETY: a non-null pointer from the caller.
    let lowered = granted(setter, target, unsafe { *n }.into()) as c_int;
    // SAFETY: `lowered` lives across the call; `domain` is the caller's.
    unsafe { f(&lowered, domain) }
}

/// # Safety
/// `target` must be BLIS's `bli_thread_set_ways(dim_t x5)`.
pub unsafe fn ways(
    target: usize,
    setter: &str,
    jc: i64,
    pc: i64,
    ic: i64,
    jr: i64,
    ir: i64,
) -> Ret {
    let requested = [jc, pc, ic, jr, ir];
    let w = super::guarded(
        || {
            if init::enforcing() {
                clamp::ways(requested, cap::cap())
            } else {
                requested
            }
        },
        || requested,
    );
    if w != requested {
        info!("{setter}{requested:?} lowered to {w:?}");
    }
    // SAFETY: per this function's contract.
    unsafe {
        transmute::<usize, unsafe extern "C" fn(i64, i64, i64, i64, i64) -> Ret>(target)(
            w[0], w[1], w[2], w[3], w[4],
        )
    }
}

/// One exported setter: its name, and where calls to it go. A call goes
/// where the caller's own lookup would have bound it without the library:
/// to the global scope's definition if there is one, else to the one in
/// the caller's local scope (a runtime loaded `RTLD_LOCAL` calling its own
/// exported setter through its PLT: OpenBLAS's `openblas_set_num_threads`
/// calls `goto_set_num_threads`), never to another copy of the runtime
/// that happens to be loaded elsewhere; a caller with neither (a program
/// that found the setter by handle) gets the first definition found.
pub struct Site {
    name: &'static CStr,
    next: Next,
    /// The callers placed in their local scope, and the definition each
    /// calls.
    callers: RangeTable<8>,
}

impl Site {
    pub const fn new(name: &'static CStr) -> Site {
        Site {
            name,
            next: Next::new(name),
            callers: RangeTable::new(),
        }
    }

    /// The definition a call from `ret` goes to (0: none anywhere). `ours`
    /// is the export itself. Every definition handed out is in an object
    /// pinned in memory (`RTLD_NODELETE`), so a `dlclose` never leaves the
    /// export jumping into unmapped memory.
    fn target(&self, ret: usize, ours: usize) -> usize {
        if let Some(target) = self.next.cached().or_else(|| self.callers.get(ret)) {
            return target;
        }
        let _guard = self.callers.lock();
        if let Some(target) = self.callers.get(ret) {
            return target;
        }
        if let Some(global) = self.next.get_global(ours) {
            return global;
        }
        // A call from this library itself (a setter it called jumps to
        // another) or from the main program has no local scope to look in.
        let own = loaded::own_base();
        let caller = loaded::containing(ret)
            .filter(|c| c.path.is_some() && !(c.start <= own && own < c.end));
        let local = caller
            .as_ref()
            .and_then(|c| loaded::definition_in_scope_of(c.path.as_deref()?, self.name));
        let Some((caller, target)) = caller.zip(local.filter(|&t| loaded::pin_containing(t)))
        else {
            return self.next.get_anywhere(ours).unwrap_or(0);
        };
        self.callers.insert(caller.start, caller.end, target);
        target
    }
}

/// Called by every export's trampoline with its site and the caller's
/// return address. (`RTLD_NEXT` from here cannot find the export itself.)
#[cfg(target_arch = "x86_64")]
extern "C" fn resolve(site: &Site, ret: usize) -> usize {
    std::panic::catch_unwind(|| site.target(ret, 0)).unwrap_or(0)
}

/// A register as one of the setters' argument types: every shape takes at
/// most five integer or pointer arguments, in the first five argument
/// registers; a narrower one keeps the low bits.
#[cfg(target_arch = "x86_64")]
pub trait FromReg {
    fn from_reg(r: usize) -> Self;
}

#[cfg(target_arch = "x86_64")]
impl FromReg for c_int {
    fn from_reg(r: usize) -> Self {
        r as c_int
    }
}

#[cfg(target_arch = "x86_64")]
impl FromReg for i64 {
    fn from_reg(r: usize) -> Self {
        r as i64
    }
}

#[cfg(target_arch = "x86_64")]
impl<T> FromReg for *const T {
    fn from_reg(r: usize) -> Self {
        r as *const T
    }
}

/// Exports `name` as a trampoline that finds the definition for its caller
/// ([`Site::target`]) and jumps, leaving no frame, to a body that lowers
/// the count and calls `$call` on it, with the definition in the sixth
/// argument register (free in every shape). A name no loaded library
/// defines does nothing and returns 0.
#[cfg(target_arch = "x86_64")]
macro_rules! export {
    ($call:ident, $name:ident ( $($arg:ident : $ty:ty),* )) => {
        #[allow(non_snake_case)]
        mod $name {
            use super::*;

            pub static SITE: Site = Site::new(cstr!($name));

            /// The export's body: the caller's arguments in the first
            /// registers, the definition to call in the sixth.
            pub unsafe extern "C" fn body(
                r0: usize,
                r1: usize,
                r2: usize,
                r3: usize,
                r4: usize,
                target: usize,
            ) -> Ret {
                let mut regs = [r0, r1, r2, r3, r4].into_iter();
                $(let $arg = <$ty as FromReg>::from_reg(regs.next().unwrap_or(0));)*
                if target == 0 {
                    return MaybeUninit::new(0);
                }
                // SAFETY: the runtime's definition of this very name, whose
                // shape the registry records and this export mirrors.
                unsafe { $call(target, stringify!($name), $($arg),*) }
            }
        }

        /// A clamping wrapper for the runtime setter of the same name.
        ///
        /// # Safety
        /// As the runtime's own function.
        #[unsafe(naked)]
        #[no_mangle]
        pub unsafe extern "C" fn $name() {
            // Five argument registers saved: rsp is 16-byte aligned for the
            // call, the return address at [rsp + 40].
            std::arch::naked_asm!(
                "push rdi",
                "push rsi",
                "push rdx",
                "push rcx",
                "push r8",
                "lea rdi, [rip + {site}]",
                "mov rsi, [rsp + 40]",
                "call {resolve}",
                "mov r9, rax",
                "pop r8",
                "pop rcx",
                "pop rdx",
                "pop rsi",
                "pop rdi",
                "jmp {body}",
                site = sym $name::SITE,
                resolve = sym resolve,
                body = sym $name::body,
            )
        }
    };
}

/// Elsewhere: a wrapper with no caller address, to the first definition
/// found.
#[cfg(not(target_arch = "x86_64"))]
macro_rules! export {
    ($call:ident, $name:ident ( $($arg:ident : $ty:ty),* )) => {
        /// A clamping wrapper for the runtime setter of the same name.
        ///
        /// # Safety
        /// As the runtime's own function.
        #[no_mangle]
        #[allow(non_snake_case)]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> Ret {
            static SITE: Site = Site::new(cstr!($name));
            match SITE.target(0, $name as *const () as usize) {
                0 => MaybeUninit::new(0),
                // SAFETY: the runtime's definition of this very name, whose
                // shape the registry records and this export mirrors.
                target => unsafe { $call(target, stringify!($name), $($arg),*) },
            }
        }
    };
}

/// One export per setter that `throttle_core::runtime_setters!` declares,
/// with its shape's C prototype.
macro_rules! export_setters {
    ($($runtime:ident { $($shape:ident $name:ident),* $(,)? })*) => {
        $($(export_shaped!($shape $name);)*)*
    };
}

/// A shape (`runtimes::Arg`) as the prototype the export mirrors, and the
/// call above that lowers its count.
macro_rules! export_shaped {
    (Int $name:ident) => {
        export!(int, $name(n: c_int));
    };
    (IntRef $name:ident) => {
        export!(int_ref, $name(n: *const c_int));
    };
    (Long $name:ident) => {
        export!(long, $name(n: i64));
    };
    (LongRef $name:ident) => {
        export!(long_ref, $name(n: *const i64));
    };
    (IntInt $name:ident) => {
        export!(int_int, $name(n: c_int, domain: c_int));
    };
    (IntRefIntRef $name:ident) => {
        export!(int_ref_int_ref, $name(n: *const c_int, domain: *const c_int));
    };
    (Ways $name:ident) => {
        export!(ways, $name(jc: i64, pc: i64, ic: i64, jr: i64, ir: i64));
    };
}

// The integration tests keep their own list of the names users rely on,
// and check every one is exported (`nm -D`).
throttle_core::runtime_setters!(export_setters);

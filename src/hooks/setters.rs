//! The runtimes' own thread setters (`openblas_set_num_threads(64)`,
//! `omp_set_num_threads`, MKL, BLIS, FlexiBLAS): every name in the registry
//! (`runtimes::RUNTIMES`) is exported here as a wrapper that lowers the count
//! to the cap and forwards to the runtime's definition. The `dlsym` hook hands
//! out the same wrappers, bound to one library, for lookups by handle.

use crate::clamp;
use crate::loaded;
use crate::log::info;
use crate::next::{cstr, Next};
use crate::{cap, events, init};
use libc::c_int;
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
    if !init::active() {
        return requested;
    }
    crate::tree::claim();
    if requested >= 1 {
        crate::active::note_request(requested);
    }
    // OpenMP's setters set the default team, which the hooks lower at each
    // region to the share in force: lowered to the process's own cap here,
    // so that the team can grow back when the share does.
    let limit = if crate::runtimes::per_region_setter(setter) {
        crate::active::team_ceiling()
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
            if init::active() {
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

/// Exports `name` as a wrapper calling `$call` on the runtime's definition.
/// A name no loaded library defines does nothing and returns 0.
macro_rules! export {
    ($call:ident, $name:ident ( $($arg:ident : $ty:ty),* )) => {
        /// A clamping wrapper for the runtime setter of the same name.
        ///
        /// # Safety
        /// As the runtime's own function.
        #[no_mangle]
        #[allow(non_snake_case)]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> Ret {
            static NEXT: Next = Next::new(cstr!($name));
            match NEXT.get_anywhere($name as *const () as usize) {
                // SAFETY: the runtime's definition of this very name, whose
                // shape the registry records and this export mirrors.
                Some(target) => unsafe { $call(target, stringify!($name), $($arg),*) },
                None => MaybeUninit::new(0),
            }
        }
    };
}

// Every setter in `runtimes::RUNTIMES`, with its argument shape; the
// integration tests check the two lists agree through `nm -D`.
export!(int, openblas_set_num_threads(n: c_int));
export!(int, openblas_set_num_threads64_(n: c_int));
export!(int, openblas_set_num_threads_64(n: c_int));
export!(int, scipy_openblas_set_num_threads(n: c_int));
export!(int, scipy_openblas_set_num_threads64_(n: c_int));
export!(int, scipy_openblas_set_num_threads_64(n: c_int));
export!(int, goto_set_num_threads(n: c_int));
export!(int, openblas_set_num_threads_local(n: c_int));
export!(int_ref, openblas_set_num_threads_(n: *const c_int));
export!(int, omp_set_num_threads(n: c_int));
export!(int_ref, omp_set_num_threads_(n: *const c_int));
export!(long_ref, omp_set_num_threads_8_(n: *const i64));
export!(int, MKL_Set_Num_Threads(n: c_int));
export!(int_ref, mkl_set_num_threads(n: *const c_int));
export!(int_ref, mkl_set_num_threads_(n: *const c_int));
export!(int_ref, MKL_SET_NUM_THREADS(n: *const c_int));
export!(int, MKL_Set_Num_Threads_Local(n: c_int));
export!(int_ref, mkl_set_num_threads_local(n: *const c_int));
export!(int_ref, mkl_set_num_threads_local_(n: *const c_int));
export!(int_ref, MKL_SET_NUM_THREADS_LOCAL(n: *const c_int));
export!(int_int, MKL_Domain_Set_Num_Threads(n: c_int, domain: c_int));
export!(int_ref_int_ref, mkl_domain_set_num_threads(n: *const c_int, domain: *const c_int));
export!(int_ref_int_ref, mkl_domain_set_num_threads_(n: *const c_int, domain: *const c_int));
export!(int_ref_int_ref, MKL_DOMAIN_SET_NUM_THREADS(n: *const c_int, domain: *const c_int));
export!(long, bli_thread_set_num_threads(n: i64));
export!(ways, bli_thread_set_ways(jc: i64, pc: i64, ic: i64, jr: i64, ir: i64));
export!(int, flexiblas_set_num_threads(n: c_int));
export!(int_ref, flexiblas_set_num_threads_(n: *const c_int));

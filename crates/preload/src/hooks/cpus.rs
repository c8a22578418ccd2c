//! The CPU-count queries: a capped process sees `min(cap, real)` CPUs
//! (layer 1's virtual CPU count). `_SC_NPROCESSORS_CONF` and
//! `get_nprocs_conf()` stay real: programs size per-CPU arrays by them and
//! index them with `sched_getcpu()`.

use super::{guarded, next_fn};
use crate::cpumask::CpuMask;
use crate::next::Next;
use crate::{cap, init, sys};
use libc::{c_int, c_long, cpu_set_t, pid_t, pthread_t, size_t};

static NEXT_SYSCONF: Next = Next::new(c"sysconf");
static NEXT_GET_NPROCS: Next = Next::new(c"get_nprocs");
static NEXT_SCHED_GETAFFINITY: Next = Next::new(c"sched_getaffinity");
static NEXT_PTHREAD_GETAFFINITY: Next = Next::new(c"pthread_getaffinity_np");

type SysconfFn = unsafe extern "C" fn(c_int) -> c_long;
type GetNprocsFn = unsafe extern "C" fn() -> c_int;
type SchedGetaffinityFn = unsafe extern "C" fn(pid_t, size_t, *mut cpu_set_t) -> c_int;
type PthreadGetaffinityFn = unsafe extern "C" fn(pthread_t, size_t, *mut cpu_set_t) -> c_int;

/// See [`super::resolve_at_load`].
pub fn resolve_at_load() {
    let _ = NEXT_SYSCONF.get(sysconf as *const () as usize);
    let _ = NEXT_GET_NPROCS.get(get_nprocs as *const () as usize);
    let _ = NEXT_SCHED_GETAFFINITY.get(sched_getaffinity as *const () as usize);
    let _ = NEXT_PTHREAD_GETAFFINITY.get(pthread_getaffinity_np as *const () as usize);
}

/// The number of CPUs this process may see, when the library is enforcing.
/// From `sysconf` (`signal_safe`), nothing that allocates or starts a
/// thread: POSIX lets signal handlers call it.
fn visible(real: usize, signal_safe: bool) -> usize {
    if init::enforcing() {
        if signal_safe {
            crate::tree::claim_signal_safe();
        } else {
            crate::tree::claim();
        }
        real.min(cap::cap()).max(1)
    } else {
        real
    }
}

/// Narrows a mask the kernel returned to the CPUs this process is shown: a
/// subset of the real mask, chosen by pid so processes spread out.
///
/// # Safety
/// `mask` must be valid for reads and writes of `size` bytes.
unsafe fn narrow(mask: *mut cpu_set_t, size: size_t) {
    if mask.is_null() || !init::enforcing() {
        return;
    }
    crate::tree::claim();
    // SAFETY: the caller passed a buffer of `size` bytes, which the real call
    // has just filled.
    let bytes = unsafe { std::slice::from_raw_parts_mut(mask.cast::<u8>(), size) };
    let real = CpuMask::from_bytes(bytes);
    if real.count() > cap::cap() {
        // Spread by rank in the tree (else pid): the processes of one ledger
        // are shown disjoint CPUs where the mask allows, as `confine` gives.
        real.spread_subset(cap::cap(), crate::tree::seed())
            .write_bytes(bytes);
    }
}

/// # Safety
/// As POSIX `sysconf`.
#[no_mangle]
pub unsafe extern "C" fn sysconf(name: c_int) -> c_long {
    let Some(real) = next_fn!(NEXT_SYSCONF, sysconf, SysconfFn) else {
        // SAFETY: errno is thread-local and always writable.
        unsafe { *libc::__errno_location() = libc::EINVAL };
        return -1;
    };
    // SAFETY: the caller's argument, unchanged.
    let value = unsafe { real(name) };
    if name != libc::_SC_NPROCESSORS_ONLN || value < 1 {
        if init::enforcing() {
            crate::tree::tick(true);
        }
        return value;
    }
    guarded(|| visible(value as usize, true) as c_long, || value)
}

/// # Safety
/// As glibc's `get_nprocs`.
#[no_mangle]
pub unsafe extern "C" fn get_nprocs() -> c_int {
    let Some(real) = next_fn!(NEXT_GET_NPROCS, get_nprocs, GetNprocsFn) else {
        return 1;
    };
    // SAFETY: no arguments.
    let value = unsafe { real() };
    if value < 1 {
        return value;
    }
    guarded(|| visible(value as usize, false) as c_int, || value)
}

/// # Safety
/// As POSIX `sched_getaffinity`: `mask` valid for `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn sched_getaffinity(
    pid: pid_t,
    size: size_t,
    mask: *mut cpu_set_t,
) -> c_int {
    let Some(real) = next_fn!(
        NEXT_SCHED_GETAFFINITY,
        sched_getaffinity,
        SchedGetaffinityFn
    ) else {
        // SAFETY: errno is thread-local and always writable.
        unsafe { *libc::__errno_location() = libc::ENOSYS };
        return -1;
    };
    // SAFETY: the caller's arguments, unchanged.
    let rc = unsafe { real(pid, size, mask) };
    // Only this process's own threads are narrowed: another process's mask is
    // reported as it is.
    if rc == 0 && (pid == 0 || pid == sys::getpid() || pid == sys::gettid()) {
        // SAFETY: the caller's buffer of `size` bytes, filled by the real call.
        guarded(|| unsafe { narrow(mask, size) }, || ());
    }
    rc
}

/// # Safety
/// As glibc's `pthread_getaffinity_np`: `mask` valid for `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn pthread_getaffinity_np(
    thread: pthread_t,
    size: size_t,
    mask: *mut cpu_set_t,
) -> c_int {
    let Some(real) = next_fn!(
        NEXT_PTHREAD_GETAFFINITY,
        pthread_getaffinity_np,
        PthreadGetaffinityFn
    ) else {
        return libc::ENOSYS;
    };
    // SAFETY: the caller's arguments, unchanged.
    let rc = unsafe { real(thread, size, mask) };
    if rc == 0 {
        // SAFETY: the caller's buffer of `size` bytes, filled by the real call.
        guarded(|| unsafe { narrow(mask, size) }, || ());
    }
    rc
}

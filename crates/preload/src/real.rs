//! The real functions the library calls for itself, never on a host's
//! behalf: libc's `pthread_create`, for the library's own thread (the
//! ledger's steward). The `pthread_create` hook forwards to the same
//! definition.

use crate::next::Next;
use libc::{c_int, c_void, pthread_attr_t, pthread_t};

/// `C-unwind`: `pthread_exit` and cancellation unwind through start routines.
pub type StartFn = unsafe extern "C-unwind" fn(*mut c_void) -> *mut c_void;
pub type CreateFn = unsafe extern "C" fn(
    *mut pthread_t,
    *const pthread_attr_t,
    Option<StartFn>,
    *mut c_void,
) -> c_int;

/// The next `pthread_create` after the library's: found by the hook
/// (hooks/threads.rs) in the constructor or at its first call.
pub static NEXT_CREATE: Next = Next::new(c"pthread_create");

/// Starts a detached thread of libthrottle's own (the ledger's steward) with
/// libc's `pthread_create`: not admitted, not counted, not the host's. The
/// error is `pthread_create`'s (`EAGAIN` at a limit on processes, `EPERM` or
/// `ENOSYS` from a sandbox that refuses threads), or 0 where there is no
/// `pthread_create` to call.
pub fn create_untracked(
    routine: extern "C" fn(*mut c_void) -> *mut c_void,
    name: &std::ffi::CStr,
) -> Result<(), c_int> {
    // Found already (the constructor resolves it); else looked up now, as
    // the next definition after this library, which cannot be its own.
    let Some(addr) = NEXT_CREATE.cached().or_else(|| NEXT_CREATE.get(0)) else {
        return Err(0);
    };
    // SAFETY: `addr` is the next definition of `pthread_create`, whose
    // prototype `CreateFn` mirrors.
    let real = unsafe { std::mem::transmute::<usize, CreateFn>(addr) };
    // SAFETY: a zeroed attr is initialised by pthread_attr_init before use,
    // and destroyed after; `thread` is a valid out-pointer.
    unsafe {
        let mut attr: pthread_attr_t = std::mem::zeroed();
        let mut thread: pthread_t = 0;
        let rc = libc::pthread_attr_init(&mut attr);
        if rc != 0 {
            return Err(rc);
        }
        libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        // `extern "C"` and `extern "C-unwind"` share the calling convention.
        let routine =
            std::mem::transmute::<extern "C" fn(*mut c_void) -> *mut c_void, StartFn>(routine);
        let rc = real(&mut thread, &attr, Some(routine), std::ptr::null_mut());
        libc::pthread_attr_destroy(&mut attr);
        if rc == 0 {
            // Named, so that `ps -L`, top and tests can tell it apart.
            libc::pthread_setname_np(thread, name.as_ptr());
        }
        if rc == 0 {
            Ok(())
        } else {
            Err(rc)
        }
    }
}

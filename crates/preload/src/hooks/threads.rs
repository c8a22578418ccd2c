//! `pthread_create`: the thread cap (layer 2).
//!
//! Every thread admitted by `cap::admit` starts in [`trampoline`], which marks
//! it (`cap::mark_started`) so that its slot is given back however it ends.

use super::{guarded, next_fn};
use crate::cap::{self, Admission};
use crate::real::{CreateFn, StartFn, NEXT_CREATE};
use crate::{init, managed};
use libc::{c_int, c_void, pthread_attr_t, pthread_t};
use std::sync::atomic::Ordering::*;

/// What the trampoline needs: the caller's routine and argument, and what
/// its admission was counted on.
struct Start {
    routine: StartFn,
    arg: *mut c_void,
    counted_on: cap::Counted,
}

/// The start routine of every admitted thread. Holds nothing with a
/// destructor: a cancellation or `pthread_exit` unwinds through this frame.
unsafe extern "C-unwind" fn trampoline(start: *mut c_void) -> *mut c_void {
    // SAFETY: `start` is the boxed `Start` that `pthread_create` handed to
    // exactly this thread; taken back once, and freed here.
    let Start {
        routine,
        arg,
        counted_on,
    } = *unsafe { Box::from_raw(start.cast::<Start>()) };
    cap::mark_started(counted_on);
    // SAFETY: the caller of pthread_create promised `routine` accepts `arg`.
    unsafe { routine(arg) }
}

/// See [`super::resolve_at_load`].
pub fn resolve_at_load() {
    let _ = NEXT_CREATE.get(pthread_create as *const () as usize);
}

/// # Safety
/// The caller's arguments, exactly as for POSIX `pthread_create`.
#[no_mangle]
pub unsafe extern "C" fn pthread_create(
    thread: *mut pthread_t,
    attr: *const pthread_attr_t,
    routine: Option<StartFn>,
    arg: *mut c_void,
) -> c_int {
    let Some(real) = next_fn!(NEXT_CREATE, pthread_create, CreateFn) else {
        return libc::EAGAIN;
    };
    let Some(routine) = routine else {
        // SAFETY: forwarding a null routine to libc unchanged: it is libc's
        // to reject or crash on, exactly as without us.
        return unsafe { real(thread, attr, None, arg) };
    };
    if !init::enforcing() || !cap::marks_ready() {
        // SAFETY: the caller's arguments, unchanged.
        return unsafe { real(thread, attr, Some(routine), arg) };
    }
    crate::tree::claim();
    let guard = match guarded(
        || {
            Some(cap::admit(
                managed::is_managed(routine as usize),
                crate::tree::seed,
            ))
        },
        || None,
    ) {
        Some(Admission::Create(guard)) => guard,
        Some(Admission::Refuse) => return libc::EAGAIN,
        // SAFETY: the caller's arguments, unchanged.
        None => return unsafe { real(thread, attr, Some(routine), arg) },
    };
    // Only an admission by `wait` holds a guard, and was maybe counted.
    let counted_on = if guard.is_some() {
        cap::counted_on()
    } else {
        cap::Counted::NONE
    };
    // From the library's own heap (heap.rs), given back by the trampoline.
    let start = Box::into_raw(Box::new(Start {
        routine,
        arg,
        counted_on,
    }));
    // SAFETY: the caller's thread and attr pointers, unchanged; our routine
    // and its argument live until the trampoline frees them.
    let rc = unsafe { real(thread, attr, Some(trampoline), start.cast()) };
    if rc == 0 {
        cap::STATE.stats.created.fetch_add(1, Relaxed);
        crate::tree::threaded();
    } else {
        // SAFETY: no thread was created, so nobody else owns `start`.
        drop(unsafe { Box::from_raw(start) });
        cap::release_counted(counted_on);
    }
    drop(guard);
    rc
}

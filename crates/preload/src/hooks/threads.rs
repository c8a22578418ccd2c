//! `pthread_create`: the thread cap (layer 2).
//!
//! Every thread admitted by `cap::admit` starts in [`trampoline`], which marks
//! it with a thread-specific value. The key's destructor gives the slot back
//! however the thread ends: return, `pthread_exit`, cancellation, detached or
//! joined (glibc runs TSD destructors on every path out of a thread).

use super::{guarded, next_fn};
use crate::cap::{self, Admission, STATS};
use crate::next::Next;
use crate::{init, managed};
use libc::{c_int, c_void, pthread_attr_t, pthread_key_t, pthread_t};
use std::sync::atomic::{AtomicBool, Ordering::*};

/// `C-unwind`: `pthread_exit` and cancellation unwind through start routines.
type StartFn = unsafe extern "C-unwind" fn(*mut c_void) -> *mut c_void;
type CreateFn = unsafe extern "C" fn(
    *mut pthread_t,
    *const pthread_attr_t,
    Option<StartFn>,
    *mut c_void,
) -> c_int;

static NEXT_CREATE: Next = Next::new(c"pthread_create");

static mut SLOT_KEY: pthread_key_t = 0;
static KEY_READY: AtomicBool = AtomicBool::new(false);

/// Creates the thread-specific key whose destructor releases slots. Called
/// once, from initialisation.
pub fn prepare() -> bool {
    let mut key: pthread_key_t = 0;
    // SAFETY: `key` is a valid out-pointer; the destructor is a plain C function.
    if unsafe { libc::pthread_key_create(&mut key, Some(release_slot)) } != 0 {
        return false;
    }
    // SAFETY: written once, before KEY_READY publishes it.
    unsafe { SLOT_KEY = key };
    KEY_READY.store(true, Release);
    true
}

/// Runs as a thread admitted by the cap ends, whichever way it ends.
extern "C" fn release_slot(marker: *mut c_void) {
    cap::release_counted(unmark(marker as usize));
}

/// The thread-specific value of an admitted thread: never null (glibc calls
/// the destructor of non-null values only), and it carries what the cap
/// needs at the thread's end (`cap::Counted`): the reading in the high 32
/// bits, the place among the tracked threads (`0x7f`: none) in bits 1-7.
fn mark(counted: cap::Counted) -> usize {
    let index = counted.index.min(0x7f);
    ((counted.reading as usize) << 32) | (index << 1) | 1
}

fn unmark(marker: usize) -> cap::Counted {
    cap::Counted {
        reading: (marker >> 32) as u32,
        index: match (marker >> 1) & 0x7f {
            0x7f => usize::MAX,
            i => i,
        },
    }
}

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
    // Only a thread counted on a reading asks its id (a system call): the
    // fast path does not.
    if counted_on.reading != 0 {
        counted_on.started(crate::sys::gettid());
    }
    let marker = mark(counted_on) as *const c_void;
    // SAFETY: KEY_READY was true when this thread was admitted, so SLOT_KEY
    // is a valid key. Any non-null value makes glibc call the destructor.
    unsafe { libc::pthread_setspecific(SLOT_KEY, marker) };
    // SAFETY: the caller of pthread_create promised `routine` accepts `arg`.
    unsafe { routine(arg) }
}

/// Starts a detached thread of libthrottle's own (the ledger's steward) with
/// libc's `pthread_create`: not admitted, not counted, not the host's.
pub fn create_untracked(
    routine: extern "C" fn(*mut c_void) -> *mut c_void,
    name: &std::ffi::CStr,
) -> bool {
    let Some(real) = next_fn!(NEXT_CREATE, pthread_create, CreateFn) else {
        return false;
    };
    // SAFETY: a zeroed attr is initialised by pthread_attr_init before use,
    // and destroyed after; `thread` is a valid out-pointer.
    unsafe {
        let mut attr: pthread_attr_t = std::mem::zeroed();
        let mut thread: pthread_t = 0;
        if libc::pthread_attr_init(&mut attr) != 0 {
            return false;
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
        rc == 0
    }
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
    if !init::active() || !KEY_READY.load(Acquire) {
        // SAFETY: the caller's arguments, unchanged.
        return unsafe { real(thread, attr, Some(routine), arg) };
    }
    crate::tree::claim();
    let guard = match guarded(
        || Some(cap::admit(managed::is_managed(routine as usize))),
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
        STATS.created.fetch_add(1, Relaxed);
        crate::tree::threaded();
    } else {
        // SAFETY: no thread was created, so nobody else owns `start`.
        drop(unsafe { Box::from_raw(start) });
        cap::release_counted(counted_on);
    }
    drop(guard);
    rc
}

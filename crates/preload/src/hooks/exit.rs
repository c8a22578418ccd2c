//! `_exit` and `_Exit`: a process that ends without `exit` runs no
//! destructor, so it would leave no `exit` event, no exit report, and keep
//! its ledger slot until another member finds it dead. Python's `os._exit`
//! is how every `multiprocessing` worker started by `fork` ends. The hook
//! does the end-of-process work (allocation-free and lock-free: `_exit` is
//! async-signal-safe, and programs call it from signal handlers), then hands
//! the call on. `exit` itself reaches `_exit` inside libc, not through this
//! hook.

use crate::exit;
use crate::next::Next;
use libc::c_int;

static NEXT_EXIT: Next = Next::new(c"_exit");

type ExitFn = unsafe extern "C" fn(c_int) -> !;

/// Finds libc's `_exit` while it is safe to look (in the constructor, also
/// when the library is disabled): the hook may run where `dlsym` may not (a
/// signal handler, a `vfork` child). Until then the hook ends the process
/// with the system call itself, as libc's `_exit` does.
pub fn prepare() {
    let _ = NEXT_EXIT.get(_exit as *const () as usize);
}

fn end(status: c_int) -> ! {
    let _ = std::panic::catch_unwind(exit::before_exit_now);
    if let Some(addr) = NEXT_EXIT.cached() {
        // SAFETY: `addr` is the next definition of `_exit`, resolved in
        // `prepare`; `ExitFn` mirrors its prototype.
        let real = unsafe { std::mem::transmute::<usize, ExitFn>(addr) };
        // SAFETY: the caller's argument, unchanged.
        unsafe { real(status) }
    }
    // Not resolved: what libc's `_exit` does.
    loop {
        // SAFETY: ends the process; no memory is touched.
        unsafe { libc::syscall(libc::SYS_exit_group, status) };
    }
}

/// # Safety
/// As POSIX `_exit`.
#[no_mangle]
pub unsafe extern "C" fn _exit(status: c_int) -> ! {
    end(status)
}

/// # Safety
/// As C `_Exit`.
#[no_mangle]
pub unsafe extern "C" fn _Exit(status: c_int) -> ! {
    end(status)
}

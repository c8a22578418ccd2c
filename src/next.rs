//! The definitions our hooks stand in front of, found once with
//! `dlsym(RTLD_NEXT, ...)`.

use std::ffi::CStr;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Next {
    name: &'static CStr,
    addr: AtomicUsize,
}

impl Next {
    pub const fn new(name: &'static CStr) -> Next {
        Next {
            name,
            addr: AtomicUsize::new(0),
        }
    }

    /// The address of the next definition of the symbol, never `ours` (the
    /// address of our own hook): resolving to ourselves would recurse forever.
    pub fn get(&self, ours: usize) -> Option<usize> {
        let cached = self.addr.load(Ordering::Acquire);
        if cached != 0 {
            return Some(cached);
        }
        // SAFETY: RTLD_NEXT with a NUL-terminated name; dlsym is safe to call
        // from any thread, including inside another library's constructor.
        let found = unsafe { libc::dlsym(libc::RTLD_NEXT, self.name.as_ptr()) } as usize;
        if found == 0 || found == ours {
            return None;
        }
        self.addr.store(found, Ordering::Release);
        Some(found)
    }
}

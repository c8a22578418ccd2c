//! The definitions our hooks stand in front of, found once with
//! `dlsym(RTLD_NEXT, ...)`.

use std::ffi::CStr;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Next {
    name: &'static CStr,
    addr: AtomicUsize,
    /// A definition found outside the global scope (`get_anywhere`).
    elsewhere: AtomicUsize,
}

impl Next {
    pub const fn new(name: &'static CStr) -> Next {
        Next {
            name,
            addr: AtomicUsize::new(0),
            elsewhere: AtomicUsize::new(0),
        }
    }

    /// The address of the next definition of the symbol, never `ours` (the
    /// address of our own hook): resolving to ourselves would recurse forever.
    pub fn get(&self, ours: usize) -> Option<usize> {
        let cached = self.addr.load(Ordering::Acquire);
        if cached != 0 {
            return Some(cached);
        }
        // libc's dlsym, called from here: "next" means after libthrottle.
        let found = crate::loaded::lookup(libc::RTLD_NEXT, self.name);
        if found == 0 || found == ours {
            return None;
        }
        self.addr.store(found, Ordering::Release);
        Some(found)
    }

    /// The address [`Next::get`] found, if it has run: no lookup here.
    pub fn cached(&self) -> Option<usize> {
        Some(self.addr.load(Ordering::Acquire)).filter(|&a| a != 0)
    }

    /// Like [`Next::get`], but when the global scope has no other definition,
    /// also looks inside every loaded object: a runtime's setter may live only
    /// in an `RTLD_LOCAL` library (numpy's and scipy's bundled OpenBLAS).
    /// Not cached until found, since the library may be loaded later.
    /// What it caches is pinned (`RTLD_NODELETE`): a `dlclose` of the
    /// runtime never leaves the cache pointing at unmapped memory.
    pub fn get_anywhere(&self, ours: usize) -> Option<usize> {
        let cached = self.elsewhere.load(Ordering::Acquire);
        if let Some(found) = self.cached().or((cached != 0).then_some(cached)) {
            return Some(found);
        }
        if let Some(found) = self.get_global(ours) {
            return Some(found);
        }
        let found = crate::loaded::definition_elsewhere(self.name)?;
        if !crate::loaded::pin_containing(found) {
            return None;
        }
        self.elsewhere.store(found, Ordering::Release);
        Some(found)
    }

    /// The global scope's next definition, pinned and cached once found
    /// (a `dlopen` with `RTLD_GLOBAL` may add one later).
    pub fn get_global(&self, ours: usize) -> Option<usize> {
        if let Some(found) = self.cached() {
            return Some(found);
        }
        let next = crate::loaded::lookup(libc::RTLD_NEXT, self.name);
        if next == 0 || next == ours || !crate::loaded::pin_containing(next) {
            return None;
        }
        self.addr.store(next, Ordering::Release);
        Some(next)
    }
}

/// A `&'static CStr` from an identifier, for symbol names.
macro_rules! cstr {
    ($name:ident) => {
        match std::ffi::CStr::from_bytes_with_nul(concat!(stringify!($name), "\0").as_bytes()) {
            Ok(s) => s,
            Err(_) => panic!("symbol names have no NUL"),
        }
    };
}
pub(crate) use cstr;

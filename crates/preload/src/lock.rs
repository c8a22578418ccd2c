//! A futex lock that a `fork` child can reset. Used only at the cap: the fast
//! path of `pthread_create` never takes it.

use crate::sys;
use std::sync::atomic::{AtomicU32, Ordering};

/// 0: free, 1: held, 2: held with waiters (Drepper, "Futexes are tricky").
pub struct FutexLock(AtomicU32);

pub struct Guard<'a>(&'a FutexLock);

impl FutexLock {
    pub const fn new() -> FutexLock {
        FutexLock(AtomicU32::new(0))
    }

    pub fn lock(&self) -> Guard<'_> {
        if self
            .0
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            while self.0.swap(2, Ordering::Acquire) != 0 {
                sys::futex_wait(&self.0, 2, 100);
            }
        }
        Guard(self)
    }

    pub fn try_lock(&self) -> Option<Guard<'_>> {
        self.0
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| Guard(self))
    }

    /// In a `fork` child: the thread that held the lock does not exist there.
    pub fn reset_after_fork(&self) {
        self.0.store(0, Ordering::Relaxed);
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if self.0 .0.swap(0, Ordering::Release) == 2 {
            sys::futex_wake_all(&self.0 .0);
        }
    }
}

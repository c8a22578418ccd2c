//! A futex lock that a `fork` child never finds held by a thread it does
//! not have. Used at the cap and by the tables that record callers' objects
//! (`ranges.rs`, the OpenMP scopes); the fast path of `pthread_create` never
//! takes it.
//!
//! A `fork` child is a copy of one thread: a lock another thread held at
//! the fork stays held there forever. glibc resets its own locks in the
//! child; ours carry the fork generation they were taken in. The lock word
//! holds the generation (upper bits) and the state (lower two bits), so one
//! atomic operation both reads a holder's generation and takes the lock: a
//! lock taken in an earlier generation is free, and no lock needs to be
//! known to the code that handles `fork` (`fork.rs` bumps the generation,
//! once, in the child). What such a lock guarded is consistent in the
//! child: every user publishes its writes last (`ranges.rs`).

use crate::sys;
use std::sync::atomic::{AtomicU32, Ordering::*};

/// Forks since the library was loaded, along this process's ancestry
/// (a child has its parent's, plus one).
static GENERATION: AtomicU32 = AtomicU32::new(0);

/// In a `fork` child, first: every lock taken before is free.
pub fn after_fork_child() {
    GENERATION.fetch_add(1, Relaxed);
}

const STATE_BITS: u32 = 0b11;
const HELD: u32 = 1;
/// Held, and a thread may be waiting (Drepper, "Futexes are tricky").
const CONTENDED: u32 = 2;

fn current() -> u32 {
    GENERATION.load(Relaxed) << 2
}

/// Whether `word` is free in generation `now`: unlocked, or locked in an
/// earlier generation (by a thread of an ancestor, absent here).
fn is_free(word: u32, now: u32) -> bool {
    word & STATE_BITS == 0 || word & !STATE_BITS != now
}

pub struct FutexLock(AtomicU32);

pub struct Guard<'a>(&'a FutexLock);

impl FutexLock {
    pub const fn new() -> FutexLock {
        FutexLock(AtomicU32::new(0))
    }

    pub fn lock(&self) -> Guard<'_> {
        let now = current();
        let mut word = self.0.load(Relaxed);
        loop {
            if is_free(word, now) {
                match self.0.compare_exchange(word, now | HELD, Acquire, Relaxed) {
                    Ok(_) => return Guard(self),
                    Err(seen) => word = seen,
                }
                continue;
            }
            // Held in this generation: mark it contended and sleep (bounded,
            // so a wake lost to a racing unlock costs 100 ms, not forever).
            if word & STATE_BITS == HELD {
                if let Err(seen) = self
                    .0
                    .compare_exchange(word, now | CONTENDED, Relaxed, Relaxed)
                {
                    word = seen;
                    continue;
                }
            }
            sys::futex_wait(&self.0, now | CONTENDED, 100);
            word = self.0.load(Relaxed);
            // Taken from here on as contended: another may be waiting too.
            if is_free(word, now) {
                match self
                    .0
                    .compare_exchange(word, now | CONTENDED, Acquire, Relaxed)
                {
                    Ok(_) => return Guard(self),
                    Err(seen) => word = seen,
                }
            }
        }
    }

    pub fn try_lock(&self) -> Option<Guard<'_>> {
        let now = current();
        let word = self.0.load(Relaxed);
        (is_free(word, now)
            && self
                .0
                .compare_exchange(word, now | HELD, Acquire, Relaxed)
                .is_ok())
        .then(|| Guard(self))
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        let word = &self.0 .0;
        if word.swap(current(), Release) & STATE_BITS == CONTENDED {
            sys::futex_wake_all(word);
        }
    }
}

/// A value with no lock of its own, in a module's state (the end-of-process
/// stack: beside `exit`'s): written at a moment the module's code says
/// (initialisation, before anything reads it; a `fork` child, the only
/// thread there; the one thread that ends the process, whose stack it is),
/// and read after. Every access is `unsafe` and says why it cannot race.
pub struct Racy<T>(std::cell::UnsafeCell<T>);

// SAFETY: every access goes through `get`, whose callers show that no two
// threads touch the value at once (see above).
unsafe impl<T: Send> Sync for Racy<T> {}

impl<T> Racy<T> {
    pub const fn new(value: T) -> Racy<T> {
        Racy(std::cell::UnsafeCell::new(value))
    }

    pub fn get(&self) -> *mut T {
        self.0.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    #[test]
    fn a_lock_serialises_its_holders() {
        let lock = Arc::new(FutexLock::new());
        let inside = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (lock, inside) = (lock.clone(), inside.clone());
                std::thread::spawn(move || {
                    for _ in 0..2_000 {
                        let _g = lock.lock();
                        assert!(!inside.swap(true, SeqCst), "two holders at once");
                        std::hint::spin_loop();
                        inside.store(false, SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(lock.try_lock().is_some(), "free after every holder left");
    }

    /// A lock held by another thread when the process forks: the child (one
    /// thread, after `after_fork_child`, as `fork.rs` calls it) takes it at
    /// once, where before it waited forever (the child gets 5 s, then
    /// SIGALRM). The parent's holder still holds it in the parent.
    #[test]
    fn a_fork_child_takes_a_lock_another_thread_held() {
        static LOCK: FutexLock = FutexLock::new();
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let _g = LOCK.lock();
            held_tx.send(()).unwrap();
            done_rx.recv().unwrap();
        });
        held_rx.recv().unwrap();
        // SAFETY: the child only calls async-signal-safe functions (alarm,
        // the futex and atomics of the lock, _exit).
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            unsafe { libc::alarm(5) };
            after_fork_child();
            let took = LOCK.try_lock().is_some();
            drop(LOCK.lock());
            unsafe { libc::_exit(if took { 0 } else { 3 }) };
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child status {status:#x} (SIGALRM: it waited for a thread it does not have)"
        );
        assert!(LOCK.try_lock().is_none(), "still held in the parent");
        done_tx.send(()).unwrap();
        holder.join().unwrap();
        assert!(LOCK.try_lock().is_some());
    }
}

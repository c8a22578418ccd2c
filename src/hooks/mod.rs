//! The C symbols libthrottle.so exports in front of libc's. Each hook only
//! translates between C and the logic modules, catches any panic at the
//! boundary, and falls back to the real definition: a failure inside the
//! library degrades to "not throttled", never to a broken host.

pub mod cpus;
#[cfg(target_arch = "x86_64")]
pub mod dlsym;
pub mod exit;
pub mod openmp;
pub mod setters;
pub mod spawn;
pub mod tbb;
pub mod threads;

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `body`; on a panic (already reported by the panic hook) runs `fallback`.
fn guarded<T>(body: impl FnOnce() -> T, fallback: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| fallback())
}

/// The next definition of a hooked symbol, as a typed function pointer.
macro_rules! next_fn {
    ($next:expr, $hook:expr, $ty:ty) => {
        $next.get($hook as *const () as usize).map(|addr| {
            // SAFETY: `addr` is the next definition of the same C symbol as
            // `$hook`, whose signature `$ty` mirrors the libc prototype.
            unsafe { std::mem::transmute::<usize, $ty>(addr) }
        })
    };
}
pub(crate) use next_fn;

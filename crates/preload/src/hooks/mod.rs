//! The C symbols libthrottle.so exports in front of libc's. Each hook only
//! translates between C and the logic modules, catches any panic at the
//! boundary, and falls back to the real definition: a failure inside the
//! library degrades to "not throttled", never to a broken host.

pub mod cpus;
#[cfg(target_arch = "x86_64")]
pub mod dlsym;
pub mod exit;
pub mod files;
pub mod load;
pub mod openmp;
pub mod setters;
pub mod spawn;
pub mod tbb;
pub mod threads;

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Finds every real function the hooks forward to, and this library's own
/// address, while asking the loader is safe: from the constructor, which
/// the loader runs holding its lock already. A hook reached later never
/// asks the loader on its way (`dlsym` takes the loader's lock, which
/// `dlopen` holds while constructors run, and which a signal handler or a
/// `vfork` child may find held). A hook reached before the constructor (by
/// another library's constructor) looks its function up then, also under
/// the loader's lock.
pub fn resolve_at_load() {
    exit::prepare();
    cpus::resolve_at_load();
    spawn::resolve_at_load();
    threads::resolve_at_load();
    files::resolve_at_load();
    let _ = crate::loaded::real_dlsym();
    let _ = crate::loaded::own_base();
}

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

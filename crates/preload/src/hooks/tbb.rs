//! oneTBB: its pool follows the affinity mask (the virtual CPU count covers
//! the default), but a program can ask for more with
//! `tbb::global_control(max_allowed_parallelism, N)`, which raises the worker
//! limit past the hardware, and `tbb::task_arena(N)`. Both reach the library
//! through two out-of-line C++ functions, interposed here by their mangled
//! names; the request is lowered in the caller's object before forwarding.
//!
//! The object layouts are oneTBB's `d1` ABI (`oneapi/tbb/global_control.h`,
//! `task_arena.h`, 2021.1 onwards); oneTBB versions its ABI in these names,
//! so a layout change comes with names these hooks do not match. Each object
//! is also checked to look like a fresh one before anything is written.

use crate::log::info;
use crate::next::Next;
use crate::{cap, events, init};
use std::ffi::c_void;

/// `d1::global_control { size_t my_value; intptr_t my_reserved; parameter my_param; }`
#[repr(C)]
struct GlobalControl {
    value: usize,
    reserved: isize,
    param: i32,
}

const MAX_ALLOWED_PARALLELISM: i32 = 0;

/// The head of `d1::task_arena_base`: traits, the once-state, the arena
/// pointer, then the requested concurrency (-1: automatic).
#[repr(C)]
struct TaskArenaBase {
    version_and_traits: isize,
    initialization_state: i32,
    arena: *mut c_void,
    max_concurrency: i32,
    /// Slots reserved for application threads: oneTBB requires at most
    /// `max_concurrency` of them (more, and it touches slots past the
    /// arena's array), so lowering one lowers the other.
    num_reserved_slots: u32,
}

type Hook = unsafe extern "C-unwind" fn(*mut c_void);

static NEXT_CREATE: Next = Next::new(c"_ZN3tbb6detail2r16createERNS0_2d114global_controlE");
static NEXT_INITIALIZE: Next =
    Next::new(c"_ZN3tbb6detail2r110initializeERNS0_2d115task_arena_baseE");

const LIBRARY: &str = "libtbb";

/// `tbb::detail::r1::create(d1::global_control&)`
///
/// # Safety
/// As oneTBB's own function: `control` is a live `d1::global_control`.
#[export_name = "_ZN3tbb6detail2r16createERNS0_2d114global_controlE"]
pub unsafe extern "C-unwind" fn tbb_create_global_control(control: *mut c_void) {
    let real = definition(
        &NEXT_CREATE,
        tbb_create_global_control as *const () as usize,
        c"tbb::detail::r1::create(global_control&)",
    );
    // No panic may reach this C boundary: on one, forward the request as it is.
    super::guarded(
        || {
            if init::enforcing() && !control.is_null() {
                // SAFETY: the caller's global_control, in the d1 layout above; it is
                // being constructed by this very call, so nothing else reads it now.
                let control = unsafe { &mut *control.cast::<GlobalControl>() };
                let cap = cap::cap();
                if control.param == MAX_ALLOWED_PARALLELISM && control.value > cap {
                    info!(
                        "tbb::global_control(max_allowed_parallelism, {}) lowered to {cap}",
                        control.value
                    );
                    events::clamp(
                        "tbb::global_control",
                        LIBRARY,
                        control.value as i64,
                        cap as i64,
                    );
                    control.value = cap;
                }
            }
        },
        || (),
    );
    // SAFETY: oneTBB's definition, with the caller's object.
    unsafe { real(control) }
}

/// `tbb::detail::r1::initialize(d1::task_arena_base&)`
///
/// # Safety
/// As oneTBB's own function: `arena` is a live `d1::task_arena_base`.
#[export_name = "_ZN3tbb6detail2r110initializeERNS0_2d115task_arena_baseE"]
pub unsafe extern "C-unwind" fn tbb_initialize_task_arena(arena: *mut c_void) {
    let real = definition(
        &NEXT_INITIALIZE,
        tbb_initialize_task_arena as *const () as usize,
        c"tbb::detail::r1::initialize(task_arena_base&)",
    );
    // No panic may reach this C boundary: on one, forward the request as it is.
    super::guarded(
        || {
            if init::enforcing() && !arena.is_null() {
                // SAFETY: the caller's task_arena_base, in the d1 layout above, being
                // initialised by this call under oneTBB's once-guard.
                let base = unsafe { &mut *arena.cast::<TaskArenaBase>() };
                let cap = cap::cap() as i32;
                let fresh = base.arena.is_null() && (0..=3).contains(&base.initialization_state);
                if fresh && base.max_concurrency > cap && base.max_concurrency <= 1 << 20 {
                    info!("tbb::task_arena({}) lowered to {cap}", base.max_concurrency);
                    events::clamp(
                        "tbb::task_arena",
                        LIBRARY,
                        base.max_concurrency.into(),
                        cap.into(),
                    );
                    base.max_concurrency = cap;
                    base.num_reserved_slots = base.num_reserved_slots.min(cap as u32);
                }
            }
        },
        || (),
    );
    // SAFETY: oneTBB's definition, with the caller's object.
    unsafe { real(arena) }
}

/// oneTBB's definition behind one of these hooks (`ours`). oneTBB may sit in
/// a local scope only (numba's TBB layer loads it `RTLD_LOCAL`): it is
/// looked for there too, as the runtimes' setters are.
fn definition(next: &Next, ours: usize, name: &std::ffi::CStr) -> Hook {
    match next.get_anywhere(ours) {
        // SAFETY: oneTBB's definition of the same symbol as the hook.
        Some(addr) => unsafe { std::mem::transmute::<usize, Hook>(addr) },
        None => missing(name),
    }
}

/// No loaded oneTBB defines the function: the caller could not have been
/// loaded without one. End as the loader does for an unresolved symbol.
fn missing(name: &std::ffi::CStr) -> ! {
    crate::log::always(format_args!(
        "symbol lookup error: {} is defined by no loaded oneTBB",
        name.to_string_lossy()
    ));
    // SAFETY: ends the process, as ld.so does for an unresolved symbol.
    unsafe { libc::_exit(127) }
}

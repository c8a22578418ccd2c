//! Starting another program: `posix_spawn`, `posix_spawnp`, `system`,
//! `popen` and (on x86_64) `vfork`, which Python's `subprocess` uses. None
//! of them runs the `fork` handlers, yet the program started may join this
//! process's tree and work beside it; [`crate::tree::before_spawn`] makes
//! sure this process will then follow its share. Each hook hands the call
//! on unchanged.

use super::{guarded, next_fn};
use crate::next::Next;
use crate::{init, tree};
use libc::{c_char, c_int, pid_t, posix_spawn_file_actions_t, posix_spawnattr_t, FILE};

static NEXT_POSIX_SPAWN: Next = Next::new(c"posix_spawn");
static NEXT_POSIX_SPAWNP: Next = Next::new(c"posix_spawnp");
static NEXT_SYSTEM: Next = Next::new(c"system");
static NEXT_POPEN: Next = Next::new(c"popen");

type SpawnFn = unsafe extern "C" fn(
    *mut pid_t,
    *const c_char,
    *const posix_spawn_file_actions_t,
    *const posix_spawnattr_t,
    *const *mut c_char,
    *const *mut c_char,
) -> c_int;
type SystemFn = unsafe extern "C" fn(*const c_char) -> c_int;
type PopenFn = unsafe extern "C" fn(*const c_char, *const c_char) -> *mut FILE;

fn before_spawn() {
    if init::enforcing() {
        guarded(tree::before_spawn, || ());
    }
}

/// # Safety
/// As POSIX `posix_spawn`.
#[no_mangle]
pub unsafe extern "C" fn posix_spawn(
    pid: *mut pid_t,
    path: *const c_char,
    file_actions: *const posix_spawn_file_actions_t,
    attrp: *const posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    let Some(real) = next_fn!(NEXT_POSIX_SPAWN, posix_spawn, SpawnFn) else {
        return libc::ENOSYS;
    };
    before_spawn();
    // SAFETY: the caller's arguments, unchanged.
    unsafe { real(pid, path, file_actions, attrp, argv, envp) }
}

/// # Safety
/// As POSIX `posix_spawnp`.
#[no_mangle]
pub unsafe extern "C" fn posix_spawnp(
    pid: *mut pid_t,
    file: *const c_char,
    file_actions: *const posix_spawn_file_actions_t,
    attrp: *const posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    let Some(real) = next_fn!(NEXT_POSIX_SPAWNP, posix_spawnp, SpawnFn) else {
        return libc::ENOSYS;
    };
    before_spawn();
    // SAFETY: the caller's arguments, unchanged.
    unsafe { real(pid, file, file_actions, attrp, argv, envp) }
}

/// # Safety
/// As C `system`.
#[no_mangle]
pub unsafe extern "C" fn system(command: *const c_char) -> c_int {
    let Some(real) = next_fn!(NEXT_SYSTEM, system, SystemFn) else {
        return -1;
    };
    // `system(NULL)` only asks whether a shell exists.
    if !command.is_null() {
        before_spawn();
    }
    // SAFETY: the caller's argument, unchanged.
    unsafe { real(command) }
}

/// # Safety
/// As POSIX `popen`.
#[no_mangle]
pub unsafe extern "C" fn popen(command: *const c_char, mode: *const c_char) -> *mut FILE {
    let Some(real) = next_fn!(NEXT_POPEN, popen, PopenFn) else {
        return std::ptr::null_mut();
    };
    before_spawn();
    // SAFETY: the caller's arguments, unchanged.
    unsafe { real(command, mode) }
}

/// See [`super::resolve_at_load`].
pub fn resolve_at_load() {
    let _ = NEXT_POSIX_SPAWN.get(posix_spawn as *const () as usize);
    let _ = NEXT_POSIX_SPAWNP.get(posix_spawnp as *const () as usize);
    let _ = NEXT_SYSTEM.get(system as *const () as usize);
    let _ = NEXT_POPEN.get(popen as *const () as usize);
    #[cfg(target_arch = "x86_64")]
    let _ = NEXT_VFORK.get(vfork as *const () as usize);
}

#[cfg(target_arch = "x86_64")]
static NEXT_VFORK: Next = Next::new(c"vfork");

/// Called by the `vfork` entry, in the parent before it splits: the address
/// to jump to, libc's `vfork` (or `fork`, which POSIX allows in its place,
/// should there be none).
#[cfg(target_arch = "x86_64")]
extern "C" fn before_vfork() -> usize {
    before_spawn();
    NEXT_VFORK
        .get(vfork as *const () as usize)
        .unwrap_or(libc::fork as *const () as usize)
}

/// The exported `vfork`: runs [`before_vfork`], then jumps into libc's
/// `vfork` with the stack as the caller left it. A function that called it
/// instead could not return: the child would return through, and overwrite,
/// the frame the parent still needs.
///
/// # Safety
/// As `vfork`: the child may only call `_exit` or an `exec` function.
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C" fn vfork() -> pid_t {
    // At entry the stack is 8 bytes off 16-byte alignment (the return
    // address): 8 more realign it for the call, and are given back before
    // the jump, which leaves libc's vfork exactly the caller's stack.
    std::arch::naked_asm!(
        "sub rsp, 8",
        "call {before}",
        "add rsp, 8",
        "jmp rax",
        before = sym before_vfork,
    )
}

//! The files programs count CPUs by (`/proc/cpuinfo`, `/proc/stat`,
//! `/sys/devices/system/cpu/online`): a capped process opening one for
//! reading gets a view of it that shows only the CPUs of its virtual
//! affinity mask (cpuviews.rs), as a sealed-in-memory file (`memfd`).
//!
//! Every way a program opens a file by name comes through here: `open`,
//! `openat`, their 64-bit and fortified (`__open_2`, ...) variants, and
//! `fopen`. For every other path the cost is one test of its first two
//! bytes; no allocation, no lock (jemalloc opens files while it starts).
//! A process not capped below its mask gets the real files, untouched.

use super::{guarded, next_fn};
use crate::cpuviews::{self, View};
use crate::next::Next;
use crate::{cap, init};
use libc::{c_char, c_int, mode_t, FILE};
use std::ffi::CStr;

static NEXT_OPEN: Next = Next::new(c"open");
static NEXT_OPEN64: Next = Next::new(c"open64");
static NEXT_OPENAT: Next = Next::new(c"openat");
static NEXT_OPENAT64: Next = Next::new(c"openat64");
static NEXT_OPEN_2: Next = Next::new(c"__open_2");
static NEXT_OPEN64_2: Next = Next::new(c"__open64_2");
static NEXT_OPENAT_2: Next = Next::new(c"__openat_2");
static NEXT_OPENAT64_2: Next = Next::new(c"__openat64_2");
static NEXT_FOPEN: Next = Next::new(c"fopen");
static NEXT_FOPEN64: Next = Next::new(c"fopen64");

type OpenFn = unsafe extern "C" fn(*const c_char, c_int, mode_t) -> c_int;
type OpenatFn = unsafe extern "C" fn(c_int, *const c_char, c_int, mode_t) -> c_int;
type Open2Fn = unsafe extern "C" fn(*const c_char, c_int) -> c_int;
type Openat2Fn = unsafe extern "C" fn(c_int, *const c_char, c_int) -> c_int;
type FopenFn = unsafe extern "C" fn(*const c_char, *const c_char) -> *mut FILE;

/// See [`super::resolve_at_load`].
pub fn resolve_at_load() {
    let _ = NEXT_OPEN.get(open as *const () as usize);
    let _ = NEXT_OPEN64.get(open64 as *const () as usize);
    let _ = NEXT_OPENAT.get(openat as *const () as usize);
    let _ = NEXT_OPENAT64.get(openat64 as *const () as usize);
    let _ = NEXT_OPEN_2.get(__open_2 as *const () as usize);
    let _ = NEXT_OPEN64_2.get(__open64_2 as *const () as usize);
    let _ = NEXT_OPENAT_2.get(__openat_2 as *const () as usize);
    let _ = NEXT_OPENAT64_2.get(__openat64_2 as *const () as usize);
    let _ = NEXT_FOPEN.get(fopen as *const () as usize);
    let _ = NEXT_FOPEN64.get(fopen64 as *const () as usize);
}

/// The view `path` names, if any: the first two bytes decide for every
/// other path.
///
/// # Safety
/// `path` is null or a NUL-terminated string.
#[inline]
unsafe fn view(path: *const c_char) -> Option<View> {
    if path.is_null() {
        return None;
    }
    let p = path.cast::<u8>();
    // SAFETY: the first byte exists; the second only when the first is not
    // the terminator.
    let (first, second) = unsafe { (*p, if *p == 0 { 0 } else { *p.add(1) }) };
    if !cpuviews::may_be_view(first, second) {
        return None;
    }
    // SAFETY: a NUL-terminated string, per this function's contract.
    cpuviews::view_of(unsafe { CStr::from_ptr(path) }.to_bytes())
}

/// As [`view`], for `openat`: a relative path is resolved against `dirfd`
/// only when its last component could name a view (`online`, `cpuinfo`):
/// util-linux's `lscpu` opens `cpu/online` relative to a descriptor of
/// `/sys/devices/system`. Not `stat`: `ps` and `top` open every process's
/// `stat` relative to its directory, and `/proc/stat` is read by its
/// absolute path (libuv, procps).
///
/// # Safety
/// `path` is null or a NUL-terminated string.
#[inline]
unsafe fn view_at(dirfd: c_int, path: *const c_char) -> Option<View> {
    if path.is_null() {
        return None;
    }
    // SAFETY: per this function's contract.
    if unsafe { *path.cast::<u8>() } == b'/' {
        // SAFETY: as above.
        return unsafe { view(path) };
    }
    // SAFETY: a NUL-terminated string.
    let relative = unsafe { CStr::from_ptr(path) }.to_bytes();
    let last = relative.rsplit(|&b| b == b'/').next().unwrap_or(relative);
    if !matches!(last, b"online" | b"cpuinfo") {
        return None;
    }
    guarded(|| resolved_view(dirfd, relative), || None)
}

/// The view `relative` names from directory `dirfd`, if any.
fn resolved_view(dirfd: c_int, relative: &[u8]) -> Option<View> {
    let mut dir = [0u8; 4096];
    let len = if dirfd == libc::AT_FDCWD {
        // SAFETY: the buffer is writable for its length.
        let p = unsafe { libc::getcwd(dir.as_mut_ptr().cast(), dir.len()) };
        if p.is_null() {
            return None;
        }
        dir.iter().position(|&b| b == 0)?
    } else {
        let link = format!("/proc/self/fd/{dirfd}\0");
        // SAFETY: a NUL-terminated path and a writable buffer.
        let n = unsafe { libc::readlink(link.as_ptr().cast(), dir.as_mut_ptr().cast(), dir.len()) };
        if n <= 0 || n as usize >= dir.len() {
            return None;
        }
        n as usize
    };
    let mut full = dir[..len].to_vec();
    full.push(b'/');
    full.extend_from_slice(relative.strip_prefix(b"./").unwrap_or(relative));
    cpuviews::view_of(&full)
}

/// Whether `flags` open a file for reading only (what a view can serve).
fn read_only(flags: c_int) -> bool {
    flags & libc::O_ACCMODE == libc::O_RDONLY
        && flags & (libc::O_CREAT | libc::O_TRUNC | libc::O_PATH | libc::O_DIRECTORY) == 0
}

/// A descriptor holding the view, for a capped process; `None` to open the
/// real file (not capped below its mask, or anything failed).
fn shown_fd(view: View, cloexec: bool) -> Option<c_int> {
    // A `vfork` child shares its parent's memory until it execs: building
    // a view would allocate from the parent's heap. It reads the real file;
    // the program it execs is shown the views.
    if !init::enforcing() || !crate::status::in_own_process() {
        return None;
    }
    // A helper that a working process started (R's `detectCores()` greps
    // /proc/cpuinfo in a shell) is shown its working ancestor's share, and
    // claims nothing: it asks for that process (`tree::ancestors_share`).
    // Otherwise a CPU count read from a file is a CPU-count query like any
    // other: it claims the share (and with it the rank that places the
    // shown CPUs), so that the files and `sched_getaffinity` agree in one
    // process. As `sysconf` does: `open` may be called from a signal
    // handler, where no steward may be started (the library's heap never
    // blocks).
    let shown = match crate::tree::ancestors_share() {
        Some(share) => cap::shown_mask_of(share, crate::tree::seed)?,
        None => {
            crate::tree::claim_signal_safe();
            cap::shown_mask(crate::tree::seed)?
        }
    };
    let real = read_real(view.path())?;
    let content = cpuviews::render(view, &real, &shown);
    memfd(view.name(), &content, cloexec)
}

/// The real file's bytes, read with the system calls themselves (the
/// library's own `open` is the hook).
fn read_real(path: &CStr) -> Option<Vec<u8>> {
    // SAFETY: a NUL-terminated path; the descriptor is closed below.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    } as c_int;
    if fd < 0 {
        return None;
    }
    let mut out = Vec::with_capacity(16 * 1024);
    let mut buf = [0u8; 16 * 1024];
    let ok = loop {
        // SAFETY: reads into `buf`, within its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        match n {
            0 => break true,
            n if n > 0 => out.extend_from_slice(&buf[..n as usize]),
            _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
            _ => break false,
        }
        // /proc/cpuinfo of the largest machines is a few MiB.
        if out.len() > 64 << 20 {
            break false;
        }
    };
    // SAFETY: the descriptor opened above, closed once.
    unsafe { libc::close(fd) };
    ok.then_some(out)
}

/// An in-memory file holding `content`, positioned at its start.
fn memfd(name: &CStr, content: &[u8], cloexec: bool) -> Option<c_int> {
    let flags = if cloexec { libc::MFD_CLOEXEC } else { 0 };
    // SAFETY: a NUL-terminated name and valid flags.
    let fd = unsafe { libc::syscall(libc::SYS_memfd_create, name.as_ptr(), flags) } as c_int;
    if fd < 0 {
        return None;
    }
    let mut done = 0;
    while done < content.len() {
        // SAFETY: writes from `content`, within its length.
        let n = unsafe { libc::write(fd, content[done..].as_ptr().cast(), content.len() - done) };
        if n <= 0 {
            if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            // SAFETY: our descriptor, closed once.
            unsafe { libc::close(fd) };
            return None;
        }
        done += n as usize;
    }
    // SAFETY: our descriptor.
    if unsafe { libc::lseek(fd, 0, libc::SEEK_SET) } != 0 {
        // SAFETY: our descriptor, closed once.
        unsafe { libc::close(fd) };
        return None;
    }
    Some(fd)
}

/// The view's descriptor if `path` (from `dirfd`, for `openat`) is a view
/// opened for reading.
///
/// # Safety
/// `path` is null or a NUL-terminated string.
#[inline]
unsafe fn opened(dirfd: Option<c_int>, path: *const c_char, flags: c_int) -> Option<c_int> {
    // SAFETY: per this function's contract.
    let view = match dirfd {
        Some(dirfd) => unsafe { view_at(dirfd, path) },
        None => unsafe { view(path) },
    }?;
    if !read_only(flags) {
        return None;
    }
    guarded(|| shown_fd(view, flags & libc::O_CLOEXEC != 0), || None)
}

macro_rules! open_hook {
    ($name:ident, $next:ident) => {
        /// # Safety
        /// As libc's function of the same name (`mode` read only with
        /// `O_CREAT`/`O_TMPFILE`, as libc does).
        #[no_mangle]
        pub unsafe extern "C" fn $name(path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
            // SAFETY: the caller's path.
            if let Some(fd) = unsafe { opened(None, path, flags) } {
                return fd;
            }
            match next_fn!($next, $name, OpenFn) {
                // SAFETY: the caller's arguments, unchanged.
                Some(real) => unsafe { real(path, flags, mode) },
                None => {
                    // SAFETY: errno is thread-local and always writable.
                    unsafe { *libc::__errno_location() = libc::ENOSYS };
                    -1
                }
            }
        }
    };
}

macro_rules! openat_hook {
    ($name:ident, $next:ident) => {
        /// # Safety
        /// As libc's function of the same name.
        #[no_mangle]
        pub unsafe extern "C" fn $name(
            dirfd: c_int,
            path: *const c_char,
            flags: c_int,
            mode: mode_t,
        ) -> c_int {
            // SAFETY: the caller's path.
            if let Some(fd) = unsafe { opened(Some(dirfd), path, flags) } {
                return fd;
            }
            match next_fn!($next, $name, OpenatFn) {
                // SAFETY: the caller's arguments, unchanged.
                Some(real) => unsafe { real(dirfd, path, flags, mode) },
                None => {
                    // SAFETY: errno is thread-local and always writable.
                    unsafe { *libc::__errno_location() = libc::ENOSYS };
                    -1
                }
            }
        }
    };
}

macro_rules! open2_hook {
    ($name:ident, $next:ident) => {
        /// # Safety
        /// As glibc's fortified function of the same name.
        #[no_mangle]
        pub unsafe extern "C" fn $name(path: *const c_char, flags: c_int) -> c_int {
            // SAFETY: the caller's path.
            if let Some(fd) = unsafe { opened(None, path, flags) } {
                return fd;
            }
            match next_fn!($next, $name, Open2Fn) {
                // SAFETY: the caller's arguments, unchanged.
                Some(real) => unsafe { real(path, flags) },
                None => {
                    // SAFETY: errno is thread-local and always writable.
                    unsafe { *libc::__errno_location() = libc::ENOSYS };
                    -1
                }
            }
        }
    };
}

macro_rules! openat2_hook {
    ($name:ident, $next:ident) => {
        /// # Safety
        /// As glibc's fortified function of the same name.
        #[no_mangle]
        pub unsafe extern "C" fn $name(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
            // SAFETY: the caller's path.
            if let Some(fd) = unsafe { opened(Some(dirfd), path, flags) } {
                return fd;
            }
            match next_fn!($next, $name, Openat2Fn) {
                // SAFETY: the caller's arguments, unchanged.
                Some(real) => unsafe { real(dirfd, path, flags) },
                None => {
                    // SAFETY: errno is thread-local and always writable.
                    unsafe { *libc::__errno_location() = libc::ENOSYS };
                    -1
                }
            }
        }
    };
}

macro_rules! fopen_hook {
    ($name:ident, $next:ident) => {
        /// # Safety
        /// As libc's function of the same name.
        #[no_mangle]
        pub unsafe extern "C" fn $name(path: *const c_char, mode: *const c_char) -> *mut FILE {
            // SAFETY: the caller's path and mode.
            if let Some(file) = unsafe { fopened(path, mode) } {
                return file;
            }
            match next_fn!($next, $name, FopenFn) {
                // SAFETY: the caller's arguments, unchanged.
                Some(real) => unsafe { real(path, mode) },
                None => {
                    // SAFETY: errno is thread-local and always writable.
                    unsafe { *libc::__errno_location() = libc::ENOSYS };
                    std::ptr::null_mut()
                }
            }
        }
    };
}

/// `fopen` of a view for reading (`r`, `rb`, `re`, ...; not `r+`).
///
/// # Safety
/// `path` and `mode` are null or NUL-terminated strings.
unsafe fn fopened(path: *const c_char, mode: *const c_char) -> Option<*mut FILE> {
    // SAFETY: per this function's contract.
    let view = unsafe { view(path) }?;
    if mode.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated string.
    let m = unsafe { CStr::from_ptr(mode) }.to_bytes();
    if m.first() != Some(&b'r') || m.contains(&b'+') {
        return None;
    }
    let fd = guarded(|| shown_fd(view, m.contains(&b'e')), || None)?;
    // SAFETY: our descriptor and the caller's mode; the stream owns it.
    let file = unsafe { libc::fdopen(fd, mode) };
    if file.is_null() {
        // SAFETY: our descriptor, closed once.
        unsafe { libc::close(fd) };
        return None;
    }
    Some(file)
}

open_hook!(open, NEXT_OPEN);
open_hook!(open64, NEXT_OPEN64);
openat_hook!(openat, NEXT_OPENAT);
openat_hook!(openat64, NEXT_OPENAT64);
open2_hook!(__open_2, NEXT_OPEN_2);
open2_hook!(__open64_2, NEXT_OPEN64_2);
openat2_hook!(__openat_2, NEXT_OPENAT_2);
openat2_hook!(__openat64_2, NEXT_OPENAT64_2);
fopen_hook!(fopen, NEXT_FOPEN);
fopen_hook!(fopen64, NEXT_FOPEN64);

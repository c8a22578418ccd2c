//! The system calls only the library makes: on its own threads (their
//! count, their states, their CPUs), on its own futexes, on the
//! environment it sizes. The core's (`throttle_core::sys`: what the
//! library and the command both read, and the ledger's) are re-exported,
//! so that `crate::sys` names both.

pub use throttle_core::sys::*;

use crate::config::{FileError, Inputs};
use crate::cpumask::CpuMask;
use std::ffi::CStr;

extern "C" {
    static mut environ: *mut *mut libc::c_char;
}

pub fn gettid() -> libc::pid_t {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as libc::pid_t }
}

pub fn set_affinity(tid: libc::pid_t, mask: &CpuMask) -> bool {
    let bytes = mask.as_bytes();
    // SAFETY: the buffer is valid for reads of `bytes.len()` bytes.
    unsafe {
        libc::syscall(
            libc::SYS_sched_setaffinity,
            tid,
            bytes.len(),
            bytes.as_ptr(),
        ) == 0
    }
}

pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// Sleeps until `word` no longer holds `expected`, a wake, or `timeout_ms`.
pub fn futex_wait(word: &std::sync::atomic::AtomicU32, expected: u32, timeout_ms: u64) {
    let ts = libc::timespec {
        tv_sec: (timeout_ms / 1000) as libc::time_t,
        tv_nsec: ((timeout_ms % 1000) * 1_000_000) as libc::c_long,
    };
    // SAFETY: `word` is a live, aligned u32 for the duration of the call, and
    // `ts` a valid relative timeout. Spurious returns are harmless: callers loop.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            &ts as *const libc::timespec,
        );
    }
}

pub fn futex_wake_all(word: &std::sync::atomic::AtomicU32) {
    // SAFETY: waking never touches memory other than the futex word's queue.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            i32::MAX,
        );
    }
}

/// Calls `f` with the name of each entry of the directory `path` (`.` and
/// `..` left out), read with `getdents64` into a buffer on the stack:
/// `opendir` would allocate with the host's `malloc`. Returns false when the
/// directory cannot be opened.
pub fn for_each_entry(path: &CStr, mut f: impl FnMut(&[u8])) -> bool {
    // SAFETY: a valid C path; the descriptor is closed below.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return false;
    }
    let mut buf = [0u64; 256];
    loop {
        // SAFETY: reads directory entries into `buf`, within its size.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                fd,
                buf.as_mut_ptr(),
                std::mem::size_of_val(&buf),
            )
        };
        if n <= 0 {
            break;
        }
        // SAFETY: the kernel wrote `n` bytes of whole records into `buf`.
        let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n as usize) };
        let mut at = 0;
        // A record: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name.
        while at + 19 < bytes.len() {
            let reclen = u16::from_ne_bytes([bytes[at + 16], bytes[at + 17]]) as usize;
            if reclen == 0 || at + reclen > bytes.len() {
                break;
            }
            let name = &bytes[at + 19..at + reclen];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if name != b"." && name != b".." {
                f(name);
            }
            at += reclen;
        }
    }
    // SAFETY: `fd` was opened above and is closed once.
    unsafe { libc::close(fd) };
    true
}

/// Calls `f` with each thread id of this process, from `/proc/self/task`.
/// Returns false when the directory cannot be read.
///
/// One listing can miss threads: Linux walks the thread list from entry to
/// entry, and stops when the entry it stands on is a thread that has just
/// ended, so a thread that ends during the listing hides the threads after
/// it (seen here: a listing that showed only the main thread of a process
/// running two). [`for_each_task_settled`] and [`runnable_tasks`] list again
/// when the number of threads changed meanwhile.
pub fn for_each_task(mut f: impl FnMut(libc::pid_t)) -> bool {
    for_each_entry(c"/proc/self/task", |name| {
        if let Some(tid) = std::str::from_utf8(name).ok().and_then(|s| s.parse().ok()) {
            f(tid);
        }
    })
}

/// How many times a listing of the threads is made again when the number of
/// threads changed during it (see [`for_each_task`]).
const LISTINGS: usize = 4;

/// Like [`for_each_task`], for an `f` that may see a thread twice (setting
/// its CPU mask): lists again, up to [`LISTINGS`] times in all, while the
/// number of threads changed during the listing, so that a thread hidden
/// from one listing by another's end is seen by the next.
pub fn for_each_task_settled(mut f: impl FnMut(libc::pid_t)) -> bool {
    for _ in 0..LISTINGS {
        let before = thread_count();
        if !for_each_task(&mut f) {
            return false;
        }
        if thread_count() == before {
            break;
        }
    }
    true
}

/// The number of threads of this process (`/proc/self/stat` field 20): one
/// small read, where listing `/proc/self/task` opens a directory.
pub fn thread_count() -> Option<usize> {
    let mut buf = [0u8; STAT_BYTES];
    let stat = read_stat(format_args!("/proc/self/stat\0"), &mut buf)?;
    parse_stat_field(stat, 20)
}

/// The scheduler state letter of one thread (`R`, `S`, `D`, ...), from
/// `/proc/self/task/<tid>/stat`.
pub fn task_state(tid: libc::pid_t) -> Option<u8> {
    let mut buf = [0u8; STAT_BYTES];
    parse_stat_state(read_stat(
        format_args!("/proc/self/task/{tid}/stat\0"),
        &mut buf,
    )?)
}

/// Threads of this process in state `R` (running or runnable), not counting
/// `except`. A listing during which the number of threads changed is made
/// again (see [`for_each_task`]); if the last one still is, every thread it
/// did not show counts as runnable: a wrong answer here errs towards
/// waiting a few milliseconds more, never towards a thread over the cap.
pub fn runnable_tasks(except: libc::pid_t) -> usize {
    let mut runnable = 0;
    for _ in 0..LISTINGS {
        let before = thread_count();
        // Threads whose state was read (a zombie main thread too: it still
        // counts in field 20), and of them those runnable.
        let mut seen = 0;
        runnable = 0;
        for_each_task(|tid| {
            if let Some(state) = task_state(tid) {
                seen += 1;
                if tid != except && state == b'R' {
                    runnable += 1;
                }
            }
        });
        let after = thread_count();
        let unseen = after.map_or(0, |n| n.saturating_sub(seen));
        if after == before && unseen == 0 {
            return runnable;
        }
        runnable += unseen;
    }
    runnable
}

/// [`Live`] as the library resolves its settings at every process start:
/// without the readings that decide nothing (`Inputs::details`), and with
/// the affinity mask's count where the caller has read the mask already
/// (`None`: read it).
#[derive(Default)]
pub struct Deciding {
    pub affinity: Option<usize>,
}

impl Inputs for Deciding {
    fn var(&self, name: &str) -> Option<Vec<u8>> {
        Live.var(name)
    }

    fn read_file(&self, path: &str) -> Result<Vec<u8>, FileError> {
        Live.read_file(path)
    }

    fn affinity_count(&self) -> usize {
        self.affinity.unwrap_or_else(|| Live.affinity_count())
    }

    fn secure(&self) -> bool {
        Live.secure()
    }

    fn hostname(&self) -> Option<String> {
        Live.hostname()
    }

    fn details(&self) -> bool {
        false
    }
}

/// Whether the calling thread blocks any signal: always so inside a signal
/// handler installed without `SA_NODEFER`. One system call,
/// async-signal-safe.
pub fn any_signal_blocked() -> bool {
    let mut set = [0u64; 1];
    // SAFETY: the raw system call reads the mask into `set`, 8 bytes (the
    // kernel's sigset_t on Linux), and changes nothing (a null new set).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_BLOCK,
            std::ptr::null::<u64>(),
            set.as_mut_ptr(),
            8usize,
        )
    };
    rc != 0 || set[0] != 0
}

/// Sets `name=value` in the process's environment without the host's
/// `malloc` (`setenv` allocates, and the library may be initialising from
/// inside the host's allocator): the entry and, when a variable is added, a
/// new array come from the library's own heap and are never freed. glibc's
/// `setenv` later copies an array it did not allocate instead of reallocating
/// it, and getenv readers only ever see whole pointers.
/// Called during initialisation and in `fork` children.
pub fn set_env(name: &CStr, value: &[u8]) {
    let name = name.to_bytes();
    let mut entry = Vec::with_capacity(name.len() + value.len() + 2);
    entry.extend_from_slice(name);
    entry.push(b'=');
    entry.extend_from_slice(value);
    if entry.contains(&0) {
        return;
    }
    entry.push(0);
    let entry = Box::leak(entry.into_boxed_slice())
        .as_mut_ptr()
        .cast::<libc::c_char>();
    // SAFETY: `environ` is a NULL-terminated array of NUL-terminated strings;
    // replacing one pointer, or publishing a new array, is what setenv does.
    unsafe {
        let env = environ;
        let mut n = 0;
        if !env.is_null() {
            while !(*env.add(n)).is_null() {
                if names_match(*env.add(n), name) {
                    *env.add(n) = entry;
                    return;
                }
                n += 1;
            }
        }
        let mut new = Vec::with_capacity(n + 2);
        for i in 0..n {
            new.push(*env.add(i));
        }
        new.push(entry);
        new.push(std::ptr::null_mut());
        environ = Box::leak(new.into_boxed_slice()).as_mut_ptr();
    }
}

/// Removes `name` from the environment, in place, as glibc's `unsetenv`.
pub fn unset_env(name: &CStr) {
    let name = name.to_bytes();
    // SAFETY: as in `set_env`; entries after the removed one move down.
    unsafe {
        let env = environ;
        if env.is_null() {
            return;
        }
        let mut i = 0;
        while !(*env.add(i)).is_null() {
            if names_match(*env.add(i), name) {
                let mut j = i;
                while !(*env.add(j)).is_null() {
                    *env.add(j) = *env.add(j + 1);
                    j += 1;
                }
            } else {
                i += 1;
            }
        }
    }
}

/// Whether the entry `NAME=value` at `entry` is for `name`.
///
/// # Safety
/// `entry` is a NUL-terminated string.
unsafe fn names_match(entry: *const libc::c_char, name: &[u8]) -> bool {
    // SAFETY: the caller's NUL-terminated string.
    let entry = unsafe { CStr::from_ptr(entry) }.to_bytes();
    entry.len() > name.len() && entry.starts_with(name) && entry[name.len()] == b'='
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_state_survives_odd_command_names() {
        assert_eq!(parse_stat_state(b"12 (a) b) c) S 1 2"), Some(b'S'));
        assert_eq!(parse_stat_state(b"12 (x) R 1"), Some(b'R'));
        assert_eq!(parse_stat_state(b"garbage"), None);
    }

    /// While a thread ends, a settled listing still shows every thread that
    /// lives through it, and `runnable_tasks` counts every spinning one. A
    /// single listing missed them 144 times in 1,000 here (see
    /// `for_each_task`): the thread that ends is made before the spinners,
    /// so that it comes first in the kernel's list, and the listing starts
    /// as it ends, as the `wait` policy's does when a thread exit wakes it.
    #[test]
    fn listings_see_every_thread_while_others_end() {
        use std::sync::atomic::{AtomicBool, AtomicI32, Ordering::*};
        use std::sync::Arc;
        const SPINNERS: usize = 2;
        let me = gettid();
        for round in 0..300 {
            let (go, leaving) = (
                Arc::new(AtomicBool::new(false)),
                Arc::new(AtomicBool::new(false)),
            );
            let ending = {
                let (go, leaving) = (go.clone(), leaving.clone());
                std::thread::spawn(move || {
                    while !go.load(Acquire) {
                        std::hint::spin_loop();
                    }
                    leaving.store(true, Release);
                })
            };
            let stop = Arc::new(AtomicBool::new(false));
            let tids: Arc<[AtomicI32; SPINNERS]> =
                Arc::new([const { AtomicI32::new(0) }; SPINNERS]);
            let spinners: Vec<_> = (0..SPINNERS)
                .map(|i| {
                    let (stop, tids) = (stop.clone(), tids.clone());
                    std::thread::spawn(move || {
                        tids[i].store(gettid(), SeqCst);
                        while !stop.load(Relaxed) {
                            std::hint::spin_loop();
                        }
                    })
                })
                .collect();
            while tids.iter().any(|t| t.load(SeqCst) == 0) {
                std::thread::yield_now();
            }
            go.store(true, Release);
            while !leaving.load(Acquire) {
                std::hint::spin_loop();
            }
            let mut seen = [false; SPINNERS];
            assert!(for_each_task_settled(|tid| {
                for (i, t) in tids.iter().enumerate() {
                    seen[i] |= t.load(Relaxed) == tid;
                }
            }));
            assert_eq!(
                seen, [true; SPINNERS],
                "round {round}: a listing missed a live thread"
            );
            let runnable = runnable_tasks(me);
            // The spinners are running or waiting for a CPU: `R`.
            assert!(
                runnable >= SPINNERS,
                "round {round}: {runnable} runnable, {SPINNERS} spin"
            );
            stop.store(true, Relaxed);
            ending.join().unwrap();
            for t in spinners {
                t.join().unwrap();
            }
        }
    }

    #[test]
    fn thread_count_is_field_20() {
        let line = b"12 (a) b) R 1 12 12 0 -1 4194560 90 0 0 0 1 2 0 0 20 0 7 0 4400 9 ";
        assert_eq!(parse_stat_field::<usize>(line, 20), Some(7));
        assert_eq!(parse_stat_field::<u64>(line, 22), Some(4400));
        let cut = line.windows(3).position(|w| w == b" 7 ").unwrap() + 2;
        assert_eq!(parse_stat_field::<usize>(&line[..cut], 20), None);
        assert_eq!(parse_stat_field::<usize>(b"garbage", 20), None);
        // This test's thread and the main one at least (others run beside).
        assert!(thread_count().unwrap() >= 2);
    }

    #[test]
    fn this_process_is_seen() {
        assert!(thread_count().unwrap() >= 1);
        assert_eq!(task_state(gettid()), Some(b'R'));
        assert!(affinity(0).unwrap().count() >= 1);
    }
}

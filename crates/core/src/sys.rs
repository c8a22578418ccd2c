//! Thin wrappers over the system calls and `/proc` files the library uses for
//! itself. They go straight to the kernel so that they never reach our own
//! interposed `sched_getaffinity` or `sysconf`.

use crate::cpumask::CpuMask;
use crate::inputs::{FileError, Inputs, MAX_BUDGET_FILE_BYTES};
use std::ffi::CStr;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;

pub fn gettid() -> libc::pid_t {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as libc::pid_t }
}

pub fn getpid() -> libc::pid_t {
    // SAFETY: getpid takes no arguments and cannot fail.
    unsafe { libc::getpid() }
}

/// The real affinity mask of a thread (0: the calling one).
pub fn affinity(tid: libc::pid_t) -> Option<CpuMask> {
    let mut bytes = [0u8; CpuMask::BYTES];
    // SAFETY: the buffer is valid for `bytes.len()` bytes, which is what the
    // kernel is told it may write.
    let n = unsafe {
        libc::syscall(
            libc::SYS_sched_getaffinity,
            tid,
            bytes.len(),
            bytes.as_mut_ptr(),
        )
    };
    (n > 0).then(|| CpuMask::from_bytes(&bytes))
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

/// Secure-execution mode: a setuid/setgid program or a capability gain.
pub fn secure_execution() -> bool {
    // SAFETY: getauxval only reads the auxiliary vector.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

pub fn monotonic_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1000 + (ts.tv_nsec as u64) / 1_000_000
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

/// Like [`futex_wait`], on a word in memory shared between processes; no
/// timeout with `None`.
pub fn futex_wait_shared(
    word: &std::sync::atomic::AtomicU32,
    expected: u32,
    timeout_ms: Option<u64>,
) {
    let ts = timeout_ms.map(|ms| libc::timespec {
        tv_sec: (ms / 1000) as libc::time_t,
        tv_nsec: ((ms % 1000) * 1_000_000) as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a live, aligned u32 in a shared mapping for the
    // duration of the call; the timeout is null or a valid relative one;
    // spurious returns are harmless.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            ts_ptr,
        );
    }
}

pub fn futex_wake_all_shared(word: &std::sync::atomic::AtomicU32) {
    futex_wake_shared(word, i32::MAX);
}

/// Wakes at most `n` processes sleeping on a word in shared memory.
pub fn futex_wake_shared(word: &std::sync::atomic::AtomicU32, n: i32) {
    // SAFETY: waking touches only the futex word's wait queue.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, n);
    }
}

/// This process's PID namespace, as the inode of `/proc/self/ns/pid`: pids
/// name the same processes only within one namespace (a container started
/// with its own, `apptainer exec --pid` or `unshare --pid`, may share
/// /dev/shm with its host). 0 when /proc cannot tell. Async-signal-safe (a
/// `fork` child calls it).
pub fn pid_namespace() -> u64 {
    // SAFETY: an all-zero stat is a valid out-parameter.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path; `st` is writable.
    if unsafe { libc::stat(c"/proc/self/ns/pid".as_ptr(), &mut st) } == 0 {
        st.st_ino
    } else {
        0
    }
}

/// A process's start time, in clock ticks after boot (/proc/PID/stat field
/// 22): with the pid, it names one process for its whole life. Allocates
/// nothing and takes no lock: an `_exit` called from a signal handler reaches
/// it (see `tree::leave`).
pub fn start_time(pid: libc::pid_t) -> Option<u64> {
    let mut buf = [0u8; STAT_BYTES];
    let stat = read_stat(format_args!("/proc/{pid}/stat\0"), &mut buf)?;
    parse_stat_start(stat)
}

/// Whether the process `pid` that started at `start` (see [`start_time`])
/// has ended: no process has its pid, the pid names a process that started
/// at another time, or it is a zombie (dead, not yet reaped). False when
/// /proc cannot tell (no descriptor left, `hidepid`): a live process is
/// never taken for a dead one. Allocates nothing and takes no lock.
pub fn ended(pid: libc::pid_t, start: u64) -> bool {
    let mut buf = [0u8; STAT_BYTES];
    match read_stat(format_args!("/proc/{pid}/stat\0"), &mut buf) {
        Some(stat) => match (parse_stat_start(stat), parse_stat_state(stat)) {
            (Some(s), _) if s != start => true,
            (Some(_), Some(b'Z' | b'X')) => true,
            _ => false,
        },
        None => no_such_process(pid),
    }
}

/// Whether no process has the pid `pid` (`kill(pid, 0)` fails with
/// `ESRCH`): one system call, async-signal-safe. A zombie still exists.
pub fn no_such_process(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that the pid exists; pid > 0 names one
    // process, never a group.
    pid > 0
        && unsafe { libc::kill(pid, 0) } == -1
        && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// Field 22 of a `stat` line, counted after the last `)` (the command name
/// may hold anything); only when field 23 follows, so that a line cut short
/// by the buffer never yields a cut number.
fn parse_stat_start(stat: &[u8]) -> Option<u64> {
    parse_stat_field(stat, 22)
}

/// Field `n` (counted from 1, `n` at least 4) of a `stat` line, counted after
/// the last `)`, as a number; only when a field follows it, so that a line cut
/// short by the buffer never yields a cut number.
fn parse_stat_field<T: std::str::FromStr>(stat: &[u8], n: usize) -> Option<T> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let mut fields = stat.get(close + 2..)?.split(|&b| b == b' ');
    let field = fields.nth(n - 3)?;
    fields.next()?;
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// Enough of a `stat` file for fields 1 to 23: a command name of at most 64
/// bytes and 21 numbers of at most 20 digits.
const STAT_BYTES: usize = 1024;

/// Reads the start of a /proc `stat` file, named by `path` (formatted with
/// its NUL), into `buf`: no allocation, async-signal-safe calls only.
fn read_stat<'b>(path: std::fmt::Arguments, buf: &'b mut [u8; STAT_BYTES]) -> Option<&'b [u8]> {
    let mut name = [0u8; 64];
    let mut cursor = std::io::Cursor::new(&mut name[..]);
    std::io::Write::write_fmt(&mut cursor, path).ok()?;
    // SAFETY: `name` holds a NUL-terminated string written just above.
    let fd = unsafe { libc::open(name.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    // SAFETY: `buf` is valid for writes of its length; `fd` is closed once.
    // /proc hands a stat file over in one read.
    let n = unsafe {
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        libc::close(fd);
        n
    };
    buf.get(..usize::try_from(n).ok()?)
}

/// A process's CPU time so far (all its threads, user and system), in ns:
/// the kernel's process CPU clock, exact where /proc's ticks are 10 ms.
pub fn process_cpu_ns(pid: libc::pid_t) -> Option<u64> {
    // The process's CPU clock, as the kernel numbers it (`MAKE_PROCESS_CPUCLOCK`
    // with `CPUCLOCK_SCHED`): what `clock_getcpuclockid` returns, without the
    // `clock_getres` it makes to check the process exists (a census asks this
    // of every young member). A process that is gone fails `clock_gettime`.
    // Pid 0 (or below) would name the calling process's clock, or none.
    if pid <= 0 {
        return None;
    }
    let clock = ((!pid) << 3) | 2;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: the out-parameter is valid for writes.
    let ok = unsafe { libc::clock_gettime(clock, &mut ts) == 0 };
    ok.then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// Clock ticks per second, as /proc counts them (from the kernel's auxiliary
/// vector: `sysconf` here would be our own hook).
fn clock_ticks_per_second() -> u64 {
    // SAFETY: getauxval only reads the auxiliary vector.
    match unsafe { libc::getauxval(libc::AT_CLKTCK) } {
        0 => 100,
        hz => hz,
    }
}

/// A start time from /proc (clock ticks after boot), in ns after boot.
pub fn ticks_to_ns(ticks: u64) -> u64 {
    ticks.saturating_mul(1_000_000_000 / clock_ticks_per_second())
}

/// Now, in ns after boot: the clock of /proc's start times.
pub fn boot_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The physical cores among the CPUs of `mask`: a CPU counts when it is the
/// first of its SMT siblings (sysfs `thread_siblings_list`); a CPU whose
/// topology cannot be read counts as a core of its own.
pub fn cores(mask: &CpuMask) -> usize {
    mask.cpus()
        .filter(|&cpu| {
            let path = format!("/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list");
            let Ok(text) = std::fs::read_to_string(path) else {
                return true;
            };
            let first = text
                .trim()
                .split([',', '-'])
                .next()
                .and_then(|f| f.parse::<usize>().ok());
            first.is_none_or(|f| f == cpu)
        })
        .count()
        .max(1)
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

/// The state field follows the last `)`: the command name may hold anything.
fn parse_stat_state(stat: &[u8]) -> Option<u8> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    stat.get(close + 2).copied()
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

/// Reads a budget file defensively: regular files only, never blocking on a
/// FIFO, never reading more than the size limit.
pub fn read_budget_file(path: &str) -> Result<Vec<u8>, FileError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => FileError::Missing,
            _ => FileError::Unreadable(e.to_string()),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| FileError::Unreadable(e.to_string()))?;
    if !meta.is_file() {
        return Err(FileError::NotAFile);
    }
    if meta.len() > MAX_BUDGET_FILE_BYTES {
        return Err(FileError::TooLarge(meta.len()));
    }
    // Room for the whole file at once: /proc and cgroup files say 0 or
    // 4096 bytes, and a small buffer would read them a few bytes at a time.
    let room = match meta.len() {
        0 => 4096,
        n => n + 1,
    };
    let mut bytes = Vec::with_capacity(room as usize);
    file.take(MAX_BUDGET_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| FileError::Unreadable(e.to_string()))?;
    if bytes.len() as u64 > MAX_BUDGET_FILE_BYTES {
        return Err(FileError::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}

/// This process's environment, files and CPUs, as budget resolution reads
/// them: in the library, and in `throttle info` (which shows what a program
/// started from the same environment would get).
pub struct Live;

impl Inputs for Live {
    fn var(&self, name: &str) -> Option<Vec<u8>> {
        getenv(&std::ffi::CString::new(name).ok()?)
    }

    fn read_file(&self, path: &str) -> Result<Vec<u8>, FileError> {
        read_budget_file(path)
    }

    fn affinity_count(&self) -> usize {
        affinity(0).map_or(1, |m| m.count())
    }

    fn secure(&self) -> bool {
        secure_execution()
    }

    fn hostname(&self) -> Option<String> {
        let mut buf = [0u8; 256];
        // SAFETY: gethostname writes at most `len` bytes into the buffer; the
        // last byte stays 0, so a truncated name is still terminated.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) };
        let end = buf.iter().position(|&b| b == 0)?;
        (rc == 0).then(|| String::from_utf8_lossy(&buf[..end]).into_owned())
    }
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

/// An environment variable's raw value, through libc (valid before `main`).
pub fn getenv(name: &CStr) -> Option<Vec<u8>> {
    // SAFETY: getenv returns NULL or a NUL-terminated string we copy at once.
    unsafe {
        let p = libc::getenv(name.as_ptr());
        (!p.is_null()).then(|| CStr::from_ptr(p).to_bytes().to_vec())
    }
}

extern "C" {
    static mut environ: *mut *mut libc::c_char;
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

    #[test]
    fn stat_start_is_field_22_and_never_a_cut_number() {
        // Fields 3 to 23 after the command name: 22 is 4400, 23 is 7.
        let tail = "S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 4400 7 8";
        assert_eq!(
            parse_stat_start(format!("9 (a) b) {tail}").as_bytes()),
            Some(4400)
        );
        let whole = format!("9 (x) {tail}");
        assert_eq!(parse_stat_start(whole.as_bytes()), Some(4400));
        // Cut inside field 22, or right after it: no answer.
        let cut = whole.find(" 4400").unwrap() + 3;
        assert_eq!(parse_stat_start(&whole.as_bytes()[..cut]), None);
        assert_eq!(parse_stat_start(&whole.as_bytes()[..cut + 2]), None);
        assert_eq!(parse_stat_start(b"garbage"), None);
    }

    #[test]
    fn start_time_names_this_process() {
        let me = start_time(getpid()).unwrap();
        assert_eq!(start_time(getpid()), Some(me));
        assert_eq!(start_time(i32::MAX), None);
        assert!(!ended(getpid(), me), "this process lives");
        assert!(
            ended(getpid(), me + 1),
            "another start time: the pid was reused"
        );
        assert!(ended(i32::MAX, 1) && no_such_process(i32::MAX));
        assert!(!no_such_process(getpid()) && !no_such_process(0));
        assert!(boot_ns() >= ticks_to_ns(me), "started before now");
        // The process clock moves with work (spin until it has moved 20 ms).
        let before = process_cpu_ns(getpid()).unwrap();
        let spun = std::time::Instant::now();
        while process_cpu_ns(getpid()).unwrap() < before + 20_000_000 {
            assert!(spun.elapsed().as_secs() < 30, "CPU clock stuck at {before}");
        }
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id() as libc::pid_t;
        let started = start_time(gone).unwrap();
        let waited = std::time::Instant::now();
        while !ended(gone, started) {
            assert!(
                waited.elapsed().as_secs() < 30,
                "`true` never became a zombie"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // Not reaped yet: a zombie, which has ended though its pid is taken.
        assert!(!no_such_process(gone), "a zombie still has its pid");
        child.wait().unwrap();
        assert_eq!(process_cpu_ns(gone), None, "a reaped child has no clock");
        assert_eq!(process_cpu_ns(0), None, "pid 0 names no other process");
        assert_eq!(process_cpu_ns(-1), None);
        assert!(ended(gone, started) && no_such_process(gone));
    }

    #[test]
    fn the_pid_namespace_is_known_and_inherited() {
        let mine = pid_namespace();
        assert_ne!(mine, 0, "/proc/self/ns/pid");
        let link = std::fs::read_link("/proc/self/ns/pid").unwrap();
        assert_eq!(link.to_str().unwrap(), format!("pid:[{mine}]"));
        let child = std::process::Command::new("readlink")
            .arg("/proc/self/ns/pid")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&child.stdout).trim(),
            format!("pid:[{mine}]"),
            "a child is in its parent's namespace"
        );
    }

    #[test]
    fn this_process_is_seen() {
        assert!(thread_count().unwrap() >= 1);
        assert_eq!(task_state(gettid()), Some(b'R'));
        assert!(affinity(0).unwrap().count() >= 1);
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
}

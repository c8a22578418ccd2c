//! Thin wrappers over the system calls and `/proc` files that both the
//! library and the command read (the CPUs, the settings' files, the
//! environment, other processes' state), and the ledger's shared futex.
//! They go straight to the kernel so that they never reach the library's
//! interposed `sched_getaffinity` or `sysconf`. What only the library
//! calls, on its own threads and environment, is in its own `sys.rs`.

use crate::cpumask::CpuMask;
use crate::inputs::{FileError, Inputs, MAX_BUDGET_FILE_BYTES};
use std::ffi::CStr;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;

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

/// Whether `errno` is what a sandbox's system-call filter answers a call it
/// refuses (man-db's around groff: `ENOSYS`; others: `EPERM`): the host's
/// choice, which the library goes along with without a word on stderr
/// (docs/limits.md). Neither is what the calls the library makes at start
/// return otherwise.
pub fn refused_by_filter(errno: i32) -> bool {
    matches!(errno, libc::ENOSYS | libc::EPERM)
}

/// Whether `errno`, from opening a file, says the process may not (a
/// sandbox such as Landlock, a file's mode: `EACCES`; a system-call filter:
/// `EPERM`, `ENOSYS`) rather than that something is wrong with the file.
pub fn refused_access(errno: i32) -> bool {
    errno == libc::EACCES || refused_by_filter(errno)
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

/// This process's own start time (see [`start_time`]), from
/// `/proc/self/stat`, and only where /proc is of this process's PID
/// namespace: where it is another's (`unshare --pid --fork` without
/// `--mount-proc`, bubblewrap's `--unshare-pid` with the host's /proc),
/// `/proc/PID` names another process than `PID` here does, so that no
/// member of a tree could be judged by it; `None` then, as when /proc
/// cannot be read. Told apart by the pid `/proc/self/stat` gives (the
/// calling process as that /proc numbers it) against `getpid`, at no cost
/// over reading the start time. Allocates nothing and takes no lock.
pub fn own_start_time() -> Option<u64> {
    let mut buf = [0u8; STAT_BYTES];
    let stat = read_stat(format_args!("/proc/self/stat\0"), &mut buf)?;
    let end = stat.iter().position(|&b| b == b' ')?;
    let pid: libc::pid_t = std::str::from_utf8(&stat[..end]).ok()?.parse().ok()?;
    if pid != getpid() {
        return None;
    }
    parse_stat_start(stat)
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
pub fn parse_stat_field<T: std::str::FromStr>(stat: &[u8], n: usize) -> Option<T> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let mut fields = stat.get(close + 2..)?.split(|&b| b == b' ');
    let field = fields.nth(n - 3)?;
    fields.next()?;
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// Enough of a `stat` file for fields 1 to 23: a command name of at most 64
/// bytes and 21 numbers of at most 20 digits.
pub const STAT_BYTES: usize = 1024;

/// Reads the start of a /proc `stat` file, named by `path` (formatted with
/// its NUL), into `buf`: no allocation, async-signal-safe calls only.
pub fn read_stat<'b>(path: std::fmt::Arguments, buf: &'b mut [u8; STAT_BYTES]) -> Option<&'b [u8]> {
    read_small(path, buf)
}

/// Reads the start of a small file of /proc or /sys (one that the kernel
/// hands over in one read), named by `path` (formatted with its NUL, at most
/// 255 bytes), into `buf`: no allocation, async-signal-safe calls only.
pub fn read_small<'b>(path: std::fmt::Arguments, buf: &'b mut [u8]) -> Option<&'b [u8]> {
    let mut name = [0u8; 256];
    let mut cursor = std::io::Cursor::new(&mut name[..]);
    std::io::Write::write_fmt(&mut cursor, path).ok()?;
    let name = CStr::from_bytes_until_nul(&name).ok()?;
    read_and_close(open_read_only(name).ok()?, buf)
}

/// Opens `name` for reading as every file the library reads at start: never
/// blocking (a FIFO), never becoming a controlling terminal, closed on
/// `exec`. The errno when it cannot. Async-signal-safe.
fn open_read_only(name: &CStr) -> Result<libc::c_int, i32> {
    let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: a NUL-terminated path; the caller closes the descriptor.
    let fd = unsafe { libc::open(name.as_ptr(), flags) };
    if fd < 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(fd)
    }
}

/// One `read` of `fd` into `buf`, then `fd` closed: what a file of /proc or
/// /sys holds, which the kernel hands over in one read. Async-signal-safe.
fn read_and_close(fd: libc::c_int, buf: &mut [u8]) -> Option<&[u8]> {
    // SAFETY: `buf` is valid for writes of its length; `fd` is closed once.
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

/// The physical cores among the CPUs of `mask`, counted up to `bound` (the
/// count is `bound` when there are at least that many): CPUs are on one
/// core when sysfs gives them the same SMT siblings (the first CPU of
/// `thread_siblings_list` names the core); a CPU whose topology cannot be
/// read counts as a core of its own. Where SMT is off (`smt/active` says
/// 0), every CPU is a core, and nothing more is read.
///
/// A topology file per CPU costs 7-10 µs: read for every CPU of a 256-CPU
/// node, at every start of every process whose share is below its CPUs
/// (every member of a tree), that was milliseconds. Callers need only know
/// whether the cores exceed a limit, so the count stops there: with SMT, it
/// reads files until `bound` cores are seen (about `bound` files where CPUs
/// are numbered core by core first, twice that where siblings are
/// adjacent); without, none.
pub fn cores_up_to(mask: &CpuMask, bound: usize) -> usize {
    cores_under("/sys", mask, bound)
}

/// [`cores_up_to`] with sysfs at `sys` (a fixture in the tests).
fn cores_under(sys: &str, mask: &CpuMask, bound: usize) -> usize {
    let bound = bound.max(1);
    let mut buf = [0u8; 64];
    let smt_off = read_small(
        format_args!("{sys}/devices/system/cpu/smt/active\0"),
        &mut buf,
    )
    .is_some_and(|b| b.trim_ascii() == b"0");
    if smt_off {
        return mask.count().clamp(1, bound);
    }
    let mut seen = CpuMask::empty();
    let mut cores = 0;
    for cpu in mask.cpus() {
        if cores >= bound {
            break;
        }
        let mut buf = [0u8; 256];
        let path =
            format_args!("{sys}/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list\0");
        let core = read_small(path, &mut buf)
            .and_then(|text| {
                let end = text
                    .iter()
                    .position(|b| !b.is_ascii_digit())
                    .unwrap_or(text.len());
                std::str::from_utf8(&text[..end])
                    .ok()?
                    .parse::<usize>()
                    .ok()
            })
            .filter(|&c| c < CpuMask::BYTES * 8)
            .unwrap_or(cpu);
        if !seen.cpus().any(|c| c == core) {
            seen.set(core);
            cores += 1;
        }
    }
    cores.clamp(1, bound)
}

/// `text` with a NUL after it, in `buf`; `None` if it does not fit or holds
/// a NUL.
fn nul_terminated<'b>(text: &str, buf: &'b mut [u8]) -> Option<&'b CStr> {
    let bytes = text.as_bytes();
    if bytes.len() >= buf.len() || bytes.contains(&0) {
        return None;
    }
    buf[..bytes.len()].copy_from_slice(bytes);
    buf[bytes.len()] = 0;
    CStr::from_bytes_with_nul(&buf[..=bytes.len()]).ok()
}

/// The files every process start reads, read with plain system calls and
/// a buffer on the stack: a file that is not there (the system file, on
/// most machines), one the process is refused, and the small files of
/// /proc and /sys (a cgroup, a quota). `None` for the rest, which
/// [`read_budget_file`] reads with its checks (a file that is there but is
/// not the kernel's: the system file, a budget file, which may be a FIFO).
///
/// Through `std::fs` each such file also cost a `statx`, a second `read`
/// and a heap buffer: 4 system calls and about 2 page faults of every
/// preloaded `/bin/true` (docs/benchmarks.md, start-up).
fn read_lean(path: &str) -> Option<Result<Vec<u8>, FileError>> {
    let mut name = [0u8; 256];
    let name = nul_terminated(path, &mut name)?;
    let fd = match open_read_only(name) {
        Ok(fd) => fd,
        Err(libc::ENOENT | libc::ENOTDIR) => return Some(Err(FileError::Missing)),
        Err(errno) if refused_access(errno) => {
            let why = std::io::Error::from_raw_os_error(errno).to_string();
            return Some(Err(FileError::Refused(why)));
        }
        Err(_) => return None,
    };
    if !(path.starts_with("/proc/") || path.starts_with("/sys/")) {
        // SAFETY: the descriptor just opened, closed once.
        unsafe { libc::close(fd) };
        return None;
    }
    // One that fills the buffer is read again the careful way.
    let mut buf = [0u8; 4096];
    let bytes = read_and_close(fd, &mut buf).filter(|b| b.len() < 4096)?;
    Some(Ok(bytes.to_vec()))
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
            _ if e.raw_os_error().is_some_and(refused_access) => FileError::Refused(e.to_string()),
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
    // /proc and cgroup files say 0 or 4096 bytes and hold a line or two.
    // Read into a buffer on the stack and kept at their size: a 4 KiB
    // buffer on the heap for each file read at start, some of them kept
    // (`cgroup_findings`), took a fresh page of it each, a page fault in
    // every process (docs/benchmarks.md, start-up).
    let mut small = [0u8; 4096];
    let mut file = file.take(MAX_BUDGET_FILE_BYTES + 1);
    let unreadable = |e: std::io::Error| FileError::Unreadable(e.to_string());
    let mut bytes = if meta.len() < small.len() as u64 {
        let mut n = 0;
        while n < small.len() {
            match file.read(&mut small[n..]) {
                Ok(0) => return Ok(small[..n].to_vec()),
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(unreadable(e)),
            }
        }
        small.to_vec()
    } else {
        Vec::with_capacity(meta.len() as usize + 1)
    };
    file.read_to_end(&mut bytes).map_err(unreadable)?;
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
        // Named on the stack: resolution asks for some thirty variables at
        // every process start. A longer name is named on the heap.
        let mut buf = [0u8; 128];
        match nul_terminated(name, &mut buf) {
            Some(name) => getenv(name),
            None => getenv(&std::ffi::CString::new(name).ok()?),
        }
    }

    fn read_file(&self, path: &str) -> Result<Vec<u8>, FileError> {
        read_lean(path).unwrap_or_else(|| read_budget_file(path))
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

/// The state field follows the last `)`: the command name may hold anything.
pub fn parse_stat_state(stat: &[u8]) -> Option<u8> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    stat.get(close + 2).copied()
}

/// An environment variable's raw value, through libc (valid before `main`).
pub fn getenv(name: &CStr) -> Option<Vec<u8>> {
    // SAFETY: getenv returns NULL or a NUL-terminated string we copy at once.
    unsafe {
        let p = libc::getenv(name.as_ptr());
        (!p.is_null()).then(|| CStr::from_ptr(p).to_bytes().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lean reads at start say what the careful one would: a file that
    /// is not there, a small file of /proc whole; anything else is left to
    /// the careful one (a regular file, whose checks it keeps; a path that
    /// does not fit its buffer).
    #[test]
    fn lean_reads_agree_with_the_careful_one() {
        assert!(matches!(
            read_lean("/nonexistent/throttle.conf"),
            Some(Err(FileError::Missing))
        ));
        assert!(matches!(
            read_lean("/etc/hostname/x"),
            Some(Err(FileError::Missing))
        ));
        let cgroup = read_lean("/proc/self/cgroup").unwrap().unwrap();
        assert_eq!(cgroup, std::fs::read("/proc/self/cgroup").unwrap());
        assert!(read_lean("/etc/passwd").is_none());
        assert!(read_lean(&format!("/proc/{}", "x".repeat(300))).is_none());
        assert_eq!(Live.read_file("/proc/self/cgroup").unwrap(), cgroup);
        assert!(matches!(
            Live.read_file("/nonexistent"),
            Err(FileError::Missing)
        ));
        // Variables are looked up by a name on the stack.
        assert_eq!(
            Live.var("PATH"),
            std::env::var_os("PATH").map(|v| v.into_encoded_bytes())
        );
        assert_eq!(Live.var("THROTTLE_NO_SUCH_VARIABLE"), None);
        assert_eq!(Live.var("A\0B"), None);
        // A name too long for the stack buffer goes to the heap's CString
        // (the environment is not changed here: other tests read it).
        let long = format!("THROTTLE_TEST_{}", "X".repeat(200));
        assert!(nul_terminated(&long, &mut [0u8; 128]).is_none());
        assert_eq!(Live.var(&long), None);
    }

    /// Cores counted up to a bound, on a made-up topology: 8 CPUs, SMT
    /// siblings n and n+4 (as on most x86 nodes), and one without SMT.
    #[test]
    fn cores_are_counted_up_to_a_bound() {
        let sys = std::env::temp_dir().join(format!("throttle-cores-{}", std::process::id()));
        let cpu = sys.join("devices/system/cpu");
        for n in 0..8 {
            let topology = cpu.join(format!("cpu{n}/topology"));
            std::fs::create_dir_all(&topology).unwrap();
            let (a, b) = (n % 4, n % 4 + 4);
            std::fs::write(topology.join("thread_siblings_list"), format!("{a},{b}\n")).unwrap();
        }
        std::fs::create_dir_all(cpu.join("smt")).unwrap();
        std::fs::write(cpu.join("smt/active"), "1\n").unwrap();
        let root = sys.to_str().unwrap();
        let all = CpuMask::of(&[0, 1, 2, 3, 4, 5, 6, 7]);
        for bound in 1..=6 {
            assert_eq!(
                cores_under(root, &all, bound),
                bound.min(4),
                "bound {bound}"
            );
        }
        // The second siblings alone are cores too; two siblings are one.
        assert_eq!(cores_under(root, &CpuMask::of(&[4, 5]), 8), 2);
        assert_eq!(cores_under(root, &CpuMask::of(&[1, 5]), 8), 1);
        // A CPU with no topology file is a core of its own.
        assert_eq!(cores_under(root, &CpuMask::of(&[0, 4, 9]), 8), 2);
        // SMT off: every CPU, nothing else read.
        std::fs::write(cpu.join("smt/active"), "0\n").unwrap();
        assert_eq!(cores_under(root, &all, 8), 8);
        assert_eq!(cores_under(root, &all, 3), 3);
        std::fs::remove_dir_all(&sys).unwrap();
        // This machine: between 1 and its CPUs.
        let mask = affinity(0).unwrap();
        assert!((1..=mask.count()).contains(&cores_up_to(&mask, usize::MAX)));
    }

    /// Files of every size read whole, whichever buffer they go through:
    /// under, at and over the 4 KiB read on the stack, one that says its
    /// size is 0 (/proc), and the bound.
    #[test]
    fn files_of_every_size_are_read_whole() {
        let dir = std::env::temp_dir().join(format!("throttle-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for size in [
            0usize,
            1,
            151,
            4095,
            4096,
            4097,
            9000,
            MAX_BUDGET_FILE_BYTES as usize,
        ] {
            let path = dir.join(format!("f{size}"));
            let content: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
            std::fs::write(&path, &content).unwrap();
            let read = read_budget_file(path.to_str().unwrap()).unwrap();
            assert!(read == content, "{size} bytes read as {}", read.len());
        }
        let over = dir.join("over");
        std::fs::write(&over, vec![b'1'; MAX_BUDGET_FILE_BYTES as usize + 1]).unwrap();
        assert!(matches!(
            read_budget_file(over.to_str().unwrap()),
            Err(FileError::TooLarge(_))
        ));
        // Says 0 bytes, holds more than 4 KiB: this process's memory map,
        // with 64 more regions of alternating protection (never merged).
        let page = 4096;
        // SAFETY: a fresh private anonymous mapping, unmapped below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                128 * page,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED);
        for i in (0..128).step_by(2) {
            // SAFETY: a page of the mapping above.
            unsafe {
                libc::mprotect(
                    base.cast::<u8>().add(i * page).cast(),
                    page,
                    libc::PROT_NONE,
                )
            };
        }
        let maps = read_budget_file("/proc/self/maps").unwrap();
        // SAFETY: the mapping made above, no longer used.
        unsafe { libc::munmap(base, 128 * page) };
        assert!(
            maps.len() > 8192 && maps.ends_with(b"\n"),
            "{} bytes",
            maps.len()
        );
        std::fs::remove_dir_all(&dir).unwrap();
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
        assert_eq!(own_start_time(), Some(me));
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
}

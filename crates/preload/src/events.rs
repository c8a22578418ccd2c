//! The event log (`THROTTLE_LOG_FILE`): one JSON object per line, appended by
//! every process that shares the file, for `throttle report` and for admins.
//!
//! Why it is safe to share one file between many processes: the file is
//! opened with `O_APPEND` and each event is formatted into a stack buffer and
//! written with a single `write(2)` of less than [`MAX_LINE`] bytes. On Linux
//! a write to a regular file holds the inode's lock for its whole length, so
//! appends from different processes (or from forked children sharing the
//! open file) never interleave. This holds for local filesystems; NFS does not
//! make `O_APPEND` atomic between hosts (see docs/event-log.md).
//!
//! What may run where: [`open`] and the `start` event run once, at
//! initialisation, and may allocate. Everything else ([`wait`], [`refuse`],
//! [`confine`], [`clamp`], [`exit`], the `fork` event) is reachable from
//! `pthread_create` or a `fork` child and uses only the stack, atomics and
//! async-signal-safe system calls. Nothing here panics on any input: buffer
//! writes are bounds-checked and an event that would not fit is dropped.

use crate::launchers::{script_of, until_nul, Script};
use crate::lock::Racy;
use crate::log::warn;
use crate::{status, sys};
use std::ffi::CStr;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering::*};

/// This module's state, in one value (docs/design.md, section 3).
struct State {
    /// The descriptor of the open log, -1 when there is none. The file is moved
    /// above the descriptors programs usually use, so that it never takes the
    /// number a program expects `open` to return.
    fd: AtomicI32,
    /// The file's identity: a program that closes our descriptor and reuses its
    /// number must never receive our lines.
    dev: AtomicU64,
    ino: AtomicU64,
    /// The identity fields (`IDENTITY_BYTES`), written once before `fd` is
    /// published, and how many bytes of them are used.
    identity: Racy<[u8; IDENTITY_BYTES]>,
    identity_len: AtomicUsize,
    /// Set in a `fork` child; its first event is preceded by a `fork` event, so
    /// that a child that only execs writes nothing.
    forked: AtomicBool,
    /// Events of each rate-limited kind (`Kind`) written so far.
    written: [AtomicU32; 4],
    /// The cap in force, as `cap` last told it (`note_cap`): every event shows it.
    cap: AtomicUsize,
    /// Clamps have no counter in `cap::STATE.stats`: counted here for the exit event.
    clamps: AtomicUsize,
    /// The `argv` array the loader gave the library's constructor: valid for
    /// the life of the process (null until then).
    argv: std::sync::atomic::AtomicPtr<*const libc::c_char>,
}

static STATE: State = State {
    fd: AtomicI32::new(-1),
    dev: AtomicU64::new(0),
    ino: AtomicU64::new(0),
    identity: Racy::new([0; IDENTITY_BYTES]),
    identity_len: AtomicUsize::new(0),
    forked: AtomicBool::new(false),
    written: [
        AtomicU32::new(0),
        AtomicU32::new(0),
        AtomicU32::new(0),
        AtomicU32::new(0),
    ],
    cap: AtomicUsize::new(0),
    clamps: AtomicUsize::new(0),
    argv: std::sync::atomic::AtomicPtr::new(std::ptr::null_mut()),
};

/// The longest line written, newline included: far below what any Linux
/// filesystem needs to keep an `O_APPEND` write in one piece, and small
/// enough for the stack of any thread that calls `pthread_create`.
pub const MAX_LINE: usize = 4096;

/// Events of each rate-limited kind written per process; later ones are only
/// counted, and the `exit` event carries the totals.
pub const PER_KIND: u32 = 100;

/// Bounds on each string field, in escaped bytes, so that a line always fits:
/// the identity (host, job ids, exe, argv0, script) stays under 2.5 KiB.
const MAX_EXE: usize = 1024;
const MAX_ARGV0: usize = 256;
const MAX_SCRIPT: usize = 256;
const MAX_HOST: usize = 256;
const MAX_JOB: usize = 96;
const MAX_SETTER: usize = 128;
/// A library's full path: which installation (a virtualenv, a conda
/// environment) the runtime came from is what an admin wants to know.
const MAX_LIBRARY: usize = 1024;

const FD_FLOOR: libc::c_int = 512;

/// The fields every event carries after `pid`, formatted once at
/// initialisation: `"host":..,"exe":..,"argv0":..`, `"script":..` for an
/// interpreter, and the job ids present.
const IDENTITY_BYTES: usize = 2560;

/// The rate-limited kinds.
#[derive(Clone, Copy)]
enum Kind {
    Wait,
    Refuse,
    Confine,
    Clamp,
}

/// The environment variables that identify a batch job, and their keys.
const JOB_VARS: [(&CStr, &str); 5] = [
    (c"SLURM_JOB_ID", "slurm_job_id"),
    (c"SLURM_STEP_ID", "slurm_step_id"),
    (c"PBS_JOBID", "pbs_jobid"),
    (c"LSB_JOBID", "lsb_jobid"),
    (c"JOB_ID", "job_id"),
];

/// A line being built on the stack. Writes past the end set `overflow` and
/// are dropped; an overflowed line is never written.
pub struct Line<const N: usize> {
    bytes: [u8; N],
    len: usize,
    overflow: bool,
}

impl<const N: usize> Line<N> {
    pub const fn new() -> Self {
        Line {
            bytes: [0; N],
            len: 0,
            overflow: false,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }

    fn push(&mut self, b: &[u8]) {
        match self.bytes.get_mut(self.len..self.len + b.len()) {
            Some(dst) if !self.overflow => {
                dst.copy_from_slice(b);
                self.len += b.len();
            }
            _ => self.overflow = true,
        }
    }

    /// `"key":` after a comma unless this is the first field.
    fn key(&mut self, key: &str) {
        if self.len > 1 {
            self.push(b",");
        }
        self.push(b"\"");
        self.push(key.as_bytes());
        self.push(b"\":");
    }

    fn num(&mut self, key: &str, value: impl fmt::Display) {
        self.key(key);
        let _ = write!(self, "{value}");
    }

    fn str(&mut self, key: &str, raw: &[u8], max: usize) {
        self.key(key);
        self.json_string(raw, max);
    }

    /// `raw` as a JSON string: quotes, backslashes and control characters
    /// escaped, invalid UTF-8 replaced by U+FFFD, at most `max` bytes between
    /// the quotes (a cut string ends in `...`; an escape is never cut).
    pub fn json_string(&mut self, raw: &[u8], max: usize) {
        self.push(b"\"");
        let end = self.len.saturating_add(max);
        let put = |line: &mut Self, piece: &[u8]| -> bool {
            if line.len + piece.len() + 3 > end {
                line.push(b"...");
                return false;
            }
            line.push(piece);
            true
        };
        'chunks: for chunk in raw.utf8_chunks() {
            for c in chunk.valid().chars() {
                let mut utf8 = [0u8; 4];
                let mut esc = *b"\\u0000";
                let piece: &[u8] = match c {
                    '"' => b"\\\"",
                    '\\' => b"\\\\",
                    '\n' => b"\\n",
                    '\r' => b"\\r",
                    '\t' => b"\\t",
                    '\u{8}' => b"\\b",
                    '\u{c}' => b"\\f",
                    c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                        const HEX: &[u8; 16] = b"0123456789abcdef";
                        esc[4] = HEX[(c as usize >> 4) & 0xf];
                        esc[5] = HEX[c as usize & 0xf];
                        &esc
                    }
                    c => c.encode_utf8(&mut utf8).as_bytes(),
                };
                if !put(self, piece) {
                    break 'chunks;
                }
            }
            if !chunk.invalid().is_empty() && !put(self, "\u{fffd}".as_bytes()) {
                break;
            }
        }
        self.push(b"\"");
    }
}

impl<const N: usize> fmt::Write for Line<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

/// Opens the log, once, at initialisation. `path` is `THROTTLE_LOG_FILE`
/// (already ignored in secure-execution mode). A path that cannot be used
/// gives one warning and no log; the program is not otherwise affected.
pub fn open(path: Option<&[u8]>) {
    let Some(path) = path else {
        return;
    };
    let shown = crate::config::shown(path);
    match open_file(path) {
        Ok(fd) => {
            identity();
            STATE.fd.store(fd, Release);
        }
        Err(why) => warn!("THROTTLE_LOG_FILE '{shown}' {why}; no event log"),
    }
}

fn open_file(path: &[u8]) -> Result<libc::c_int, String> {
    let Ok(cpath) = std::ffi::CString::new(path) else {
        return Err("holds a NUL byte".to_string());
    };
    // O_NONBLOCK: opening a FIFO for writing must not block the program; such
    // files are refused just below.
    let flags = libc::O_WRONLY
        | libc::O_APPEND
        | libc::O_CREAT
        | libc::O_CLOEXEC
        | libc::O_NOCTTY
        | libc::O_NONBLOCK;
    // SAFETY: a NUL-terminated path; the descriptor is closed on every
    // path below that does not keep it.
    let fd = unsafe { libc::open(cpath.as_ptr(), flags, 0o644 as libc::c_uint) };
    if fd < 0 {
        return Err(format!(
            "cannot be opened ({})",
            std::io::Error::last_os_error()
        ));
    }
    let close = |fd| {
        // SAFETY: our own descriptor, closed once.
        unsafe { libc::close(fd) };
    };
    let Some((dev, ino, mode)) = stat(fd) else {
        close(fd);
        return Err("cannot be examined".to_string());
    };
    if mode & libc::S_IFMT != libc::S_IFREG {
        close(fd);
        return Err("is not a regular file".to_string());
    }
    if stat(1).is_some_and(|(d, i, _)| (d, i) == (dev, ino)) {
        close(fd);
        return Err("is the program's standard output".to_string());
    }
    // SAFETY: fcntl on our own descriptor; on failure we keep the original.
    let high = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, FD_FLOOR) };
    let fd = if high >= 0 {
        close(fd);
        high
    } else {
        fd
    };
    STATE.dev.store(dev, Relaxed);
    STATE.ino.store(ino, Relaxed);
    Ok(fd)
}

fn stat(fd: libc::c_int) -> Option<(u64, u64, libc::mode_t)> {
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer; fstat is async-signal-safe.
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some((st.st_dev, st.st_ino, st.st_mode))
}

/// Formats the identity fields into `identity`. Called once, before `fd`
/// is published.
fn identity() {
    let mut line: Line<{ IDENTITY_BYTES + 1 }> = Line::new();
    line.push(b"{"); // so that `key` adds commas between fields: dropped below

    let mut host = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
    // when the name fits, and we stop at the first NUL either way.
    if unsafe { libc::gethostname(host.as_mut_ptr().cast(), host.len() - 1) } == 0 {
        line.str("host", until_nul(&host), MAX_HOST);
    }
    for (var, key) in JOB_VARS {
        // SAFETY: getenv returns NULL or a NUL-terminated string, read at once.
        let value = unsafe { libc::getenv(var.as_ptr()) };
        if !value.is_null() {
            // SAFETY: non-null, NUL-terminated.
            let value = unsafe { CStr::from_ptr(value) }.to_bytes();
            line.str(key, value, MAX_JOB);
        }
    }
    with_program(|program| {
        if let Some(exe) = program.exe {
            line.str("exe", exe, MAX_EXE);
        }
        if let Some(argv0) = program.argv0 {
            line.str("argv0", argv0, MAX_ARGV0);
        }
        match program.script {
            Some(Script::Path(path)) => line.str("script", path, MAX_SCRIPT),
            Some(Script::Module(name)) => line.str("module", name, MAX_SCRIPT),
            None => {}
        }
    });
    if line.overflow {
        return;
    }
    // Without the "{" that made `key` separate the fields.
    let fields = line.as_bytes().get(1..).unwrap_or(&[]);
    if fields.len() > IDENTITY_BYTES {
        return;
    }
    // SAFETY: `fields` fits in `identity` (checked above), a distinct buffer.
    // Written once, before `fd` is published; readers only read the first
    // `identity_len` bytes after loading `fd` with Acquire.
    unsafe {
        std::ptr::copy_nonoverlapping(
            fields.as_ptr(),
            STATE.identity.get().cast::<u8>(),
            fields.len(),
        );
    }
    STATE.identity_len.store(fields.len(), Relaxed);
}

/// What this process runs, as the kernel has it (`/proc/self/exe` and
/// `cmdline`, read into buffers on the stack).
pub struct Program<'a> {
    /// The executable, symbolic links resolved.
    pub exe: Option<&'a [u8]>,
    /// The name it was started by.
    pub argv0: Option<&'a [u8]>,
    /// For an interpreter, the script or module it runs.
    pub script: Option<Script<'a>>,
}

/// Calls `f` with what this process runs.
pub fn with_program<R>(f: impl FnOnce(&Program) -> R) -> R {
    let mut exe = [0u8; 4096];
    // SAFETY: the buffer is valid for writes of its length; readlink does not
    // NUL-terminate, so its return value is the length.
    let n = unsafe { libc::readlink(c"/proc/self/exe".as_ptr(), exe.as_mut_ptr().cast(), 4096) };
    let exe = usize::try_from(n).ok().and_then(|n| exe.get(..n));
    let mut cmdline = [0u8; 4096];
    let (argv0, script) = match read_file(c"/proc/self/cmdline", &mut cmdline) {
        Some(n) => {
            let argv = cmdline.get(..n).unwrap_or(&[]);
            // A full buffer may end inside an argument: leave that one out.
            let complete = match argv.iter().rposition(|&b| b == 0) {
                Some(last) if n == cmdline.len() => &argv[..=last],
                _ => argv,
            };
            (
                Some(until_nul(argv)),
                script_of(exe.unwrap_or(&[]), complete),
            )
        }
        None => (None, None),
    };
    f(&Program { exe, argv0, script })
}

/// Whether this process runs a launcher (`launchers.rs`): by its
/// executable, the name it was started by, or its script or module; the
/// name that matched, if so. Asked at every process start, so it reads the
/// command line the constructor was given and the path `exec` was given
/// where it can (no system call), else `/proc` ([`with_program`]).
pub fn launcher(extra: &[String]) -> Option<String> {
    let matching = |p: &Program| {
        let script = match p.script {
            Some(Script::Path(path)) | Some(Script::Module(path)) => Some(path),
            None => None,
        };
        crate::launchers::matching(&[p.exe, p.argv0, script], extra)
    };
    with_program_as_started(matching).unwrap_or_else(|| with_program(matching))
}

/// Called by the constructor with the `argv` glibc passes to it.
pub fn note_argv(argv: *const *const libc::c_char) {
    STATE.argv.store(argv.cast_mut(), Relaxed);
}

/// [`with_program`] from the constructor's `argv` and the path given to
/// `exec` (`AT_EXECFN`, symbolic links not resolved); `None` before the
/// constructor ran. The arguments are copied NUL-separated, as in
/// `/proc/self/cmdline`.
fn with_program_as_started<R>(f: impl Fn(&Program) -> R) -> Option<R> {
    let argv = STATE.argv.load(Relaxed);
    // SAFETY: getauxval has no preconditions; AT_EXECFN is a NUL-terminated
    // string in the process's initial stack, or 0.
    let execfn = unsafe { libc::getauxval(libc::AT_EXECFN) } as *const libc::c_char;
    if argv.is_null() || execfn.is_null() {
        return None;
    }
    // SAFETY: as above.
    let exe = unsafe { CStr::from_ptr(execfn) }.to_bytes();
    let mut cmdline = [0u8; 4096];
    let mut n = 0;
    for i in 0.. {
        // SAFETY: `argv` is the NULL-terminated array glibc passed to the
        // constructor, whose strings live as long as the process.
        let arg = unsafe { *argv.add(i) };
        if arg.is_null() {
            break;
        }
        // SAFETY: as above.
        let arg = unsafe { CStr::from_ptr(arg) }.to_bytes_with_nul();
        let Some(room) = cmdline.get_mut(n..n + arg.len()) else {
            break;
        };
        room.copy_from_slice(arg);
        n += arg.len();
    }
    let argv = &cmdline[..n];
    Some(f(&Program {
        exe: Some(exe),
        argv0: (n > 0).then(|| until_nul(argv)),
        script: script_of(exe, argv),
    }))
}

fn read_file(path: &CStr, buf: &mut [u8]) -> Option<usize> {
    // SAFETY: a NUL-terminated path; the descriptor is closed once below.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    // SAFETY: `buf` is valid for writes of its length.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    // SAFETY: our own descriptor.
    unsafe { libc::close(fd) };
    usize::try_from(n).ok()
}

/// Starts an event line: `{"time":..,"event":..,"pid":..,<identity>`.
fn begin(line: &mut Line<MAX_LINE>, event: &str) {
    line.push(b"{");
    line.key("time");
    line.push(b"\"");
    let (secs, millis) = realtime();
    write_time(line, secs, millis);
    line.push(b"\"");
    line.str("event", event.as_bytes(), 16);
    line.num("pid", sys::getpid());
    let len = STATE.identity_len.load(Relaxed);
    if len > 0 {
        // SAFETY: `identity` was written before `fd` was published, and the
        // caller has loaded `fd` (Acquire); it is never written again, and
        // `len` is at most its size.
        let identity = unsafe {
            std::slice::from_raw_parts(
                STATE.identity.get().cast::<u8>().cast_const(),
                len.min(IDENTITY_BYTES),
            )
        };
        line.push(b",");
        line.push(identity);
    }
}

/// Writes the line with one `write(2)`, if it fits and the log is still ours.
fn finish(line: &mut Line<MAX_LINE>, fd: libc::c_int) {
    line.push(b"}\n");
    if line.overflow {
        return;
    }
    match stat(fd) {
        Some((dev, ino, _)) if dev == STATE.dev.load(Relaxed) && ino == STATE.ino.load(Relaxed) => {
        }
        _ => return,
    }
    let bytes = line.as_bytes();
    for _ in 0..2 {
        // SAFETY: `bytes` is valid for reads of its length. A failed or short
        // write (a full disk) loses this event and nothing else.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        // Retry only a write interrupted before it wrote anything.
        // SAFETY: errno is thread-local and always readable.
        if n >= 0 || unsafe { *libc::__errno_location() } != libc::EINTR {
            return;
        }
    }
}

/// The log's descriptor, writing the deferred `fork` event first in a child.
fn log_fd() -> Option<libc::c_int> {
    let fd = STATE.fd.load(Acquire);
    if fd < 0 {
        return None;
    }
    if STATE.forked.swap(false, Relaxed) {
        let mut line = Line::new();
        begin(&mut line, "fork");
        // SAFETY: getppid has no preconditions.
        line.num("ppid", unsafe { libc::getppid() });
        settings(&mut line);
        finish(&mut line, fd);
    }
    Some(fd)
}

fn settings(line: &mut Line<MAX_LINE>) {
    line.num("cap", STATE.cap.load(Relaxed));
    line.str("source", status::source().as_bytes(), 32);
    line.str("policy", status::policy().name().as_bytes(), 16);
}

/// A rate-limited event: the log's descriptor if this one is to be written.
fn limited(kind: Kind) -> Option<libc::c_int> {
    if STATE.fd.load(Relaxed) < 0 {
        return None;
    }
    let written = STATE.written.get(kind as usize)?;
    if written.fetch_add(1, Relaxed) >= PER_KIND {
        written.store(PER_KIND, Relaxed); // never wraps, however long it runs
        return None;
    }
    log_fd()
}

/// `start`: at initialisation, once the settings are in force.
pub fn start(live: usize, wait_ms: u64) {
    let Some(fd) = log_fd() else {
        return;
    };
    let mut line = Line::new();
    begin(&mut line, "start");
    // SAFETY: getppid has no preconditions.
    line.num("ppid", unsafe { libc::getppid() });
    settings(&mut line);
    line.num("wait_ms", wait_ms);
    line.num("live", live);
    finish(&mut line, fd);
}

/// `wait`: a creation over the cap waited `waited_ms` under policy `wait`;
/// `timed_out` when the bound ran out and the process was confined.
pub fn wait(waited_ms: u64, timed_out: bool) {
    let Some(fd) = limited(Kind::Wait) else {
        return;
    };
    let mut line = Line::new();
    begin(&mut line, "wait");
    line.num("waited_ms", waited_ms);
    line.num("timed_out", timed_out);
    line.num("cap", STATE.cap.load(Relaxed));
    finish(&mut line, fd);
}

/// `refuse`: a creation over the cap got `EAGAIN` (policy `fail`).
pub fn refuse(live: usize) {
    let Some(fd) = limited(Kind::Refuse) else {
        return;
    };
    let mut line = Line::new();
    begin(&mut line, "refuse");
    line.num("live", live);
    line.num("cap", STATE.cap.load(Relaxed));
    finish(&mut line, fd);
}

/// `confine`: the process's threads were pinned to `cap` CPUs.
pub fn confine(live: usize) {
    let Some(fd) = limited(Kind::Confine) else {
        return;
    };
    let mut line = Line::new();
    begin(&mut line, "confine");
    line.num("live", live);
    line.num("cap", STATE.cap.load(Relaxed));
    finish(&mut line, fd);
}

/// `clamp`: a runtime's thread setter (`setter`, defined in `library`) was
/// called with `requested` threads and given `granted`.
pub fn clamp(setter: &str, library: &str, requested: i64, granted: i64) {
    STATE.clamps.fetch_add(1, Relaxed);
    let Some(fd) = limited(Kind::Clamp) else {
        return;
    };
    let mut line = Line::new();
    begin(&mut line, "clamp");
    line.str("setter", setter.as_bytes(), MAX_SETTER);
    line.str("library", library.as_bytes(), MAX_LIBRARY);
    line.num("requested", requested);
    line.num("granted", granted);
    line.num("cap", STATE.cap.load(Relaxed));
    finish(&mut line, fd);
}

/// The cap in force now: `cap` tells every change (events sit below it).
pub fn note_cap(cap: usize) {
    STATE.cap.store(cap, Relaxed);
}

/// What a process did with its threads, as it ends (`cap::totals`).
pub struct Totals {
    pub cap: usize,
    pub max_cap: usize,
    pub peak: usize,
    pub live: usize,
    pub created: usize,
    pub over_cap: usize,
    pub waited: usize,
    pub refused: usize,
    pub confined: usize,
    pub managed: usize,
}

/// `exit`: at normal exit, the totals (whatever the rate limit let through).
pub fn exit(t: &Totals) {
    let Some(fd) = log_fd() else {
        return;
    };
    let mut line = Line::new();
    begin(&mut line, "exit");
    line.num("cap", t.cap);
    line.num("max_cap", t.max_cap);
    line.num("peak", t.peak);
    line.num("live", t.live);
    line.num("created", t.created);
    line.num("over_cap", t.over_cap);
    line.num("waited", t.waited);
    line.num("refused", t.refused);
    line.num("confined", t.confined);
    line.num("managed", t.managed);
    line.num("clamped", STATE.clamps.load(Relaxed));
    finish(&mut line, fd);
}

/// In a `fork` child: the descriptor is inherited; the counters start again,
/// and the child's first event will be a `fork` event with its own pid.
pub fn reset_after_fork() {
    for written in &STATE.written {
        written.store(0, Relaxed);
    }
    STATE.clamps.store(0, Relaxed);
    if STATE.fd.load(Relaxed) >= 0 {
        STATE.forked.store(true, Relaxed);
    }
}

/// Wall-clock seconds and milliseconds since the epoch.
fn realtime() -> (i64, u32) {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write into; async-signal-safe.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    (ts.tv_sec, (ts.tv_nsec / 1_000_000).clamp(0, 999) as u32)
}

/// `2024-05-01T12:34:56.789Z` from seconds since the epoch (UTC).
fn write_time<const N: usize>(line: &mut Line<N>, secs: i64, millis: u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let _ = write!(
        line,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
}

/// Howard Hinnant's `civil_from_days`: the proleptic Gregorian date of a day
/// count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(raw: &[u8], max: usize) -> String {
        let mut line: Line<8192> = Line::new();
        line.json_string(raw, max);
        assert!(!line.overflow);
        String::from_utf8(line.as_bytes().to_vec()).expect("valid UTF-8")
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(escaped(b"plain", 100), r#""plain""#);
        assert_eq!(escaped(br#"a"b\c"#, 100), r#""a\"b\\c""#);
        assert_eq!(escaped(b"\n\r\t\x08\x0c", 100), r#""\n\r\t\b\f""#);
        assert_eq!(
            escaped(b"\x00\x01\x1f\x7f", 100),
            r#""\u0000\u0001\u001f\u007f""#
        );
        assert_eq!(escaped("é/日本".as_bytes(), 100), "\"é/日本\"");
        assert_eq!(escaped(b"", 100), r#""""#);
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        assert_eq!(escaped(b"a\xffb", 100), "\"a\u{fffd}b\"");
        assert_eq!(escaped(b"\xc3", 100), "\"\u{fffd}\"");
        assert_eq!(escaped(b"\xe6\x97x", 100), "\"\u{fffd}x\"");
    }

    #[test]
    fn long_strings_are_cut_between_escapes() {
        let s = escaped(&[b'x'; 100], 10);
        assert_eq!(s, "\"xxxxxxx...\"");
        // A cut never splits `\u0001` or a multi-byte character.
        for max in 3..40 {
            let s = escaped(&[1u8; 20], max);
            assert!(s.len() <= max + 2, "{max}: {s}");
            assert!(s.ends_with("...\"") || s.ends_with("01\""), "{max}: {s}");
            let s = escaped("日本語".repeat(10).as_bytes(), max);
            assert!(s.len() <= max + 2, "{max}: {s}");
        }
    }

    #[test]
    fn a_line_that_does_not_fit_is_marked() {
        let mut line: Line<16> = Line::new();
        line.push(b"{");
        line.num("a", 1);
        assert!(!line.overflow);
        line.str("long", &[b'x'; 64], 64);
        assert!(line.overflow);
    }

    #[test]
    fn fields_are_comma_separated() {
        let mut line: Line<128> = Line::new();
        line.push(b"{");
        line.num("pid", 12);
        line.str("exe", b"/bin/x", 64);
        line.num("ok", true);
        line.push(b"}");
        assert_eq!(line.as_bytes(), br#"{"pid":12,"exe":"/bin/x","ok":true}"#);
    }

    #[test]
    fn times_are_utc_iso_8601() {
        let mut line: Line<64> = Line::new();
        write_time(&mut line, 0, 0);
        assert_eq!(line.as_bytes(), b"1970-01-01T00:00:00.000Z");
        let mut line: Line<64> = Line::new();
        write_time(&mut line, 1_709_210_096, 7); // a leap day
        assert_eq!(line.as_bytes(), b"2024-02-29T12:34:56.007Z");
        let mut line: Line<64> = Line::new();
        write_time(&mut line, 951_825_600, 999);
        assert_eq!(line.as_bytes(), b"2000-02-29T12:00:00.999Z");
    }

    #[test]
    fn the_largest_identity_and_event_fit_in_a_line() {
        let mut identity: Line<{ IDENTITY_BYTES + 1 }> = Line::new();
        identity.push(b"{");
        identity.str("host", &[0xff; 4096], MAX_HOST);
        for (_, key) in JOB_VARS {
            identity.str(key, &[0x01; 4096], MAX_JOB);
        }
        identity.str("exe", &[b'"'; 4096], MAX_EXE);
        identity.str("argv0", &[0x80; 4096], MAX_ARGV0);
        identity.str("script", &[0x80; 4096], MAX_SCRIPT);
        assert!(!identity.overflow);
        let mut line: Line<MAX_LINE> = Line::new();
        line.push(
            b"{\"time\":\"2024-02-29T12:34:56.007Z\",\"event\":\"clamp\",\"pid\":2147483647,",
        );
        line.push(identity.as_bytes());
        line.str("setter", &[0x02; 4096], MAX_SETTER);
        line.str("library", &[0x02; 4096], MAX_LIBRARY);
        line.num("requested", i64::MIN);
        line.num("granted", i64::MIN);
        line.num("cap", usize::MAX);
        line.push(b"}\n");
        assert!(!line.overflow, "{} bytes", line.len);
    }
}

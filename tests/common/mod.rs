//! Helpers shared by the integration tests: find the built library, compile the
//! C programs of `c_tests/`, run a program with or without the library in a
//! controlled environment, and parse what it printed.
//!
//! Every run is bounded by a timeout, so a hang (a deadlocked `wait`, say)
//! fails the test instead of hanging CI.

#![allow(dead_code)]

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// How long any one program may run before it is killed and the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// Prefix of every diagnostic line the library writes on stderr.
pub const PREFIX: &str = "libthrottle: ";

/// Prefix of the exit report line (`THROTTLE_REPORT=1`).
pub const REPORT_PREFIX: &str = "libthrottle: report ";

/// Variables removed from the inherited environment before every run, besides
/// every `THROTTLE_*`: they change how many threads the runtimes start.
const SCRUBBED: &[&str] = &[
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "GOTO_NUM_THREADS",
    "MKL_NUM_THREADS",
    "LD_PRELOAD",
];

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The profile's output directory (`target/release` or `target/debug`): this
/// test binary runs from its `deps/`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("the test binary runs from <profile>/deps")
        .to_path_buf()
}

/// The `throttle` command of the same profile (`crates/command`).
pub fn throttle_bin() -> PathBuf {
    static STALE: OnceLock<Option<PathBuf>> = OnceLock::new();
    built("throttle", "throttle.d", &STALE)
}

/// The preload library of the same profile (`crates/preload`).
pub fn lib_path() -> PathBuf {
    static STALE: OnceLock<Option<PathBuf>> = OnceLock::new();
    built("libthrottle.so", "libthrottle.d", &STALE)
}

/// An artifact of another crate of the workspace, built by `cargo build` of
/// the same profile: `cargo test` builds neither the cdylib nor another
/// package's binary. One older than one of its sources (as listed in
/// cargo's dep-info file `dep_info` beside it) would silently test old
/// code, so that is refused too (looked at once per test binary: `stale`).
fn built(name: &str, dep_info: &str, stale: &OnceLock<Option<PathBuf>>) -> PathBuf {
    let path = profile_dir().join(name);
    let build = "build it first with `cargo build --release` (or `cargo build` for a \
                 debug test run): `cargo test` does not build the library or the command";
    assert!(path.is_file(), "{} is missing: {build}", path.display());
    let stale = stale.get_or_init(|| {
        lib_sources(&path.with_file_name(dep_info))
            .into_iter()
            .find(|src| is_newer(src, &path))
    });
    if let Some(src) = stale {
        panic!(
            "{} is older than its source {}: {build}",
            path.display(),
            src.display()
        );
    }
    path
}

/// The source files of a cargo dep-info file (`out: src1 src2 ...`, spaces
/// in names escaped as `\ `); none if the file is missing.
fn lib_sources(dep_info: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string(dep_info) else {
        return Vec::new();
    };
    let Some((_, deps)) = text.lines().next().and_then(|l| l.split_once(": ")) else {
        return Vec::new();
    };
    deps.replace("\\ ", "\0")
        .split_whitespace()
        .map(|d| PathBuf::from(d.replace('\0', " ")))
        .filter(|p| p.exists())
        .collect()
}

/// Extra compiler/linker flags for the C programs that need them.
fn extra_flags(name: &str) -> &'static [&'static str] {
    match name {
        "openblas_linked" => &["-lopenblas"],
        "spawners" => &["-fopenmp"],
        _ => &[],
    }
}

/// The headers the C programs share: a change to one rebuilds them all.
fn c_headers() -> Vec<PathBuf> {
    std::fs::read_dir(repo_root().join("c_tests"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "h"))
                .collect()
        })
        .unwrap_or_default()
}

fn is_newer(a: &Path, b: &Path) -> bool {
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (mtime(a), mtime(b)) {
        (Some(a), Some(b)) => a > b,
        _ => true,
    }
}

/// Compiles `c_tests/<name>.c` (once per test process, and again only if the
/// source is newer than the binary) and returns the binary's path.
pub fn c_program(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get(name) {
        return path.clone();
    }

    let src = repo_root().join("c_tests").join(format!("{name}.c"));
    assert!(src.is_file(), "no C program {}", src.display());
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("c_tests");
    std::fs::create_dir_all(&dir).expect("create the C programs' build directory");
    let out = dir.join(name);

    if !out.is_file() || is_newer(&src, &out) || c_headers().iter().any(|h| is_newer(h, &out)) {
        // Build under a unique name and rename, so test processes that run at
        // the same time never execute a half-written binary.
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let result = Command::new("cc")
            .args(["-O1", "-Wall", "-Werror", "-pthread", "-o"])
            .arg(&tmp)
            .arg(&src)
            .args(extra_flags(name))
            .output()
            .expect("run cc (is a C compiler installed? run scripts/setup.sh)");
        assert!(
            result.status.success(),
            "compiling {} failed ({}):\n{}{}",
            src.display(),
            result.status,
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        );
        std::fs::rename(&tmp, &out).expect("move the compiled C program into place");
    }
    built.insert(name.to_string(), out.clone());
    out
}

/// The Python interpreter with numpy, scipy and threadpoolctl: env
/// `THROTTLE_TEST_PYTHON`, else `<repo>/.venv/bin/python`.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("THROTTLE_TEST_PYTHON") {
        let p = PathBuf::from(p);
        assert!(
            p.exists(),
            "THROTTLE_TEST_PYTHON={} does not exist: run scripts/setup.sh",
            p.display()
        );
        return p;
    }
    let p = repo_root().join(".venv/bin/python");
    assert!(
        p.exists(),
        "no Python for the tests: {} is missing and THROTTLE_TEST_PYTHON is unset; \
         run scripts/setup.sh",
        p.display()
    );
    p
}

/// One run of a program: its arguments, the variables it gets on top of the
/// scrubbed environment, and whether the library is preloaded.
#[derive(Clone, Debug)]
pub struct Run {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    preload: bool,
}

impl Run {
    /// A run of `program`, without the library until `preload(true)`.
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Run {
            program: program.as_ref().to_os_string(),
            args: Vec::new(),
            env: Vec::new(),
            preload: false,
        }
    }

    /// A run of the C program `c_tests/<name>.c`.
    pub fn c(name: &str) -> Self {
        Run::new(c_program(name))
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_os_string(), value.as_ref().to_os_string()));
        self
    }

    /// Every `(name, value)` of `vars`, as `env` one by one.
    pub fn envs(self, vars: &[(&str, &str)]) -> Self {
        vars.iter().fold(self, |run, (k, v)| run.env(k, v))
    }

    pub fn preload(mut self, preload: bool) -> Self {
        self.preload = preload;
        self
    }

    /// Preloaded, with the exit report (`THROTTLE_REPORT=1`).
    pub fn reported(self) -> Self {
        self.preload(true).env("THROTTLE_REPORT", "1")
    }

    /// [`Run::run`], asserting the program succeeded.
    pub fn run_ok(&self) -> Output {
        let out = self.run();
        out.assert_success();
        out
    }

    fn describe(&self) -> String {
        let mut s = String::new();
        if self.preload {
            s.push_str("LD_PRELOAD=libthrottle.so ");
        }
        for (k, v) in &self.env {
            s.push_str(&format!("{}={:?} ", k.to_string_lossy(), v));
        }
        s.push_str(&Path::new(&self.program).display().to_string());
        for a in &self.args {
            s.push_str(&format!(" {}", a.to_string_lossy()));
        }
        s
    }

    /// The command in the scrubbed environment: no inherited `THROTTLE_*`
    /// or thread-count variables, the library preloaded if asked, then the
    /// run's own variables.
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args);
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if k.starts_with("THROTTLE_") || SCRUBBED.contains(&k.as_ref()) {
                cmd.env_remove(&key);
            }
        }
        if self.preload {
            cmd.env("LD_PRELOAD", lib_path());
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs the program to completion (killing it and panicking after
    /// [`TIMEOUT`]) and returns what it printed and how it exited.
    pub fn run(&self) -> Output {
        let mut cmd = self.command();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());

        let what = self.describe();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{what}`: {e}"));
        let mut out_pipe = child.stdout.take().expect("stdout pipe");
        let mut err_pipe = child.stderr.take().expect("stderr pipe");
        let out_reader = thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = out_pipe.read_to_end(&mut buf);
            buf
        });
        let err_reader = thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = err_pipe.read_to_end(&mut buf);
            buf
        });

        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if start.elapsed() > TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "`{what}` did not finish within {} s: killed (a hang or deadlock)",
                        TIMEOUT.as_secs()
                    );
                }
                Ok(None) => thread::sleep(Duration::from_millis(10)),
                Err(e) => panic!("waiting for `{what}`: {e}"),
            }
        };
        // A process the program left running in the background may hold
        // its output open: the test fails instead of waiting for it forever.
        let left = TIMEOUT.saturating_sub(start.elapsed()) + Duration::from_secs(10);
        let waited = Instant::now();
        while !(out_reader.is_finished() && err_reader.is_finished()) {
            assert!(
                waited.elapsed() < left,
                "`{what}` exited ({status}), but something it started still holds its \
                 output open after {} s: a process left behind",
                left.as_secs()
            );
            thread::sleep(Duration::from_millis(10));
        }
        let stdout = out_reader.join().expect("stdout reader");
        let stderr = err_reader.join().expect("stderr reader");
        Output {
            what,
            status,
            stdout,
            stderr,
        }
    }
}

/// What a run printed and how it ended.
pub struct Output {
    /// The command line, for assertion messages.
    pub what: String,
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// The exit code; panics if the process was killed by a signal.
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or_else(|| {
            panic!(
                "process killed by signal {:?}\n{self}",
                self.status.signal()
            )
        })
    }

    /// Asserts the process exited with status 0.
    pub fn assert_success(&self) -> &Self {
        assert!(self.status.success(), "the program failed\n{self}");
        self
    }

    /// The `key=value` lines of stdout.
    pub fn kv(&self) -> HashMap<String, String> {
        kv(&self.stdout_str())
    }

    /// The value of `key` on stdout; panics if missing.
    pub fn get(&self, key: &str) -> String {
        self.kv()
            .remove(key)
            .unwrap_or_else(|| panic!("no `{key}=` line on stdout\n{self}"))
    }

    /// The value of `key` on stdout as an integer; panics if missing.
    pub fn num(&self, key: &str) -> i64 {
        let v = self.get(key);
        v.parse()
            .unwrap_or_else(|_| panic!("`{key}={v}` is not an integer\n{self}"))
    }

    /// The fields of the one report line on stderr.
    pub fn report(&self) -> HashMap<String, String> {
        let reports = reports(&self.stderr_str());
        assert_eq!(
            reports.len(),
            1,
            "expected exactly one report line on stderr\n{self}"
        );
        reports.into_iter().next().unwrap()
    }

    /// A numeric field of the one report line.
    pub fn report_num(&self, key: &str) -> i64 {
        report_num(&self.report(), key, self)
    }

    /// The library's diagnostic lines, the report excluded.
    pub fn throttle_lines(&self) -> Vec<String> {
        throttle_lines(&self.stderr_str())
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "--- command: {}\n--- status: {}\n--- stdout:\n{}--- stderr:\n{}---",
            self.what,
            self.status,
            self.stdout_str(),
            self.stderr_str()
        )
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `key=value` lines (other lines are ignored; a later key wins).
pub fn kv(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .filter(|(k, _)| !k.is_empty() && !k.contains(char::is_whitespace))
        .map(|(k, v)| (k.to_string(), v.trim_end().to_string()))
        .collect()
}

/// The fields of every report line on stderr, in order.
pub fn reports(stderr: &str) -> Vec<HashMap<String, String>> {
    stderr
        .lines()
        .filter_map(|line| line.strip_prefix(REPORT_PREFIX))
        .map(|rest| {
            rest.split_whitespace()
                .filter_map(|field| field.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// The fields of the one report line on stderr; panics unless there is exactly one.
pub fn report(stderr: &str) -> HashMap<String, String> {
    let mut all = reports(stderr);
    assert_eq!(
        all.len(),
        1,
        "expected exactly one report line on stderr:\n{stderr}"
    );
    all.remove(0)
}

/// A numeric field of a parsed report.
pub fn report_num(report: &HashMap<String, String>, key: &str, context: &dyn fmt::Display) -> i64 {
    let v = report
        .get(key)
        .unwrap_or_else(|| panic!("the report has no `{key}=` field\n{context}"));
    v.parse()
        .unwrap_or_else(|_| panic!("report field `{key}={v}` is not an integer\n{context}"))
}

/// The library's diagnostic lines on stderr, the report line excluded.
pub fn throttle_lines(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|line| line.starts_with(PREFIX) && !line.starts_with(REPORT_PREFIX))
        .map(str::to_string)
        .collect()
}

/// The real CPU counts, from the test process (which is never preloaded).
pub fn real_nprocs_onln() -> i64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) as i64 }
}

pub fn real_nprocs_conf() -> i64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) as i64 }
}

/// The number of CPUs in the test process's affinity mask.
pub fn real_affinity_count() -> i64 {
    // SAFETY: `set` is a properly sized, zeroed cpu_set_t that the kernel fills.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            panic!("sched_getaffinity failed in the test process");
        }
        libc::CPU_COUNT(&set) as i64
    }
}

/// Parses a comma-separated list of numbers (`affinity_cpus=0,1,3`).
pub fn num_list(s: &str) -> Vec<i64> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(|x| {
            x.trim()
                .parse()
                .unwrap_or_else(|_| panic!("bad number {x:?} in list {s:?}"))
        })
        .collect()
}

/// Compiles `c_tests/<src>` (a `.c` or `.cpp` file) with `compiler` and
/// `flags` into `<out_name>` (once per test process, and again only if the
/// source or a `c_tests/*.h` header is newer than the binary) and returns
/// the binary's path. For programs built more than once (one source against
/// several builds of a runtime) or by a compiler other than `cc`.
pub fn c_program_with(src: &str, out_name: &str, compiler: &str, flags: &[String]) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get(out_name) {
        return path.clone();
    }
    let c_tests = repo_root().join("c_tests");
    let src = c_tests.join(src);
    assert!(src.is_file(), "no C program {}", src.display());
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("c_tests");
    std::fs::create_dir_all(&dir).expect("create the C programs' build directory");
    let out = dir.join(out_name);
    let headers = c_headers();
    // A changed set of flags (a runtime moved, say) rebuilds too.
    let stamp = dir.join(format!(".{out_name}.flags"));
    let want_stamp = format!("{compiler} {}", flags.join(" "));
    let same_flags = std::fs::read_to_string(&stamp).is_ok_and(|s| s == want_stamp);
    if !out.is_file()
        || !same_flags
        || is_newer(&src, &out)
        || headers.iter().any(|h| is_newer(h, &out))
    {
        let tmp = dir.join(format!(".{out_name}.{}.tmp", std::process::id()));
        let result = Command::new(compiler)
            .args(["-O1", "-Wall", "-Werror", "-pthread", "-o"])
            .arg(&tmp)
            .arg(&src)
            .args(flags)
            .output()
            .unwrap_or_else(|e| {
                panic!("run {compiler} ({e}): is it installed? run scripts/setup.sh")
            });
        assert!(
            result.status.success(),
            "compiling {} with {compiler} {} failed ({}):\n{}{}",
            src.display(),
            flags.join(" "),
            result.status,
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        );
        std::fs::rename(&tmp, &out).expect("move the compiled C program into place");
        std::fs::write(&stamp, want_stamp).expect("write the flags stamp");
    }
    built.insert(out_name.to_string(), out.clone());
    out
}

/// A directory for `XDG_RUNTIME_DIR` inside `parent`: mode 0700, as the
/// library wants of a runtime directory before it makes a ledger there, so
/// that a test can see the ledger files its tree leaves (or not).
pub fn runtime_dir(parent: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = parent.join("runtime");
    std::fs::create_dir(&dir).expect("create the runtime directory");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .expect("chmod 0700 the runtime directory");
    dir
}

/// What a directory holds.
pub fn dir_entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// A temporary directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("throttle-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A program started in the background (its own process group), whose stdout
/// and stderr lines are collected as they arrive, each with the time it was
/// read. Dropping it kills the whole process group with `SIGKILL` and reaps
/// the program, so a failing test leaves nothing running.
pub struct Spawned {
    pub what: String,
    child: std::process::Child,
    start: Instant,
    lines: std::sync::Arc<Mutex<Vec<Line>>>,
    readers: Vec<thread::JoinHandle<()>>,
    status: Option<ExitStatus>,
}

/// One line a [`Spawned`] program printed.
#[derive(Clone, Debug)]
pub struct Line {
    /// Since the program was started.
    pub at: Duration,
    /// `true` for stderr.
    pub stderr: bool,
    pub text: String,
}

impl Run {
    /// Starts the program in the background, in its own process group, in
    /// the same scrubbed environment as [`Run::run`].
    pub fn spawn(&self) -> Spawned {
        use std::io::BufRead;
        use std::os::unix::process::CommandExt;
        let mut cmd = self.command();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let what = self.describe();
        let start = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{what}`: {e}"));
        let lines = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        let pipes: Vec<(bool, Box<dyn Read + Send>)> = vec![
            (false, Box::new(child.stdout.take().expect("stdout pipe"))),
            (true, Box::new(child.stderr.take().expect("stderr pipe"))),
        ];
        for (is_err, pipe) in pipes {
            let lines = lines.clone();
            readers.push(thread::spawn(move || {
                let mut reader = std::io::BufReader::new(pipe);
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    match reader.read_until(b'\n', &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let text = String::from_utf8_lossy(&buf).trim_end().to_string();
                            lines.lock().unwrap_or_else(|e| e.into_inner()).push(Line {
                                at: start.elapsed(),
                                stderr: is_err,
                                text,
                            });
                        }
                    }
                }
            }));
        }
        Spawned {
            what,
            child,
            start,
            lines,
            readers,
            status: None,
        }
    }
}

impl Spawned {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Time since the program was started.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Every line read so far, stdout and stderr interleaved in arrival order.
    pub fn lines(&self) -> Vec<Line> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn stdout_lines(&self) -> Vec<Line> {
        self.lines().into_iter().filter(|l| !l.stderr).collect()
    }

    pub fn stderr_str(&self) -> String {
        let mut s = String::new();
        for l in self.lines().into_iter().filter(|l| l.stderr) {
            s.push_str(&l.text);
            s.push('\n');
        }
        s
    }

    /// Polls every 10 ms, up to `timeout`, until `done` (given every line so
    /// far) returns `Some`; returns it, or `None` on timeout.
    pub fn poll<T>(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&[Line]) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = done(&self.lines()) {
                return Some(v);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits up to `timeout` for the program to exit (then for its pipes to
    /// close); `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.status.is_none() {
            let deadline = Instant::now() + timeout;
            loop {
                match self.child.try_wait() {
                    Ok(Some(s)) => {
                        self.status = Some(s);
                        break;
                    }
                    Ok(None) if Instant::now() >= deadline => return None,
                    Ok(None) => thread::sleep(Duration::from_millis(10)),
                    Err(e) => panic!("waiting for `{}`: {e}", self.what),
                }
            }
            // Background children of a shell may still hold the pipes: those
            // are killed with the group on drop, so do not wait for them here
            // beyond a short grace.
            let grace = Instant::now() + Duration::from_secs(2);
            while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < grace {
                thread::sleep(Duration::from_millis(10));
            }
        }
        self.status
    }

    /// Sends `SIGKILL` to the whole process group.
    pub fn kill_group(&self) {
        // SAFETY: kill has no memory-safety preconditions; the group id is the
        // child's pid because it was started with process_group(0).
        unsafe {
            libc::kill(-self.pid(), libc::SIGKILL);
        }
    }
}

impl fmt::Display for Spawned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "--- command: {}", self.what)?;
        writeln!(f, "--- status: {:?}", self.status)?;
        writeln!(f, "--- output (ms since start, stream, line):")?;
        for l in self.lines() {
            writeln!(
                f,
                "{:>7} {} {}",
                l.at.as_millis(),
                if l.stderr { "err" } else { "out" },
                l.text
            )?;
        }
        write!(f, "---")
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.kill_group();
        let _ = self.child.kill();
        let _ = self.child.wait();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }
}

/// Quotes `s` for a POSIX shell command line.
pub fn sh_quote(s: impl AsRef<OsStr>) -> String {
    format!("'{}'", s.as_ref().to_string_lossy().replace('\'', r"'\''"))
}

/// An empty shared object in `dir`: a harmless, existing `LD_PRELOAD` entry
/// (a missing one would make ld.so print errors).
pub fn empty_so(dir: &Path) -> PathBuf {
    let src = dir.join("empty.c");
    std::fs::write(&src, "/* nothing */\nint throttle_test_empty;\n").unwrap();
    let so = dir.join("libempty.so");
    Run::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&src)
        .run()
        .assert_success();
    so
}

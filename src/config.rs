//! Budget resolution: which cap applies, where it came from, and every value
//! that was looked at on the way (DESIGN.md section 3, a contract).
//!
//! Pure logic. The inputs (environment, files, the real CPU count) come in
//! through [`Inputs`], so the same code runs inside the preloaded library, in
//! `throttle info`, and in unit tests.

use std::fmt::Write as _;

/// The largest cap accepted from any source. Linux supports 8192 CPUs; a
/// larger thread budget means nothing we could enforce.
pub const MAX_CAP: usize = 65_536;

/// The bound on a `wait`, in milliseconds, when nothing sets `wait_ms`.
pub const DEFAULT_WAIT_MS: u64 = 1_000;

/// The longest `wait_ms` accepted: a day. Longer is surely a mistake.
const MAX_WAIT_MS: u64 = 86_400_000;

/// Budget files larger than this are refused unread: they are a few lines.
pub const MAX_BUDGET_FILE_BYTES: u64 = 64 * 1024;

/// The system file. Its path is fixed when the library is built so that no
/// user setting can point it elsewhere.
pub const SYSTEM_CONF: &str = match option_env!("THROTTLE_SYSTEM_CONF") {
    Some(path) => path,
    None => "/etc/throttle.conf",
};

/// What happens to an unmanaged `pthread_create` over the cap (DESIGN.md section 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    Wait,
    Confine,
    Fail,
    Audit,
}

impl Policy {
    pub fn parse(s: &str) -> Option<Policy> {
        match s {
            "wait" => Some(Policy::Wait),
            "confine" => Some(Policy::Confine),
            "fail" => Some(Policy::Fail),
            "audit" => Some(Policy::Audit),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Policy::Wait => "wait",
            Policy::Confine => "confine",
            Policy::Fail => "fail",
            Policy::Audit => "audit",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Off,
    Warn,
    Info,
    Debug,
}

impl LogLevel {
    fn parse(s: &str) -> Option<LogLevel> {
        match s {
            "off" => Some(LogLevel::Off),
            "warn" => Some(LogLevel::Warn),
            "info" => Some(LogLevel::Info),
            "debug" => Some(LogLevel::Debug),
            _ => None,
        }
    }
}

/// Whether the budget is shared by the process tree or applies per process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Tree,
    Process,
}

/// Where the cap came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Env,
    BudgetFile,
    SystemDefault,
    Affinity,
}

impl Source {
    /// A single word, as it appears in the report line.
    pub fn label(self) -> &'static str {
        match self {
            Source::Env => "THROTTLE_THREADS",
            Source::BudgetFile => "THROTTLE_BUDGET_FILE",
            Source::SystemDefault => "system_file",
            Source::Affinity => "affinity",
        }
    }
}

/// Why a file could not be used.
#[derive(Debug)]
pub enum FileError {
    Missing,
    Unreadable(String),
    NotAFile,
    TooLarge(u64),
}

impl FileError {
    fn describe(&self) -> String {
        match self {
            FileError::Missing => "does not exist".to_string(),
            FileError::Unreadable(why) => format!("cannot be read ({why})"),
            FileError::NotAFile => "is not a regular file".to_string(),
            FileError::TooLarge(n) => {
                format!("is {n} bytes, over the {MAX_BUDGET_FILE_BYTES}-byte limit")
            }
        }
    }
}

/// Everything resolution reads from the outside world.
pub trait Inputs {
    /// An environment variable's raw value, `None` when unset.
    fn var(&self, name: &str) -> Option<Vec<u8>>;
    /// A whole file, at most [`MAX_BUDGET_FILE_BYTES`] long, regular files only.
    fn read_file(&self, path: &str) -> Result<Vec<u8>, FileError>;
    /// The CPUs in the process's real affinity mask.
    fn affinity_count(&self) -> usize;
    /// Secure-execution mode (`AT_SECURE`): paths from the environment are ignored.
    fn secure(&self) -> bool;
}

/// One source that resolution looked at, for `throttle info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consulted {
    pub name: String,
    pub value: String,
    pub verdict: String,
}

/// The outcome of resolution: the settings in force and how they were found.
#[derive(Clone, Debug)]
pub struct Resolution {
    pub cap: usize,
    pub source: Source,
    /// Set when a `max_threads` ceiling lowered the cap: the file that set it.
    pub ceiling: Option<String>,
    pub policy: Policy,
    pub wait_ms: u64,
    pub log: LogLevel,
    pub report: bool,
    pub disabled: bool,
    pub scope: Scope,
    pub consulted: Vec<Consulted>,
    /// One line each, to print as `libthrottle: <line>` at level warn.
    pub warnings: Vec<String>,
}

/// The keys of a budget file, each optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BudgetFile {
    pub threads: Option<usize>,
    pub max_threads: Option<usize>,
    pub policy: Option<Policy>,
    pub wait_ms: Option<u64>,
}

/// Why a value was refused, phrased to follow "'<value>' ".
pub fn check_count(raw: &str) -> Result<usize, String> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err("is not a positive integer".to_string());
    }
    match raw.parse::<u64>() {
        Ok(0) => Err("is not a positive integer".to_string()),
        Ok(n) if n <= MAX_CAP as u64 => Ok(n as usize),
        _ => Err(format!("is out of range (1 to {MAX_CAP})")),
    }
}

fn check_wait_ms(raw: &str) -> Result<u64, String> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err("is not a number of milliseconds".to_string());
    }
    match raw.parse::<u64>() {
        Ok(n) if n <= MAX_WAIT_MS => Ok(n),
        _ => Err(format!("is out of range (0 to {MAX_WAIT_MS})")),
    }
}

pub fn check_policy(raw: &str) -> Result<Policy, String> {
    Policy::parse(raw).ok_or_else(|| "is not one of wait, confine, fail, audit".to_string())
}

/// A value as it can be shown in one line: control characters escaped, long
/// values cut.
pub fn shown(raw: &[u8]) -> String {
    const LIMIT: usize = 64;
    let text = String::from_utf8_lossy(&raw[..raw.len().min(LIMIT)]);
    let mut out: String = text.chars().flat_map(char::escape_debug).collect();
    if raw.len() > LIMIT {
        out.push_str("...");
    }
    out
}

/// Parses a budget file: `key = value` lines with `#` comments, or a lone
/// integer meaning `threads`. Unknown keys and bad values are collected into
/// `problems` (the caller reports them as one line) and skipped.
pub fn parse_budget_file(bytes: &[u8], problems: &mut Vec<String>) -> Option<BudgetFile> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) if !t.contains('\0') => t,
        _ => {
            problems.push("is not a text file".to_string());
            return None;
        }
    };
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.split('#').next().unwrap_or("").trim()))
        .filter(|(_, l)| !l.is_empty())
        .collect();

    let mut file = BudgetFile::default();
    if let [(line, only)] = lines.as_slice() {
        if !only.contains('=') {
            match check_count(only) {
                Ok(n) => file.threads = Some(n),
                Err(why) => {
                    problems.push(format!("line {line}: '{}' {why}", shown(only.as_bytes())))
                }
            }
            return Some(file);
        }
    }
    for (line, content) in lines {
        let Some((key, value)) = content.split_once('=') else {
            problems.push(format!(
                "line {line}: expected 'key = value', found '{}'",
                shown(content.as_bytes())
            ));
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        let outcome = match key {
            "threads" => check_count(value).map(|n| file.threads = Some(n)),
            "max_threads" => check_count(value).map(|n| file.max_threads = Some(n)),
            "policy" => check_policy(value).map(|p| file.policy = Some(p)),
            "wait_ms" => check_wait_ms(value).map(|n| file.wait_ms = Some(n)),
            _ => {
                problems.push(format!(
                    "line {line}: unknown key '{}'",
                    shown(key.as_bytes())
                ));
                continue;
            }
        };
        if let Err(why) = outcome {
            problems.push(format!(
                "line {line}: {key} '{}' {why}",
                shown(value.as_bytes())
            ));
        }
    }
    Some(file)
}

/// Resolution in progress: collects what was consulted and what was wrong.
struct Resolver<'a, I: Inputs> {
    inputs: &'a I,
    consulted: Vec<Consulted>,
    warnings: Vec<String>,
}

impl<I: Inputs> Resolver<'_, I> {
    fn note(&mut self, name: &str, value: impl Into<String>, verdict: impl Into<String>) {
        self.consulted.push(Consulted {
            name: name.to_string(),
            value: value.into(),
            verdict: verdict.into(),
        });
    }

    /// Reads and validates one environment variable. An invalid value gets a
    /// warning naming the variable and the value, and counts as unset.
    fn env<T>(&mut self, name: &str, check: impl Fn(&str) -> Result<T, String>) -> Option<T> {
        let raw = self.inputs.var(name)?;
        let parsed = std::str::from_utf8(&raw)
            .map_err(|_| "is not valid text".to_string())
            .and_then(&check);
        match parsed {
            Ok(v) => {
                self.note(name, shown(&raw), "valid");
                Some(v)
            }
            Err(why) => {
                self.warnings
                    .push(format!("{name}='{}' {why}; ignoring it", shown(&raw)));
                self.note(name, shown(&raw), format!("invalid: {why}"));
                None
            }
        }
    }

    /// Reads a budget file. `required` files (named by the user) are reported
    /// when missing; the system file is optional.
    fn file(&mut self, label: &str, path: &str, required: bool) -> Option<BudgetFile> {
        let bytes = match self.inputs.read_file(path) {
            Ok(b) => b,
            Err(FileError::Missing) if !required => {
                self.note(label, path, "not present");
                return None;
            }
            Err(e) => {
                let why = e.describe();
                self.warnings.push(format!(
                    "budget file '{}' {why}; ignoring it",
                    shown(path.as_bytes())
                ));
                self.note(label, path, format!("unusable: {why}"));
                return None;
            }
        };
        let mut problems = Vec::new();
        let parsed = parse_budget_file(&bytes, &mut problems);
        if !problems.is_empty() {
            let verdict = match parsed {
                Some(_) => "ignoring",
                None => "ignoring the file",
            };
            self.warnings.push(format!(
                "budget file '{}': {}; {verdict}",
                shown(path.as_bytes()),
                problems.join(", ")
            ));
        }
        let summary = match &parsed {
            Some(f) => describe_file(f),
            None => "unusable".to_string(),
        };
        self.note(label, path, summary);
        parsed
    }
}

fn describe_file(f: &BudgetFile) -> String {
    let mut out = String::new();
    if let Some(n) = f.threads {
        let _ = write!(out, "threads={n} ");
    }
    if let Some(n) = f.max_threads {
        let _ = write!(out, "max_threads={n} ");
    }
    if let Some(p) = f.policy {
        let _ = write!(out, "policy={} ", p.name());
    }
    if let Some(n) = f.wait_ms {
        let _ = write!(out, "wait_ms={n} ");
    }
    if out.is_empty() {
        "no settings".to_string()
    } else {
        out.trim_end().to_string()
    }
}

fn is_on(raw: &str) -> Result<bool, String> {
    match raw {
        "1" | "yes" | "true" | "on" => Ok(true),
        "0" | "no" | "false" | "off" | "" => Ok(false),
        _ => Err("is not 1 or 0".to_string()),
    }
}

/// Resolves every setting, in the documented order of precedence.
pub fn resolve<I: Inputs>(inputs: &I) -> Resolution {
    let mut r = Resolver {
        inputs,
        consulted: Vec::new(),
        warnings: Vec::new(),
    };

    let disabled = r.env("THROTTLE_DISABLE", is_on).unwrap_or(false);
    let log = r
        .env("THROTTLE_LOG", |s| {
            LogLevel::parse(s).ok_or_else(|| "is not one of off, warn, info, debug".to_string())
        })
        .unwrap_or(LogLevel::Warn);
    let report = r.env("THROTTLE_REPORT", is_on).unwrap_or(false);
    let scope = r
        .env("THROTTLE_SCOPE", |s| match s {
            "tree" => Ok(Scope::Tree),
            "process" => Ok(Scope::Process),
            _ => Err("is not one of tree, process".to_string()),
        })
        .unwrap_or(Scope::Tree);

    let system = r
        .file("system file", SYSTEM_CONF, false)
        .unwrap_or_default();

    let env_threads = r.env("THROTTLE_THREADS", check_count);
    let user = match inputs.var("THROTTLE_BUDGET_FILE") {
        Some(_) if inputs.secure() => {
            r.note(
                "THROTTLE_BUDGET_FILE",
                "(set)",
                "ignored: secure-execution mode",
            );
            BudgetFile::default()
        }
        Some(raw) if raw.is_empty() => {
            r.warnings
                .push("THROTTLE_BUDGET_FILE is set but empty; ignoring it".to_string());
            r.note("THROTTLE_BUDGET_FILE", "", "invalid: empty");
            BudgetFile::default()
        }
        Some(raw) => {
            let path = String::from_utf8_lossy(&raw).into_owned();
            r.file("THROTTLE_BUDGET_FILE", &path, true)
                .unwrap_or_default()
        }
        None => BudgetFile::default(),
    };

    // Scheduler allocations and cgroup quotas (DESIGN.md section 3, items 3
    // and 4) slot in after the budget file and before the site default: a
    // site default is for when nothing knows the allocation.
    let affinity = inputs.affinity_count().max(1);
    r.note("affinity", affinity.to_string(), "CPUs in the real mask");

    let (mut cap, source) = if let Some(n) = env_threads {
        (n, Source::Env)
    } else if let Some(n) = user.threads {
        (n, Source::BudgetFile)
    } else if let Some(n) = system.threads {
        (n, Source::SystemDefault)
    } else {
        (affinity.min(MAX_CAP), Source::Affinity)
    };

    let mut ceiling = None;
    for (file, label) in [(&user, "THROTTLE_BUDGET_FILE"), (&system, SYSTEM_CONF)] {
        if let Some(max) = file.max_threads {
            if cap > max {
                cap = max;
                ceiling = Some(label.to_string());
            }
        }
    }

    let policy = r
        .env("THROTTLE_POLICY", check_policy)
        .or(user.policy)
        .or(system.policy)
        .unwrap_or(Policy::Wait);
    let wait_ms = r
        .env("THROTTLE_WAIT_MS", check_wait_ms)
        .or(user.wait_ms)
        .or(system.wait_ms)
        .unwrap_or(DEFAULT_WAIT_MS);

    Resolution {
        cap,
        source,
        ceiling,
        policy,
        wait_ms,
        log,
        report,
        disabled,
        scope,
        consulted: r.consulted,
        warnings: r.warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Fake {
        vars: HashMap<&'static str, &'static str>,
        files: HashMap<String, Result<Vec<u8>, &'static str>>,
        cpus: usize,
        secure: bool,
    }

    impl Inputs for Fake {
        fn var(&self, name: &str) -> Option<Vec<u8>> {
            self.vars.get(name).map(|v| v.as_bytes().to_vec())
        }
        fn read_file(&self, path: &str) -> Result<Vec<u8>, FileError> {
            match self.files.get(path) {
                None => Err(FileError::Missing),
                Some(Ok(b)) => Ok(b.clone()),
                Some(Err("dir")) => Err(FileError::NotAFile),
                Some(Err(why)) => Err(FileError::Unreadable(why.to_string())),
            }
        }
        fn affinity_count(&self) -> usize {
            self.cpus
        }
        fn secure(&self) -> bool {
            self.secure
        }
    }

    fn fake(vars: &[(&'static str, &'static str)]) -> Fake {
        Fake {
            vars: vars.iter().copied().collect(),
            cpus: 8,
            ..Fake::default()
        }
    }

    #[test]
    fn defaults_to_the_affinity_mask() {
        let r = resolve(&fake(&[]));
        assert_eq!(
            (r.cap, r.source, r.policy),
            (8, Source::Affinity, Policy::Wait)
        );
        assert_eq!(r.wait_ms, DEFAULT_WAIT_MS);
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn env_wins_over_files() {
        let mut f = fake(&[("THROTTLE_THREADS", "3"), ("THROTTLE_BUDGET_FILE", "/b")]);
        f.files
            .insert("/b".into(), Ok(b"threads = 5\npolicy = fail\n".to_vec()));
        let r = resolve(&f);
        assert_eq!((r.cap, r.source, r.policy), (3, Source::Env, Policy::Fail));
    }

    #[test]
    fn invalid_threads_values_warn_once_and_fall_through() {
        for bad in [
            "0",
            "-1",
            "abc",
            "4x",
            "",
            " 2",
            "2 ",
            "+2",
            "99999999999999999999",
            "65537",
        ] {
            let mut f = fake(&[("THROTTLE_THREADS", bad), ("THROTTLE_BUDGET_FILE", "/b")]);
            f.files.insert("/b".into(), Ok(b"6".to_vec()));
            let r = resolve(&f);
            assert_eq!((r.cap, r.source), (6, Source::BudgetFile), "value {bad:?}");
            assert_eq!(r.warnings.len(), 1, "value {bad:?}: {:?}", r.warnings);
            assert!(
                r.warnings[0].starts_with("THROTTLE_THREADS="),
                "{:?}",
                r.warnings
            );
        }
    }

    #[test]
    fn system_ceiling_beats_every_user_setting() {
        let mut f = fake(&[("THROTTLE_THREADS", "64")]);
        f.files
            .insert(SYSTEM_CONF.into(), Ok(b"max_threads = 4\n".to_vec()));
        let r = resolve(&f);
        assert_eq!(r.cap, 4);
        assert_eq!(r.ceiling.as_deref(), Some(SYSTEM_CONF));
        let low = resolve(&{
            let mut f = fake(&[("THROTTLE_THREADS", "2")]);
            f.files
                .insert(SYSTEM_CONF.into(), Ok(b"max_threads = 4\n".to_vec()));
            f
        });
        assert_eq!((low.cap, low.ceiling), (2, None));
    }

    #[test]
    fn system_file_sets_defaults_below_user_settings() {
        let mut f = fake(&[]);
        f.files.insert(
            SYSTEM_CONF.into(),
            Ok(b"# site\nthreads = 2\npolicy = confine\nwait_ms = 50\n".to_vec()),
        );
        let r = resolve(&f);
        assert_eq!(
            (r.cap, r.source, r.policy, r.wait_ms),
            (2, Source::SystemDefault, Policy::Confine, 50)
        );
        f.vars.insert("THROTTLE_POLICY", "audit");
        assert_eq!(resolve(&f).policy, Policy::Audit);
    }

    #[test]
    fn budget_file_single_integer_means_threads() {
        let mut p = Vec::new();
        let f = parse_budget_file(b"  7 # comment\n\n", &mut p).unwrap();
        assert_eq!(f.threads, Some(7));
        assert!(p.is_empty());
    }

    #[test]
    fn budget_file_problems_are_one_warning() {
        let mut f = fake(&[("THROTTLE_BUDGET_FILE", "/b")]);
        f.files
            .insert("/b".into(), Ok(b"foo = 1\nbar = 2\nthreads = 2\n".to_vec()));
        let r = resolve(&f);
        assert_eq!((r.cap, r.source), (2, Source::BudgetFile));
        assert_eq!(r.warnings.len(), 1);
        assert!(
            r.warnings[0].contains("'foo'") && r.warnings[0].contains("'bar'"),
            "{:?}",
            r.warnings
        );
    }

    #[test]
    fn unusable_budget_files_are_reported_and_skipped() {
        let cases: Vec<(&str, Result<Vec<u8>, &'static str>)> = vec![
            ("missing", Err("none")),
            ("binary", Ok(vec![0x7f, b'E', b'L', b'F', 0, 1, 2, 0xff])),
            ("dir", Err("dir")),
            ("denied", Err("Permission denied")),
        ];
        for (name, content) in cases {
            let mut f = fake(&[("THROTTLE_BUDGET_FILE", "/b")]);
            if name != "missing" {
                f.files.insert("/b".into(), content);
            }
            let r = resolve(&f);
            assert_eq!((r.cap, r.source), (8, Source::Affinity), "{name}");
            assert_eq!(r.warnings.len(), 1, "{name}: {:?}", r.warnings);
            assert!(r.warnings[0].contains("'/b'"), "{name}: {:?}", r.warnings);
        }
    }

    #[test]
    fn secure_mode_ignores_budget_file_path() {
        let mut f = fake(&[("THROTTLE_BUDGET_FILE", "/b")]);
        f.files.insert("/b".into(), Ok(b"1".to_vec()));
        f.secure = true;
        let r = resolve(&f);
        assert_eq!(r.source, Source::Affinity);
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn bad_policy_wait_and_switches_fall_back() {
        for (var, val) in [
            ("THROTTLE_POLICY", "nope"),
            ("THROTTLE_POLICY", "fail "),
            ("THROTTLE_POLICY", ""),
            ("THROTTLE_WAIT_MS", "-5"),
            ("THROTTLE_WAIT_MS", "x"),
            ("THROTTLE_LOG", "loud"),
            ("THROTTLE_DISABLE", "yes please"),
            ("THROTTLE_SCOPE", "global"),
        ] {
            let r = resolve(&fake(&[(var, val)]));
            assert_eq!(r.warnings.len(), 1, "{var}={val:?}");
            assert!(r.warnings[0].starts_with(var), "{:?}", r.warnings);
            assert_eq!(
                (r.policy, r.wait_ms, r.log, r.disabled),
                (Policy::Wait, DEFAULT_WAIT_MS, LogLevel::Warn, false)
            );
        }
    }

    #[test]
    fn shown_escapes_and_truncates() {
        assert_eq!(shown(b"a\nb"), "a\\nb");
        assert!(shown(&[b'x'; 100]).ends_with("..."));
    }
}

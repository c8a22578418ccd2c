//! Budget resolution: which cap applies, where it came from, and every value
//! that was looked at on the way (docs/design.md, section 12, a contract).
//!
//! Pure logic. The inputs (environment, files, the real CPU count) come in
//! through [`Inputs`], so the same code runs inside the preloaded library, in
//! `throttle info`, and in unit tests.

use crate::allocation::{self, Format, PerNode, Reading};
pub use crate::inputs::{check_count, shown, FileError, Inputs, Source, MAX_CAP};
use std::fmt::Write as _;

/// The bound on a `wait`, in milliseconds, when nothing sets `wait_ms`.
pub const DEFAULT_WAIT_MS: u64 = 1_000;

/// The longest `wait_ms` accepted: a day. Longer is surely a mistake.
const MAX_WAIT_MS: u64 = 86_400_000;

/// The system file. Its path is fixed when the library is built so that no
/// user setting can point it elsewhere.
pub const SYSTEM_CONF: &str = match option_env!("THROTTLE_SYSTEM_CONF") {
    Some(path) => path,
    None => "/etc/throttle.conf",
};

/// What happens to an unmanaged `pthread_create` over the cap (docs/design.md, section 13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    Wait,
    Confine,
    Fail,
    Audit,
}

impl Policy {
    /// Every policy, in a fixed order (an index into it fits in a byte).
    pub const ALL: [Policy; 4] = [Policy::Wait, Policy::Confine, Policy::Fail, Policy::Audit];

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

/// One source that resolution looked at, for `throttle info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consulted {
    pub name: String,
    pub value: String,
    pub verdict: String,
    /// The one entry the cap came from (or the ceiling that lowered it).
    pub won: bool,
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
    /// `THROTTLE_LOG_FILE`, the event log's path (never in secure-execution mode).
    pub log_file: Option<Vec<u8>>,
    pub disabled: bool,
    pub scope: Scope,
    /// `THROTTLE_LAUNCHERS`: program names added to the built-in launchers.
    pub launchers: Vec<String>,
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

/// `THROTTLE_LAUNCHERS`: comma-separated program names (as `ps` shows them,
/// or a script's file name), each 1 to 64 of `A-Z a-z 0-9 . _ + -`.
fn check_launchers(raw: &str) -> Result<Vec<String>, String> {
    raw.split(',')
        .map(|name| {
            let valid = (1..=64).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b));
            if valid {
                Ok(name.to_string())
            } else {
                Err(format!(
                    "is not a comma-separated list of program names ('{name}')"
                ))
            }
        })
        .collect()
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
    /// Records one consulted value; returns its index in `consulted`.
    fn note(&mut self, name: &str, value: impl Into<String>, verdict: impl Into<String>) -> usize {
        self.consulted.push(Consulted {
            name: name.to_string(),
            value: value.into(),
            verdict: verdict.into(),
            won: false,
        });
        self.consulted.len() - 1
    }

    /// An invalid variable: one warning naming it and its value, and a note.
    fn invalid(&mut self, name: &str, raw: &[u8], why: &str) {
        self.warnings
            .push(format!("{name}='{}' {why}; ignoring it", shown(raw)));
        self.note(name, shown(raw), format!("invalid: {why}"));
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
                self.invalid(name, &raw, &why);
                None
            }
        }
    }

    /// The scheduler's allocation (docs/design.md, section 12). Every
    /// variable present is checked and shown; the first valid count, in the
    /// order of [`allocation::SCHEDULERS`], is the allocation. Returns it,
    /// its source, and its entry in `consulted`.
    fn scheduler(&mut self) -> Option<(usize, Source, usize)> {
        let mut found = None;
        for s in allocation::SCHEDULERS {
            let in_job = s.job.is_none_or(|job| self.inputs.var(job).is_some());
            let mut node_index = None;
            for &(name, format) in s.vars {
                let Some(raw) = self.inputs.var(name) else {
                    continue;
                };
                if !in_job {
                    let job = s.job.unwrap_or_default();
                    self.note(name, shown(&raw), format!("ignored: {job} is not set"));
                    continue;
                }
                let Ok(text) = std::str::from_utf8(&raw) else {
                    self.invalid(name, &raw, "is not valid text");
                    continue;
                };
                let count = match format {
                    Format::Count => check_count(text).map(|n| (n, format!("{n} CPUs"))),
                    Format::LsfHosts => match allocation::parse_lsf_hosts(text) {
                        Ok(hosts) => {
                            let host = self.inputs.hostname().unwrap_or_default();
                            match allocation::lsf_local_count(&hosts, &host) {
                                Some(n) => Ok((n, format!("{n} CPUs on this host ({host})"))),
                                None => {
                                    self.note(
                                        name,
                                        shown(&raw),
                                        format!(
                                            "no entry for this host ('{}')",
                                            shown(host.as_bytes())
                                        ),
                                    );
                                    continue;
                                }
                            }
                        }
                        Err(why) => Err(why),
                    },
                    Format::ClassAdFile => match self.classad(name, text) {
                        Some(n) => Ok((n, format!("Cpus = {n}"))),
                        None => continue,
                    },
                    Format::NodeIndex => {
                        match allocation::check_index(text) {
                            Ok(i) => {
                                node_index = Some(i);
                                self.note(name, shown(&raw), "information: this node's index");
                            }
                            Err(why) => self.invalid(name, &raw, &why),
                        }
                        continue;
                    }
                    Format::SlurmPerNode => {
                        match PerNode::parse(text) {
                            Ok(list) => {
                                let here = match node_index.map(|i| (i, list.node(i))) {
                                    Some((i, Some(n))) => {
                                        format!("this node (SLURM_NODEID={i}) {n}")
                                    }
                                    Some((i, None)) => format!("no entry for SLURM_NODEID={i}"),
                                    None => "SLURM_NODEID unset".to_string(),
                                };
                                let nodes = list.nodes();
                                self.note(
                                    name,
                                    shown(&raw),
                                    format!("information: {nodes} nodes; {here}"),
                                );
                            }
                            Err(why) => self.invalid(name, &raw, &why),
                        }
                        continue;
                    }
                };
                match count {
                    Ok((n, verdict)) => {
                        let at = self.note(name, shown(&raw), verdict);
                        found = found.or(Some((n, s.source, at)));
                    }
                    Err(why) => self.invalid(name, &raw, &why),
                }
            }
        }
        found
    }

    /// The `Cpus` of the HTCondor ClassAd file at `path`, named by `name`.
    fn classad(&mut self, name: &str, path: &str) -> Option<usize> {
        let shown_path = shown(path.as_bytes());
        if self.inputs.secure() {
            self.note(name, shown_path, "ignored: secure-execution mode");
            return None;
        }
        let outcome = self
            .inputs
            .read_file(path)
            .map_err(|e| e.describe())
            .and_then(|bytes| allocation::parse_classad_cpus(&bytes));
        match outcome {
            Ok(n) => Some(n),
            Err(why) => {
                self.warnings.push(format!(
                    "{name}='{shown_path}': the ClassAd file {why}; ignoring it"
                ));
                self.note(name, shown_path, format!("invalid: the file {why}"));
                None
            }
        }
    }

    /// The cgroup CPU quota (docs/design.md, section 12): the smallest over
    /// this process's cgroup and its ancestors. Returns it and its entry.
    fn cgroup(&mut self) -> Option<(usize, usize)> {
        let inputs = self.inputs;
        let read = |path: &str| inputs.read_file(path);
        let findings = match allocation::cgroup_findings(
            &read,
            allocation::SELF_CGROUP,
            allocation::CGROUP_ROOT,
            inputs.details(),
        ) {
            Ok(f) => f,
            Err(why) => {
                let file = allocation::SELF_CGROUP;
                self.warnings
                    .push(format!("{file} {why}; ignoring cgroup quotas"));
                self.note(file, "", format!("invalid: {why}"));
                return None;
            }
        };
        let mut best: Option<(usize, usize)> = None;
        for f in findings {
            match f.reading {
                Reading::Quota(n) => {
                    let at = self.note(&f.path, f.value, format!("quota of {n} CPUs"));
                    if best.is_none_or(|(b, _)| n < b) {
                        best = Some((n, at));
                    }
                }
                Reading::NoLimit => {
                    self.note(&f.path, f.value, "no quota");
                }
                Reading::CpuSet(n) => {
                    self.note(
                        &f.path,
                        f.value,
                        format!("information: {n} CPUs in the set"),
                    );
                }
                // The host's sandbox: told at debug level only, as the
                // library's other refusals (docs/limits.md).
                Reading::Refused(why) => {
                    self.note(&f.path, f.value, format!("refused: {why}; no quota known"));
                }
                Reading::Invalid(why) => {
                    let holds = match f.value.as_str() {
                        "" => String::new(),
                        v => format!(": '{v}'"),
                    };
                    self.warnings.push(format!(
                        "cgroup file '{}'{holds} {why}; ignoring it",
                        f.path
                    ));
                    self.note(&f.path, f.value, format!("invalid: {why}"));
                }
            }
        }
        best
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

/// The inputs of a program in secure-execution mode (`AT_SECURE`: setuid,
/// setgid, file capabilities): the environment is its unprivileged caller's,
/// so none of it counts, no `THROTTLE_*` variable, no scheduler variable, no
/// path. Only the system file, the affinity mask and the cgroup decide.
struct Secure<'a, I: Inputs>(&'a I);

impl<I: Inputs> Inputs for Secure<'_, I> {
    fn var(&self, _name: &str) -> Option<Vec<u8>> {
        None
    }
    fn read_file(&self, path: &str) -> Result<Vec<u8>, FileError> {
        self.0.read_file(path)
    }
    fn affinity_count(&self) -> usize {
        self.0.affinity_count()
    }
    fn secure(&self) -> bool {
        true
    }
    fn hostname(&self) -> Option<String> {
        self.0.hostname()
    }
}

/// The `Inputs` methods other than `var`, answered by the field `$inner`:
/// for the adapters below, which change only what variables say.
macro_rules! delegate_inputs {
    ($inner:ident) => {
        fn read_file(&self, path: &str) -> Result<Vec<u8>, FileError> {
            self.$inner.read_file(path)
        }
        fn affinity_count(&self) -> usize {
            self.$inner.affinity_count()
        }
        fn secure(&self) -> bool {
            self.$inner.secure()
        }
        fn hostname(&self) -> Option<String> {
            self.$inner.hostname()
        }
        fn details(&self) -> bool {
            self.$inner.details()
        }
    };
}

/// The environment variables one resolution read, with their values then:
/// a later resolution (the steward's, after a budget file changed) answers
/// from here instead of reading the environment, which another thread of
/// the program may be changing (`setenv` frees the array `getenv` walks).
#[derive(Clone, Debug, Default)]
pub struct EnvSnapshot {
    vars: Vec<(String, Option<Vec<u8>>)>,
}

/// Inputs that answer as `inner` does and note every variable asked for.
pub struct Recording<'a, I: Inputs> {
    inner: &'a I,
    seen: std::cell::RefCell<EnvSnapshot>,
}

impl<'a, I: Inputs> Recording<'a, I> {
    pub fn new(inner: &'a I) -> Self {
        Recording {
            inner,
            seen: Default::default(),
        }
    }

    pub fn finish(self) -> EnvSnapshot {
        self.seen.into_inner()
    }
}

impl<I: Inputs> Inputs for Recording<'_, I> {
    fn var(&self, name: &str) -> Option<Vec<u8>> {
        let value = self.inner.var(name);
        let mut seen = self.seen.borrow_mut();
        if !seen.vars.iter().any(|(n, _)| n == name) {
            seen.vars.push((name.to_string(), value.clone()));
        }
        value
    }
    delegate_inputs!(inner);
}

/// Inputs whose environment is a snapshot (a variable it does not hold is
/// unset), the rest (files, the mask) read live from `inner`.
pub struct Replaying<'a, I: Inputs> {
    pub inner: &'a I,
    pub env: &'a EnvSnapshot,
}

impl<I: Inputs> Inputs for Replaying<'_, I> {
    fn var(&self, name: &str) -> Option<Vec<u8>> {
        self.env
            .vars
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.clone())
    }
    delegate_inputs!(inner);
}

/// Resolves every setting, in the documented order of precedence.
pub fn resolve<I: Inputs>(inputs: &I) -> Resolution {
    if inputs.secure() {
        let mut resolution = resolve_from(&Secure(inputs));
        resolution.consulted.insert(
            0,
            Consulted {
                name: "environment".to_string(),
                value: "(every variable)".to_string(),
                verdict: "ignored: secure-execution mode".to_string(),
                won: false,
            },
        );
        return resolution;
    }
    resolve_from(inputs)
}

fn resolve_from<I: Inputs>(inputs: &I) -> Resolution {
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
    let log_file = match inputs.var("THROTTLE_LOG_FILE") {
        Some(_) if inputs.secure() => {
            r.note(
                "THROTTLE_LOG_FILE",
                "(set)",
                "ignored: secure-execution mode",
            );
            None
        }
        Some(raw) if raw.is_empty() => {
            r.warnings
                .push("THROTTLE_LOG_FILE is set but empty; ignoring it".to_string());
            r.note("THROTTLE_LOG_FILE", "", "invalid: empty");
            None
        }
        Some(raw) => {
            r.note("THROTTLE_LOG_FILE", shown(&raw), "the event log");
            Some(raw)
        }
        None => None,
    };
    let scope = r
        .env("THROTTLE_SCOPE", |s| match s {
            "tree" => Ok(Scope::Tree),
            "process" => Ok(Scope::Process),
            _ => Err("is not one of tree, process".to_string()),
        })
        .unwrap_or(Scope::Tree);
    let launchers = r
        .env("THROTTLE_LAUNCHERS", check_launchers)
        .unwrap_or_default();

    let system_at = r.consulted.len();
    let system = r
        .file("system file", SYSTEM_CONF, false)
        .unwrap_or_default();

    let env_at = r.consulted.len();
    let env_threads = r.env("THROTTLE_THREADS", check_count);
    let user_at = r.consulted.len();
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

    // Scheduler allocations and cgroup quotas (docs/design.md, section 12)
    // come after the budget file and before the site default: a site
    // default is for when nothing knows the allocation (a login node).
    let allocation = r.scheduler();
    // A quota decides nothing where a source above it gave the budget: the
    // library, which resolves at every process start, does not read the
    // cgroup files then (`throttle info` still shows them).
    let decided_above = env_threads.is_some() || user.threads.is_some() || allocation.is_some();
    let quota = if decided_above && !inputs.details() {
        None
    } else {
        r.cgroup()
    };
    let affinity = inputs.affinity_count().max(1);
    let affinity_at = r.note("affinity", affinity.to_string(), "CPUs in the real mask");

    // Each `*_at` is the entry the value was noted at: the winner is marked.
    let (mut cap, source, mut winner) = if let Some(n) = env_threads {
        (n, Source::Env, env_at)
    } else if let Some(n) = user.threads {
        (n, Source::BudgetFile, user_at)
    } else if let Some((n, source, at)) = allocation {
        (n, source, at)
    } else if let Some((n, at)) = quota {
        (n, Source::Cgroup, at)
    } else if let Some(n) = system.threads {
        (n, Source::SystemDefault, system_at)
    } else {
        (affinity.min(MAX_CAP), Source::Affinity, affinity_at)
    };

    let mut ceiling = None;
    for (file, label, at) in [
        (&user, "THROTTLE_BUDGET_FILE", user_at),
        (&system, SYSTEM_CONF, system_at),
    ] {
        if let Some(max) = file.max_threads {
            if cap > max {
                cap = max;
                ceiling = Some(label.to_string());
                winner = at;
            }
        }
    }
    r.consulted[winner].won = true;

    let policy = r
        .env("THROTTLE_POLICY", check_policy)
        .or(user.policy)
        .or(system.policy)
        .unwrap_or(Policy::Confine);
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
        log_file,
        disabled,
        scope,
        launchers,
        consulted: r.consulted,
        // Each warning is one `libthrottle:` line, whatever bytes of the
        // input a parser quoted in it.
        warnings: r.warnings.iter().map(|w| one_line(w)).collect(),
    }
}

/// `text` with every control character escaped, so that it prints as one
/// line.
pub fn one_line(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_debug().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
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
        host: Option<&'static str>,
        /// A fixture tree under crates/core/tests/fixtures/allocation/ standing in for
        /// /proc/self/cgroup and /sys/fs/cgroup.
        tree: Option<&'static str>,
        /// As the library reads: no details (`Inputs::details`).
        lean: bool,
    }

    impl Fake {
        fn in_tree(&self, path: &str) -> Option<Result<Vec<u8>, FileError>> {
            let tree = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/allocation")
                .join(self.tree?);
            let file = if path == allocation::SELF_CGROUP {
                tree.join("proc_self_cgroup")
            } else {
                let rest = path.strip_prefix(allocation::CGROUP_ROOT)?;
                tree.join(format!("sys{rest}"))
            };
            Some(std::fs::read(file).map_err(|_| FileError::Missing))
        }
    }

    impl Inputs for Fake {
        fn var(&self, name: &str) -> Option<Vec<u8>> {
            self.vars.get(name).map(|v| v.as_bytes().to_vec())
        }
        fn read_file(&self, path: &str) -> Result<Vec<u8>, FileError> {
            if let Some(found) = self.in_tree(path) {
                return found;
            }
            match self.files.get(path) {
                None => Err(FileError::Missing),
                Some(Ok(b)) => Ok(b.clone()),
                Some(Err("dir")) => Err(FileError::NotAFile),
                Some(Err("refused")) => Err(FileError::Refused("Permission denied".into())),
                Some(Err(why)) => Err(FileError::Unreadable(why.to_string())),
            }
        }
        fn affinity_count(&self) -> usize {
            self.cpus
        }
        fn secure(&self) -> bool {
            self.secure
        }
        fn hostname(&self) -> Option<String> {
            self.host.map(str::to_string)
        }
        fn details(&self) -> bool {
            !self.lean
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
    fn a_resolution_replayed_from_its_snapshot_reads_no_live_variable() {
        let live = fake(&[("THROTTLE_THREADS", "3"), ("SLURM_CPUS_PER_TASK", "2")]);
        let recording = Recording::new(&live);
        let first = resolve(&recording);
        let env = recording.finish();
        // The program changed its environment since: the replay does not see it.
        let changed = fake(&[("THROTTLE_THREADS", "7")]);
        let again = resolve(&Replaying {
            inner: &changed,
            env: &env,
        });
        assert_eq!((first.cap, first.source), (again.cap, again.source));
        assert_eq!(again.cap, 3, "THROTTLE_THREADS as it was at the start");
        let unset = resolve(&Replaying {
            inner: &changed,
            env: &EnvSnapshot::default(),
        });
        assert_eq!(unset.source, Source::Affinity, "no variable: none counts");
    }

    #[test]
    fn defaults_to_the_affinity_mask() {
        let r = resolve(&fake(&[]));
        assert_eq!(
            (r.cap, r.source, r.policy),
            (8, Source::Affinity, Policy::Confine)
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

    /// A setuid program run by an unprivileged user: nothing the user's
    /// environment says counts (before: `THROTTLE_THREADS=1
    /// THROTTLE_POLICY=fail` made every `pthread_create` of a setuid-root
    /// program fail), only the system file and the affinity mask.
    #[test]
    fn secure_mode_ignores_the_whole_environment() {
        let mut f = fake(&[
            ("THROTTLE_THREADS", "1"),
            ("THROTTLE_POLICY", "fail"),
            ("THROTTLE_WAIT_MS", "999999"),
            ("THROTTLE_DISABLE", "bogus"),
            ("SLURM_CPUS_PER_TASK", "1"),
            ("OMP_THREAD_LIMIT", "1"),
        ]);
        f.secure = true;
        let r = resolve(&f);
        assert_eq!(
            (r.cap, r.source, r.policy),
            (8, Source::Affinity, Policy::Confine)
        );
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert!(!r.disabled);
        assert_eq!(r.consulted[0].verdict, "ignored: secure-execution mode");
        // The admin's system file still counts.
        f.files.insert(
            SYSTEM_CONF.into(),
            Ok(b"max_threads = 2\npolicy = wait\n".to_vec()),
        );
        let r = resolve(&f);
        assert_eq!((r.cap, r.policy), (2, Policy::Wait));
    }

    #[test]
    fn log_file_is_taken_unless_secure_or_empty() {
        let r = resolve(&fake(&[("THROTTLE_LOG_FILE", "/tmp/ev.jsonl")]));
        assert_eq!(r.log_file.as_deref(), Some(&b"/tmp/ev.jsonl"[..]));
        assert!(r.warnings.is_empty());
        let mut f = fake(&[("THROTTLE_LOG_FILE", "/tmp/ev.jsonl")]);
        f.secure = true;
        let r = resolve(&f);
        assert_eq!(r.log_file, None);
        assert!(r.warnings.is_empty());
        let r = resolve(&fake(&[("THROTTLE_LOG_FILE", "")]));
        assert_eq!(r.log_file, None);
        assert_eq!(r.warnings.len(), 1);
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
            ("THROTTLE_LAUNCHERS", ""),
            ("THROTTLE_LAUNCHERS", "ibrun,"),
            ("THROTTLE_LAUNCHERS", "bin/ibrun"),
            ("THROTTLE_LAUNCHERS", "a b"),
        ] {
            let r = resolve(&fake(&[(var, val)]));
            assert_eq!(r.warnings.len(), 1, "{var}={val:?}");
            assert!(r.warnings[0].starts_with(var), "{:?}", r.warnings);
            assert_eq!(
                (r.policy, r.wait_ms, r.log, r.disabled),
                (Policy::Confine, DEFAULT_WAIT_MS, LogLevel::Warn, false)
            );
        }
    }

    #[test]
    fn launchers_are_a_list_of_program_names() {
        let r = resolve(&fake(&[(
            "THROTTLE_LAUNCHERS",
            "ibrun,mpiexec.slurm,torchrun",
        )]));
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert_eq!(r.launchers, ["ibrun", "mpiexec.slurm", "torchrun"]);
        assert!(resolve(&fake(&[])).launchers.is_empty());
        let long = "x".repeat(65);
        assert!(check_launchers(&long).is_err());
        assert!(check_launchers(&long[1..]).is_ok());
    }

    #[test]
    fn shown_escapes_and_truncates() {
        assert_eq!(shown(b"a\nb"), "a\\nb");
        assert!(shown(&[b'x'; 100]).ends_with("..."));
    }

    /// Environment variables of one case.
    type Vars = &'static [(&'static str, &'static str)];

    /// The one consulted entry marked as the winner.
    fn winner(r: &Resolution) -> &Consulted {
        let won: Vec<&Consulted> = r.consulted.iter().filter(|c| c.won).collect();
        assert_eq!(won.len(), 1, "{:#?}", r.consulted);
        won[0]
    }

    /// THROTTLE_THREADS, budget file, scheduler, cgroup, system default,
    /// affinity: remove each in turn and the next one wins.
    #[test]
    fn allocation_sources_in_precedence_order() {
        let mut f = fake(&[
            ("THROTTLE_THREADS", "7"),
            ("THROTTLE_BUDGET_FILE", "/b"),
            ("SLURM_JOB_ID", "42"),
            ("SLURM_CPUS_PER_TASK", "5"),
        ]);
        f.files.insert("/b".into(), Ok(b"threads = 6\n".to_vec()));
        f.files
            .insert(SYSTEM_CONF.into(), Ok(b"threads = 3\n".to_vec()));
        f.tree = Some("v2"); // a quota of 2 CPUs
        let expect = [
            (7, Source::Env, "THROTTLE_THREADS"),
            (6, Source::BudgetFile, "THROTTLE_BUDGET_FILE"),
            (5, Source::Slurm, "SLURM_CPUS_PER_TASK"),
            (2, Source::Cgroup, "/sys/fs/cgroup/job/step/cpu.max"),
            (3, Source::SystemDefault, "system file"),
            (8, Source::Affinity, "affinity"),
        ];
        for (step, (cap, source, entry)) in expect.into_iter().enumerate() {
            let r = resolve(&f);
            assert_eq!((r.cap, r.source), (cap, source), "step {step}");
            assert_eq!(winner(&r).name, entry, "step {step}");
            assert!(r.warnings.is_empty(), "{:?}", r.warnings);
            match step {
                0 => drop(f.vars.remove("THROTTLE_THREADS")),
                1 => drop(f.vars.remove("THROTTLE_BUDGET_FILE")),
                2 => drop(f.vars.remove("SLURM_JOB_ID")),
                3 => f.tree = None,
                4 => drop(f.files.remove(SYSTEM_CONF)),
                _ => {}
            }
        }
    }

    #[test]
    fn source_labels_are_single_words() {
        // The schedulers' and the cgroup's: a lowercase word.
        let settings = [
            Source::Env,
            Source::BudgetFile,
            Source::SystemDefault,
            Source::Affinity,
        ];
        for s in Source::ALL.iter().filter(|s| !settings.contains(s)) {
            let label = s.label();
            assert!(label.bytes().all(|b| b.is_ascii_lowercase()), "{label}");
        }
        // Every label is one word, and tells its source (the report and the
        // library's `status` name a source by it).
        for (i, s) in Source::ALL.iter().enumerate() {
            let label = s.label();
            assert!(
                label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                "{label}"
            );
            assert!(
                Source::ALL[..i].iter().all(|t| t.label() != label),
                "{label} twice"
            );
        }
    }

    #[test]
    fn each_scheduler_gives_its_allocation() {
        let cases: &[(Vars, usize, Source)] = &[
            (
                &[("SLURM_JOB_ID", "1"), ("SLURM_CPUS_PER_TASK", "3")],
                3,
                Source::Slurm,
            ),
            (
                &[("SLURM_JOB_ID", "1"), ("SLURM_CPUS_ON_NODE", "12")],
                12,
                Source::Slurm,
            ),
            (
                &[
                    ("SLURM_JOB_ID", "1"),
                    ("SLURM_CPUS_PER_TASK", "2"),
                    ("SLURM_CPUS_ON_NODE", "12"),
                ],
                2,
                Source::Slurm,
            ),
            (&[("JOB_ID", "9"), ("NSLOTS", "4")], 4, Source::Sge),
            (&[("PBS_JOBID", "9.srv"), ("NCPUS", "6")], 6, Source::Pbs),
            (
                &[("PBS_JOBID", "9.srv"), ("PBS_NUM_PPN", "5")],
                5,
                Source::Torque,
            ),
            (&[("LSB_MCPU_HOSTS", "nodeA 4 node07 3")], 3, Source::Lsf),
            (
                &[("LSB_MCPU_HOSTS", "nodeA 4"), ("LSB_DJOB_NUMPROC", "9")],
                9,
                Source::Lsf,
            ),
            (&[("LSB_DJOB_NUMPROC", "2")], 2, Source::Lsf),
            (&[("_CONDOR_MACHINE_AD", "/ad")], 4, Source::HtCondor),
        ];
        for (vars, cap, source) in cases {
            let mut f = fake(vars);
            f.host = Some("node07.cluster.example");
            f.files.insert(
                "/ad".into(),
                Ok(b"MyType = \"Machine\"\nTotalCpus = 64\nCpus = 4\n".to_vec()),
            );
            let r = resolve(&f);
            assert_eq!((r.cap, r.source), (*cap, *source), "{vars:?}");
            assert!(r.warnings.is_empty(), "{vars:?}: {:?}", r.warnings);
        }
    }

    /// Outside a job (no SLURM_JOB_ID, JOB_ID, PBS_JOBID) the variables are
    /// shown as ignored and change nothing.
    #[test]
    fn scheduler_variables_outside_a_job_are_ignored() {
        for var in [
            "SLURM_CPUS_PER_TASK",
            "SLURM_CPUS_ON_NODE",
            "NSLOTS",
            "NCPUS",
            "PBS_NUM_PPN",
        ] {
            let r = resolve(&fake(&[(var, "3")]));
            assert_eq!((r.cap, r.source), (8, Source::Affinity), "{var}");
            assert!(r.warnings.is_empty());
            let c = r.consulted.iter().find(|c| c.name == var).unwrap();
            assert!(c.verdict.starts_with("ignored"), "{c:?}");
        }
    }

    /// Every malformed scheduler value: one warning naming the variable and
    /// the value, and resolution goes on to the next source (here the
    /// second variable given, or the affinity mask).
    #[test]
    fn malformed_scheduler_values_warn_once_and_fall_through() {
        const SLURM: (&str, &str) = ("SLURM_JOB_ID", "1");
        let cases: &[(Vars, &str, &str, usize, Source)] = &[
            (
                &[SLURM, ("SLURM_CPUS_PER_TASK", "0")],
                "SLURM_CPUS_PER_TASK",
                "0",
                8,
                Source::Affinity,
            ),
            (
                &[SLURM, ("SLURM_CPUS_PER_TASK", "-2")],
                "SLURM_CPUS_PER_TASK",
                "-2",
                8,
                Source::Affinity,
            ),
            (
                &[
                    SLURM,
                    ("SLURM_CPUS_PER_TASK", "abc"),
                    ("SLURM_CPUS_ON_NODE", "4"),
                ],
                "SLURM_CPUS_PER_TASK",
                "abc",
                4,
                Source::Slurm,
            ),
            (
                &[SLURM, ("SLURM_CPUS_PER_TASK", "")],
                "SLURM_CPUS_PER_TASK",
                "''",
                8,
                Source::Affinity,
            ),
            (
                &[SLURM, ("SLURM_CPUS_ON_NODE", "99999999999999999999")],
                "SLURM_CPUS_ON_NODE",
                "99999999999999999999",
                8,
                Source::Affinity,
            ),
            (
                &[SLURM, ("SLURM_CPUS_ON_NODE", "4 ")],
                "SLURM_CPUS_ON_NODE",
                "4 ",
                8,
                Source::Affinity,
            ),
            (
                &[
                    SLURM,
                    ("SLURM_CPUS_PER_TASK", "2"),
                    ("SLURM_JOB_CPUS_PER_NODE", "4(x)"),
                ],
                "SLURM_JOB_CPUS_PER_NODE",
                "4(x)",
                2,
                Source::Slurm,
            ),
            (
                &[
                    SLURM,
                    ("SLURM_CPUS_PER_TASK", "2"),
                    ("SLURM_JOB_CPUS_PER_NODE", "72(x2,36"),
                ],
                "SLURM_JOB_CPUS_PER_NODE",
                "72(x2,36",
                2,
                Source::Slurm,
            ),
            (
                &[
                    SLURM,
                    ("SLURM_CPUS_PER_TASK", "2"),
                    ("SLURM_TASKS_PER_NODE", ""),
                ],
                "SLURM_TASKS_PER_NODE",
                "''",
                2,
                Source::Slurm,
            ),
            (
                &[
                    SLURM,
                    ("SLURM_CPUS_PER_TASK", "2"),
                    ("SLURM_NODEID", "first"),
                ],
                "SLURM_NODEID",
                "first",
                2,
                Source::Slurm,
            ),
            (
                &[("JOB_ID", "1"), ("NSLOTS", "abc")],
                "NSLOTS",
                "abc",
                8,
                Source::Affinity,
            ),
            (
                &[("PBS_JOBID", "1"), ("NCPUS", "-2"), ("PBS_NUM_PPN", "3")],
                "NCPUS",
                "-2",
                3,
                Source::Torque,
            ),
            (
                &[("PBS_JOBID", "1"), ("PBS_NUM_PPN", "4x")],
                "PBS_NUM_PPN",
                "4x",
                8,
                Source::Affinity,
            ),
            (
                &[
                    ("LSB_MCPU_HOSTS", "hostA 4 hostB"),
                    ("LSB_DJOB_NUMPROC", "6"),
                ],
                "LSB_MCPU_HOSTS",
                "hostA 4 hostB",
                6,
                Source::Lsf,
            ),
            (
                &[("LSB_MCPU_HOSTS", "hostA four")],
                "LSB_MCPU_HOSTS",
                "hostA four",
                8,
                Source::Affinity,
            ),
            (
                &[("LSB_DJOB_NUMPROC", "0")],
                "LSB_DJOB_NUMPROC",
                "0",
                8,
                Source::Affinity,
            ),
            (
                &[("_CONDOR_MACHINE_AD", "/four.ad")],
                "_CONDOR_MACHINE_AD",
                "/four.ad",
                8,
                Source::Affinity,
            ),
            (
                &[("_CONDOR_MACHINE_AD", "/none.ad")],
                "_CONDOR_MACHINE_AD",
                "/none.ad",
                8,
                Source::Affinity,
            ),
            (
                &[("_CONDOR_MACHINE_AD", "/missing.ad")],
                "_CONDOR_MACHINE_AD",
                "/missing.ad",
                8,
                Source::Affinity,
            ),
            (
                &[
                    ("_CONDOR_MACHINE_AD", "/binary.ad"),
                    ("LSB_DJOB_NUMPROC", "1"),
                ],
                "_CONDOR_MACHINE_AD",
                "/binary.ad",
                1,
                Source::Lsf,
            ),
        ];
        for (vars, var, value, cap, source) in cases {
            let mut f = fake(vars);
            f.host = Some("hostA");
            f.files
                .insert("/four.ad".into(), Ok(b"Cpus = \"four\"\n".to_vec()));
            f.files
                .insert("/none.ad".into(), Ok(b"Memory = 4\n".to_vec()));
            f.files
                .insert("/binary.ad".into(), Ok(b"\x7fELF\0Cpus = 4".to_vec()));
            let r = resolve(&f);
            assert_eq!((r.cap, r.source), (*cap, *source), "{vars:?}");
            assert_eq!(r.warnings.len(), 1, "{vars:?}: {:?}", r.warnings);
            let w = &r.warnings[0];
            assert!(w.starts_with(var) && w.contains(value), "{vars:?}: {w}");
        }
    }

    #[test]
    fn lsf_without_this_host_falls_through_quietly() {
        let mut f = fake(&[("LSB_MCPU_HOSTS", "hostA 4 hostB 2")]);
        f.host = Some("hostC");
        let r = resolve(&f);
        assert_eq!((r.cap, r.source), (8, Source::Affinity));
        assert!(r.warnings.is_empty());
        let c = r
            .consulted
            .iter()
            .find(|c| c.name == "LSB_MCPU_HOSTS")
            .unwrap();
        assert!(c.verdict.contains("hostC"), "{c:?}");
    }

    #[test]
    fn classad_path_is_ignored_in_secure_mode() {
        let mut f = fake(&[("_CONDOR_MACHINE_AD", "/ad")]);
        f.files.insert("/ad".into(), Ok(b"Cpus = 1\n".to_vec()));
        f.secure = true;
        let r = resolve(&f);
        assert_eq!((r.cap, r.source), (8, Source::Affinity));
        assert!(r.warnings.is_empty());
    }

    /// Slurm's per-node lists are shown with this node's entry, never used.
    #[test]
    fn slurm_per_node_lists_are_information() {
        let r = resolve(&fake(&[
            ("SLURM_JOB_ID", "1"),
            ("SLURM_NODEID", "2"),
            ("SLURM_JOB_CPUS_PER_NODE", "72(x2),36"),
            ("SLURM_TASKS_PER_NODE", "2(x3)"),
        ]));
        assert_eq!((r.cap, r.source), (8, Source::Affinity));
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        let verdict = |name: &str| {
            r.consulted
                .iter()
                .find(|c| c.name == name)
                .unwrap()
                .verdict
                .clone()
        };
        assert_eq!(
            verdict("SLURM_JOB_CPUS_PER_NODE"),
            "information: 3 nodes; this node (SLURM_NODEID=2) 36"
        );
        assert_eq!(
            verdict("SLURM_TASKS_PER_NODE"),
            "information: 3 nodes; this node (SLURM_NODEID=2) 2"
        );
    }

    /// The quota is the smallest over the levels, whichever version.
    #[test]
    fn cgroup_quota_from_fixture_trees() {
        for (tree, cap, entry) in [
            ("v2", 2, "/sys/fs/cgroup/job/step/cpu.max"),
            (
                "v1",
                3,
                "/sys/fs/cgroup/cpu,cpuacct/slurm/uid_0/job_7/cpu.cfs_quota_us",
            ),
        ] {
            let mut f = fake(&[]);
            f.tree = Some(tree);
            let r = resolve(&f);
            assert_eq!((r.cap, r.source), (cap, Source::Cgroup), "{tree}");
            assert_eq!(winner(&r).name, entry, "{tree}");
            assert!(r.warnings.is_empty(), "{tree}: {:?}", r.warnings);
            assert!(
                r.consulted
                    .iter()
                    .any(|c| c.verdict.contains("CPUs in the set")),
                "{tree}: {:#?}",
                r.consulted
            );
        }
    }

    /// The library reads neither the cpuset (information only) nor, where a
    /// source above the quota gave the budget, the quota; the outcome is the
    /// same as with every file read.
    #[test]
    fn the_library_reads_no_cgroup_file_that_decides_nothing() {
        for vars in [
            &[][..],
            &[("THROTTLE_THREADS", "3")],
            &[("SLURM_JOB_ID", "7"), ("SLURM_CPUS_PER_TASK", "2")],
        ] {
            let mut full = fake(vars);
            full.tree = Some("v1");
            let mut lean = fake(vars);
            lean.tree = Some("v1");
            lean.lean = true;
            let (full, lean) = (resolve(&full), resolve(&lean));
            assert_eq!((full.cap, full.source), (lean.cap, lean.source), "{vars:?}");
            assert!(
                !lean.consulted.iter().any(|c| c.name.contains("cpuset")),
                "{vars:?}"
            );
            let quota_read = lean.consulted.iter().any(|c| c.name.contains("cfs_quota"));
            assert_eq!(
                quota_read,
                vars.is_empty(),
                "{vars:?}: {:#?}",
                lean.consulted
            );
        }
    }

    /// A malformed level is reported and skipped; the others still count. A
    /// malformed /proc/self/cgroup, or a quota without its period, gives one
    /// line and no quota.
    #[test]
    fn malformed_cgroup_files_warn_once() {
        for (tree, cap, source, named) in [
            (
                "v2_bad",
                4,
                Source::Cgroup,
                "/sys/fs/cgroup/outer/inner/cpu.max",
            ),
            ("bad_self", 8, Source::Affinity, "/proc/self/cgroup"),
            (
                "v1_no_period",
                8,
                Source::Affinity,
                "/sys/fs/cgroup/cpu/box/cpu.cfs_quota_us",
            ),
        ] {
            let mut f = fake(&[]);
            f.tree = Some(tree);
            let r = resolve(&f);
            assert_eq!((r.cap, r.source), (cap, source), "{tree}");
            assert_eq!(r.warnings.len(), 1, "{tree}: {:?}", r.warnings);
            assert!(r.warnings[0].contains(named), "{tree}: {:?}", r.warnings);
        }
    }

    /// Cgroup files the process is refused (a sandbox hiding /proc or /sys:
    /// `EACCES`) say nothing, and without a warning: the sandbox is the
    /// host's choice. A file that cannot be read for another reason is
    /// still warned about.
    #[test]
    fn refused_cgroup_files_are_noted_without_a_warning() {
        let quota = "/sys/fs/cgroup/cpu/cpu.cfs_quota_us";
        let v1 = b"4:cpu,cpuacct:/\n".to_vec();
        for (files, noted) in [
            (
                vec![(allocation::SELF_CGROUP, Err("refused"))],
                allocation::SELF_CGROUP,
            ),
            (
                vec![
                    (allocation::SELF_CGROUP, Ok(v1.clone())),
                    (quota, Err("refused")),
                ],
                quota,
            ),
        ] {
            let mut f = fake(&[]);
            f.files = files.into_iter().map(|(p, r)| (p.to_string(), r)).collect();
            let r = resolve(&f);
            assert_eq!((r.cap, r.source), (8, Source::Affinity), "{noted}");
            assert!(r.warnings.is_empty(), "{noted}: {:?}", r.warnings);
            let note = r.consulted.iter().find(|c| c.name == noted).unwrap();
            assert!(
                note.verdict.starts_with("refused"),
                "{noted}: {}",
                note.verdict
            );
        }
        let mut f = fake(&[]);
        f.files = [(
            allocation::SELF_CGROUP.to_string(),
            Err("Input/output error"),
        )]
        .into();
        assert_eq!(resolve(&f).warnings.len(), 1);
    }

    /// A `max_threads` ceiling that lowers the cap is the winner shown.
    #[test]
    fn a_ceiling_is_marked_as_the_winner() {
        let mut f = fake(&[("SLURM_JOB_ID", "1"), ("SLURM_CPUS_ON_NODE", "16")]);
        f.files
            .insert(SYSTEM_CONF.into(), Ok(b"max_threads = 4\n".to_vec()));
        let r = resolve(&f);
        assert_eq!((r.cap, r.source), (4, Source::Slurm));
        assert_eq!(winner(&r).name, "system file");
    }
}

//! What budget resolution reads from the outside world ([`Inputs`]), and the
//! terms its parts share: the sources a budget comes from, the bounds on a
//! count, how a value is shown. A leaf: `config` (resolution), `allocation`
//! (schedulers and cgroups) and `sys` (the live inputs) all use it, and it
//! uses none of them.

/// The largest cap accepted from any source. Linux supports 8192 CPUs; a
/// larger thread budget means nothing we could enforce.
pub const MAX_CAP: usize = 65_536;

/// Budget files larger than this are refused unread: they are a few lines.
pub const MAX_BUDGET_FILE_BYTES: u64 = 64 * 1024;

/// Where the cap came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Env,
    BudgetFile,
    Slurm,
    Sge,
    Pbs,
    Torque,
    Lsf,
    HtCondor,
    Cgroup,
    SystemDefault,
    Affinity,
}

impl Source {
    /// Every source, in a fixed order (an index into it fits in a byte).
    pub const ALL: [Source; 11] = [
        Source::Env,
        Source::BudgetFile,
        Source::Slurm,
        Source::Sge,
        Source::Pbs,
        Source::Torque,
        Source::Lsf,
        Source::HtCondor,
        Source::Cgroup,
        Source::SystemDefault,
        Source::Affinity,
    ];

    /// A single word, as it appears in the report line.
    pub fn label(self) -> &'static str {
        match self {
            Source::Env => "THROTTLE_THREADS",
            Source::BudgetFile => "THROTTLE_BUDGET_FILE",
            Source::Slurm => "slurm",
            Source::Sge => "sge",
            Source::Pbs => "pbs",
            Source::Torque => "torque",
            Source::Lsf => "lsf",
            Source::HtCondor => "htcondor",
            Source::Cgroup => "cgroup",
            Source::SystemDefault => "system_file",
            Source::Affinity => "affinity",
        }
    }
}

/// Why a file could not be used.
#[derive(Clone, Debug)]
pub enum FileError {
    Missing,
    Unreadable(String),
    /// Refused by access control (`EACCES`, `EPERM`) or by a sandbox's
    /// system-call filter (`ENOSYS`): why.
    Refused(String),
    NotAFile,
    TooLarge(u64),
}

impl FileError {
    /// Why, phrased to follow a file's name.
    pub fn describe(&self) -> String {
        match self {
            FileError::Missing => "does not exist".to_string(),
            FileError::Unreadable(why) | FileError::Refused(why) => {
                format!("cannot be read ({why})")
            }
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
    /// This host's name (`gethostname`), to find it in LSF's host list.
    fn hostname(&self) -> Option<String>;
    /// Whether to read what decides nothing but is shown (a cgroup's
    /// cpuset, which the affinity mask already reflects): `throttle info`
    /// shows it; the library, resolving at every process start, skips it.
    fn details(&self) -> bool {
        true
    }
}

/// Why a value was refused, phrased to follow `'<value>' `.
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

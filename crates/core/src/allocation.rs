//! Where the CPUs of this process's allocation are written down: the values
//! batch schedulers put in a job's environment, and the CPU quota of its
//! cgroup (docs/design.md, section 12).
//!
//! Pure parsers plus the data saying which scheduler sets which variable.
//! Each parser returns the value or why it was refused, phrased to follow
//! `'<value>' ` as [`check_count`]'s reasons are; `config::resolve` turns
//! them into the consulted list and one warning line each.
//!
//! Files are read through a `read` function (`Inputs::read_file` in the
//! library, the real file system in the tests below), and the cgroup root and
//! `/proc/self/cgroup` are parameters, so fixture trees stand in for them.
//!
//! Slurm's per-node lists (`SLURM_JOB_CPUS_PER_NODE`, `SLURM_TASKS_PER_NODE`,
//! e.g. `72(x2),36`) are shown, never used for the budget: which entry is
//! this node's depends on a node index, and we take `SLURM_NODEID` for it,
//! which counts the job's nodes in a batch script but the step's nodes under
//! `srun`. `SLURM_CPUS_PER_TASK` and `SLURM_CPUS_ON_NODE` need no index.

use crate::inputs::{check_count, FileError, Source, MAX_CAP};

/// Where cgroup file systems are mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The kernel's list of this process's cgroups.
pub const SELF_CGROUP: &str = "/proc/self/cgroup";

/// How a scheduler variable's value is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A positive integer.
    Count,
    /// LSF's `LSB_MCPU_HOSTS`: `host count` pairs; this host's count is used.
    LsfHosts,
    /// The path of an HTCondor ClassAd file whose `Cpus` attribute is used.
    ClassAdFile,
    /// Slurm's per-node list (`72(x2),36`); shown, never used for the budget.
    SlurmPerNode,
    /// A node index (`SLURM_NODEID`); shown, used to pick a per-node entry.
    NodeIndex,
}

/// One scheduler: the variable that marks one of its jobs, and the variables
/// that carry the allocation, in the order they are tried.
pub struct Scheduler {
    pub source: Source,
    /// Its variables are read only when this one is set. `None` where the
    /// variables' names are the scheduler's own and cannot be set by chance.
    pub job: Option<&'static str>,
    pub vars: &'static [(&'static str, Format)],
}

/// The schedulers, in the order of precedence among them (a job runs under
/// one; the order only matters if a job's environment leaks into another's).
///
/// `NCPUS` and `PBS_NUM_PPN` are read only under `PBS_JOBID`: `NCPUS` is a
/// common name outside PBS.
pub const SCHEDULERS: &[Scheduler] = &[
    Scheduler {
        source: Source::Slurm,
        job: Some("SLURM_JOB_ID"),
        vars: &[
            ("SLURM_CPUS_PER_TASK", Format::Count),
            ("SLURM_CPUS_ON_NODE", Format::Count),
            ("SLURM_NODEID", Format::NodeIndex),
            ("SLURM_JOB_CPUS_PER_NODE", Format::SlurmPerNode),
            ("SLURM_TASKS_PER_NODE", Format::SlurmPerNode),
        ],
    },
    Scheduler {
        source: Source::Sge,
        job: Some("JOB_ID"),
        vars: &[("NSLOTS", Format::Count)],
    },
    Scheduler {
        source: Source::Pbs,
        job: Some("PBS_JOBID"),
        vars: &[("NCPUS", Format::Count)],
    },
    Scheduler {
        source: Source::Torque,
        job: Some("PBS_JOBID"),
        vars: &[("PBS_NUM_PPN", Format::Count)],
    },
    Scheduler {
        source: Source::Lsf,
        job: None,
        vars: &[
            ("LSB_MCPU_HOSTS", Format::LsfHosts),
            ("LSB_DJOB_NUMPROC", Format::Count),
        ],
    },
    Scheduler {
        source: Source::HtCondor,
        job: None,
        vars: &[("_CONDOR_MACHINE_AD", Format::ClassAdFile)],
    },
];

/// Bytes as text, refusing binary content.
fn text(bytes: &[u8]) -> Result<&str, String> {
    match std::str::from_utf8(bytes) {
        Ok(t) if !t.contains('\0') => Ok(t),
        _ => Err("is not text".to_string()),
    }
}

/// A Slurm per-node list: `count` or `count(xrepeat)` entries, comma-separated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PerNode(Vec<(usize, u64)>);

/// More nodes than any cluster has; a larger repeat is a corrupt value.
const MAX_NODES: u64 = 1 << 24;

impl PerNode {
    pub fn parse(raw: &str) -> Result<PerNode, String> {
        if raw.is_empty() {
            return Err("is empty".to_string());
        }
        let mut entries = Vec::new();
        let mut nodes: u64 = 0;
        for entry in raw.split(',') {
            let (count, repeat) = match entry.split_once("(x") {
                Some((count, rest)) => {
                    let Some(repeat) = rest.strip_suffix(')') else {
                        return Err(format!("has an unclosed repeat in '{entry}'"));
                    };
                    if repeat.is_empty() || !repeat.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(format!("has a bad repeat count in '{entry}'"));
                    }
                    // Too many digits for u64 is too many nodes as well.
                    let repeat = repeat.parse::<u64>().unwrap_or(u64::MAX);
                    if repeat == 0 {
                        return Err(format!("has a zero repeat count in '{entry}'"));
                    }
                    (count, repeat)
                }
                None => (entry, 1),
            };
            let count =
                check_count(count).map_err(|why| format!("has an entry '{count}' that {why}"))?;
            nodes = nodes.saturating_add(repeat);
            if nodes > MAX_NODES {
                return Err(format!("lists more than {MAX_NODES} nodes"));
            }
            entries.push((count, repeat));
        }
        Ok(PerNode(entries))
    }

    /// How many nodes the list covers.
    pub fn nodes(&self) -> u64 {
        self.0.iter().map(|&(_, r)| r).sum()
    }

    /// The entry of node `index` (0-based), if the list is that long.
    pub fn node(&self, index: u64) -> Option<usize> {
        let mut first = 0;
        for &(count, repeat) in &self.0 {
            if index < first + repeat {
                return Some(count);
            }
            first += repeat;
        }
        None
    }
}

/// A node index such as `SLURM_NODEID`.
pub fn check_index(raw: &str) -> Result<u64, String> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err("is not a node index".to_string());
    }
    raw.parse::<u64>()
        .ok()
        .filter(|&n| n < MAX_NODES)
        .ok_or_else(|| format!("is out of range (0 to {})", MAX_NODES - 1))
}

/// LSF's `LSB_MCPU_HOSTS`: `"hostA 4 hostB 2"`.
pub fn parse_lsf_hosts(raw: &str) -> Result<Vec<(String, usize)>, String> {
    let fields: Vec<&str> = raw.split_whitespace().collect();
    if fields.is_empty() {
        return Err("is empty".to_string());
    }
    if !fields.len().is_multiple_of(2) {
        return Err("is not a list of 'host count' pairs (odd number of fields)".to_string());
    }
    fields
        .chunks(2)
        .map(|pair| {
            let count = check_count(pair[1]).map_err(|why| {
                format!("gives host '{}' a count '{}' that {why}", pair[0], pair[1])
            })?;
            Ok((pair[0].to_string(), count))
        })
        .collect()
}

/// This host's CPUs in an LSF host list: entries naming `hostname`, compared
/// in full and by short name (up to the first dot) when either is short.
pub fn lsf_local_count(hosts: &[(String, usize)], hostname: &str) -> Option<usize> {
    let short = |h: &str| h.split('.').next().unwrap_or(h).to_string();
    let matches = |h: &str| h == hostname || short(h) == short(hostname);
    let counts: Vec<usize> = hosts
        .iter()
        .filter(|(h, _)| matches(h))
        .map(|&(_, n)| n)
        .collect();
    (!counts.is_empty()).then(|| counts.iter().sum::<usize>().min(MAX_CAP))
}

/// The `Cpus` attribute of an HTCondor ClassAd (`Cpus = 4` lines; attribute
/// names are case-insensitive).
pub fn parse_classad_cpus(bytes: &[u8]) -> Result<usize, String> {
    let text = text(bytes)?;
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim().eq_ignore_ascii_case("cpus") {
            let value = value.trim();
            return check_count(value).map_err(|why| format!("has Cpus = '{value}', which {why}"));
        }
    }
    Err("has no Cpus attribute".to_string())
}

/// A positive number of microseconds from a cgroup file.
fn check_us(raw: &str, what: &str) -> Result<u64, String> {
    if raw == "max" {
        return Err(format!("has 'max' as the {what}"));
    }
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "has a {what} '{raw}' that is not a positive integer"
        ));
    }
    match raw.parse::<u64>() {
        Ok(0) => Err(format!("has a {what} of 0")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("has a {what} '{raw}' that is out of range")),
    }
}

/// `ceil(quota / period)`, or `None` (no limit) above [`MAX_CAP`] CPUs.
fn quota_cpus(quota: u64, period: u64) -> Option<usize> {
    let cpus = quota.div_ceil(period);
    (cpus <= MAX_CAP as u64).then_some(cpus as usize)
}

/// cgroup v2 `cpu.max`: `"$MAX $PERIOD"`; `max` means no limit (`None`).
pub fn parse_cpu_max(bytes: &[u8]) -> Result<Option<usize>, String> {
    let fields: Vec<&str> = text(bytes)?.split_whitespace().collect();
    match fields.as_slice() {
        [] => Err("is empty".to_string()),
        [_] => Err("is not '<quota> <period>' (one field)".to_string()),
        ["max", period] => check_us(period, "period").map(|_| None),
        [quota, period] => {
            let quota = check_us(quota, "quota")?;
            let period = check_us(period, "period")?;
            Ok(quota_cpus(quota, period))
        }
        _ => Err("is not '<quota> <period>' (too many fields)".to_string()),
    }
}

/// cgroup v1 `cpu.cfs_quota_us`: `-1` means no limit (`None`).
pub fn parse_cfs_quota(bytes: &[u8]) -> Result<Option<u64>, String> {
    let raw = text(bytes)?.trim();
    if raw == "-1" {
        return Ok(None);
    }
    check_us(raw, "quota").map(Some)
}

/// cgroup v1 `cpu.cfs_period_us`.
pub fn parse_cfs_period(bytes: &[u8]) -> Result<u64, String> {
    check_us(text(bytes)?.trim(), "period")
}

/// The CPUs of a v1 quota whose period is known.
pub fn cfs_cpus(quota: u64, period: u64) -> Option<usize> {
    quota_cpus(quota, period)
}

/// The number of CPUs in a kernel CPU list (`0-3,8,10-11`).
pub fn parse_cpu_list(bytes: &[u8]) -> Result<usize, String> {
    const MAX_CPU: usize = 1 << 20;
    let raw = text(bytes)?.trim();
    if raw.is_empty() {
        return Err("is empty".to_string());
    }
    let cpu = |s: &str| -> Result<usize, String> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("has '{s}', which is not a CPU number"));
        }
        s.parse::<usize>()
            .ok()
            .filter(|&n| n < MAX_CPU)
            .ok_or_else(|| format!("has CPU '{s}', which is out of range"))
    };
    let mut count = 0;
    for part in raw.split(',') {
        count += match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (cpu(a)?, cpu(b)?);
                if a > b {
                    return Err(format!("has a backward range '{part}'"));
                }
                b - a + 1
            }
            None => cpu(part).map(|_| 1)?,
        };
    }
    Ok(count)
}

/// Where this process sits in each hierarchy, from `/proc/self/cgroup`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Membership {
    /// The v2 (unified) path, from the `0::` line.
    pub unified: Option<String>,
    /// The v1 hierarchy holding the `cpu` controller: its controller list
    /// (`cpu,cpuacct`) and the path.
    pub cpu: Option<(String, String)>,
    /// The v1 hierarchy holding `cpuset`: its controller list and the path.
    pub cpuset: Option<(String, String)>,
}

/// Parses `/proc/self/cgroup`: `id:controllers:path` lines.
pub fn parse_self_cgroup(bytes: &[u8]) -> Result<Membership, String> {
    let text = text(bytes)?;
    let mut m = Membership::default();
    let mut lines = 0;
    for line in text.lines().filter(|l| !l.is_empty()) {
        lines += 1;
        let mut fields = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err(format!(
                "has a line '{line}' that is not 'id:controllers:path'"
            ));
        };
        if !path.starts_with('/') {
            return Err(format!("has a line '{line}' whose path is not absolute"));
        }
        let names: Vec<&str> = controllers.split(',').collect();
        if id == "0" && controllers.is_empty() {
            m.unified = Some(path.to_string());
        } else if names.contains(&"cpu") {
            m.cpu = Some((controllers.to_string(), path.to_string()));
        } else if names.contains(&"cpuset") {
            m.cpuset = Some((controllers.to_string(), path.to_string()));
        }
    }
    if lines == 0 {
        return Err("is empty".to_string());
    }
    Ok(m)
}

/// The directories from `path` up to the hierarchy's root, leaf first, as
/// suffixes to append to a mount point (`/a/b` gives `/a/b`, `/a`, ``).
///
/// A path outside this namespace's view (`/..` components, which a process
/// in a cgroup namespace sees for cgroups above its root) gives only the
/// root: the mount point is then the nearest cgroup we can read.
pub fn ancestors(path: &str) -> Vec<String> {
    const MAX_DEPTH: usize = 64;
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.iter().any(|p| *p == ".." || *p == ".") || parts.len() > MAX_DEPTH {
        return vec![String::new()];
    }
    (0..=parts.len())
        .rev()
        .map(|n| parts[..n].iter().map(|p| format!("/{p}")).collect())
        .collect()
}

/// What one cgroup file said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reading {
    /// A quota of this many CPUs.
    Quota(usize),
    /// No quota at this level.
    NoLimit,
    /// A CPU set of this many CPUs (information only).
    CpuSet(usize),
    /// Malformed or unreadable: why.
    Invalid(String),
    /// Refused to this process (a sandbox): why. Says nothing.
    Refused(String),
}

/// One cgroup file that was read: its path, its content as shown, and what
/// it said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub path: String,
    pub value: String,
    pub reading: Reading,
}

/// Reads a file; `Ok(None)` when it does not exist.
type Read<'a> = &'a dyn Fn(&str) -> ReadResult;
type ReadResult = Result<Vec<u8>, FileError>;

fn read_optional(read: Read, path: &str) -> Result<Option<Vec<u8>>, FileError> {
    match read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(FileError::Missing) => Ok(None),
        Err(e) => Err(e),
    }
}

/// What a file that could not be read says: nothing, where the process was
/// refused it (a sandbox: the host's choice, not an error of the system's).
fn unread(e: FileError) -> Reading {
    match e {
        FileError::Refused(_) => Reading::Refused(e.describe()),
        _ => Reading::Invalid(e.describe()),
    }
}

/// The shown form of a file's content: its first line, escaped.
fn content(bytes: &[u8]) -> String {
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or(bytes);
    crate::inputs::shown(first)
}

/// Every cgroup file that says something about this process's CPUs: the
/// quota at each level from its cgroup up to the root (v2 `cpu.max`, or v1
/// `cpu.cfs_quota_us` with `cpu.cfs_period_us` where the `cpu` controller is
/// on v1, as on hybrid systems), then the nearest CPU set. The caller takes
/// the smallest quota. Missing files are skipped: the root cgroup has no
/// `cpu.max`, and neither does a cgroup without the `cpu` controller.
///
/// `Err` when `self_cgroup` exists but is unusable; `Ok(empty)` when it
/// does not exist.
pub fn cgroup_findings(
    read: Read,
    self_cgroup: &str,
    root: &str,
    cpuset: bool,
) -> Result<Vec<Finding>, String> {
    let bytes = match read_optional(read, self_cgroup) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Ok(Vec::new()),
        // A sandbox that hides /proc (Landlock): no cgroup is known, and
        // nothing is wrong.
        Err(e @ FileError::Refused(_)) => {
            return Ok(vec![Finding {
                path: self_cgroup.to_string(),
                value: String::new(),
                reading: unread(e),
            }])
        }
        Err(e) => return Err(e.describe()),
    };
    let m = parse_self_cgroup(&bytes).map_err(|why| format!("'{}' {why}", content(&bytes)))?;
    // The v1 mount is found by reading the root's quota, which the walk up
    // the cgroups reads again last: read once (a file of /sys is 10 µs or
    // more at every process start).
    let seen: std::cell::RefCell<Vec<(String, ReadResult)>> = Default::default();
    let once = |path: &str| {
        if let Some((_, r)) = seen.borrow().iter().find(|(p, _)| p == path) {
            return r.clone();
        }
        let r = read(path);
        seen.borrow_mut().push((path.to_string(), r.clone()));
        r
    };
    let read: Read = &once;
    let mut out = Vec::new();
    if let Some((controllers, path)) = &m.cpu {
        if let Some(mount) = v1_mount(read, root, controllers, "cpu", "cpu.cfs_quota_us") {
            for dir in ancestors(path) {
                let dir = format!("{mount}{dir}");
                if let Some(f) = v1_quota(read, &dir) {
                    out.push(f);
                }
            }
        }
    } else if let Some(path) = &m.unified {
        for dir in ancestors(path) {
            let file = format!("{root}{dir}/cpu.max");
            if let Some(f) = finding(read, file, |b| {
                parse_cpu_max(b).map(|q| q.map_or(Reading::NoLimit, Reading::Quota))
            }) {
                out.push(f);
            }
        }
    }
    let cpuset = match (&m.cpuset, &m.unified) {
        _ if !cpuset => None,
        (Some((controllers, path)), _) => {
            v1_mount(read, root, controllers, "cpuset", "cpuset.effective_cpus")
                .map(|mount| (mount, path.as_str(), "cpuset.effective_cpus"))
        }
        (None, Some(path)) => Some((root.to_string(), path.as_str(), "cpuset.cpus.effective")),
        (None, None) => None,
    };
    if let Some((mount, path, name)) = cpuset {
        let nearest = ancestors(path).into_iter().find_map(|dir| {
            finding(read, format!("{mount}{dir}/{name}"), |b| {
                parse_cpu_list(b).map(Reading::CpuSet)
            })
        });
        out.extend(nearest);
    }
    Ok(out)
}

/// Reads one file into a finding; `None` when it does not exist.
fn finding(
    read: Read,
    path: String,
    parse: impl Fn(&[u8]) -> Result<Reading, String>,
) -> Option<Finding> {
    match read_optional(read, &path) {
        Ok(None) => None,
        Ok(Some(bytes)) => Some(Finding {
            value: content(&bytes),
            reading: parse(&bytes).unwrap_or_else(Reading::Invalid),
            path,
        }),
        Err(e) => Some(Finding {
            path,
            value: String::new(),
            reading: unread(e),
        }),
    }
}

/// Where a v1 hierarchy is mounted: a directory named for its controller
/// list as `/proc/self/cgroup` gives it, in the other order, or for the
/// controller alone; the first holding `probe` at its top.
fn v1_mount(read: Read, root: &str, controllers: &str, alone: &str, probe: &str) -> Option<String> {
    let reversed: Vec<&str> = controllers.rsplit(',').collect();
    [
        controllers.to_string(),
        reversed.join(","),
        alone.to_string(),
    ]
    .iter()
    .map(|name| format!("{root}/{name}"))
    .find(|dir| !matches!(read(&format!("{dir}/{probe}")), Err(FileError::Missing)))
}

/// One v1 level's quota: `cpu.cfs_quota_us` over `cpu.cfs_period_us`.
fn v1_quota(read: Read, dir: &str) -> Option<Finding> {
    let path = format!("{dir}/cpu.cfs_quota_us");
    let (value, reading) = match read_optional(read, &path) {
        Ok(None) => return None,
        Err(e) => (String::new(), unread(e)),
        Ok(Some(quota)) => match parse_cfs_quota(&quota) {
            Ok(None) => (content(&quota), Reading::NoLimit),
            Err(why) => (content(&quota), Reading::Invalid(why)),
            Ok(Some(quota_us)) => {
                let period = read_optional(read, &format!("{dir}/cpu.cfs_period_us"));
                let (shown_period, cpus) = match period {
                    Ok(Some(p)) => (content(&p), parse_cfs_period(&p).map_err(Reading::Invalid)),
                    Ok(None) => (
                        String::new(),
                        Err(Reading::Invalid("is missing".to_string())),
                    ),
                    Err(e) => (String::new(), Err(unread(e))),
                };
                let reading = match cpus {
                    Ok(p) => cfs_cpus(quota_us, p).map_or(Reading::NoLimit, Reading::Quota),
                    Err(Reading::Invalid(why)) => {
                        Reading::Invalid(format!("with a cpu.cfs_period_us that {why}"))
                    }
                    Err(refused) => refused,
                };
                (format!("{}/{shown_period}", content(&quota)), reading)
            }
        },
    };
    Some(Finding {
        path,
        value,
        reading,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture(rel: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/allocation")
            .join(rel)
    }

    fn bytes(rel: &str) -> Vec<u8> {
        std::fs::read(fixture(rel)).unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
    }

    /// The real file system, as `Inputs::read_file` would see it.
    fn real(path: &str) -> Result<Vec<u8>, FileError> {
        match std::fs::read(path) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(FileError::Missing),
            Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => Err(FileError::NotAFile),
            Err(e) => Err(FileError::Unreadable(e.to_string())),
        }
    }

    #[test]
    fn the_cpuset_is_read_only_when_details_are_wanted() {
        let root = fixture("v2");
        let root = root.to_str().unwrap();
        let asked = std::cell::RefCell::new(Vec::new());
        let read = |path: &str| {
            asked.borrow_mut().push(path.to_string());
            real(path)
        };
        let lean = cgroup_findings(
            &read,
            &format!("{root}/proc_self_cgroup"),
            &format!("{root}/sys"),
            false,
        )
        .unwrap();
        assert!(!lean.iter().any(|f| matches!(f.reading, Reading::CpuSet(_))));
        assert!(
            !asked.borrow().iter().any(|p| p.contains("cpuset")),
            "{:?}",
            asked.borrow()
        );
        let full = cgroup_findings(
            &read,
            &format!("{root}/proc_self_cgroup"),
            &format!("{root}/sys"),
            true,
        )
        .unwrap();
        assert!(full.iter().any(|f| matches!(f.reading, Reading::CpuSet(_))));
    }

    fn findings(tree: &str) -> Result<Vec<Finding>, String> {
        findings_read_by(tree, &real)
    }

    fn findings_read_by(tree: &str, read: Read) -> Result<Vec<Finding>, String> {
        let root = fixture(tree);
        let root = root.to_str().unwrap();
        cgroup_findings(
            read,
            &format!("{root}/proc_self_cgroup"),
            &format!("{root}/sys"),
            true,
        )
    }

    /// The readings, with paths relative to the fixture tree's `sys`.
    fn readings(tree: &str) -> Vec<(String, Reading)> {
        let base = fixture(tree).join("sys");
        let base = base.to_str().unwrap().to_string();
        findings(tree)
            .unwrap()
            .into_iter()
            .map(|f| (f.path.strip_prefix(&base).unwrap().to_string(), f.reading))
            .collect()
    }

    #[test]
    fn slurm_per_node_lists() {
        let list = PerNode::parse("72(x2),36").unwrap();
        assert_eq!(list.nodes(), 3);
        assert_eq!(
            (list.node(0), list.node(1), list.node(2), list.node(3)),
            (Some(72), Some(72), Some(36), None)
        );
        assert_eq!(PerNode::parse("4").unwrap().node(0), Some(4));
        let list = PerNode::parse("2(x3)").unwrap();
        assert_eq!((list.nodes(), list.node(2)), (3, Some(2)));
        for bad in [
            "",
            "4(x)",
            "72(x2,36",
            "0",
            "-2",
            "abc",
            "4(x0)",
            "4(2)",
            "4(x2",
            "4(x2)5",
            "1,,2",
            "4(x99999999999999999999)",
            "99999999999999999999",
        ] {
            assert!(PerNode::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_index("1"), Ok(1));
        assert!(check_index("-1").is_err() && check_index("").is_err());
    }

    #[test]
    fn lsf_hosts_pick_this_host_by_full_or_short_name() {
        let hosts = parse_lsf_hosts("hostA 4 hostB 2").unwrap();
        assert_eq!(lsf_local_count(&hosts, "hostB"), Some(2));
        assert_eq!(lsf_local_count(&hosts, "hostA.cluster.example"), Some(4));
        assert_eq!(lsf_local_count(&hosts, "hostC"), None);
        let fq = parse_lsf_hosts("n1.cl 8 n2.cl 8 n1.cl 4").unwrap();
        assert_eq!(lsf_local_count(&fq, "n1"), Some(12));
        for bad in [
            "",
            "   ",
            "hostA",
            "hostA 4 hostB",
            "hostA four",
            "hostA 0",
            "hostA -2",
        ] {
            assert!(parse_lsf_hosts(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn classad_cpus() {
        assert_eq!(parse_classad_cpus(&bytes("classad/machine.ad")), Ok(4));
        assert_eq!(parse_classad_cpus(&bytes("classad/lowercase.ad")), Ok(2));
        for bad in [
            "classad/cpus_string.ad",
            "classad/no_cpus.ad",
            "classad/cpus_zero.ad",
            "classad/binary.ad",
            "classad/empty.ad",
        ] {
            let got = parse_classad_cpus(&bytes(bad));
            assert!(got.is_err(), "{bad}: {got:?}");
        }
    }

    #[test]
    fn cpu_max_values() {
        assert_eq!(parse_cpu_max(b"max 100000\n"), Ok(None));
        assert_eq!(parse_cpu_max(b"150000 100000\n"), Ok(Some(2)));
        assert_eq!(parse_cpu_max(b"100000 100000"), Ok(Some(1)));
        assert_eq!(parse_cpu_max(b"1000 100000"), Ok(Some(1)));
        // Above MAX_CAP CPUs is no limit we could tell from none.
        assert_eq!(parse_cpu_max(b"18446744073709551615 1000"), Ok(None));
        for bad in [
            "",
            "\n",
            "150000",
            "100000 max",
            "max max",
            "abc 100000",
            "0 100000",
            "-2 100000",
            "150000 0",
            "150000 100000 7",
            "999999999999999999999999 100000",
            "max",
            "1.5 100000",
        ] {
            assert!(parse_cpu_max(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(parse_cpu_max(b"\x7fELF\0\x01").is_err());
    }

    /// Every file in `cpu_max/`: `good_*` parse, `bad_*` are refused.
    #[test]
    fn cpu_max_fixture_files() {
        let mut bad = 0;
        for entry in std::fs::read_dir(fixture("cpu_max")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            let got = parse_cpu_max(&std::fs::read(&path).unwrap());
            match name.as_str() {
                "good_none" => assert_eq!(got, Ok(None)),
                "good_2" => assert_eq!(got, Ok(Some(2))),
                _ => {
                    assert!(name.starts_with("bad_") && got.is_err(), "{name}: {got:?}");
                    bad += 1;
                }
            }
        }
        assert!(bad >= 10, "only {bad} malformed cpu.max fixtures");
    }

    #[test]
    fn cfs_values() {
        assert_eq!(parse_cfs_quota(b"-1\n"), Ok(None));
        assert_eq!(parse_cfs_quota(b"250000\n"), Ok(Some(250_000)));
        assert_eq!(parse_cfs_period(b"100000\n"), Ok(100_000));
        assert_eq!(cfs_cpus(250_000, 100_000), Some(3));
        for bad in ["", "abc", "-2", "0", "max", "99999999999999999999999"] {
            assert!(parse_cfs_quota(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(parse_cfs_period(b"0").is_err() && parse_cfs_period(b"").is_err());
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list(b"0-3,8,10-11\n"), Ok(7));
        assert_eq!(parse_cpu_list(b"0"), Ok(1));
        for bad in ["", "3-1", "a", "0-", "1,,2", "0-99999999999", "0 1"] {
            assert!(parse_cpu_list(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn self_cgroup_lines() {
        let v2 = parse_self_cgroup(b"0::/user.slice/job.scope\n").unwrap();
        assert_eq!(v2.unified.as_deref(), Some("/user.slice/job.scope"));
        assert_eq!(v2.cpu, None);
        let hybrid = parse_self_cgroup(&bytes("v1/proc_self_cgroup")).unwrap();
        assert_eq!(
            hybrid.cpu,
            Some(("cpu,cpuacct".to_string(), "/slurm/uid_0/job_7".to_string()))
        );
        assert_eq!(
            hybrid.cpuset,
            Some(("cpuset".to_string(), "/slurm/uid_0/job_7".to_string()))
        );
        for bad in ["", "garbage", "0::relative", "\x00\x01"] {
            assert!(parse_self_cgroup(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ancestors_walk_up_to_the_root() {
        assert_eq!(ancestors("/a/b"), ["/a/b", "/a", ""]);
        assert_eq!(ancestors("/"), [""]);
        assert_eq!(ancestors("/../../x"), [""]);
    }

    /// v2: `job/step` has 1.5 CPUs (2), `job` has 3, the root none: each level
    /// is read, leaf first, and the nearest CPU set is shown.
    #[test]
    fn v2_tree_reads_every_level() {
        assert_eq!(
            readings("v2"),
            [
                ("/job/step/cpu.max".to_string(), Reading::Quota(2)),
                ("/job/cpu.max".to_string(), Reading::Quota(3)),
                ("/cpu.max".to_string(), Reading::NoLimit),
                ("/job/cpuset.cpus.effective".to_string(), Reading::CpuSet(7)),
            ]
        );
    }

    /// v2 with a malformed level: that file is invalid, the others still count.
    #[test]
    fn v2_tree_with_a_malformed_level() {
        let got = readings("v2_bad");
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(matches!(got[0].1, Reading::Invalid(_)), "{got:?}");
        assert_eq!(got[1], ("/outer/cpu.max".to_string(), Reading::Quota(4)));
    }

    /// v1 (hybrid, cpu on v1): quota over period at each level, the mount
    /// found under the controller list's name.
    #[test]
    fn v1_tree_reads_quota_and_period() {
        assert_eq!(
            readings("v1"),
            [
                (
                    "/cpu,cpuacct/slurm/uid_0/job_7/cpu.cfs_quota_us".to_string(),
                    Reading::Quota(3)
                ),
                (
                    "/cpu,cpuacct/slurm/cpu.cfs_quota_us".to_string(),
                    Reading::NoLimit
                ),
                (
                    "/cpu,cpuacct/cpu.cfs_quota_us".to_string(),
                    Reading::NoLimit
                ),
                (
                    "/cpuset/slurm/uid_0/job_7/cpuset.effective_cpus".to_string(),
                    Reading::CpuSet(2)
                ),
            ]
        );
        let f = &findings("v1").unwrap()[0];
        assert_eq!(f.value, "250000/100000");
    }

    /// Every file is read once: the root's quota, read first to find the v1
    /// mount, is not read again at the end of the walk up (each read of
    /// /sys is paid at every process start).
    #[test]
    fn each_cgroup_file_is_read_once() {
        for tree in ["v1", "v1_no_period", "v2_bad"] {
            let reads = std::cell::RefCell::new(Vec::<String>::new());
            let counting = |path: &str| {
                reads.borrow_mut().push(path.to_string());
                real(path)
            };
            let found = findings_read_by(tree, &counting).unwrap();
            assert!(!found.is_empty(), "{tree}");
            let reads = reads.into_inner();
            for path in &reads {
                assert_eq!(
                    reads.iter().filter(|p| *p == path).count(),
                    1,
                    "{tree}: {path} read twice: {reads:?}"
                );
            }
        }
    }

    /// v1 with the quota alone (period missing) and one mounted as `cpu`.
    #[test]
    fn v1_tree_without_period() {
        let got = readings("v1_no_period");
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].0, "/cpu/box/cpu.cfs_quota_us");
        assert!(
            matches!(&got[0].1, Reading::Invalid(why) if why.contains("period")),
            "{got:?}"
        );
    }

    /// /proc and /sys files stat as 0 bytes: the library's reader must read
    /// them to the end anyway, and this machine's own files must parse.
    #[test]
    fn the_real_files_read_through_the_library_reader() {
        let read = |p: &str| crate::sys::read_budget_file(p);
        let own = read(SELF_CGROUP).expect("/proc/self/cgroup");
        assert!(!own.is_empty());
        assert!(
            parse_self_cgroup(&own).is_ok(),
            "{}",
            String::from_utf8_lossy(&own)
        );
        let found = cgroup_findings(&read, SELF_CGROUP, CGROUP_ROOT, true).unwrap();
        for f in found {
            assert!(!matches!(f.reading, Reading::Invalid(_)), "{f:?}");
        }
    }

    #[test]
    fn no_proc_file_means_no_findings_and_a_bad_one_is_an_error() {
        assert_eq!(
            cgroup_findings(&real, "/nonexistent/cgroup", "/nonexistent", true),
            Ok(Vec::new())
        );
        assert!(findings("bad_self").is_err());
    }
}

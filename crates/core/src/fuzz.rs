//! Structure-aware fuzzing of every parser of untrusted input, on stable
//! Rust and without dependencies: inputs are generated in the shape of the
//! real thing (a `SLURM_JOB_CPUS_PER_NODE` of `2(x3),4`, a `cpu.max` of
//! `200000 100000`, a ClassAd, a system file, a ledger as another process
//! may have written it), then mutated (bytes flipped, cut, repeated, numbers
//! made huge or negative, separators and non-UTF-8 bytes inserted), so that
//! a case gets past the first check and into the parser's depths.
//!
//! Each target runs `THROTTLE_FUZZ_CASES` cases (default 20,000, the short
//! pass CI runs with the unit tests) from `THROTTLE_FUZZ_SEED` (default: a
//! fixed one, so that a failure reproduces; `random` for a new one), split
//! over the CPUs. A failing case is printed with its seed. The long run:
//! `scripts/fuzz.sh` (10 million cases per target).
//!
//! What is checked: no panic, no hang (every case is bounded), results in
//! range, and every complaint one line.

#![cfg(test)]

use crate::config::{self, FileError, Inputs};
use std::collections::HashMap;

pub use crate::fuzzcore::{mutate, plan, run, Rng};

// ---------------------------------------------------------------------------
// Settings: every THROTTLE_* value, every scheduler variable, budget files,
// the system file, cgroup files and HTCondor's ClassAd, through the one
// entry point the library uses (`config::resolve`).

/// Inputs generated for one case: variables, and files made on demand in
/// the shape their path calls for, each the same every time it is read.
struct Generated {
    vars: HashMap<&'static str, Vec<u8>>,
    seed: u64,
    cpus: usize,
    secure: bool,
}

fn well_formed_var(rng: &mut Rng, name: &str) -> Vec<u8> {
    let text = match name {
        "THROTTLE_POLICY" => rng
            .pick(&["wait", "confine", "fail", "audit", "WAIT", ""])
            .to_string(),
        "THROTTLE_SCOPE" => rng.pick(&["tree", "process", "job", ""]).to_string(),
        "THROTTLE_LOG" => rng.pick(&["warn", "info", "debug", "off", "3"]).to_string(),
        "THROTTLE_DISABLE" | "THROTTLE_REPORT" => {
            rng.pick(&["1", "0", "yes", "no", "on", "2"]).to_string()
        }
        "THROTTLE_LAUNCHERS" => rng
            .pick(&["srun,mpirun", "", ",,", "a b", "x/y"])
            .to_string(),
        "THROTTLE_BUDGET_FILE" => rng
            .pick(&["/run/budget", "budget", "", "/dev/null"])
            .to_string(),
        "THROTTLE_LOG_FILE" => rng.pick(&["/tmp/ev.jsonl", "", "rel"]).to_string(),
        "SLURM_JOB_CPUS_PER_NODE" | "SLURM_TASKS_PER_NODE" => {
            let mut parts = Vec::new();
            for _ in 0..1 + rng.below(4) {
                let n = rng.count();
                if rng.chance(2) {
                    parts.push(format!("{n}(x{})", rng.count()));
                } else {
                    parts.push(n);
                }
            }
            parts.join(",")
        }
        "LSB_MCPU_HOSTS" => {
            let mut s = String::new();
            for h in 0..1 + rng.below(4) {
                s.push_str(&format!("host{h} {} ", rng.count()));
            }
            if rng.chance(2) {
                s.push_str("fuzzhost 3");
            }
            s
        }
        "_CONDOR_MACHINE_AD" => "/condor/machine.ad".to_string(),
        _ => rng.count(),
    };
    text.into_bytes()
}

const VARS: &[&str] = &[
    "THROTTLE_THREADS",
    "THROTTLE_POLICY",
    "THROTTLE_WAIT_MS",
    "THROTTLE_SCOPE",
    "THROTTLE_LOG",
    "THROTTLE_LOG_FILE",
    "THROTTLE_DISABLE",
    "THROTTLE_REPORT",
    "THROTTLE_LAUNCHERS",
    "THROTTLE_BUDGET_FILE",
    "OMP_THREAD_LIMIT",
    "SLURM_JOB_ID",
    "SLURM_CPUS_PER_TASK",
    "SLURM_CPUS_ON_NODE",
    "SLURM_JOB_CPUS_PER_NODE",
    "SLURM_TASKS_PER_NODE",
    "SLURM_NODEID",
    "PBS_JOBID",
    "PBS_NUM_PPN",
    "NCPUS",
    "JOB_ID",
    "NSLOTS",
    "LSB_DJOB_NUMPROC",
    "LSB_MCPU_HOSTS",
    "_CONDOR_MACHINE_AD",
];

fn well_formed_file(rng: &mut Rng, path: &str) -> Vec<u8> {
    let file = path.rsplit('/').next().unwrap_or(path);
    let text = match file {
        "cgroup" => rng
            .pick(&[
                "0::/user.slice/job_1/step_0\n",
                "12:cpu,cpuacct:/slurm/uid_0/job_7\n11:cpuset:/slurm/uid_0/job_7\n",
                "0::/\n",
                "0::/../../etc\n",
            ])
            .to_string(),
        "cpu.max" => match rng.below(3) {
            0 => format!("max {}\n", rng.count()),
            _ => format!("{} {}\n", rng.count(), rng.count()),
        },
        "cpu.cfs_quota_us" | "cpu.cfs_period_us" => format!("{}\n", rng.count()),
        "cpuset.cpus.effective" | "cpuset.cpus" | "cpuset.effective_cpus" => {
            let mut parts = Vec::new();
            for _ in 0..1 + rng.below(4) {
                let a = rng.below(300);
                if rng.chance(2) {
                    parts.push(format!("{a}-{}", a + rng.below(300)));
                } else {
                    parts.push(a.to_string());
                }
            }
            format!("{}\n", parts.join(","))
        }
        "cgroup.controllers" => "cpuset cpu io memory\n".to_string(),
        "mountinfo" => "30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n".to_string(),
        "machine.ad" => format!(
            "Cpus = {}\nMemory = 2048\nName = \"slot1@h\"\n",
            rng.count()
        ),
        _ if path == config::SYSTEM_CONF => {
            let mut s = String::new();
            for _ in 0..rng.below(5) {
                let key = rng.pick(&[
                    "max_threads",
                    "policy",
                    "wait_ms",
                    "scope",
                    "log",
                    "unknown",
                    "#",
                ]);
                let value = match *key {
                    "policy" => "wait".to_string(),
                    "scope" => "tree".to_string(),
                    "log" => "info".to_string(),
                    _ => rng.count(),
                };
                s.push_str(&format!("{key} = {value}\n"));
            }
            s
        }
        _ => format!("{}\n", rng.count()),
    };
    text.into_bytes()
}

impl Inputs for Generated {
    fn var(&self, name: &str) -> Option<Vec<u8>> {
        self.vars.get(name).cloned()
    }

    fn read_file(&self, path: &str) -> Result<Vec<u8>, FileError> {
        // The same file each time it is read in this case.
        let mut rng = Rng::new(
            self.seed
                ^ path
                    .bytes()
                    .fold(0u64, |h, b| h.rotate_left(5) ^ u64::from(b)),
        );
        match rng.below(10) {
            0 => Err(FileError::Missing),
            1 => Err(FileError::NotAFile),
            2 => Err(FileError::Unreadable("denied".into())),
            _ => {
                let mut bytes = well_formed_file(&mut rng, path);
                if rng.chance(2) {
                    mutate(&mut rng, &mut bytes);
                }
                Ok(bytes)
            }
        }
    }

    fn affinity_count(&self) -> usize {
        self.cpus
    }

    fn secure(&self) -> bool {
        self.secure
    }

    fn hostname(&self) -> Option<String> {
        Some("fuzzhost".into())
    }
}

fn settings_case(rng: &mut Rng) {
    let mut vars = HashMap::new();
    for &name in VARS {
        if rng.chance(3) {
            let mut value = well_formed_var(rng, name);
            if rng.chance(2) {
                mutate(rng, &mut value);
            }
            vars.insert(name, value);
        }
    }
    let inputs = Generated {
        vars,
        seed: rng.next(),
        cpus: 1 + rng.below(512) as usize,
        secure: rng.chance(16),
    };
    let r = config::resolve(&inputs);
    assert!((1..=config::MAX_CAP).contains(&r.cap), "cap {}", r.cap);
    for line in &r.warnings {
        assert!(
            !line.contains('\n'),
            "a warning of more than one line: {line:?}"
        );
        assert!(!line.is_empty(), "an empty warning");
    }
    // A setuid program ignores every variable.
    if inputs.secure {
        assert!(
            r.warnings.iter().all(|w| !w.contains("THROTTLE_")),
            "{:?}",
            r.warnings
        );
    }
}

#[test]
fn fuzz_settings() {
    run("settings", settings_case);
}

// ---------------------------------------------------------------------------
// The allocation parsers one by one, on their own inputs.

fn allocation_case(rng: &mut Rng) {
    use crate::allocation as a;
    let mut input = match rng.below(7) {
        0 => well_formed_file(rng, "cpu.max"),
        1 => well_formed_file(rng, "cpuset.cpus.effective"),
        2 => well_formed_file(rng, "cgroup"),
        3 => well_formed_file(rng, "machine.ad"),
        4 => well_formed_var(rng, "SLURM_JOB_CPUS_PER_NODE"),
        5 => well_formed_var(rng, "LSB_MCPU_HOSTS"),
        _ => well_formed_file(rng, "cpu.cfs_quota_us"),
    };
    mutate(rng, &mut input);
    let text = String::from_utf8_lossy(&input).into_owned();
    if let Ok(Some(n)) = a::parse_cpu_max(&input) {
        assert!(n >= 1);
    }
    let _ = a::parse_cfs_quota(&input);
    let _ = a::parse_cfs_period(&input);
    if let Ok(n) = a::parse_cpu_list(&input) {
        assert!(n >= 1, "an empty CPU list accepted");
    }
    let _ = a::parse_self_cgroup(&input);
    if let Ok(n) = a::parse_classad_cpus(&input) {
        assert!(n >= 1);
    }
    if let Ok(hosts) = a::parse_lsf_hosts(&text) {
        let _ = a::lsf_local_count(&hosts, "fuzzhost");
    }
    if let Ok(per_node) = a::PerNode::parse(&text) {
        let nodes = per_node.nodes();
        let _ = per_node.node(rng.below(nodes.saturating_add(2)));
        let _ = per_node.node(u64::MAX);
    }
    let _ = a::check_index(&text);
    for ancestor in a::ancestors(&text) {
        assert!(ancestor.len() <= text.len() + 1);
    }
    let _ = config::check_count(&text);
    let _ = config::Policy::parse(&text);
}

#[test]
fn fuzz_allocation_parsers() {
    run("allocation", allocation_case);
}

// ---------------------------------------------------------------------------
// The ledger as another process may have written it: any member of the same
// user can write anything into the shared mapping at any moment.

use crate::ledger::{self, Ledger, SIZE, SLOTS};

/// A ledger file of this test process, one per thread, removed at the end.
struct Scratch {
    path: String,
    ledger: Ledger,
}

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let path = format!(
            "{}/throttle-fuzz-{}-{tag}-{:?}",
            std::env::temp_dir().display(),
            std::process::id(),
            std::thread::current().id()
        )
        .replace(['(', ')'], "");
        let _ = std::fs::remove_file(&path);
        let ledger = Ledger::create(&path, 4, 0).expect("create a scratch ledger");
        Scratch { path, ledger }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Writes `value` (`width` bytes) at byte `offset` of the mapping, as a
/// scribbling process would (one atomic store: the fields are atomics).
fn scribble(ledger: &Ledger, offset: usize, value: u64, width: usize) {
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
    let offset = offset.min(SIZE - 8);
    // SAFETY: within the mapping of SIZE bytes; aligned stores to fields
    // that every reader reads through atomics.
    unsafe {
        let p = ledger.raw().add(offset);
        if width == 8 {
            (*p.cast::<AtomicU64>()).store(value, Relaxed);
        } else {
            (*p.cast::<AtomicU32>()).store(value as u32, Relaxed);
        }
    }
}

/// A plausible slot word: a state (valid or not) and a pid (ours, another,
/// none, negative).
fn slot_word(rng: &mut Rng) -> u64 {
    let state = *rng.pick(&[0u64, 1, 2, 3, 4, 5, 0xFFFF_FFFF]);
    let other = rng.below(1 << 22);
    let pid = *rng.pick(&[u64::from(std::process::id()), 1, 0, 0xFFFF_FFFF, other]);
    state | pid << 32
}

fn ledger_case(rng: &mut Rng, ledger: &Ledger, path: &str) {
    const HEADER: usize = 64;
    for _ in 0..rng.below(8) {
        match rng.below(6) {
            // The header: magic, version, size, slots, budget, generation.
            0 => scribble(ledger, rng.below(8) as usize * 8, rng.next(), 8),
            1 => scribble(
                ledger,
                16 + rng.below(4) as usize * 4,
                *rng.pick(&[0, 1, 4, 1 << 16, 1 << 17, u64::MAX]),
                4,
            ),
            // A slot's state and pid, start time, applied share, parent.
            2 | 3 => {
                let slot = HEADER + rng.below(SLOTS as u64) as usize * 32;
                scribble(ledger, slot, slot_word(rng), 8);
            }
            4 => {
                let slot = HEADER + rng.below(SLOTS as u64) as usize * 32;
                scribble(ledger, slot + 8 + rng.below(3) as usize * 8, rng.next(), 8);
            }
            _ => scribble(ledger, rng.below(SIZE as u64) as usize & !7, rng.next(), 8),
        }
    }
    let pid = if rng.chance(2) {
        std::process::id() as i32
    } else {
        rng.next() as i32
    };
    let start = rng.below(1 << 40);
    let any_slot = |rng: &mut Rng| rng.below(SLOTS as u64 + 4) as usize;
    for _ in 0..1 + rng.below(6) {
        match rng.below(10) {
            0 => {
                if let Some(slot) = ledger.join(pid, rng.next() as i32, start) {
                    assert!(slot < SLOTS);
                }
            }
            1 => match rng.below(3) {
                0 => ledger.claim(any_slot(rng)),
                1 => ledger.wake(any_slot(rng)),
                _ => {
                    let (now, coin) = (rng.next(), rng.next());
                    ledger.note_activity(now, |p| {
                        (p as u64 & 1 == 0).then_some(coin.rotate_left(p as u32))
                    });
                }
            },
            2 => ledger.unclaim(any_slot(rng)),
            3 => ledger.leave(any_slot(rng), pid),
            4 => {
                let judge = rng.next();
                let freed = ledger.reclaim(|p, s| (p as u64 ^ s ^ judge) & 1 == 1);
                assert!(freed <= SLOTS);
            }
            5 => {
                let asked = rng.chance(2).then(|| any_slot(rng));
                let coin = rng.next();
                let c = ledger.census(asked, |p, _| (p as u64 ^ coin) & 2 == 2);
                assert!(
                    c.claimed as usize + c.pending as usize <= SLOTS + 1,
                    "{c:?}"
                );
                assert!(c.members as usize <= SLOTS);
                assert!(c.rank.is_none_or(|r| (r as usize) <= SLOTS));
                if let Some(share) = c.share(ledger.budget()) {
                    assert!(share >= 1);
                }
            }
            6 => {
                if let Some(rank) = ledger.rank_of(any_slot(rng)) {
                    assert!(rank < SLOTS);
                }
            }
            7 => {
                assert!(ledger.budget() >= 1);
                let _ = ledger.intact();
                let _ = ledger.any_member();
                let _ = ledger.slot_of(pid, start);
                let _ = ledger.foreign(rng.next());
            }
            8 => ledger.set_budget(rng.next() as u32),
            _ => {
                if let Ok(other) = Ledger::open(path) {
                    assert!(other.intact());
                    other.close();
                }
            }
        }
    }
    let _ = ledger::share(ledger.budget(), rng.next() as u32, rng.next() as u32);
}

#[test]
fn fuzz_ledger() {
    thread_local! {
        static SCRATCH: Scratch = Scratch::new("cases");
    }
    run("ledger", |rng| {
        SCRATCH.with(|s| ledger_case(rng, &s.ledger, &s.path));
    });
}

/// Another process scribbles on a live ledger while members of this one
/// join, claim, take censuses and leave: nothing crashes, nothing hangs
/// (every loop below is bounded by time, and the test ends).
#[test]
fn a_ledger_scribbled_on_by_another_process_breaks_no_member() {
    let scratch = Scratch::new("stress");
    let ledger = scratch.ledger;
    let (cases, seed) = plan();
    let millis = (cases / 20).clamp(500, 60_000);
    // SAFETY: the child only writes to the shared mapping and ends with
    // `_exit`: no allocation, no lock, nothing of the parent's threads.
    let child = unsafe { libc::fork() };
    assert!(child >= 0, "fork");
    if child == 0 {
        let mut x = seed | 1;
        let end = crate::sys::monotonic_ms() + millis;
        while crate::sys::monotonic_ms() < end {
            for _ in 0..1000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let offset = (x as usize % (SIZE - 8)) & !7;
                scribble(
                    &ledger,
                    offset,
                    x.rotate_left(17) & 0x0000_FFFF_0000_0007,
                    8,
                );
            }
        }
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(0) };
    }
    let end = crate::sys::monotonic_ms() + millis;
    std::thread::scope(|scope| {
        for t in 0..4u64 {
            let path = scratch.path.clone();
            scope.spawn(move || {
                let mut rng = Rng::new(seed ^ t);
                while crate::sys::monotonic_ms() < end {
                    ledger_case(&mut rng, &ledger, &path);
                }
            });
        }
    });
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(child, &mut status, 0) };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "scribbler: {status}"
    );
}

//! The Slurm TaskProlog under a real single-node Slurm (docs/admins.md):
//! `scripts/testenv/slurm.sh` starts munged, slurmctld and slurmd (Debian's
//! packages, installed by `scripts/setup.sh`) with every file in a temporary
//! directory and `TaskProlog=<prefix>/libexec/throttle/taskprolog.sh` from a
//! `admin/install.sh` install. With no THROTTLE_ variable set by the user,
//! a job's Python, numpy's OpenBLAS and `multiprocessing.Pool()` see the
//! job's CPUs: `srun -c 1` and `sbatch --cpus-per-task=1` give 1 everywhere,
//! `srun -c 2` gives 2. The library learns the allocation from
//! `SLURM_CPUS_PER_TASK` (docs/design.md, section 12): with `task/none`
//! the affinity mask is the whole machine. And `throttle report` on a job's
//! event log names the job, the program, its cap and its peak.
//!
//! Needs root (slurmd). One test function: the cluster is shared state, and
//! a guard stops it however the test ends.

mod common;

use common::{
    kv, lib_path, python, real_affinity_count, real_nprocs_onln, repo_root, Run, TempDir,
};
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What the job runs: the CPU count, numpy's OpenBLAS after one BLAS call,
/// the size of a default `multiprocessing.Pool()`, and what the task got from
/// Slurm and the TaskProlog.
const PROBE: &str = r#"
import os
print("ld_preload=%s" % os.environ.get("LD_PRELOAD", ""))
# The user's THROTTLE_ variables: not the two the library exports itself
# (the tree's ledger, and the user's original runtime variables).
OWN = {"THROTTLE_LEDGER", "THROTTLE_SAVED_ENV"}
print("throttle_vars=%s" % ",".join(sorted(k for k in os.environ if k.startswith("THROTTLE_") and k not in OWN)))
print("slurm_cpus_per_task=%s" % os.environ.get("SLURM_CPUS_PER_TASK", ""))
print("throttle_ledger=%s" % os.environ.get("THROTTLE_LEDGER", ""))
print("cpu_count=%d" % os.cpu_count())
import numpy
a = numpy.ones((256, 256))
a @ a
import threadpoolctl
pools = [p for p in threadpoolctl.threadpool_info() if p["internal_api"] == "openblas"]
print("openblas_entries=%d" % len(pools))
print("openblas_num_threads=%s" % ",".join(str(p["num_threads"]) for p in pools))
import multiprocessing
if __name__ == "__main__":
    pool = multiprocessing.Pool()
    print("pool_processes=%d" % pool._processes)
    pool.close()
    pool.join()
    print("done=1")
"#;

fn slurm_sh() -> PathBuf {
    repo_root().join("scripts/testenv/slurm.sh")
}

/// The private cluster; stopped when dropped, also when an assertion failed.
struct Cluster {
    state: PathBuf,
    conf: PathBuf,
}

impl Cluster {
    /// Starts it (the guard exists before the start, so a start that fails
    /// half-way is stopped too).
    fn start(state: &Path, taskprolog: &Path) -> Cluster {
        let cluster = Cluster {
            state: state.to_path_buf(),
            conf: state.join("slurm.conf"),
        };
        let out = Run::new("timeout")
            .args(["-k", "5", "110", "bash"])
            .arg(slurm_sh())
            .arg("start")
            .arg(state)
            .arg(taskprolog)
            .run();
        assert!(
            out.status.success(),
            "the single-node Slurm did not start (scripts/testenv/slurm.sh start; \
             the munged, slurmctld and slurmd logs are in its stderr):\n{out}\n{}",
            cluster.logs()
        );
        assert!(cluster.conf.is_file(), "no slurm.conf\n{out}");
        cluster
    }

    /// The daemons' logs, for failure messages.
    fn logs(&self) -> String {
        let out = Command::new("timeout")
            .args(["30", "bash"])
            .arg(slurm_sh())
            .arg("logs")
            .arg(&self.state)
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
            Err(e) => format!("(cannot read the logs: {e})"),
        }
    }

    /// A Slurm client command against this cluster.
    fn client(&self, program: &str) -> Run {
        Run::new(program).env("SLURM_CONF", &self.conf)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Never panics: it may run while a failed assertion unwinds.
        let result = Command::new("timeout")
            .args(["-k", "5", "100", "bash"])
            .arg(slurm_sh())
            .arg("stop")
            .arg(&self.state)
            .stdin(Stdio::null())
            .output();
        match result {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!(
                "slurm.sh stop failed ({}):\n{}",
                o.status,
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => eprintln!("cannot run slurm.sh stop: {e}"),
        }
    }
}

/// One job's result: what its Python printed, and a description (command,
/// stdout, stderr) for assertion messages.
struct Job {
    values: HashMap<String, String>,
    /// The job's own stderr.
    stderr: String,
    text: String,
}

impl Job {
    fn get(&self, key: &str) -> &str {
        self.values
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("the job printed no `{key}=` line\n{}", self.text))
    }

    fn num(&self, key: &str) -> i64 {
        let v = self.get(key);
        v.parse()
            .unwrap_or_else(|_| panic!("`{key}={v}` is not an integer\n{}", self.text))
    }

    /// Everything a job sized to `n` CPUs shows.
    fn assert_sized_to(&self, n: i64, what: &str) {
        let t = &self.text;
        assert_eq!(self.get("done"), "1", "{what}\n{t}");
        assert_eq!(
            self.get("throttle_vars"),
            "",
            "{what}: no THROTTLE_ variable is set\n{t}"
        );
        assert_eq!(self.num("cpu_count"), n, "{what}: os.cpu_count()\n{t}");
        assert_eq!(
            self.num("pool_processes"),
            n,
            "{what}: multiprocessing.Pool()._processes\n{t}"
        );
        assert!(
            self.num("openblas_entries") >= 1,
            "{what}: threadpoolctl finds numpy's OpenBLAS\n{t}"
        );
        let threads = common::num_list(self.get("openblas_num_threads"));
        assert!(
            threads.iter().all(|&x| x == n),
            "{what}: every OpenBLAS pool has {n} threads, got {threads:?}\n{t}"
        );
    }
}

#[test]
fn slurm_taskprolog_sizes_python_numpy_and_pool_to_the_allocation() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("NOTE: tests/slurm.rs skipped: slurmd must run as root");
        return;
    }
    for tool in ["munged", "slurmctld", "slurmd", "srun", "sbatch", "sinfo"] {
        let found = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
            .iter()
            .any(|d| Path::new(d).join(tool).exists());
        assert!(
            found,
            "{tool} is not installed: run scripts/setup.sh (slurmctld slurmd slurm-client munge)"
        );
    }

    let tmp = TempDir::new("slurm");
    let prefix = tmp.0.join("prefix");
    Run::new("bash")
        .arg(repo_root().join("admin/install.sh"))
        .arg("--prefix")
        .arg(&prefix)
        .arg("--from")
        .arg(lib_path().parent().unwrap())
        .run()
        .assert_success();
    let lib = prefix.join("lib/libthrottle.so");
    let probe = tmp.0.join("probe.py");
    fs::write(&probe, PROBE).unwrap();
    let python = python();

    let cluster = Cluster::start(
        &tmp.0.join("slurm"),
        &prefix.join("libexec/throttle/taskprolog.sh"),
    );

    let srun = |cpus: &str| -> Job {
        let out = cluster
            .client("srun")
            .args(["-N", "1", "-n", "1", "-c", cpus, "--time=5"])
            .arg(&python)
            .arg(&probe)
            .run();
        let text = format!("{out}\n{}", cluster.logs());
        assert!(out.status.success(), "srun -c {cpus} failed\n{text}");
        Job {
            values: out.kv(),
            stderr: out.stderr_str(),
            text,
        }
    };

    // srun -c 1
    let one = srun("1");

    // sbatch --cpus-per-task=CPUS --wrap COMMAND, output to files named by
    // `name`; --wait makes sbatch return when the job has ended (bounded by
    // the helper's timeout).
    let sbatch = |name: &str, cpus: &str, command: &str| -> Job {
        let job_out = tmp.0.join(format!("{name}.out"));
        let job_err = tmp.0.join(format!("{name}.err"));
        let out = cluster
            .client("sbatch")
            .args([
                "--wait",
                &format!("--cpus-per-task={cpus}"),
                "--time=5",
                "-o",
            ])
            .arg(&job_out)
            .arg("-e")
            .arg(&job_err)
            .arg("--wrap")
            .arg(command)
            .run();
        let stdout = fs::read_to_string(&job_out).unwrap_or_default();
        let stderr = fs::read_to_string(&job_err).unwrap_or_default();
        let text = format!(
            "{out}\n--- job stdout ({}):\n{stdout}--- job stderr ({}):\n{stderr}---\n{}",
            job_out.display(),
            job_err.display(),
            cluster.logs()
        );
        assert!(out.status.success(), "sbatch ({name}) failed\n{text}");
        Job {
            values: kv(&stdout),
            stderr,
            text,
        }
    };
    let batch = sbatch(
        "sbatch",
        "1",
        &format!("{} {}", python.display(), probe.display()),
    );

    // srun -c 2, where the machine has 2 CPUs.
    let cpus = real_nprocs_onln().min(real_affinity_count());
    let two = if cpus >= 2 {
        Some(srun("2"))
    } else {
        eprintln!("NOTE: `srun -c 2` skipped: this machine has {cpus} CPU(s)");
        None
    };
    // The same step started by `srun` from a batch script, as jobs do: the
    // batch shell (preloaded by the TaskProlog) makes the job's ledger, and
    // srun, preloaded too, passes it on to the task. srun is a launcher: it
    // holds no share (its own threads are not the job's work), so the task
    // gets the whole allocation, 2.
    let step_in_batch = (cpus >= 2).then(|| {
        sbatch(
            "step",
            "2",
            &format!(
                "srun -n 1 -c 2 --time=5 {} {}",
                python.display(),
                probe.display()
            ),
        )
    });

    // An admin's view: the same job with an event log (the only variable
    // set, and only here), summarised by the installed `throttle report`,
    // names the job, the program, its cap and its peak.
    let log = tmp.0.join("events.jsonl");
    let out = cluster
        .client("sbatch")
        .args(["--wait", "--cpus-per-task=1", "--time=5", "-o"])
        .arg(tmp.0.join("logged.out"))
        .arg(format!("--export=ALL,THROTTLE_LOG_FILE={}", log.display()))
        .arg("--wrap")
        .arg(format!("{} {}", python.display(), probe.display()))
        .run();
    assert!(
        out.status.success(),
        "logged sbatch failed\n{out}\n{}",
        cluster.logs()
    );
    let report = Run::new(prefix.join("bin/throttle"))
        .arg("report")
        .arg("--json")
        .arg(&log)
        .run();
    report.assert_success();
    let json = report.stdout_str();
    let program = json
        .split("\"program\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no program in the report\n{json}"));
    assert!(program.contains("python"), "the program is Python\n{json}");
    assert!(json.contains("\"caps\":[1]"), "the job's cap is 1\n{json}");
    assert!(
        !json.contains("\"job\":\"no job\""),
        "the Slurm job id is recorded\n{json}"
    );
    let peak: i64 = json
        .split("\"peak\":")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no peak in the report\n{json}"));
    assert!(peak >= 1, "{json}");
    let text = Run::new(prefix.join("bin/throttle"))
        .arg("report")
        .arg(&log)
        .run();
    text.assert_success();
    assert!(text.stdout_str().contains(program), "{text}");

    // The TaskProlog reached every task: the installed library first.
    let lib = lib.to_str().unwrap();
    for (job, what) in [(&one, "srun -c 1"), (&batch, "sbatch --cpus-per-task=1")]
        .into_iter()
        .chain(two.iter().map(|j| (j, "srun -c 2")))
    {
        let preload = job.get("ld_preload");
        assert!(
            preload == lib || preload.starts_with(&format!("{lib}:")),
            "{what}: the TaskProlog's LD_PRELOAD\n{}",
            job.text
        );
        assert!(
            !job.stderr.contains("ld.so"),
            "{what}: ld.so complained\n{}",
            job.text
        );
    }
    assert_eq!(one.get("slurm_cpus_per_task"), "1", "{}", one.text);
    assert_eq!(batch.get("slurm_cpus_per_task"), "1", "{}", batch.text);

    // What the allocation source (SLURM_CPUS_PER_TASK) gives. With
    // task/none the affinity mask is the whole machine: these need it.
    one.assert_sized_to(1, "srun -c 1");
    batch.assert_sized_to(1, "sbatch --cpus-per-task=1");
    if let Some(two) = &two {
        two.assert_sized_to(2, "srun -c 2");
    }
    if let Some(step) = &step_in_batch {
        assert!(
            step.get("throttle_ledger").starts_with('/'),
            "the step's task is in the batch script's tree\n{}",
            step.text
        );
        step.assert_sized_to(2, "srun -c 2 from sbatch --cpus-per-task=2");
    }

    // Stopping leaves no daemon of this cluster behind.
    let state = cluster.state.clone();
    drop(cluster);
    let left = processes_mentioning(&state);
    assert!(
        left.is_empty(),
        "slurm.sh stop left processes of the cluster running: {left:?}"
    );
}

/// The processes whose command line mentions `path` (the daemons of a
/// cluster name its state directory in their arguments).
fn processes_mentioning(path: &Path) -> Vec<String> {
    let needle = path.to_str().unwrap();
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        if let Ok(cmdline) = fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(needle) {
                found.push(format!("{pid}: {}", cmdline.trim_end()));
            }
        }
    }
    found
}

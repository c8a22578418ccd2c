//! Scheduler allocations as a budget source (docs/design.md, section 12):
//! a Slurm task's `SLURM_CPUS_PER_TASK` sizes the process when no user
//! setting does, `THROTTLE_THREADS` still wins, and a malformed value is one
//! `libthrottle:` line and changes nothing. The parsers and the rest of the
//! precedence are unit-tested in crates/core/src/allocation.rs and crates/core/src/config.rs.

mod common;

use common::{Output, Run};

fn cpus(env: &[(&str, &str)]) -> Output {
    Run::c("cpus").reported().envs(env).run_ok()
}

#[test]
fn slurm_cpus_per_task_sets_the_cap() {
    let out = cpus(&[("SLURM_JOB_ID", "1"), ("SLURM_CPUS_PER_TASK", "1")]);
    assert_eq!(out.num("nprocs_onln"), 1, "{out}");
    assert_eq!(out.num("get_nprocs"), 1, "{out}");
    let report = out.report();
    assert_eq!(
        report.get("source").map(String::as_str),
        Some("slurm"),
        "{out}"
    );
    assert_eq!(out.report_num("cap"), 1, "{out}");
    assert!(out.throttle_lines().is_empty(), "{out}");
}

#[test]
fn throttle_threads_overrides_slurm() {
    let out = cpus(&[
        ("SLURM_JOB_ID", "1"),
        ("SLURM_CPUS_PER_TASK", "1"),
        ("THROTTLE_THREADS", "2"),
    ]);
    let report = out.report();
    assert_eq!(
        report.get("source").map(String::as_str),
        Some("THROTTLE_THREADS"),
        "{out}"
    );
    assert_eq!(out.report_num("cap"), 2, "{out}");
    let want = common::real_affinity_count().min(2);
    assert_eq!(out.num("nprocs_onln"), want, "{out}");
}

/// `SLURM_CPUS_PER_TASK=abc`: one line naming it, and the cap is what it
/// would be without it (whatever this machine's next source gives).
#[test]
fn malformed_slurm_value_is_one_line_and_falls_through() {
    let out = cpus(&[("SLURM_JOB_ID", "1"), ("SLURM_CPUS_PER_TASK", "abc")]);
    let lines = out.throttle_lines();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0].contains("SLURM_CPUS_PER_TASK") && lines[0].contains("'abc'"),
        "{out}"
    );
    let without = cpus(&[("SLURM_JOB_ID", "1")]);
    let (bad, good) = (out.report(), without.report());
    assert_ne!(
        bad.get("source").map(String::as_str),
        Some("slurm"),
        "{out}"
    );
    assert_eq!(bad.get("source"), good.get("source"), "{out}\n{without}");
    assert_eq!(bad.get("cap"), good.get("cap"), "{out}\n{without}");
    assert_eq!(
        out.num("nprocs_onln"),
        without.num("nprocs_onln"),
        "{out}\n{without}"
    );
}

//! Confinement (docs/design.md, section 13): under `confine`, and after a `wait`
//! that ran out of time, the threads of a process over its cap run on `cap`
//! CPUs of its mask; back under the cap they get the whole mask back.
//! Observed through the raw affinity system call, which the library cannot
//! intercept, so this is what the kernel enforces, not what we report.

mod common;

use common::{real_affinity_count, Run};

fn confine_run(env: &[(&str, &str)]) -> common::Output {
    Run::c("confine")
        .arg("4")
        .reported()
        .env("THROTTLE_THREADS", "1")
        .envs(env)
        .run_ok()
}

#[test]
fn confine_policy_pins_threads_to_cap_cpus_while_over_the_cap() {
    let real = real_affinity_count();
    let out = confine_run(&[("THROTTLE_POLICY", "confine")]);
    assert_eq!(out.num("created"), 4, "{out}");
    assert!(out.report_num("confined") >= 1, "{out}");
    assert_eq!(
        out.num("max_thread_cpus"),
        1,
        "every thread on 1 CPU\n{out}"
    );
    assert_eq!(out.num("main_cpus_after"), real, "mask given back\n{out}");

    let plain = Run::c("confine").arg("4").run();
    assert_eq!(plain.num("max_thread_cpus"), real, "{plain}");
}

#[test]
fn a_wait_that_runs_out_confines() {
    let real = real_affinity_count();
    // Spinning threads never leave room: with a zero bound every wait times out.
    let out = confine_run(&[("THROTTLE_POLICY", "wait"), ("THROTTLE_WAIT_MS", "0")]);
    assert_eq!(out.num("created"), 4, "{out}");
    assert!(out.report_num("confined") >= 1, "{out}");
    assert_eq!(out.report_num("refused"), 0, "{out}");
    assert_eq!(out.num("max_thread_cpus"), 1, "{out}");
    assert_eq!(out.num("main_cpus_after"), real, "{out}");
}

//! The cap on raw threads and its policies (docs/design.md, section 13), exercised by
//! `c_tests/concurrency.c` (16 CPU-bound threads started as fast as possible)
//! and `c_tests/barrier.c` (16 threads that block until all exist).

mod common;

use common::{Output, Run};

const N: i64 = 16;

fn concurrency(preload: bool, env: &[(&str, &str)]) -> Output {
    let run = Run::c("concurrency")
        .arg(N.to_string())
        .preload(preload)
        .envs(env);
    let out = run.run();
    out.assert_success();
    assert_eq!(out.num("other_errors"), 0, "{out}");
    out
}

/// Under `wait` (the default) with a cap of 2, at most 2 workers run at once,
/// every thread is still created and finishes, and some creations waited.
/// `THROTTLE_WAIT_MS` is set far beyond the test's timeout so that the bound
/// (after which a thread is let through) can never be what admitted a thread,
/// however loaded the machine is.
#[test]
fn wait_policy_keeps_running_threads_at_the_cap() {
    let env = [
        ("THROTTLE_POLICY", "wait"),
        ("THROTTLE_THREADS", "2"),
        ("THROTTLE_WAIT_MS", "600000"),
        ("THROTTLE_REPORT", "1"),
    ];
    let out = concurrency(true, &env);
    assert_eq!(out.num("created"), N, "{out}");
    assert_eq!(out.num("eagain"), 0, "{out}");
    assert_eq!(out.num("finished"), N, "{out}");
    let peak = out.num("peak");
    assert!(
        (1..=2).contains(&peak),
        "peak={peak}: more than 2 workers ran at once\n{out}"
    );
    let report = out.report();
    assert_eq!(report.get("cap").map(String::as_str), Some("2"), "{out}");
    assert!(out.report_num("waited") > 0, "no creation waited\n{out}");
    assert_eq!(out.report_num("refused"), 0, "{out}");
    assert_eq!(out.report_num("created"), N, "{out}");

    // Without the library the same 16 workers overlap (time-sliced on any
    // machine): the cap above is the library's doing.
    let free = concurrency(false, &env);
    assert_eq!(free.num("finished"), N, "{free}");
    assert!(
        free.num("peak") > 2,
        "without the library the workers should overlap\n{free}"
    );
    assert!(free.throttle_lines().is_empty(), "{free}");
}

/// Under `fail` with a cap of 2, creations at the cap return EAGAIN; the
/// program sees each refusal and the report counts exactly those.
#[test]
fn fail_policy_refuses_with_eagain() {
    let env = [
        ("THROTTLE_THREADS", "2"),
        ("THROTTLE_POLICY", "fail"),
        ("THROTTLE_REPORT", "1"),
    ];
    let out = concurrency(true, &env);
    let created = out.num("created");
    let eagain = out.num("eagain");
    assert!(eagain >= 1, "no creation was refused\n{out}");
    assert!(
        created >= 1,
        "the first creation (below the cap) failed\n{out}"
    );
    assert_eq!(created + eagain, N, "{out}");
    assert_eq!(out.num("finished"), created, "{out}");
    assert_eq!(out.report_num("refused"), eagain, "{out}");
    assert_eq!(out.report_num("waited"), 0, "{out}");

    let free = concurrency(false, &env);
    assert_eq!(free.num("created"), N, "{free}");
    assert_eq!(free.num("eagain"), 0, "{free}");
}

/// Under `audit` nothing is enforced: all 16 are created at once, and the
/// report counts the 15 creations that found the process at or over its cap
/// (each worker spins for 60 ms of its own CPU time, so none has ended before
/// the last is created).
#[test]
fn audit_policy_records_without_enforcing() {
    let env = [
        ("THROTTLE_THREADS", "2"),
        ("THROTTLE_POLICY", "audit"),
        ("THROTTLE_REPORT", "1"),
    ];
    let out = concurrency(true, &env);
    assert_eq!(out.num("created"), N, "{out}");
    assert_eq!(out.num("eagain"), 0, "{out}");
    assert_eq!(out.num("finished"), N, "{out}");
    assert_eq!(out.report_num("over_cap"), N - 1, "{out}");
    assert_eq!(out.report_num("waited"), 0, "{out}");
    assert_eq!(out.report_num("refused"), 0, "{out}");
    assert_eq!(out.report_num("confined"), 0, "{out}");
    assert_eq!(out.report_num("created"), N, "{out}");
}

/// 16 threads blocked at a barrier are not running, so under `wait` with a
/// cap of 2 they do not hold back the creations that would open the barrier.
/// The bound on the wait is set beyond the test's timeout: a library that
/// counted blocked threads as running would hang here and be killed.
#[test]
fn wait_policy_admits_past_blocked_threads() {
    let out = Run::c("barrier")
        .preload(true)
        .env("THROTTLE_THREADS", "2")
        .env("THROTTLE_WAIT_MS", "600000")
        .env("THROTTLE_REPORT", "1")
        .run();
    out.assert_success();
    assert_eq!(out.num("errors"), 0, "{out}");
    assert_eq!(out.num("created"), 16, "{out}");
    assert_eq!(out.num("finished"), 16, "{out}");
    assert_eq!(out.report_num("refused"), 0, "{out}");
    assert_eq!(out.report_num("created"), 16, "{out}");
}

/// The same barrier with the default bound on the wait also completes.
#[test]
fn barrier_completes_with_default_wait_bound() {
    let out = Run::c("barrier")
        .preload(true)
        .env("THROTTLE_THREADS", "2")
        .run();
    out.assert_success();
    assert_eq!(out.num("errors"), 0, "{out}");
    assert_eq!(out.num("finished"), 16, "{out}");
}

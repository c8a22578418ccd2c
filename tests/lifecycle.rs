//! Slots are given back however a thread ends (`c_tests/lifecycle.c`), and a
//! forked child starts from one live thread (`c_tests/fork_child.c`).
//! docs/design.md, section 13.

mod common;

use common::{report_num, reports, Output, Run};

const CYCLES: i64 = 1000;

fn assert_all_cycles(out: &Output) {
    out.assert_success();
    for key in ["returned", "exited", "cancelled", "detached"] {
        assert_eq!(out.num(key), CYCLES, "{key}\n{out}");
    }
    assert_eq!(out.num("errors"), 0, "{out}");
}

/// After 4000 threads ended by return, pthread_exit, cancellation and
/// detachment, only the main thread holds a slot.
#[test]
fn every_way_of_ending_gives_back_the_slot() {
    let out = Run::c("lifecycle")
        .preload(true)
        .env("THROTTLE_THREADS", "2")
        .env("THROTTLE_REPORT", "1")
        .run();
    assert_all_cycles(&out);
    assert_eq!(out.report_num("live"), 1, "a slot leaked\n{out}");
    assert_eq!(out.report_num("created"), 4 * CYCLES, "{out}");
}

/// Under `fail` with a cap of 2 (main plus one), a single leaked slot would
/// make every later creation fail with EAGAIN.
#[test]
fn fail_policy_never_refuses_after_threads_end() {
    let out = Run::c("lifecycle")
        .preload(true)
        .env("THROTTLE_THREADS", "2")
        .env("THROTTLE_POLICY", "fail")
        .env("THROTTLE_REPORT", "1")
        .run();
    assert_all_cycles(&out);
    assert_eq!(out.report_num("refused"), 0, "{out}");
    assert_eq!(out.report_num("live"), 1, "a slot leaked\n{out}");
}

/// Runs fork_child.c under `fail` with the given cap: the parent starts
/// `parent_threads` blocked threads (as many as the cap lets it), forks, and
/// the child must be able to create cap-1 threads.
///
/// `THROTTLE_SCOPE=process` makes the cap per process, so the test is about
/// the child's count starting from one thread, not about how a tree budget
/// would be split between parent and child.
fn fork_at_cap(cap: i64, parent_threads: i64) {
    let out = Run::c("fork_child")
        .args([cap.to_string(), parent_threads.to_string()])
        .preload(true)
        .env("THROTTLE_THREADS", cap.to_string())
        .env("THROTTLE_POLICY", "fail")
        .env("THROTTLE_SCOPE", "process")
        .env("THROTTLE_REPORT", "1")
        .run();
    out.assert_success();

    // The parent is at its cap when it forks.
    let parent_created = out.num("parent_created");
    let parent_eagain = out.num("parent_eagain");
    let expected_created = parent_threads.min(cap - 1);
    assert_eq!(parent_created, expected_created, "{out}");
    assert_eq!(parent_eagain, parent_threads - expected_created, "{out}");
    assert_eq!(out.num("parent_errors"), 0, "{out}");
    assert_eq!(out.num("parent_joined"), parent_created, "{out}");
    assert_eq!(out.num("child_status"), 0, "{out}");

    // The child created cap-1 threads without a refusal.
    assert_eq!(out.num("child_created"), cap - 1, "{out}");
    assert_eq!(out.num("child_errors"), 0, "{out}");
    assert_eq!(out.num("child_work"), cap - 1, "{out}");

    let child_pid = out.get("child_pid");
    let parent_pid = out.get("parent_pid");
    let all = reports(&out.stderr_str());
    assert_eq!(all.len(), 2, "one report each from parent and child\n{out}");
    let find = |pid: &str| {
        all.iter()
            .find(|r| r.get("pid").map(String::as_str) == Some(pid))
            .unwrap_or_else(|| panic!("no report with pid={pid}\n{out}"))
    };
    let child = find(&child_pid);
    assert_eq!(report_num(child, "cap", &out), cap, "{out}");
    assert_eq!(report_num(child, "waited", &out), 0, "{out}");
    assert_eq!(report_num(child, "refused", &out), 0, "{out}");
    assert_eq!(report_num(child, "live", &out), 1, "{out}");
    let parent = find(&parent_pid);
    assert_eq!(report_num(parent, "refused", &out), parent_eagain, "{out}");
}

/// Cap 4: the parent gets main + 3 threads (4 refusals), then the child
/// creates 3.
#[test]
fn fork_child_starts_from_one_thread_cap_4() {
    fork_at_cap(4, 7);
}

/// Cap 8: the parent has 8 live threads (main + 7) when it forks, then the
/// child creates 7.
#[test]
fn fork_child_starts_from_one_thread_cap_8() {
    fork_at_cap(8, 7);
}

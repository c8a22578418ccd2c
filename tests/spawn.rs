//! The hooks in front of `vfork`, `posix_spawn`, `posix_spawnp`, `system`
//! and `popen` (`crates/preload/src/hooks/spawn.rs`) hand every call on unchanged: statuses,
//! output and the parent's stack across `vfork` (`c_tests/spawners.c`), with
//! and without a tree, and also when the first call starts the steward. What
//! they are for, a sole member making room for the program it starts, is
//! tested in `tests/tree.rs`. The `vfork` children that `_exit` run none of
//! the library's end-of-process work (`crates/preload/src/hooks/exit.rs`): they share the
//! parent's memory, and the parent still reports once, at its own end.

mod common;

use common::{Output, Run};

const ROUNDS: i64 = 50;

/// Runs `c_tests/spawners.c` with `THROTTLE_REPORT=1`: the parent's exit
/// report must be there, once (its children, preloaded too, report as well).
fn spawners(arg: &str, preload: bool, env: &[(&str, &str)]) -> Output {
    let out = Run::c("spawners")
        .arg(arg)
        .preload(preload)
        .envs(env)
        .env("THROTTLE_REPORT", "1")
        .run();
    out.assert_success();
    let pid = out.num("pid");
    let own = common::reports(&out.stderr_str())
        .iter()
        .filter(|r| common::report_num(r, "pid", &out) == pid)
        .count();
    assert_eq!(own, usize::from(preload), "the parent's reports\n{out}");
    for key in [
        "vfork_exec",
        "vfork_exit",
        "spawn",
        "spawnp",
        "system",
        "popen",
    ] {
        assert_eq!(out.num(key), ROUNDS, "{key}\n{out}");
    }
    assert_eq!(out.num("errors"), 0, "{out}");
    out
}

#[test]
fn programs_started_every_way_behave_as_without_the_library() {
    let plain = spawners("none", false, &[]);
    assert_eq!(plain.num("stewards"), 0, "{plain}");
    for scope in ["tree", "process"] {
        let out = spawners(
            "none",
            true,
            &[("THROTTLE_THREADS", "2"), ("THROTTLE_SCOPE", scope)],
        );
        let without_pid = |o: &Output| {
            o.stdout_str()
                .replace(&format!("pid={}\n", o.num("pid")), "")
        };
        assert_eq!(without_pid(&out), without_pid(&plain), "{scope}\n{out}");
        assert!(out.throttle_lines().is_empty(), "{scope}\n{out}");
    }
}

/// With libgomp's pool started at 2 and alone in its tree, the process
/// starts its steward at its first `vfork`: inside the hook, before libc's
/// `vfork` runs. Every call still behaves.
#[test]
fn the_steward_started_before_a_vfork_changes_nothing_else() {
    if common::real_nprocs_onln() < 2 {
        eprintln!("skipped: one CPU, libgomp's pool would be 1 and need no steward");
        return;
    }
    let tree = spawners("pool", true, &[("THROTTLE_THREADS", "2")]);
    assert_eq!(tree.num("pool"), 2, "{tree}");
    assert_eq!(tree.num("stewards"), 1, "{tree}");
    assert!(tree.throttle_lines().is_empty(), "{tree}");
    let process = spawners(
        "pool",
        true,
        &[("THROTTLE_THREADS", "2"), ("THROTTLE_SCOPE", "process")],
    );
    assert_eq!(process.num("stewards"), 0, "no tree, no steward\n{process}");
}

//! A runtime setter called by name from a library loaded `RTLD_LOCAL` (as
//! Python loads extension modules, and with them numpy's and scipy's bundled
//! OpenBLAS): the call binds to libthrottle's export, and the definition it
//! must forward to is outside the global scope that `RTLD_NEXT` searches.

mod common;

use common::{c_program, Run};
use std::path::{Path, PathBuf};
use std::process::Command;

fn caller_library() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rtld_local");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("liblocal_caller.so");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o"])
        .arg(&out)
        .arg(common::repo_root().join("c_tests/local_caller.c"))
        .arg("-lopenblas")
        .status()
        .expect("run cc");
    assert!(status.success(), "building liblocal_caller.so failed");
    out
}

#[test]
fn setter_in_an_rtld_local_library_is_clamped_and_forwarded() {
    let caller = caller_library();
    let program = c_program("rtld_local");
    let run = |preload: bool, n: &str| {
        let out = Run::new(&program)
            .arg(&caller)
            .arg(n)
            .preload(preload)
            .env("THROTTLE_THREADS", "2")
            .run();
        out.assert_success();
        out
    };

    let plain = run(false, "64");
    assert_eq!(
        plain.num("global_scope_sees_openblas"),
        0,
        "the library must be local\n{plain}"
    );
    assert_eq!(plain.num("threads_after_set"), 64, "{plain}");

    let capped = run(true, "64");
    assert_eq!(
        capped.num("threads_after_set"),
        2,
        "forwarded, and lowered to the cap\n{capped}"
    );
    // Lowering is never raising.
    let one = run(true, "1");
    assert_eq!(one.num("threads_after_set"), 1, "{one}");
    assert!(capped.throttle_lines().is_empty(), "{capped}");
}

/// A runtime found by a lookup by handle is remembered, with its setter, for
/// lowering pools inside `fork`; a program that then `dlclose`s it and forks
/// must not crash. The runtime is pinned (`RTLD_NODELETE`) when remembered:
/// under the library it stays loaded; without, it is unloaded.
#[test]
fn a_runtime_closed_with_dlclose_before_a_fork_breaks_nothing() {
    let run = |preload: bool| {
        let out = Run::c("dlclose_fork")
            .preload(preload)
            .env("THROTTLE_THREADS", "2")
            .run();
        out.assert_success();
        out
    };
    let plain = run(false);
    assert_eq!(plain.num("loaded"), 1, "{plain}");
    let with = run(true);
    assert_eq!(with.num("forked"), 1, "{with}");
    assert_eq!(with.num("child_status"), 7, "{with}");
    assert_eq!(with.num("threads_before"), 2, "lowered to the cap\n{with}");
    assert_eq!(with.num("still_loaded"), 1, "remembered, so pinned\n{with}");
    assert!(with.throttle_lines().is_empty(), "{with}");
    eprintln!(
        "dlclose: without the library still_loaded={}, with it {}",
        plain.num("still_loaded"),
        with.num("still_loaded")
    );
}

//! Invalid configuration is reported in exactly one stderr line and skipped:
//! never fatal, never on stdout, never a changed exit status (docs/design.md,
//! sections 2 and 12, docs/interface.md). `c_tests/print_hello.c` prints one
//! fixed line and exits with the status it is given.

mod common;

use std::path::{Path, PathBuf};

use common::Run;

/// Runs print_hello with `env`, with and without the library, for exit
/// statuses 0 and 3. With the library: exactly one diagnostic line (the
/// report excluded; THROTTLE_REPORT is not set), mentioning one of
/// `mentions`; stdout and exit status identical to the run without it.
/// Returns a description of every difference, empty when all is well.
fn check(env: &[(&str, &str)], mentions: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    for code in ["0", "3"] {
        let with = Run::c("print_hello")
            .arg(code)
            .preload(true)
            .envs(env)
            .run();
        let without = Run::c("print_hello").arg(code).envs(env).run();
        let lines = with.throttle_lines();
        let mut bad = Vec::new();
        if lines.len() != 1 {
            bad.push(format!("{} libthrottle lines, expected 1", lines.len()));
        } else if !mentions.iter().any(|m| lines[0].contains(m)) {
            bad.push(format!("the line mentions none of {mentions:?}"));
        }
        if with.stdout != without.stdout {
            bad.push("stdout differs from the run without the library".into());
        }
        if with.status.code() != without.status.code() || with.status.code().is_none() {
            bad.push(format!(
                "exit status {} (without the library: {})",
                with.status, without.status
            ));
        }
        if !bad.is_empty() {
            problems.push(format!("{}\n{with}", bad.join("; ")));
        }
    }
    problems
}

fn assert_all_ok(var: &str, values: &[&str]) {
    let mut problems = Vec::new();
    for value in values {
        for p in check(&[(var, value)], &[var]) {
            problems.push(format!("{var}={value:?}: {p}"));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n\n"));
}

#[test]
fn bad_thread_counts() {
    assert_all_ok(
        "THROTTLE_THREADS",
        &["0", "-1", "abc", "4x", "", " 2", "99999999999999999999"],
    );
}

#[test]
fn bad_policies() {
    assert_all_ok("THROTTLE_POLICY", &["", "nope", "WAIT2", "fail "]);
}

#[test]
fn bad_wait_ms() {
    assert_all_ok("THROTTLE_WAIT_MS", &["-5", "x"]);
}

#[test]
fn bad_log_level() {
    assert_all_ok("THROTTLE_LOG", &["loud"]);
}

#[test]
fn bad_disable_value() {
    // 1/yes/true/on and 0/no/false/off are all valid.
    assert_all_ok("THROTTLE_DISABLE", &["maybe", "2", "yes please"]);
}

/// A fresh directory for one test's files.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("bad_input")
        .join(test);
    if dir.exists() {
        make_accessible(&dir);
        std::fs::remove_dir_all(&dir).expect("clear the scratch directory");
    }
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    dir
}

fn make_accessible(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for entry in walk(dir) {
        let _ = std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o755));
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut all = vec![dir.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.path().is_dir() {
                all.extend(walk(&e.path()));
            } else {
                all.push(e.path());
            }
        }
    }
    all
}

fn assert_budget_file_rejected(path: &Path) {
    let p = path.to_str().expect("UTF-8 scratch path");
    let problems = check(&[("THROTTLE_BUDGET_FILE", p)], &[p, "THROTTLE_BUDGET_FILE"]);
    assert!(
        problems.is_empty(),
        "THROTTLE_BUDGET_FILE={p}:\n{}",
        problems.join("\n\n")
    );
}

#[test]
fn budget_file_missing() {
    let dir = scratch("missing");
    assert_budget_file_rejected(&dir.join("no-such-budget"));
}

/// A budget file that cannot be read. As a normal user: a file inside a
/// directory with mode 000 (EACCES). As root, permission bits do not apply,
/// so the path goes through a regular file as if it were a directory
/// (`file/budget`, ENOTDIR): opening it fails just the same.
#[test]
fn budget_file_unreadable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("unreadable");
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        let file = dir.join("file");
        std::fs::write(&file, "threads = 2\n").unwrap();
        assert_budget_file_rejected(&file.join("budget"));
    } else {
        let locked = dir.join("locked");
        std::fs::create_dir(&locked).unwrap();
        std::fs::write(locked.join("budget"), "threads = 2\n").unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        let result =
            std::panic::catch_unwind(|| assert_budget_file_rejected(&locked.join("budget")));
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
        if let Err(e) = result {
            std::panic::resume_unwind(e);
        }
    }
}

#[test]
fn budget_file_is_a_directory() {
    let dir = scratch("directory");
    let sub = dir.join("budget.d");
    std::fs::create_dir(&sub).unwrap();
    assert_budget_file_rejected(&sub);
}

/// 4 KiB of pseudo-random bytes, NULs and newlines included.
#[test]
fn budget_file_binary() {
    let dir = scratch("binary");
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut bytes: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    bytes[0] = 0;
    bytes[100] = b'\n';
    bytes[200] = 0;
    let file = dir.join("budget.bin");
    std::fs::write(&file, &bytes).unwrap();
    assert_budget_file_rejected(&file);
}

/// A 10 MB file of one unparsable line: rejected whether the library refuses
/// it for its size or parses it.
#[test]
fn budget_file_huge() {
    let dir = scratch("huge");
    let file = dir.join("budget.huge");
    std::fs::write(&file, vec![b'a'; 10 * 1024 * 1024]).unwrap();
    assert_budget_file_rejected(&file);
}

/// Unknown keys are reported in one line, and the valid key still applies.
#[test]
fn budget_file_unknown_keys() {
    let dir = scratch("unknown_keys");
    let file = dir.join("budget.conf");
    std::fs::write(&file, "foo = 1\nbar = 2\nthreads = 2\n").unwrap();
    assert_budget_file_rejected(&file);

    let out = Run::c("print_hello")
        .preload(true)
        .env("THROTTLE_BUDGET_FILE", &file)
        .env("THROTTLE_REPORT", "1")
        .run();
    out.assert_success();
    let report = out.report();
    assert_eq!(report.get("cap").map(String::as_str), Some("2"), "{out}");
    assert_eq!(
        report.get("source").map(String::as_str),
        Some("THROTTLE_BUDGET_FILE"),
        "{out}"
    );
}

/// The library never writes to stdout, even at its most verbose.
#[test]
fn stdout_is_never_written() {
    let out = Run::c("print_hello")
        .preload(true)
        .env("THROTTLE_THREADS", "2")
        .env("THROTTLE_LOG", "debug")
        .env("THROTTLE_REPORT", "1")
        .run();
    out.assert_success();
    assert_eq!(out.stdout, b"hello=world\n", "{out}");
    // The library was loaded and active: it wrote its report on stderr.
    out.report();
}

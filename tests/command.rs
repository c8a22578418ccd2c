//! The `throttle` command (docs/interface.md, "The command").

mod common;

use common::{c_program, throttle_bin, Run};

fn throttle<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Run::new(throttle_bin()).args(args)
}

#[test]
fn run_sets_the_cap() {
    let out = throttle(["run", "-n", "1", "--"])
        .arg(c_program("cpus"))
        .run();
    out.assert_success();
    assert_eq!(out.num("nprocs_onln"), 1, "{out}");
    assert_eq!(out.num("affinity_count"), 1, "{out}");
}

#[test]
fn run_sets_policy_and_report() {
    let out = throttle(["run", "--policy", "fail", "-n", "2", "--report", "--"])
        .arg(c_program("concurrency"))
        .run();
    out.assert_success();
    let refused = out.report_num("refused");
    assert!(refused >= 1, "{out}");
    assert_eq!(refused, out.num("eagain"), "{out}");
    assert_eq!(
        out.report().get("cap").map(String::as_str),
        Some("2"),
        "{out}"
    );
}

#[test]
fn run_rejects_a_bad_thread_count() {
    for n in ["0", "abc"] {
        let out = throttle(["run", "-n", n, "--"])
            .arg(c_program("print_hello"))
            .run();
        assert_eq!(out.code(), 2, "-n {n}\n{out}");
        assert!(
            !out.stderr_str().trim().is_empty(),
            "no error message\n{out}"
        );
        assert!(
            !out.stdout_str().contains("hello=world"),
            "the command ran despite -n {n}\n{out}"
        );
    }
}

#[test]
fn run_passes_the_exit_status_through() {
    for code in [0, 3] {
        let out = throttle(["run", "-n", "2", "--"])
            .arg(c_program("print_hello"))
            .arg(code.to_string())
            .run();
        assert_eq!(out.code(), code, "{out}");
        assert_eq!(out.stdout, b"hello=world\n", "{out}");
    }
}

/// `throttle info` names THROTTLE_THREADS and the cap it set, for a common
/// value and an unusual one (which cannot appear by chance).
#[test]
fn info_shows_the_cap_from_the_environment() {
    for n in ["3", "37"] {
        let out = throttle(["info"]).env("THROTTLE_THREADS", n).run();
        assert_eq!(out.code(), 0, "{out}");
        let stdout = out.stdout_str();
        assert!(stdout.contains("THROTTLE_THREADS"), "{out}");
        let has_value = stdout
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|word| word == n);
        assert!(has_value, "stdout does not mention {n}\n{out}");
    }
}

/// `throttle info | head`: a closed pipe ends the command quietly, without a
/// panic message. The reader here closes at once, so the command's writes
/// meet a closed pipe.
#[test]
fn info_into_a_closed_pipe_is_quiet() {
    for _ in 0..5 {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "'{}' info | true",
                common::throttle_bin().display()
            ))
            .output()
            .expect("run sh");
        assert!(out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// `throttle info PROGRAM` says whether PROGRAM is a launcher (it holds no
/// share of its tree's budget): a built-in one by its name (here a copy of
/// `true` named `srun`), one named in `THROTTLE_LAUNCHERS`, and no other.
#[test]
fn info_says_which_programs_are_launchers() {
    let dir = common::TempDir::new("info-launchers");
    for name in ["srun", "ibrun"] {
        std::fs::copy("/bin/true", dir.0.join(name)).expect("copy /bin/true");
    }
    let says = |program: &std::path::Path, env: &[(&str, &str)]| -> Option<String> {
        let out = throttle([std::ffi::OsStr::new("info"), program.as_os_str()])
            .envs(env)
            .run();
        out.assert_success();
        out.stdout_str()
            .lines()
            .find(|l| l.contains("a launcher"))
            .map(str::trim)
            .map(str::to_string)
    };
    let srun = says(&dir.0.join("srun"), &[]);
    assert!(srun.is_some_and(|l| l.starts_with("a launcher (srun)")));
    assert_eq!(says(&dir.0.join("ibrun"), &[]), None);
    let ibrun = says(
        &dir.0.join("ibrun"),
        &[("THROTTLE_LAUNCHERS", "ibrun,torchrun")],
    );
    assert!(ibrun.is_some_and(|l| l.starts_with("a launcher (ibrun)")));
    assert_eq!(says(std::path::Path::new("/bin/true"), &[]), None);
}

/// Builds `c_tests/<src>` with the Go toolchain (Debian's `golang-go`).
fn go_program(src: &str, out: &str, cgo: bool) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("go");
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join(out);
    let status = std::process::Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg(common::repo_root().join("c_tests").join(src))
        .env("GOCACHE", dir.join("cache"))
        .env("GOPATH", dir.join("path"))
        .env("CGO_ENABLED", if cgo { "1" } else { "0" })
        .env_remove("LD_PRELOAD")
        .status()
        .expect("run go (is golang-go installed? run scripts/setup.sh)");
    assert!(status.success(), "go build {src} failed");
    bin
}

/// `throttle run -n 1` sizes the runtimes' variables itself before it
/// execs: a static Go program (which never loads the library) and a cgo one
/// (which loads it after Go has read its environment) both start with
/// GOMAXPROCS 1. Before, both kept one per CPU, although `throttle info`
/// said GOMAXPROCS was lowered.
#[test]
fn throttle_run_sizes_programs_the_library_cannot_enter() {
    let cpus = common::real_affinity_count();
    for (src, cgo) in [("gomaxprocs.go", false), ("gomaxprocs_cgo.go", true)] {
        let program = go_program(src, src.trim_end_matches(".go"), cgo);
        let plain = Run::new(&program).run();
        assert_eq!(plain.num("gomaxprocs"), cpus, "{plain}");
        let capped = Run::new(common::throttle_bin())
            .args(["run", "-n", "1", "--"])
            .arg(&program)
            .run();
        capped.assert_success();
        assert_eq!(capped.num("gomaxprocs"), 1, "{src}\n{capped}");
    }
}

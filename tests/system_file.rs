//! The system file (`/etc/throttle.conf` in a normal build): its `max_threads`
//! is a ceiling nothing a user sets can exceed, and its other keys are site
//! defaults below every user setting.
//!
//! The path is fixed when the library is built, so this test builds a second
//! copy of the library and command with `THROTTLE_SYSTEM_CONF` pointing at a
//! file it owns, rather than touching the machine's /etc.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Variant {
    lib: PathBuf,
    throttle: PathBuf,
    conf: PathBuf,
}

fn build_variant() -> Variant {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("system-file");
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("throttle.conf");
    let target = dir.join("target");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "--target-dir"])
        .arg(&target)
        .env("THROTTLE_SYSTEM_CONF", &conf)
        .current_dir(repo_root())
        .status()
        .expect("run cargo to build the system-file variant");
    assert!(status.success(), "building the system-file variant failed");
    Variant {
        lib: target.join("release/libthrottle.so"),
        throttle: target.join("release/throttle"),
        conf,
    }
}

impl Variant {
    /// Writes the system file, then runs a C program under this variant.
    fn run(&self, conf: &str, program: &str, env: &[(&str, &str)]) -> Output {
        std::fs::write(&self.conf, conf).unwrap();
        let run = Run::c(program)
            .env("LD_PRELOAD", &self.lib)
            .env("THROTTLE_REPORT", "1")
            .envs(env);
        run.run()
    }
}

#[test]
fn system_file_ceiling_and_defaults() {
    let variant = build_variant();

    // The ceiling beats THROTTLE_THREADS.
    let out = variant.run("max_threads = 1\n", "cpus", &[("THROTTLE_THREADS", "64")]);
    out.assert_success();
    assert_eq!(out.num("nprocs_onln"), 1, "{out}");
    assert_eq!(out.report()["cap"], "1", "{out}");
    assert_eq!(out.report()["source"], "max_threads", "{out}");
    assert!(out.throttle_lines().is_empty(), "{out}");

    // ... and a budget file's threads.
    let budget = Path::new(env!("CARGO_TARGET_TMPDIR")).join("system-file/budget");
    std::fs::write(&budget, "threads = 8\n").unwrap();
    let out = variant.run(
        "max_threads = 1\n",
        "cpus",
        &[("THROTTLE_BUDGET_FILE", budget.to_str().unwrap())],
    );
    assert_eq!(out.report()["cap"], "1", "{out}");

    // A ceiling above the user's value changes nothing.
    let out = variant.run("max_threads = 64\n", "cpus", &[("THROTTLE_THREADS", "1")]);
    assert_eq!(out.report()["source"], "THROTTLE_THREADS", "{out}");
    assert_eq!(out.num("nprocs_onln"), 1, "{out}");

    // Site defaults apply when the user sets nothing: cap and policy.
    let defaults = "# site defaults\nthreads = 2\npolicy = fail\n";
    let out = variant.run(defaults, "concurrency", &[]);
    out.assert_success();
    assert_eq!(out.report()["source"], "system_file", "{out}");
    assert_eq!(out.report()["cap"], "2", "{out}");
    assert!(
        out.num("eagain") >= 1,
        "policy=fail from the system file: {out}"
    );

    // ... and the user's settings override the defaults.
    let out = variant.run(
        defaults,
        "concurrency",
        &[("THROTTLE_THREADS", "64"), ("THROTTLE_POLICY", "audit")],
    );
    assert_eq!(out.report()["cap"], "64", "{out}");
    assert_eq!(out.num("eagain"), 0, "{out}");

    // A malformed system file: one line naming it, the program unchanged.
    let plain = Run::c("print_hello").run();
    std::fs::write(&variant.conf, "max_threads = lots\n").unwrap();
    let out = Run::c("print_hello").env("LD_PRELOAD", &variant.lib).run();
    assert_eq!(out.stdout, plain.stdout);
    assert_eq!(out.code(), plain.code());
    let lines = out.throttle_lines();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(lines[0].contains(variant.conf.to_str().unwrap()), "{out}");

    // `throttle info` from the same build shows the ceiling at work.
    std::fs::write(&variant.conf, "max_threads = 1\n").unwrap();
    let info = Command::new(&variant.throttle)
        .arg("info")
        .env("THROTTLE_THREADS", "16")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(info.status.success(), "{text}");
    assert!(
        text.contains("cap:       1 threads (from max_threads in"),
        "{text}"
    );
}

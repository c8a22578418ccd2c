//! The compatibility matrix, Python side: numpy 2.x and scipy wheels (each
//! bundling its own OpenBLAS) in one process, their setters called through
//! ctypes on the bundled library files and through threadpoolctl, must leave
//! at most `cap` threads, and the library must not change a result.
//!
//! Each check runs under the library with `THROTTLE_THREADS=2` and without
//! it, both with `OPENBLAS_NUM_THREADS=8` (which the library lowers to the
//! cap): without the library, the setters' 64 shows the case tests something.
//! `cargo test --release --test rt_python -- --ignored --nocapture matrix`
//! prints these rows of the matrix (`scripts/matrix.sh`).

mod common;

use common::{python, Output, Run};

const CAP: i64 = 2;

/// A thread that samples /proc/self/task while BLAS computes (itself left
/// out), and the helpers every script prints with.
const PRELUDE: &str = r#"
import os, sys, threading, time
import numpy as np
import scipy.linalg
import threadpoolctl

def sample(stop, out):
    me = str(threading.get_native_id())
    peak = 0
    while not stop.is_set():
        running = 0
        for tid in os.listdir("/proc/self/task"):
            if tid == me:
                continue
            try:
                with open(f"/proc/self/task/{tid}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            running += state == "R"
        peak = max(peak, running)
        time.sleep(0.001)
    out.append(peak)

def blas_work():
    """numpy's and scipy's OpenBLAS both at work for 0.3 s; the peak of
    threads running at once. Skipped (-1) where RT_WORK=0: without the
    library, 64 threads per copy on 2 CPUs make one lu_factor take ~50 s."""
    if os.environ.get("RT_WORK") == "0":
        return -1
    rng = np.random.default_rng(0)
    a = rng.random((400, 400))
    stop, out = threading.Event(), []
    t = threading.Thread(target=sample, args=(stop, out))
    t.start()
    t0 = time.monotonic()
    while time.monotonic() - t0 < 0.3:
        (a @ a).sum()
        scipy.linalg.lu_factor(a)
    stop.set()
    t.join()
    return out[0]

def pools():
    info = [p for p in threadpoolctl.threadpool_info() if p["internal_api"] == "openblas"]
    for i, p in enumerate(info):
        print(f"file_{i}={os.path.basename(p['filepath'])}")
        print(f"version_{i}={p.get('version')}")
        print(f"num_threads_{i}={p['num_threads']}")
    print(f"pools={len(info)}")
    print(f"max_num_threads={max(p['num_threads'] for p in info)}")
    return info

if os.environ.get("RT_WORK") != "0":
    blas_work()
else:
    (np.ones((64, 64)) @ np.ones((64, 64))).sum()
"#;

/// ctypes.CDLL(<the bundled file>).<setter>(64) on every bundled OpenBLAS.
const CTYPES: &str = r#"
import ctypes
SETTERS = ["scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
           "openblas_set_num_threads64_", "openblas_set_num_threads"]
for i, p in enumerate(threadpoolctl.threadpool_info()):
    if p["internal_api"] != "openblas":
        continue
    lib = ctypes.CDLL(p["filepath"])
    name = next(n for n in SETTERS if hasattr(lib, n))
    getattr(lib, name)(64)
    print(f"called_{i}={name}")
print(f"peak_running={blas_work()}")
pools()
"#;

/// threadpoolctl.threadpool_limits(64), the way libraries raise their pools.
const LIMITS: &str = r#"
with threadpoolctl.threadpool_limits(64):
    print(f"peak_running={blas_work()}")
    pools()
"#;

/// A fixed-seed computation, hashed to the bit.
const RESULTS: &str = r#"
import hashlib
rng = np.random.default_rng(12345)
a = rng.standard_normal((300, 300))
b = rng.standard_normal((300, 300))
h = hashlib.sha256()
for x in (a @ b, np.linalg.svd(a, compute_uv=False), np.linalg.solve(a, b),
          scipy.linalg.lu_factor(a)[0], scipy.linalg.cho_factor(a @ a.T + 300 * np.eye(300))[0]):
    h.update(np.ascontiguousarray(x).tobytes())
print(f"sha256={h.hexdigest()}")
"#;

fn script(body: &str, preload: bool) -> Output {
    let mut run = Run::new(python())
        .args(["-c", &format!("{PRELUDE}{body}")])
        .preload(preload)
        .env("OPENBLAS_NUM_THREADS", "8");
    run = if preload {
        run.env("THROTTLE_THREADS", CAP.to_string())
    } else {
        // Without the library the setters' 64 threads per copy would make
        // the BLAS work take a minute: only the pool sizes are read.
        run.env("RT_WORK", "0")
    };
    let out = run.run();
    assert_clean(&out);
    out
}

fn assert_clean(out: &Output) {
    out.assert_success();
    let err = out.stderr_str();
    for line in [
        "pthread_create failed",
        "Thread creation failed",
        "OMP: Error",
    ] {
        assert!(!err.contains(line), "stderr has `{line}`\n{out}");
    }
}

/// numpy's and scipy's copies are both there: the checks cover both.
fn assert_both_pools(out: &Output) {
    assert!(
        out.num("pools") >= 2,
        "expected numpy's and scipy's OpenBLAS\n{out}"
    );
}

fn problems(out: &Output) -> Vec<String> {
    let mut p = Vec::new();
    if out.num("max_num_threads") > CAP {
        p.push(format!(
            "threadpoolctl sees num_threads={}",
            out.num("max_num_threads")
        ));
    }
    // Each bundled copy keeps its own pool: the main thread plus each copy's
    // `cap - 1` workers (an idle OpenBLAS worker spins, in state R, for a
    // while after a call), so two copies at cap 2 can show 3 running.
    let bound = 1 + out.num("pools") * (CAP - 1);
    if out.num("peak_running") > bound {
        p.push(format!(
            "peak_running={}, expected <= {bound} (main + {} pools x {})",
            out.num("peak_running"),
            out.num("pools"),
            CAP - 1
        ));
    }
    p
}

#[test]
fn ctypes_setters_on_the_bundled_openblas_are_clamped() {
    let with = script(CTYPES, true);
    assert_both_pools(&with);
    let p = problems(&with);
    assert!(p.is_empty(), "under the library: {}\n{with}", p.join("; "));

    let without = script(CTYPES, false);
    assert_both_pools(&without);
    assert_eq!(without.num("max_num_threads"), 64, "{without}");
}

#[test]
fn threadpool_limits_64_is_clamped() {
    let with = script(LIMITS, true);
    assert_both_pools(&with);
    let p = problems(&with);
    assert!(p.is_empty(), "under the library: {}\n{with}", p.join("; "));

    let without = script(LIMITS, false);
    assert_eq!(without.num("max_num_threads"), 64, "{without}");
}

/// The `num_threads` of every entry `python -m threadpoolctl` prints (JSON).
fn cli_num_threads(out: &Output) -> Vec<i64> {
    out.stdout_str()
        .split("\"num_threads\":")
        .skip(1)
        .map(|rest| {
            let digits: String = rest
                .trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits
                .parse()
                .unwrap_or_else(|_| panic!("bad num_threads in\n{out}"))
        })
        .collect()
}

fn threadpoolctl_cli(preload: bool) -> Output {
    let mut run = Run::new(python())
        .args(["-m", "threadpoolctl", "-i", "numpy", "scipy.linalg"])
        .preload(preload)
        .env("OPENBLAS_NUM_THREADS", "8");
    if preload {
        run = run.env("THROTTLE_THREADS", CAP.to_string());
    }
    let out = run.run();
    assert_clean(&out);
    out
}

#[test]
fn threadpoolctl_cli_reports_the_cap() {
    let out = threadpoolctl_cli(true);
    let n = cli_num_threads(&out);
    assert!(n.len() >= 2, "expected numpy's and scipy's OpenBLAS\n{out}");
    assert!(n.iter().all(|&t| (1..=CAP).contains(&t)), "{n:?}\n{out}");
}

fn results(preload: bool) -> Output {
    let mut run = Run::new(python())
        .args(["-c", &format!("{PRELUDE}{RESULTS}")])
        .preload(preload);
    run = if preload {
        run.env("THROTTLE_THREADS", CAP.to_string())
    } else {
        run.env("OPENBLAS_NUM_THREADS", CAP.to_string())
            .env("OMP_NUM_THREADS", CAP.to_string())
    };
    let out = run.run();
    assert_clean(&out);
    out
}

/// The library changes how many threads compute, never what they compute:
/// under it at cap 2 the results are bit-identical to a run hand-tuned to 2.
#[test]
fn results_are_bit_identical_to_hand_tuned() {
    let with = results(true);
    let without = results(false);
    assert_eq!(
        with.get("sha256"),
        without.get("sha256"),
        "\n{with}\n{without}"
    );
}

/// Prints the Python rows of the matrix: run by `scripts/matrix.sh`.
#[test]
#[ignore = "prints the compatibility matrix: scripts/matrix.sh"]
fn matrix() {
    let info = script("pools()\n", false);
    let mut versions = Vec::new();
    for i in 0..info.num("pools") {
        versions.push(format!(
            "{} {}",
            info.get(&format!("file_{i}")),
            info.get(&format!("version_{i}"))
        ));
    }
    let version = versions.join(", ");
    let cell = |o: &Output| match o.num("peak_running") {
        -1 => format!("threadpoolctl: {}", o.num("max_num_threads")),
        peak => format!("{peak} (threadpoolctl: {})", o.num("max_num_threads")),
    };
    for (case, body) in [
        ("ctypes setter(64) on each bundled copy", CTYPES),
        ("threadpool_limits(64)", LIMITS),
    ] {
        let without = script(body, false);
        let with = script(body, true);
        let p = problems(&with);
        let verdict = if p.is_empty() {
            "pass".to_string()
        } else {
            format!("FAIL: {}", p.join("; "))
        };
        println!(
            "| numpy+scipy wheels | {version} | {case} | {} | {} | {verdict} |",
            cell(&without),
            cell(&with)
        );
    }
    let cli = |preload| {
        let n = cli_num_threads(&threadpoolctl_cli(preload));
        format!("{n:?}")
    };
    let with_cli = threadpoolctl_cli(true);
    let n = cli_num_threads(&with_cli);
    let verdict = if n.iter().all(|&t| t <= CAP) {
        "pass"
    } else {
        "FAIL"
    };
    println!(
        "| numpy+scipy wheels | {version} | python -m threadpoolctl -i numpy scipy.linalg | num_threads {} | num_threads {n:?} | {verdict} |",
        cli(false)
    );
    let same = results(true).get("sha256") == results(false).get("sha256");
    println!(
        "| numpy+scipy wheels | {version} | results (matmul, svd, solve, lu, cholesky) vs hand-tuned 2 | sha256 | {} | {} |",
        if same { "identical" } else { "DIFFERENT" },
        if same { "pass" } else { "FAIL" }
    );
}

//! The compatibility matrix against the real runtimes (docs/design.md,
//! section 1, layer 1, and section 14): every runtime's thread setters, called linked,
//! through `dlsym` on the runtime's own handle, and (OpenMP) through the
//! `num_threads` clause and nested regions, must leave at most `cap` threads
//! working inside the runtime, and the runtime's own getter must say so.
//!
//! Each runtime is a program in `c_tests/rt_*.c` linked against the real
//! library (DT_NEEDED: its constructor runs before libthrottle's) that
//! measures how many threads actually work concurrently: a monitoring thread
//! samples `/proc/self/task/*/stat` (threads in state R), and the OpenMP and
//! oneTBB programs also count the threads inside the parallel region at once.
//! Every case runs twice with the runtime's own variable forcing 8 threads:
//! under the library with `THROTTLE_THREADS=2`, where it must stay within 2,
//! and without it, where (for the cases the runtime honours on 2 CPUs) it
//! goes above 2, which shows the case tests something.
//!
//! `cargo test --release --test runtimes -- --ignored --nocapture matrix`
//! prints the whole matrix as Markdown (`scripts/matrix.sh`). MKL (the `mkl`
//! wheel, about 1 GB installed) is on demand, its tests ignored in CI: after
//! `THROTTLE_TEST_MKL=1 scripts/setup.sh` made `target/venv-mkl`, run
//! `THROTTLE_TEST_MKL=1 cargo test --release --test runtimes mkl -- --ignored`.

mod common;

use common::{c_program_with, repo_root, Output, Run};
use std::path::PathBuf;
use std::process::Command;

/// The cap every case runs under.
const CAP: i64 = 2;

/// Lines on stderr that say a runtime failed to create a thread: OpenBLAS
/// (then raises SIGINT), libgomp and LLVM/Intel OpenMP (then exit).
const FAILURE_LINES: &[&str] = &[
    "pthread_create failed",
    "Thread creation failed",
    "OMP: Error",
];

const LIBDIR: &str = "/usr/lib/x86_64-linux-gnu";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// A BLAS call measured by the monitor only.
    Blas,
    /// OpenMP regions: the team size and the threads inside a region at once.
    OpenMp,
    /// oneTBB: the threads inside a parallel_for body at once.
    Tbb,
}

struct Runtime {
    /// The matrix row (also the binary's name).
    name: &'static str,
    src: &'static str,
    compiler: &'static str,
    /// Extra compiler flags; `None` when the runtime is not available here
    /// on purpose (MKL unless asked for).
    flags: fn() -> Option<Vec<String>>,
    kind: Kind,
    /// The runtime's own variables, forcing a default above the cap.
    forced: &'static [(&'static str, &'static str)],
    cases: &'static [&'static str],
    /// Whether, without the library, this case gets more than `CAP` threads
    /// on this machine (OpenBLAS's pthreads build caps its default at the
    /// CPU count; TBB's default arena follows the affinity mask).
    exceeds_without: fn(&str) -> bool,
    /// Where the tested version comes from: a Debian package, or `pip:<venv>`.
    package: &'static str,
}

fn linked(dir: &str, file: &str, more: &[&str]) -> Option<Vec<String>> {
    let mut v = vec![
        format!("{LIBDIR}/{dir}/{file}"),
        format!("-Wl,-rpath,{LIBDIR}/{dir}"),
    ];
    v.extend(more.iter().map(|s| s.to_string()));
    v.push("-ldl".into());
    Some(v)
}

/// The MKL wheel's directory, when `THROTTLE_TEST_MKL=1`.
fn mkl_libdir() -> Option<PathBuf> {
    if std::env::var("THROTTLE_TEST_MKL").as_deref() != Ok("1") {
        return None;
    }
    let dir = repo_root().join("target/venv-mkl/lib");
    assert!(
        dir.is_dir(),
        "THROTTLE_TEST_MKL=1 but {} is missing: run THROTTLE_TEST_MKL=1 scripts/setup.sh",
        dir.display()
    );
    Some(dir)
}

fn mkl_rt() -> Option<PathBuf> {
    let dir = mkl_libdir()?;
    let mut libs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read the MKL wheel's lib/")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libmkl_rt.so."))
        })
        .collect();
    libs.sort();
    Some(libs.pop().expect("no libmkl_rt.so.* in the MKL wheel"))
}

const BLAS_CASES: &[&str] = &["default", "setter64", "goto64", "dlsym64", "setter1"];
const OMP_CASES: &[&str] = &[
    "default", "setter64", "dlsym64", "clause64", "nested", "setter1",
];

fn all_but_setter1(case: &str) -> bool {
    case != "setter1"
}

static RUNTIMES: &[Runtime] = &[
    Runtime {
        name: "openblas-pthread",
        src: "rt_openblas.c",
        compiler: "cc",
        flags: || linked("openblas-pthread", "libopenblas.so.0", &[]),
        kind: Kind::Blas,
        forced: &[("OPENBLAS_NUM_THREADS", "8")],
        cases: BLAS_CASES,
        // Its default is capped at the CPU count; its setters are not.
        exceeds_without: |c| c != "default" && c != "setter1",
        package: "libopenblas0-pthread",
    },
    Runtime {
        name: "openblas-openmp",
        src: "rt_openblas.c",
        compiler: "cc",
        flags: || {
            linked(
                "openblas-openmp",
                "libopenblas.so.0",
                &["-DRT_OPENMP", "-lgomp"],
            )
        },
        kind: Kind::Blas,
        forced: &[("OPENBLAS_NUM_THREADS", "8"), ("OMP_NUM_THREADS", "8")],
        cases: &[
            "default", "setter64", "goto64", "dlsym64", "omp64", "setter1",
        ],
        exceeds_without: all_but_setter1,
        package: "libopenblas0-openmp",
    },
    Runtime {
        name: "libgomp",
        src: "rt_omp.c",
        compiler: "gcc",
        flags: || Some(vec!["-fopenmp".into(), "-ldl".into()]),
        kind: Kind::OpenMp,
        forced: &[("OMP_NUM_THREADS", "8")],
        cases: OMP_CASES,
        exceeds_without: all_but_setter1,
        package: "libgomp1",
    },
    Runtime {
        name: "libomp",
        src: "rt_omp.c",
        compiler: "clang",
        flags: || Some(vec!["-fopenmp=libomp".into(), "-ldl".into()]),
        kind: Kind::OpenMp,
        forced: &[("OMP_NUM_THREADS", "8")],
        cases: OMP_CASES,
        exceeds_without: all_but_setter1,
        package: "libomp5-14",
    },
    Runtime {
        name: "blis-pthread",
        src: "rt_blis.c",
        compiler: "cc",
        flags: || linked("blis-pthread", "libblis.so.4", &[]),
        kind: Kind::Blas,
        forced: &[("BLIS_NUM_THREADS", "8")],
        cases: &["default", "setter64", "dlsym64", "ways64", "setter1"],
        exceeds_without: all_but_setter1,
        package: "libblis4-pthread",
    },
    Runtime {
        name: "blis-openmp",
        src: "rt_blis.c",
        compiler: "cc",
        flags: || linked("blis-openmp", "libblis.so.4", &["-DRT_OPENMP"]),
        kind: Kind::Blas,
        forced: &[("BLIS_NUM_THREADS", "8")],
        cases: &["default", "setter64", "dlsym64", "ways64", "setter1"],
        exceeds_without: all_but_setter1,
        package: "libblis4-openmp",
    },
    Runtime {
        name: "onetbb",
        src: "rt_tbb.cpp",
        compiler: "g++",
        flags: || Some(vec!["-ltbb".into(), "-ldl".into()]),
        kind: Kind::Tbb,
        forced: &[],
        cases: &["default", "arena64"],
        exceeds_without: |c| c == "arena64",
        package: "libtbb12",
    },
    Runtime {
        name: "mkl",
        src: "rt_mkl.c",
        compiler: "cc",
        flags: || {
            let lib = mkl_rt()?;
            let dir = lib.parent().unwrap().display().to_string();
            Some(vec![
                lib.display().to_string(),
                format!("-Wl,-rpath,{dir}"),
                "-ldl".into(),
            ])
        },
        kind: Kind::Blas,
        forced: &[("MKL_NUM_THREADS", "8"), ("MKL_DYNAMIC", "FALSE")],
        cases: &[
            "default",
            "setter64",
            "lower64",
            "lowerlocal64",
            "lowerdomain64",
            "local64",
            "domain64",
            "dlsym64",
            "setter1",
        ],
        exceeds_without: all_but_setter1,
        package: "pip:mkl",
    },
];

fn runtime(name: &str) -> &'static Runtime {
    RUNTIMES
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no runtime {name}"))
}

/// The program for `rt`, or `None` when the runtime is not asked for here.
fn program(rt: &Runtime) -> Option<PathBuf> {
    let flags = (rt.flags)()?;
    Some(c_program_with(
        rt.src,
        &format!("rt_{}", rt.name.replace('-', "_")),
        rt.compiler,
        &flags,
    ))
}

/// One run of `case`, with the library at cap 2 or without it.
fn run_case(rt: &Runtime, prog: &PathBuf, case: &str, preload: bool) -> Output {
    let mut run = Run::new(prog).arg(case).preload(preload);
    // 64x64 threads without the library take seconds on 2 CPUs: 8x8 shows
    // the same thing (the nest runs above the cap).
    if case == "nested" && !preload {
        run = run.arg("8");
    }
    for (k, v) in rt.forced {
        run = run.env(k, v);
    }
    if preload {
        run = run.env("THROTTLE_THREADS", CAP.to_string());
    }
    run.run()
}

/// How many threads worked inside the runtime at once: the in-region count
/// where the program has one, else the monitor's peak of running threads.
fn concurrency(rt: &Runtime, out: &Output) -> i64 {
    match rt.kind {
        Kind::Blas => out.num("peak_running"),
        Kind::OpenMp | Kind::Tbb => out.num("peak_inside").max(out.num("peak_running")),
    }
}

fn num(out: &Output, key: &str) -> Result<i64, String> {
    out.kv()
        .get(key)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no integer `{key}=` on stdout"))
}

/// What every run must show: exit 0, a correct result, no thread-creation
/// failure on stderr.
fn common_problems(out: &Output) -> Vec<String> {
    let mut p = Vec::new();
    if !out.status.success() {
        p.push(format!("exit status {}", out.status));
    }
    if out.kv().get("result_ok").map(String::as_str) != Some("1") {
        p.push("result_ok is not 1".into());
    }
    let err = out.stderr_str();
    for line in FAILURE_LINES {
        if err.contains(line) {
            p.push(format!("stderr has `{line}`"));
        }
    }
    p
}

/// What the run under the library must show; empty when it passes.
fn problems_with(rt: &Runtime, case: &str, out: &Output) -> Vec<String> {
    let mut p = common_problems(out);
    if !p.is_empty() {
        return p;
    }
    let mut check = |key: &str, ok: &dyn Fn(i64) -> bool, want: &str| match num(out, key) {
        Ok(v) if ok(v) => {}
        Ok(v) => p.push(format!("{key}={v}, expected {want}")),
        Err(e) => p.push(e),
    };
    check("peak_running", &|v| v <= CAP, "<= 2");
    let want_reported: &dyn Fn(i64) -> bool = if case == "setter1" {
        &|v| v == 1
    } else {
        &|v| (1..=CAP).contains(&v)
    };
    let want_text = if case == "setter1" {
        "1 (lowering is never raised)"
    } else {
        "1..=2"
    };
    check("reported", want_reported, want_text);
    match rt.kind {
        Kind::OpenMp => {
            check("team", want_reported, want_text);
            check("peak_inside", want_reported, want_text);
        }
        Kind::Tbb => check("peak_inside", &|v| v <= CAP, "<= 2"),
        Kind::Blas => {}
    }
    if case == "default" {
        // The runtime is DT_NEEDED: initialised before libthrottle's constructor.
        check("needed", &|v| v == 1, "1 (linked into the executable)");
    }
    p
}

/// What the run without the library must show; empty when it passes.
fn problems_without(rt: &Runtime, case: &str, out: &Output) -> Vec<String> {
    let mut p = common_problems(out);
    if !p.is_empty() || !(rt.exceeds_without)(case) {
        return p;
    }
    match num(out, "max_threads") {
        Ok(v) if v > CAP => {}
        Ok(v) => p.push(format!("max_threads={v} without the library, expected > 2")),
        Err(e) => p.push(e),
    }
    if rt.kind == Kind::OpenMp {
        match num(out, "team") {
            Ok(v) if v > CAP => {}
            Ok(v) => p.push(format!("team={v} without the library, expected > 2")),
            Err(e) => p.push(e),
        }
    }
    p
}

/// Runs one runtime x case both ways and asserts both.
fn check_case(name: &str, case: &str) {
    let rt = runtime(name);
    assert!(rt.cases.contains(&case), "{name} has no case {case}");
    let Some(prog) = program(rt) else {
        panic!("{name}: not installed here: run THROTTLE_TEST_MKL=1 scripts/setup.sh, then these tests with THROTTLE_TEST_MKL=1");
    };
    let with = run_case(rt, &prog, case, true);
    let without = run_case(rt, &prog, case, false);
    let p = problems_with(rt, case, &with);
    assert!(
        p.is_empty(),
        "{name} {case} under the library (cap 2): {}\n{with}\n(without the library:)\n{without}",
        p.join("; ")
    );
    let p = problems_without(rt, case, &without);
    assert!(
        p.is_empty(),
        "{name} {case} without the library: {}\n{without}",
        p.join("; ")
    );
}

macro_rules! cases {
    ($($(#[$meta:meta])* $test:ident: $rt:literal $case:literal;)*) => {
        $(
            #[test]
            $(#[$meta])*
            fn $test() {
                check_case($rt, $case);
            }
        )*
    };
}

cases! {
    openblas_pthread_default: "openblas-pthread" "default";
    openblas_pthread_setter64: "openblas-pthread" "setter64";
    openblas_pthread_goto64: "openblas-pthread" "goto64";
    openblas_pthread_dlsym64: "openblas-pthread" "dlsym64";
    openblas_pthread_setter1: "openblas-pthread" "setter1";
    openblas_openmp_default: "openblas-openmp" "default";
    openblas_openmp_setter64: "openblas-openmp" "setter64";
    openblas_openmp_goto64: "openblas-openmp" "goto64";
    openblas_openmp_dlsym64: "openblas-openmp" "dlsym64";
    openblas_openmp_omp64: "openblas-openmp" "omp64";
    openblas_openmp_setter1: "openblas-openmp" "setter1";
    libgomp_default: "libgomp" "default";
    libgomp_setter64: "libgomp" "setter64";
    libgomp_dlsym64: "libgomp" "dlsym64";
    libgomp_clause64: "libgomp" "clause64";
    libgomp_nested: "libgomp" "nested";
    libgomp_setter1: "libgomp" "setter1";
    libomp_default: "libomp" "default";
    libomp_setter64: "libomp" "setter64";
    libomp_dlsym64: "libomp" "dlsym64";
    libomp_clause64: "libomp" "clause64";
    libomp_nested: "libomp" "nested";
    libomp_setter1: "libomp" "setter1";
    blis_pthread_default: "blis-pthread" "default";
    blis_pthread_setter64: "blis-pthread" "setter64";
    blis_pthread_dlsym64: "blis-pthread" "dlsym64";
    blis_pthread_ways64: "blis-pthread" "ways64";
    blis_pthread_setter1: "blis-pthread" "setter1";
    blis_openmp_default: "blis-openmp" "default";
    blis_openmp_setter64: "blis-openmp" "setter64";
    blis_openmp_dlsym64: "blis-openmp" "dlsym64";
    blis_openmp_ways64: "blis-openmp" "ways64";
    blis_openmp_setter1: "blis-openmp" "setter1";
    onetbb_default: "onetbb" "default";
    onetbb_arena64: "onetbb" "arena64";
    #[ignore = "MKL is on demand: THROTTLE_TEST_MKL=1 cargo test --release --test runtimes mkl -- --ignored"]
    mkl_default: "mkl" "default";
    #[ignore = "MKL is on demand: THROTTLE_TEST_MKL=1 cargo test --release --test runtimes mkl -- --ignored"]
    mkl_setter64: "mkl" "setter64";
    #[ignore = "MKL is on demand: THROTTLE_TEST_MKL=1 cargo test --release --test runtimes mkl -- --ignored"]
    mkl_lower64: "mkl" "lower64";
    #[ignore = "MKL is on demand: THROTTLE_TEST_MKL=1 cargo test --release --test runtimes mkl -- --ignored"]
    mkl_lowerlocal64: "mkl" "lowerlocal64";
    #[ignore = "MKL is on demand: THROTTLE_TEST_MKL=1 cargo test --release --test runtimes mkl -- --ignored"]
    mkl_lowerdomain64: "mkl" "lowerdomain64";
    #[ignore = "MKL is on demand: THROTTLE_TEST_MKL=1 cargo test --release --test runtimes mkl -- --ignored"]
    mkl_local64: "mkl" "local64";
    #[ignore = "MKL is on demand: THROTTLE_TEST_MKL=1 cargo test --release --test runtimes mkl -- --ignored"]
    mkl_domain64: "mkl" "domain64";
    #[ignore = "MKL is on demand: THROTTLE_TEST_MKL=1 cargo test --release --test runtimes mkl -- --ignored"]
    mkl_dlsym64: "mkl" "dlsym64";
    #[ignore = "MKL is on demand: THROTTLE_TEST_MKL=1 cargo test --release --test runtimes mkl -- --ignored"]
    mkl_setter1: "mkl" "setter1";
}

/// Every case of the table has a test above.
#[test]
fn every_case_has_a_test() {
    let src = std::fs::read_to_string(repo_root().join("tests/runtimes.rs")).unwrap();
    for rt in RUNTIMES {
        for case in rt.cases {
            let line = format!("\"{}\" \"{case}\";", rt.name);
            assert!(src.contains(&line), "no test for {} {case}", rt.name);
        }
    }
}

/// The version tested: the Debian package's, or the wheel's, beside what the
/// program printed.
fn version(rt: &Runtime, printed: Option<String>) -> String {
    let pkg = if let Some(pip) = rt.package.strip_prefix("pip:") {
        let py = repo_root().join("target/venv-mkl/bin/python");
        Command::new(py)
            .args([
                "-c",
                &format!("import importlib.metadata as m; print(m.version('{pip}'))"),
            ])
            .output()
            .ok()
            .map(|o| format!("{pip} {} (PyPI)", String::from_utf8_lossy(&o.stdout).trim()))
    } else {
        Command::new("dpkg-query")
            .args(["-W", "-f=${Version}", rt.package])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| format!("{} {}", rt.package, String::from_utf8_lossy(&o.stdout)))
    };
    let printed = printed
        .map(|v| v.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .filter(|v| !v.is_empty());
    match (pkg, printed) {
        (Some(p), Some(v)) => format!("{p} ({v})"),
        (Some(p), None) => p,
        (None, Some(v)) => v,
        (None, None) => "?".into(),
    }
}

fn cell(rt: &Runtime, out: &Output) -> String {
    if !common_problems(out).is_empty() {
        return format!("failed: {}", common_problems(out).join(", "));
    }
    let kv = out.kv();
    let g = |k: &str| kv.get(k).cloned().unwrap_or_else(|| "?".into());
    let conc = num(out, "peak_running")
        .map(|_| concurrency(rt, out).to_string())
        .unwrap_or_else(|_| "?".into());
    format!(
        "{conc} ({} live, reports {})",
        g("max_threads"),
        g("reported")
    )
}

/// Prints the matrix as Markdown: run by `scripts/matrix.sh`.
#[test]
#[ignore = "prints the compatibility matrix: scripts/matrix.sh"]
fn matrix() {
    let mut rows = vec![
        "| runtime | version tested | case | without the library | with it, cap 2 | verdict |"
            .to_string(),
        "| --- | --- | --- | --- | --- | --- |".to_string(),
    ];
    for rt in RUNTIMES {
        let Some(prog) = program(rt) else {
            rows.push(format!(
                "| {} | not installed | (all) | - | - | skipped: THROTTLE_TEST_MKL=1 runs it |",
                rt.name
            ));
            continue;
        };
        let mut printed = None;
        for case in rt.cases {
            let without = run_case(rt, &prog, case, false);
            let with = run_case(rt, &prog, case, true);
            printed = printed.or_else(|| without.kv().get("version").cloned());
            let mut p = problems_with(rt, case, &with);
            p.extend(
                problems_without(rt, case, &without)
                    .into_iter()
                    .map(|x| format!("without: {x}")),
            );
            let verdict = if p.is_empty() {
                "pass".to_string()
            } else {
                format!("FAIL: {}", p.join("; "))
            };
            let case_text = if *case == "nested" {
                "nested (8x8 without, 64x64 with)".to_string()
            } else {
                case.to_string()
            };
            rows.push(format!(
                "| {} | {{version}} | {case_text} | {} | {} | {verdict} |",
                rt.name,
                cell(rt, &without),
                cell(rt, &with)
            ));
        }
        let v = version(rt, printed);
        for row in rows.iter_mut() {
            if row.starts_with(&format!("| {} |", rt.name)) {
                *row = row.replace("{version}", &v);
            }
        }
    }
    println!();
    for row in rows {
        println!("{row}");
    }
}

//! The virtual CPU count (docs/design.md, section 1, layer 1): `c_tests/cpus.c`
//! prints every count a runtime may size its pool by, and
//! `c_tests/openblas_linked.c` shows a DT_NEEDED OpenBLAS sizing its pool by
//! them before the library's constructor has run.

mod common;

use common::{num_list, real_affinity_count, real_nprocs_conf, real_nprocs_onln, Output, Run};

fn cpus(preload: bool, env: &[(&str, &str)]) -> Output {
    let run = Run::c("cpus").preload(preload).envs(env);
    let out = run.run();
    out.assert_success();
    out
}

/// What cpus.c prints without the library: the machine's real values.
fn real() -> Output {
    let out = cpus(false, &[]);
    assert_eq!(out.num("nprocs_onln"), real_nprocs_onln(), "{out}");
    assert_eq!(out.num("nprocs_conf"), real_nprocs_conf(), "{out}");
    assert_eq!(out.num("get_nprocs"), real_nprocs_onln(), "{out}");
    assert_eq!(out.num("get_nprocs_conf"), real_nprocs_conf(), "{out}");
    assert_eq!(out.num("affinity_count"), real_affinity_count(), "{out}");
    assert_eq!(
        out.num("pthread_affinity_count"),
        real_affinity_count(),
        "{out}"
    );
    assert_eq!(
        out.num("real_affinity_count"),
        real_affinity_count(),
        "{out}"
    );
    assert_eq!(
        out.get("affinity_cpus"),
        out.get("real_affinity_cpus"),
        "{out}"
    );
    out
}

/// Every key cpus.c prints has the same value in both runs.
fn assert_same_counts(got: &Output, real: &Output) {
    assert_eq!(
        got.kv(),
        real.kv(),
        "expected the real values\n{got}\n{real}"
    );
}

#[test]
fn without_library_all_counts_are_real() {
    let out = real();
    assert!(out.throttle_lines().is_empty(), "{out}");
}

/// With a cap of 1 every count a pool is sized by says 1, the configured
/// counts stay real (per-CPU arrays are sized by them), and the virtual mask
/// is a subset of the real one, which itself is left alone.
#[test]
fn cap_1_makes_the_machine_look_like_one_cpu() {
    let real = real();
    let out = cpus(true, &[("THROTTLE_THREADS", "1")]);
    for key in [
        "nprocs_onln",
        "get_nprocs",
        "affinity_count",
        "pthread_affinity_count",
    ] {
        assert_eq!(out.num(key), 1, "{key}\n{out}");
    }
    assert_eq!(out.num("nprocs_conf"), real.num("nprocs_conf"), "{out}");
    assert_eq!(
        out.num("get_nprocs_conf"),
        real.num("get_nprocs_conf"),
        "{out}"
    );

    let virtual_cpus = num_list(&out.get("affinity_cpus"));
    let real_cpus = num_list(&real.get("affinity_cpus"));
    assert_eq!(virtual_cpus.len(), 1, "{out}");
    assert!(
        virtual_cpus.iter().all(|c| real_cpus.contains(c)),
        "virtual mask {virtual_cpus:?} is not a subset of the real mask {real_cpus:?}\n{out}"
    );
    // The kernel's view, through the raw system call, is unchanged.
    assert_eq!(
        out.get("real_affinity_cpus"),
        real.get("affinity_cpus"),
        "{out}"
    );
}

/// With a cap of 2 the mask has min(2, real) CPUs.
#[test]
fn cap_2_reports_min_of_cap_and_real() {
    let real = real();
    let out = cpus(true, &[("THROTTLE_THREADS", "2")]);
    let want = real.num("affinity_count").min(2);
    assert_eq!(out.num("affinity_count"), want, "{out}");
    assert_eq!(out.num("pthread_affinity_count"), want, "{out}");
    let onln = out.num("nprocs_onln");
    assert!((1..=2).contains(&onln), "{out}");
    assert_eq!(out.num("get_nprocs"), onln, "{out}");
}

/// A cap larger than the machine changes nothing.
#[test]
fn cap_above_machine_leaves_real_counts() {
    let real = real();
    let big = (real_nprocs_conf().max(real_affinity_count()) * 4 + 64).to_string();
    let out = cpus(true, &[("THROTTLE_THREADS", &big)]);
    assert_same_counts(&out, &real);
}

/// `THROTTLE_DISABLE=1` turns the virtual count off even with a cap of 1.
#[test]
fn disable_leaves_real_counts() {
    let real = real();
    let out = cpus(
        true,
        &[("THROTTLE_THREADS", "1"), ("THROTTLE_DISABLE", "1")],
    );
    assert_same_counts(&out, &real);
}

fn openblas(preload: bool, env: &[(&str, &str)]) -> Output {
    let run = Run::c("openblas_linked").preload(preload).envs(env);
    let out = run.run();
    out.assert_success();
    assert_eq!(out.num("dgemm_ok"), 1, "{out}");
    out
}

/// How many threads OpenBLAS sizes its pool to on this machine: the smaller of
/// the configured CPUs and the affinity mask (docs/design.md, section 14).
fn openblas_default_threads() -> i64 {
    real_nprocs_conf().min(real_affinity_count())
}

/// OpenBLAS is a DT_NEEDED library: its constructor counts CPUs and starts
/// its pool before libthrottle's constructor runs. With a cap of 1 it must
/// still see one CPU and start no thread.
#[test]
fn openblas_linked_sees_the_cap() {
    let out = openblas(true, &[("THROTTLE_THREADS", "1")]);
    assert_eq!(out.num("openblas_threads"), 1, "{out}");
    assert!(out.num("live_threads") <= 1, "{out}");

    let free = openblas(false, &[]);
    let cpus = openblas_default_threads();
    if cpus >= 2 {
        assert_eq!(free.num("openblas_threads"), cpus, "{free}");
        assert!(free.num("live_threads") > 1, "{free}");
    } else {
        eprintln!("one CPU: skipping the comparison with OpenBLAS's own sizing");
    }
}

/// A user's `OPENBLAS_NUM_THREADS=2` is lowered to the cap of 1.
#[test]
fn openblas_env_above_cap_is_lowered() {
    let env = [("THROTTLE_THREADS", "1"), ("OPENBLAS_NUM_THREADS", "2")];
    let out = openblas(true, &env);
    assert_eq!(out.num("openblas_threads"), 1, "{out}");
    assert!(out.num("live_threads") <= 1, "{out}");

    if openblas_default_threads() >= 2 {
        let free = openblas(false, &env);
        assert_eq!(free.num("openblas_threads"), 2, "{free}");
    }
}

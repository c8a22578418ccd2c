//! The C surface: what libthrottle.so exports in front of libc and the
//! runtimes, read from its dynamic symbol table with `nm -D`; and that the
//! `throttle` command defines none of it (it must never throttle itself).

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

fn defined_dynamic_symbols(path: &Path) -> HashSet<String> {
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(path)
        .output()
        .expect("run nm (binutils, installed with gcc)");
    assert!(
        out.status.success(),
        "nm {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .map(|s| s.split('@').next().unwrap_or(s).to_string())
        .collect()
}

fn defined_symbols(path: &Path) -> HashSet<String> {
    let out = Command::new("nm")
        .args(["--defined-only"])
        .arg(path)
        .output()
        .expect("run nm");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
        .collect()
}

/// Every setter the registry names (docs/design.md, section 14), the OpenMP team entry points, the
/// CPU-count queries, pthread_create, dlsym, the ways to start a program and
/// the ways to end without `exit` (`vfork` on x86_64 only).
const HOOKS: &[&str] = &[
    "pthread_create",
    "sysconf",
    "get_nprocs",
    "sched_getaffinity",
    "pthread_getaffinity_np",
    "dlsym",
    "openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads_64",
    "scipy_openblas_set_num_threads",
    "scipy_openblas_set_num_threads64_",
    "goto_set_num_threads",
    "openblas_set_num_threads_local",
    "omp_set_num_threads",
    "omp_set_num_threads_",
    "GOMP_parallel",
    "GOMP_parallel_start",
    "GOMP_parallel_loop_static",
    "GOMP_parallel_loop_runtime",
    "GOMP_parallel_sections",
    "__kmpc_push_num_threads",
    "MKL_Set_Num_Threads",
    "mkl_set_num_threads",
    "mkl_set_num_threads_local",
    "MKL_Domain_Set_Num_Threads",
    "mkl_domain_set_num_threads",
    "bli_thread_set_num_threads",
    "bli_thread_set_ways",
    "flexiblas_set_num_threads",
    "posix_spawn",
    "posix_spawnp",
    "system",
    "popen",
    #[cfg(target_arch = "x86_64")]
    "vfork",
    "_exit",
    "_Exit",
    "__kmpc_fork_call",
    "omp_get_max_threads",
    "open",
    "open64",
    "openat",
    "openat64",
    "__open_2",
    "__open64_2",
    "__openat_2",
    "__openat64_2",
    "fopen",
    "fopen64",
];

#[test]
fn the_library_exports_every_hook() {
    let exported = defined_dynamic_symbols(&common::lib_path());
    let missing: Vec<_> = HOOKS.iter().filter(|h| !exported.contains(**h)).collect();
    assert!(
        missing.is_empty(),
        "not exported by libthrottle.so: {missing:?}"
    );
    // Leave the CPU counts programs size per-CPU arrays by alone.
    for real in ["get_nprocs_conf", "sched_getcpu"] {
        assert!(!exported.contains(real), "{real} must not be interposed");
    }
}

#[test]
fn the_command_defines_no_hook() {
    let bin = common::throttle_bin();
    let symbols = defined_symbols(&bin);
    assert!(
        !symbols.is_empty(),
        "nm found no symbols in {}",
        bin.display()
    );
    let hooks: Vec<_> = HOOKS.iter().filter(|h| symbols.contains(**h)).collect();
    assert!(
        hooks.is_empty(),
        "the throttle command defines {hooks:?}: it would throttle itself"
    );
}

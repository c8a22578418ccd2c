//! The library inside programs it was never written for: allocators that
//! count CPUs while they hold their own lock, crash handlers on small
//! alternate stacks, OpenMP runtimes that only a library's local scope can
//! see. Each run is compared with the same program without the library:
//! same exit status, same output, no `libthrottle:` line.

mod common;

use common::{c_program, lib_path, python, Run};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A shared library built from `c_tests/<src>` with `flags`, into this test
/// binary's scratch directory.
fn shared_library(src: &str, name: &str, flags: &[&str]) -> PathBuf {
    shared_library_with("cc", src, name, flags)
}

fn shared_library_with(compiler: &str, src: &str, name: &str, flags: &[&str]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("host_safety");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(name);
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let status = Command::new(compiler)
        .args([
            "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-pthread", "-o",
        ])
        .arg(&tmp)
        .arg(common::repo_root().join("c_tests").join(src))
        .args(flags)
        .status()
        .expect("run cc");
    assert!(status.success(), "building {name} failed");
    std::fs::rename(&tmp, &out).unwrap();
    out
}

/// Debian's jemalloc (`libjemalloc2`, installed by scripts/setup.sh).
fn jemalloc() -> PathBuf {
    let path = PathBuf::from("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2");
    let path = if path.exists() {
        path
    } else {
        PathBuf::from("/usr/lib/aarch64-linux-gnu/libjemalloc.so.2")
    };
    assert!(
        path.exists(),
        "libjemalloc2 is not installed: run scripts/setup.sh"
    );
    path
}

/// How a run ended: `exit N` or `signal N`.
fn ended(out: &common::Output) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (out.status.code(), out.status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        _ => format!("{:?}", out.status),
    }
}

fn preload_list(parts: &[&Path]) -> String {
    parts
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

/// `program args` with `preload` as LD_PRELOAD (and `vars`), against the
/// same without libthrottle in the list: same status, same stdout, and no
/// `libthrottle:` line.
fn same_as_without(
    program: &Path,
    args: &[&str],
    first: &[&Path],
    after: &[&Path],
    vars: &[(&str, &str)],
) {
    let lib = lib_path();
    let mut with: Vec<&Path> = first.to_vec();
    with.push(&lib);
    with.extend_from_slice(after);
    let mut without: Vec<&Path> = first.to_vec();
    without.extend_from_slice(after);
    let run = |preload: &[&Path]| {
        Run::new(program)
            .args(args)
            .env("LD_PRELOAD", preload_list(preload))
            .envs(vars)
            .run()
    };
    let plain = run(&without);
    let throttled = run(&with);
    assert_eq!(
        ended(&throttled),
        ended(&plain),
        "exit status\nwith: {throttled}\nwithout: {plain}"
    );
    assert_eq!(
        throttled.stdout_str(),
        plain.stdout_str(),
        "output\nwith: {throttled}\nwithout: {plain}"
    );
    assert!(
        throttled.throttle_lines().is_empty(),
        "no libthrottle: line expected\n{throttled}"
    );
}

#[test]
fn jemalloc_preloaded_before_or_after_the_library_starts() {
    let je = jemalloc();
    let python = common::python();
    for vars in [&[][..], &[("THROTTLE_THREADS", "1")][..]] {
        same_as_without(Path::new("/bin/echo"), &["hi"], &[&je], &[], vars);
        same_as_without(Path::new("/bin/echo"), &["hi"], &[], &[&je], vars);
        let script = "import os; print(sum(len(str(i)) for i in range(200000)))";
        same_as_without(&python, &["-c", script], &[&je], &[], vars);
        same_as_without(&python, &["-c", script], &[], &[&je], vars);
    }
}

/// jemalloc's way, made to fail rather than hang: the allocator counts CPUs
/// while it holds its lock, and exits with 99 if it is re-entered (any
/// allocation by the library's hooks would re-enter it).
#[test]
fn an_allocator_that_counts_cpus_inside_its_lock_is_never_reentered() {
    // libstdc++'s constructor allocates before the library's constructor
    // runs, as it does for jemalloc (which needs libstdc++).
    let mock = shared_library(
        "reentrant_alloc.c",
        "libreentrant_alloc.so",
        &["-Wl,--no-as-needed", "-lstdc++"],
    );
    let dir = common::TempDir::new("reentrant_alloc");
    let log = dir.0.join("events.jsonl");
    let log = log.to_str().unwrap();
    let threads = c_program("concurrency");
    for vars in [
        &[][..],
        &[("THROTTLE_THREADS", "1"), ("THROTTLE_POLICY", "wait")][..],
        &[("THROTTLE_REPORT", "1"), ("THROTTLE_LOG_FILE", log)][..],
        &[("THROTTLE_LOG", "debug")][..],
    ] {
        for (first, after) in [(&[&*mock][..], &[][..]), (&[][..], &[&*mock][..])] {
            let lib = lib_path();
            let mut list: Vec<&Path> = first.to_vec();
            list.push(&lib);
            list.extend_from_slice(after);
            for program in [Path::new("/bin/echo"), &threads] {
                let out = Run::new(program)
                    .arg("4")
                    .env("LD_PRELOAD", preload_list(&list))
                    .envs(vars)
                    .run();
                assert_eq!(out.code(), 0, "{out}");
                assert!(!out.stderr_str().contains("re-entered"), "{out}");
            }
        }
    }
}

#[test]
fn rustc_which_links_jemalloc_runs_under_the_library() {
    let rustc = Command::new("rustc")
        .arg("--print")
        .arg("sysroot")
        .output()
        .expect("rustc is installed with cargo");
    assert!(rustc.status.success());
    let dir = common::TempDir::new("rustc_under_library");
    let src = dir.0.join("hello.rs");
    std::fs::write(
        &src,
        "fn main() { println!(\"{}\", (1..=20u64).product::<u64>()); }\n",
    )
    .unwrap();
    same_as_without(Path::new("rustc"), &["--version"], &[], &[], &[]);
    let out = dir.0.join("hello");
    let compiled = Run::new("rustc")
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .preload(true)
        .run();
    assert_eq!(compiled.code(), 0, "{compiled}");
    assert!(compiled.throttle_lines().is_empty(), "{compiled}");
    let ran = Run::new(&out).run_ok();
    assert_eq!(ran.stdout_str().trim(), "2432902008176640000");
}

/// A handler on an 8 or 12 KiB alternate stack that calls `_exit(3)`: the
/// library's end-of-process work runs inside `_exit`, on that stack unless it
/// moves to one of its own (before: SIGSEGV, status 139).
#[test]
fn exit_from_a_handler_on_a_small_alternate_stack() {
    let program = c_program("altstack_exit");
    for bytes in ["8192", "12288"] {
        for (how, status) in [("exit", "exit 3"), ("abort", "signal 6")] {
            let plain = Run::new(&program).args([bytes, how]).run();
            assert_eq!(ended(&plain), status, "{plain}");
            for vars in [&[][..], &[("THROTTLE_THREADS", "1")][..]] {
                let out = Run::new(&program)
                    .args([bytes, how])
                    .reported()
                    .envs(vars)
                    .run();
                assert_eq!(ended(&out), status, "{out}");
                assert_eq!(out.stdout_str(), plain.stdout_str(), "{out}");
                if how == "exit" {
                    // The end-of-process work ran to its end: the report.
                    assert_eq!(common::reports(&out.stderr_str()).len(), 1, "{out}");
                }
            }
        }
    }
}

/// OpenMP regions in libraries loaded `RTLD_LOCAL`, each with its own
/// runtime that only its local scope reaches (scikit-learn's bundled
/// libgomp): the entry points libthrottle exports must forward each call to
/// the caller's own runtime (before: "no OpenMP runtime defines it;
/// aborting", status 134), lower `num_threads(64)` to the cap, and leave
/// every thread its right number. Two runtimes at once (libgomp and LLVM's
/// libomp, which exports the GOMP entry points too) in both load orders: a
/// call sent to the other runtime would number its threads wrongly.
#[test]
fn openmp_runtimes_reached_only_from_a_local_scope_are_forwarded_to() {
    let gnu = shared_library("omp_local.c", "libomp_local_gnu.so", &["-fopenmp"]);
    let llvm = shared_library_with(
        "clang",
        "omp_local.c",
        "libomp_local_llvm.so",
        &["-fopenmp"],
    );
    let program = c_program("rtld_local_omp");
    for order in [[&gnu, &llvm], [&llvm, &gnu]] {
        let plain = Run::new(&program).args(order).run_ok();
        assert_eq!(
            plain.num("global_omp"),
            0,
            "the runtimes must be local\n{plain}"
        );
        assert_eq!(plain.num("lib1_64"), 64, "{plain}");
        for (vars, cap) in [
            (&[][..], common::real_affinity_count()),
            (&[("THROTTLE_THREADS", "1")][..], 1),
        ] {
            let out = Run::new(&program)
                .args(order)
                .preload(true)
                .envs(vars)
                .run();
            assert_eq!(ended(&out), "exit 0", "{out}");
            assert!(out.throttle_lines().is_empty(), "{out}");
            for lib in ["lib1", "lib2"] {
                for team in ["default", "64"] {
                    let key = format!("{lib}_{team}");
                    assert_eq!(
                        out.num(&format!("{key}_ok")),
                        1,
                        "{key}: thread numbers\n{out}"
                    );
                    assert_eq!(out.num(&key), cap.min(plain.num(&key)), "{key}\n{out}");
                }
            }
        }
    }
}

/// The runtimes' variables a program sees: at the defaults (no cap below the
/// machine) none is set, since every runtime's own default already fits;
/// under a cap, only those whose runtime would start more threads than the
/// cap, and never one whose runtime starts a single thread (Julia, BLIS) or
/// that fixes a limit for the process's life (`OMP_THREAD_LIMIT`). Before:
/// `JULIA_NUM_THREADS=2`, `OMP_THREAD_LIMIT=2`, `MKL_NUM_THREADS=<CPUs>` at
/// the defaults.
#[test]
fn runtime_variables_are_set_only_where_the_runtime_default_exceeds_the_share() {
    let names = [
        "OMP_NUM_THREADS",
        "OMP_THREAD_LIMIT",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "BLIS_NUM_THREADS",
        "JULIA_NUM_THREADS",
        "GOMAXPROCS",
    ];
    let script =
        format!("import os\nfor n in {names:?}: print(n + '=' + os.environ.get(n, 'unset'))");
    let python = common::python();
    let seen = |vars: &[(&str, &str)]| {
        let out = Run::new(&python)
            .args(["-c", &script])
            .preload(true)
            .envs(vars)
            .run_ok();
        assert!(out.throttle_lines().is_empty(), "{out}");
        out
    };
    let defaults = seen(&[]);
    for name in names {
        assert_eq!(
            defaults.get(name),
            "unset",
            "{name} at the defaults\n{defaults}"
        );
    }
    let cpus = common::real_affinity_count();
    if cpus > 1 {
        let capped = seen(&[("THROTTLE_THREADS", "1")]);
        for name in ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "GOMAXPROCS"] {
            assert_eq!(capped.get(name), "1", "{name} under a cap of 1\n{capped}");
        }
        for name in ["OMP_THREAD_LIMIT", "BLIS_NUM_THREADS", "JULIA_NUM_THREADS"] {
            assert_eq!(
                capped.get(name),
                "unset",
                "{name} under a cap of 1\n{capped}"
            );
        }
    }
    // A user's value is lowered to the cap, never raised.
    let user = seen(&[
        ("THROTTLE_THREADS", "1"),
        ("JULIA_NUM_THREADS", "8"),
        ("OMP_THREAD_LIMIT", "64"),
    ]);
    assert_eq!(user.get("JULIA_NUM_THREADS"), "1", "{user}");
    assert_eq!(user.get("OMP_THREAD_LIMIT"), "1", "{user}");
}

/// A `vfork` child that calls `exit` runs the exit handlers and destructors
/// in its parent's memory: the library's end must not run there (before:
/// the report came from the child's pid, and the parent's slot was given
/// back while it lived). glibc marks those handlers as run, so the parent
/// runs none of them at its own exit, the library's included: its slot is
/// reclaimed once it is gone, and it prints no report.
#[test]
fn a_vfork_child_that_calls_exit_does_not_end_its_parent() {
    let out = Run::c("vfork_exit").reported().run_ok();
    assert_eq!(out.num("child_status"), 127, "{out}");
    for report in common::reports(&out.stderr_str()) {
        assert_eq!(
            report["pid"],
            out.get("pid"),
            "a report from the vfork child\n{out}"
        );
    }
}

/// Secure execution: a setuid-root program, the library in
/// `/etc/ld.so.preload` (in a private mount namespace), run by an
/// unprivileged user with `THROTTLE_THREADS=1 THROTTLE_POLICY=fail`. None of
/// the user's environment counts: the program gets its 4 threads (before:
/// every `pthread_create` failed). Needs root (CI runs as root) and
/// `unshare`; skipped with a printed line elsewhere.
#[test]
fn a_setuid_program_ignores_the_unprivileged_users_settings() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("skipped: needs root to make a setuid program and a mount namespace");
        return;
    }
    let dir = common::TempDir::new("setuid");
    let program = dir.0.join("setuid_threads");
    std::fs::copy(c_program("setuid_threads"), &program).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let etc = dir.0.join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    // A copy of /etc with the library in ld.so.preload, mounted over /etc in
    // a mount namespace of this run's own; the processes around the program
    // (sh, setpriv, env) preload it too, with no ledger.
    let script = format!(
        "set -e; mount -t tmpfs none {etc}; cp -a /etc/. {etc}/; \
         echo {lib} > {etc}/ld.so.preload; mount --bind {etc} /etc; \
         exec setpriv --reuid=65534 --regid=65534 --clear-groups \
         env THROTTLE_THREADS=1 THROTTLE_POLICY=fail THROTTLE_SCOPE=process {program}",
        etc = etc.display(),
        lib = lib_path().display(),
        program = program.display(),
    );
    let out = Run::new("unshare").args(["-m", "sh", "-c", &script]).run();
    if out.status.code() != Some(0) && out.stdout_str().is_empty() {
        println!("skipped: cannot make the mount namespace here\n{out}");
        return;
    }
    assert_eq!(
        out.get("euid"),
        "0",
        "the program must run setuid root\n{out}"
    );
    assert_eq!(out.get("uid"), "65534", "{out}");
    assert_eq!(
        out.num("created"),
        4,
        "the user's THROTTLE_* must not count\n{out}"
    );
}

/// A library whose constructor, run by `dlopen` (which holds the loader's
/// lock meanwhile), waits for a helper thread that starts a worker. glibc's
/// `pthread_create` takes no loader lock since 2.35, so the program works
/// without the library; the hook used to ask the loader about each new
/// start routine (`dladdr`) and hung.
#[test]
fn a_constructor_that_waits_for_a_thread_starting_threads_does_not_hang() {
    let library = shared_library("ctor_thread.c", "libctor_thread.so", &["-DCTOR_LIB"]);
    let program = common::c_program_with("ctor_thread.c", "ctor_thread", "cc", &["-ldl".into()]);
    let library = library.to_str().expect("UTF-8 path");
    same_as_without(&program, &[library], &[], &[], &[]);
    same_as_without(
        &program,
        &[library],
        &[],
        &[],
        &[("THROTTLE_THREADS", "1"), ("THROTTLE_LOG", "warn")],
    );
}

/// A process that worked alone, with a pool above the share its child will
/// have, forks: its pools are lowered for the child, and it needs a steward
/// to raise them again. That steward used to be started in the fork
/// handler, so the parent came out of `fork` with a thread it did not have
/// going in (OpenBLAS's own handler had just joined its pool): Python 3.12+
/// warns at its next fork, and `unshare(CLONE_NEWUSER)` fails with EINVAL.
/// It is now started at the parent's next hooked call.
#[test]
fn a_parent_is_single_threaded_when_fork_returns() {
    let dir = "/usr/lib/x86_64-linux-gnu/openblas-pthread";
    let flags = [
        format!("{dir}/libopenblas.so.0"),
        format!("-Wl,-rpath,{dir}"),
        format!("-I{}", common::repo_root().join("c_tests").display()),
    ];
    let program = common::c_program_with("fork_single.c", "fork_single", "cc", &flags);
    let plain = Run::new(&program).arg("unshare").run();
    let throttled = Run::new(common::throttle_bin())
        .args(["run", "-n", "2", "--"])
        .arg(&program)
        .arg("unshare")
        .run();
    for key in ["tasks_after_fork", "unshare", "dgemm_ok"] {
        assert_eq!(
            throttled.get(key),
            plain.get(key),
            "{key}\nwith: {throttled}\nwithout: {plain}"
        );
    }
    assert_eq!(plain.get("tasks_after_fork"), "1", "{plain}");
}

/// `sysconf` may be called from a signal handler (POSIX lists it as
/// async-signal-safe). A member of a tree whose first hooked call is a
/// `sysconf` in a handler claims its share there; deciding that it needs a
/// steward (a thread, allocations) used to happen right there, inside the
/// handler. It is now left to the next ordinary hooked call.
#[test]
fn sysconf_in_a_signal_handler_starts_no_thread() {
    let c_tests = format!("-I{}", common::repo_root().join("c_tests").display());
    let probe = common::c_program_with("sysconf_signal.c", "sysconf_signal", "cc", &[c_tests]);
    let sibling = common::c_program_with(
        "omp_worker.c",
        "omp_worker_gomp",
        "cc",
        &["-fopenmp".into()],
    );
    let dir = common::TempDir::new("sysconf-signal");
    let stop = dir.0.join("stop");
    // A sibling that works, so that the probe's share (1 of 2) can change
    // and it needs a steward; the probe starts once the sibling has claimed.
    let script = format!(
        "{sibling} s {stop} busy > /dev/null &\nsleep 1\n{probe}\ntouch {stop}\nwait\n",
        sibling = common::sh_quote(&sibling),
        stop = common::sh_quote(&stop),
        probe = common::sh_quote(&probe),
    );
    let out = Run::new(common::throttle_bin())
        .args(["run", "-n", "2", "--", "sh", "-c", &script])
        .run();
    out.assert_success();
    assert_eq!(
        out.get("cpus_in_handler"),
        "1",
        "the share of 2 members\n{out}"
    );
    assert_eq!(
        out.get("tasks_after_handler"),
        "1",
        "a thread was started inside the signal handler\n{out}"
    );
    assert_eq!(
        out.get("tasks_after_nprocs"),
        "2",
        "the steward the probe needs was never started\n{out}"
    );
}

/// Two copies of a runtime, each loaded `RTLD_LOCAL`; the second's exported
/// setter calls another of its exported setters through its PLT. Without
/// the library that call binds in the second copy's own scope; the
/// library's export of the same name used to send it to the first copy
/// found (the first copy's count changed, the second's did not).
#[test]
fn a_runtime_calling_its_own_setter_reaches_its_own_copy() {
    let first = shared_library("two_copies.c", "libcopy_first.so", &["-DCOPY_LIB"]);
    let second = shared_library("two_copies.c", "libcopy_second.so", &["-DCOPY_LIB"]);
    let program = common::c_program_with("two_copies.c", "two_copies", "cc", &["-ldl".into()]);
    let args = [
        first.to_str().expect("UTF-8 path"),
        second.to_str().expect("UTF-8 path"),
    ];
    same_as_without(&program, &args, &[], &[], &[]);
    let plain = Run::new(&program).args(args).run();
    assert_eq!((plain.num("first"), plain.num("second")), (8, 1), "{plain}");
}

/// Forks while the steward is busy (the budget file flips every
/// millisecond), 2,000 times; each child `dlopen`s a library. The steward
/// used to walk the loader's list (`dl_iterate_phdr`, `dlopen`) to set
/// pools: a child forked while it held the list's lock hung in its
/// `dlopen` (1 to 3 children of 2,000 in each of three runs of the previous
/// build). It now calls only setters remembered from the program's own
/// threads, and a `fork` waits for it.
#[test]
fn children_forked_while_the_steward_works_can_dlopen() {
    let dir = "/usr/lib/x86_64-linux-gnu/openblas-pthread";
    let flags = [
        format!("{dir}/libopenblas.so.0"),
        format!("-Wl,-rpath,{dir}"),
        "-ldl".to_string(),
    ];
    let program = common::c_program_with("fork_dlopen.c", "fork_dlopen", "cc", &flags);
    let tmp = common::TempDir::new("fork-dlopen");
    let budget = tmp.0.join("budget");
    std::fs::write(&budget, "2\n").unwrap();
    let out = Run::new(&program)
        .arg(&budget)
        .arg("2000")
        .preload(true)
        .env("THROTTLE_BUDGET_FILE", &budget)
        .run();
    out.assert_success();
    assert_eq!(out.num("forks"), 2000, "{out}");
    assert_eq!(out.num("hung"), 0, "children hung in dlopen\n{out}");
    assert_eq!(out.num("dgemm_ok"), 1, "{out}");
}

/// A runtime whose setter calls another of its exported setters, loaded
/// `RTLD_LOCAL`, used, closed with `dlclose`, then another copy with a
/// different layout loaded and used. The library caches the definition it
/// forwarded the inner call to; unpinned, the first copy was unloaded and
/// the second copy's call went to a stale address (its count was never set:
/// 8 instead of 1, with the previous build). Definitions cached are pinned
/// now (the first copy stays loaded), and each copy's call reaches its own.
#[test]
fn a_setter_cached_before_a_dlclose_never_dangles() {
    let first = shared_library("two_copies.c", "libcopy_one.so", &["-DCOPY_LIB"]);
    let second = shared_library(
        "two_copies.c",
        "libcopy_padded.so",
        &["-DCOPY_LIB", "-DCOPY_PAD"],
    );
    let program =
        common::c_program_with("dlclose_setter.c", "dlclose_setter", "cc", &["-ldl".into()]);
    let args = [
        first.to_str().expect("UTF-8 path"),
        second.to_str().expect("UTF-8 path"),
    ];
    let plain = Run::new(&program).args(args).run();
    let with = Run::new(&program).args(args).preload(true).run();
    with.assert_success();
    assert_eq!((plain.num("first"), plain.num("second")), (1, 1), "{plain}");
    assert_eq!((with.num("first"), with.num("second")), (1, 1), "{with}");
    assert_eq!(with.num("first_still_loaded"), 1, "pinned\n{with}");
    assert!(with.throttle_lines().is_empty(), "{with}");
}

/// A program that probes for OpenMP with `dlsym(RTLD_DEFAULT,
/// "omp_get_max_threads")` and calls what it finds, with no OpenMP runtime
/// loaded: it finds the library's export, which answers 1 as OpenMP's
/// stubs do (it ended the program with status 127 when first exported).
#[test]
fn an_openmp_probe_without_a_runtime_gets_an_answer() {
    let program = common::c_program_with("omp_probe.c", "omp_probe", "cc", &["-ldl".into()]);
    let out = Run::new(&program).preload(true).run();
    out.assert_success();
    assert_eq!(out.num("value"), 1, "{out}");
    assert!(out.throttle_lines().is_empty(), "{out}");
}

/// A member of a tree that a sandbox keeps from opening files for writing
/// (man-db runs groff and its helpers under a filter that answers ENOSYS to
/// every such open) cannot open its tree's ledger. It runs as it would
/// without the library, its output unchanged: before, each sandboxed
/// process printed "ledger ... cannot be opened (Function not
/// implemented)". `c_tests/sandboxed.c` puts up the same filter; bash,
/// preloaded, makes the ledger as it forks.
#[test]
fn a_sandboxed_member_of_a_tree_runs_as_without_the_library() {
    let sandboxed = c_program("sandboxed");
    let script = format!(
        "{0} /bin/echo one; {0} /bin/sh -c 'echo two; echo three'",
        sandboxed.display()
    );
    for vars in [&[][..], &[("THROTTLE_THREADS", "1")][..]] {
        same_as_without(Path::new("/bin/bash"), &["-c", &script], &[], &[], vars);
    }
}

/// A sandbox stricter still refuses `sched_getaffinity` (ENOSYS): the
/// library cannot know its CPUs, passes everything through, and says
/// nothing (before: "cannot read the affinity mask; not enforcing" in every
/// process). The program's own view of its CPUs is what it would be
/// without the library.
#[test]
fn a_sandbox_that_refuses_the_affinity_mask_is_passed_through_silently() {
    let sandboxed = c_program("sandboxed");
    let cpus = c_program("cpus");
    let args = ["--no-affinity", cpus.to_str().unwrap()];
    for vars in [&[][..], &[("THROTTLE_THREADS", "1")][..]] {
        same_as_without(&sandboxed, &args, &[], &[], vars);
    }
}

/// A sandbox that allows the process no thread (`clone` with CLONE_THREAD
/// refused, EPERM): a process that watches a budget file wants a steward
/// thread and cannot have one. It keeps its share and says nothing (before:
/// "cannot start the ledger's steward thread" on stderr); its output is its
/// own.
#[test]
fn a_sandbox_that_refuses_threads_gets_no_word_about_the_steward() {
    let sandboxed = c_program("sandboxed");
    let cpus = c_program("cpus");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("host_safety");
    std::fs::create_dir_all(&dir).unwrap();
    let budget = dir.join("no_threads_budget.conf");
    std::fs::write(&budget, "threads = 2\n").unwrap();
    let args = ["--no-threads", "--writable", cpus.to_str().unwrap()];
    same_as_without(
        &sandboxed,
        &args,
        &[],
        &[],
        &[("THROTTLE_BUDGET_FILE", budget.to_str().unwrap())],
    );
}

/// A Landlock sandbox in which /proc and /sys cannot be opened (EACCES), as
/// under bubblewrap without `--proc`: the library can read neither its
/// cgroup nor its own start time, which a member of a tree needs to take
/// its slot. Its processes run as without the library and leave no file:
/// before, each printed "/proc/self/cgroup cannot be read (Permission
/// denied); ignoring cgroup quotas" and "ledger ... is full", and the
/// tree's first process left its ledger behind, a file no member held.
#[test]
fn a_sandbox_that_hides_proc_runs_as_without_the_library_and_leaves_no_file() {
    let sandboxed = c_program("sandboxed");
    let cpus = c_program("cpus");
    let probe = Command::new(&sandboxed)
        .args(["--writable", "--hide-proc", "/bin/true"])
        .status()
        .unwrap();
    if probe.code() == Some(77) {
        eprintln!("skipped: this kernel has no Landlock");
        return;
    }
    assert!(probe.success(), "sandboxed --hide-proc /bin/true: {probe}");
    let runtime = Path::new(env!("CARGO_TARGET_TMPDIR")).join("host_safety_hide_proc");
    let _ = std::fs::remove_dir_all(&runtime);
    std::fs::create_dir_all(&runtime).unwrap();
    std::fs::set_permissions(
        &runtime,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let runtime_var = ("XDG_RUNTIME_DIR", runtime.to_str().unwrap());
    // bash, preloaded, makes its tree's ledger as it forks; each child
    // would join it.
    let script = format!("{0}; {0}", cpus.display());
    let args = ["--writable", "--hide-proc", "/bin/bash", "-c", &script];
    same_as_without(&sandboxed, &args, &[], &[], &[runtime_var]);
    // Capped, each process still is, on its own cap, without a word.
    let out = Run::new(&sandboxed)
        .args(args)
        .preload(true)
        .envs(&[runtime_var, ("THROTTLE_THREADS", "1")])
        .run();
    out.assert_success();
    assert_eq!(out.num("nprocs_onln"), 1, "{out}");
    assert!(out.throttle_lines().is_empty(), "{out}");
    let left: Vec<_> = std::fs::read_dir(&runtime)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "files left in XDG_RUNTIME_DIR: {left:?}");
}

/// Real sandboxes: bubblewrap (installed by scripts/setup.sh), as flatpak
/// and build tools use it, with its own PID namespace and /proc, with the
/// host's /proc (pids that name other processes there), with /dev/shm
/// read-only (no ledger can be made) or a fresh tmpfs. A tree inside (bash
/// starting two members, one of them a Python that counts its CPUs) runs
/// as without the library.
#[test]
fn bubblewrap_sandboxes_run_as_without_the_library() {
    let bwrap = Path::new("/usr/bin/bwrap");
    assert!(
        bwrap.exists(),
        "bubblewrap is not installed (scripts/setup.sh)"
    );
    let cpus = c_program("cpus");
    let script = format!(
        "{0}; {0} > /dev/null & {1} -c 'import os; print(os.cpu_count())'; wait",
        cpus.display(),
        python().display()
    );
    for sandbox in [
        &[
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--unshare-pid",
        ][..],
        &["--ro-bind", "/", "/", "--dev", "/dev", "--unshare-pid"][..],
        &[
            "--bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--tmpfs",
            "/dev/shm",
            "--unshare-all",
        ][..],
    ] {
        let args = [sandbox, &["/bin/bash", "-c", &script][..]].concat();
        same_as_without(bwrap, &args, &[], &[], &[]);
    }
}

/// The real sandbox: `man` (man-db, installed by scripts/setup.sh) formats
/// a page through groff under its own system-call filter.
#[test]
fn man_formats_a_page_as_without_the_library() {
    let man = Path::new("/usr/bin/man");
    assert!(man.exists(), "man-db is not installed (scripts/setup.sh)");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("host_safety");
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("libthrottle-test.1");
    std::fs::write(
        &page,
        ".TH LIBTHROTTLE-TEST 1\n.SH NAME\nlibthrottle-test \\- a page for a test\n\
         .SH DESCRIPTION\nFormatted by groff, which man-db runs in a sandbox.\n\
         .TP\n.B \\-n\nA flag, with a\n.I word\nin italics.\n",
    )
    .unwrap();
    let page = page.to_str().unwrap();
    for vars in [&[][..], &[("THROTTLE_THREADS", "1")][..]] {
        let vars = [vars, &[("MANWIDTH", "80"), ("MANPAGER", "cat")]].concat();
        same_as_without(man, &["-l", "-P", "cat", page], &[], &[], &vars);
    }
}

//! The files programs count CPUs by, and the runtimes that read them
//! (docs/design.md, section 11): under a cap below the process's mask,
//! `/sys/devices/system/cpu/online` lists exactly the CPUs its affinity
//! mask shows, `/proc/cpuinfo` holds only their stanzas and `/proc/stat`
//! only their `cpuN` lines, whichever way a program opens them (`cat`,
//! `grep`, Python's `open`, R, Node, the JVM). `possible`, `present` and
//! `_SC_NPROCESSORS_CONF` stay real; a process not capped below its mask
//! reads every file exactly as without the library.

mod common;

use common::{c_program, real_affinity_count, Run};

fn capped(program: &str, args: &[&str]) -> common::Output {
    Run::new(program)
        .args(args)
        .preload(true)
        .env("THROTTLE_THREADS", "1")
        .run_ok()
}

fn sh(script: &str, cap: Option<&str>) -> String {
    let mut run = Run::new("/bin/sh").args(["-c", script]).preload(true);
    if let Some(cap) = cap {
        run = run.env("THROTTLE_THREADS", cap);
    }
    run.run_ok().stdout_str().trim().to_string()
}

fn plain(script: &str) -> String {
    Run::new("/bin/sh")
        .args(["-c", script])
        .run_ok()
        .stdout_str()
        .trim()
        .to_string()
}

/// Skips (with a line) where the machine has one CPU: a cap of 1 would
/// change nothing to show.
fn two_cpus() -> bool {
    let ok = real_affinity_count() >= 2;
    if !ok {
        eprintln!("skipped: one CPU, nothing to hide");
    }
    ok
}

#[test]
fn the_cpu_files_show_the_virtual_mask() {
    if !two_cpus() {
        return;
    }
    // The CPU the process is shown by sched_getaffinity.
    let cpus = Run::new(c_program("cpus"))
        .preload(true)
        .env("THROTTLE_THREADS", "1")
        .run_ok();
    let shown = cpus.get("affinity_cpus");
    assert_eq!(cpus.num("affinity_count"), 1, "{cpus}");
    let online = sh("cat /sys/devices/system/cpu/online", Some("1"));
    assert_eq!(online, shown, "online lists the shown CPU");
    assert_eq!(sh("grep -c ^processor /proc/cpuinfo", Some("1")), "1");
    assert_eq!(
        sh("grep '^processor' /proc/cpuinfo | tr -d ' \\t'", Some("1")),
        format!("processor:{shown}")
    );
    assert_eq!(sh("grep -c '^cpu[0-9]' /proc/stat", Some("1")), "1");
    assert_eq!(
        sh("grep -o '^cpu[0-9]*' /proc/stat | tail -1", Some("1")),
        format!("cpu{shown}")
    );
    // Python's open(), a different path into the files.
    let py = capped(
        "python3",
        &[
            "-c",
            "print(open('/proc/cpuinfo').read().count('processor\\t:'))",
        ],
    );
    assert_eq!(py.stdout_str().trim(), "1", "{py}");
    // The _CONF-like views stay real.
    for file in ["possible", "present"] {
        let path = format!("cat /sys/devices/system/cpu/{file}");
        assert_eq!(sh(&path, Some("1")), plain(&path), "{file}");
    }
    assert_eq!(
        sh("getconf _NPROCESSORS_CONF", Some("1")),
        plain("getconf _NPROCESSORS_CONF")
    );
    assert_eq!(sh("nproc", Some("1")), "1");
    let lscpu = sh(
        "lscpu | grep '^On-line CPU(s) list:' | tr -s ' '",
        Some("1"),
    );
    assert_eq!(lscpu, format!("On-line CPU(s) list: {shown}"));
}

#[test]
fn without_a_cap_below_the_mask_the_files_are_the_real_ones() {
    for file in ["/proc/cpuinfo", "/sys/devices/system/cpu/online"] {
        let script = format!("cat {file} | md5sum");
        assert_eq!(sh(&script, None), plain(&script), "{file}");
        let cap = real_affinity_count().to_string();
        assert_eq!(
            sh(&script, Some(&cap)),
            plain(&script),
            "{file} at the machine's own count"
        );
    }
    let lines = "grep -o '^cpu[0-9]*' /proc/stat";
    assert_eq!(sh(lines, None), plain(lines));
}

/// R's `parallel::detectCores()` (which counts `processor` lines in
/// `/proc/cpuinfo` through a shell) says 1 under a cap of 1, so the common
/// `mclapply(..., mc.cores = detectCores())` starts one worker.
#[test]
fn r_detect_cores_follows_the_cap() {
    if !two_cpus() {
        return;
    }
    let code = "cat('cores=', parallel::detectCores(), '\\n', sep = ''); \
                r <- parallel::mclapply(1:4, function(i) Sys.getpid(), mc.cores = parallel::detectCores()); \
                cat('workers=', length(unique(unlist(r))), '\\n', sep = '')";
    let without = Run::new("Rscript").args(["-e", code]).run_ok();
    assert_eq!(without.num("cores"), real_affinity_count(), "{without}");
    let with = capped("Rscript", &["-e", code]);
    assert_eq!(with.num("cores"), 1, "{with}");
    assert_eq!(with.num("workers"), 1, "{with}");
}

/// Node's `os.cpus().length` (libuv reads `/proc/stat` and
/// `/proc/cpuinfo`), the idiom JavaScript tools size their pools by, and
/// `os.availableParallelism()` where the Node has it (the affinity mask).
/// A helper a working process starts to count the CPUs for it (R's
/// `detectCores()` greps /proc/cpuinfo in a shell) is shown that process's
/// share, not one split with itself: counted beside its parent it halved
/// it, and R's `mclapply` ran half its workers (the corpus's `r-mclapply`
/// took 1.47x its plain time at the defaults on 2 CPUs).
#[test]
fn a_helper_counts_the_cpus_of_the_working_process_that_started_it() {
    if !two_cpus() {
        return;
    }
    let script = "import os, subprocess\n\
                  n = os.cpu_count()\n\
                  g = subprocess.run(['sh', '-c', 'grep -c ^processor /proc/cpuinfo'],\n\
                                     capture_output=True, text=True).stdout.strip()\n\
                  print(f'parent={n}')\n\
                  print(f'helper={g}')\n";
    let out = Run::new(common::python())
        .args(["-c", script])
        .preload(true)
        .env("THROTTLE_THREADS", "2")
        .run_ok();
    assert_eq!(out.num("parent"), 2, "the working parent's share\n{out}");
    assert_eq!(
        out.num("helper"),
        2,
        "the helper should count its parent's CPUs\n{out}"
    );
}

#[test]
fn node_os_cpus_follows_the_cap() {
    if !two_cpus() {
        return;
    }
    let code = "const os = require('os'); console.log('cpus=' + os.cpus().length); \
                if (os.availableParallelism) console.log('parallelism=' + os.availableParallelism());";
    let without = Run::new("node").args(["-e", code]).run_ok();
    assert_eq!(without.num("cpus"), real_affinity_count(), "{without}");
    let with = capped("node", &["-e", code]);
    assert_eq!(with.num("cpus"), 1, "{with}");
    if with.kv().contains_key("parallelism") {
        assert_eq!(with.num("parallelism"), 1, "{with}");
    }
}

/// The JVM's `Runtime.availableProcessors()` (the affinity mask).
#[test]
fn java_available_processors_follows_the_cap() {
    if !two_cpus() {
        return;
    }
    let dir = common::TempDir::new("java-cpus");
    let src = dir.0.join("Cpus.java");
    std::fs::write(
        &src,
        "public class Cpus { public static void main(String[] a) { \
         System.out.println(\"cpus=\" + Runtime.getRuntime().availableProcessors()); } }\n",
    )
    .unwrap();
    let src = src.to_str().unwrap();
    let without = Run::new("java").arg(src).run_ok();
    assert_eq!(without.num("cpus"), real_affinity_count(), "{without}");
    let with = capped("java", &[src]);
    assert_eq!(with.num("cpus"), 1, "{with}");
}

/// hwloc (`hwloc-calc`, the library Open MPI and many HPC codes bind with)
/// reads `online` and the affinity mask: it counts one PU and one core
/// under a cap of 1 (before the CPU files: 2 and 2 on this machine).
#[test]
fn hwloc_counts_the_shown_cpus() {
    if !two_cpus() {
        return;
    }
    for kind in ["pu", "core"] {
        let args = ["--number-of", kind, "all"];
        let without = Run::new("hwloc-calc").args(args).run_ok();
        let counted: i64 = without.stdout_str().trim().parse().expect("a count");
        assert!(
            counted >= 2,
            "{kind}: hwloc counts the machine without the library\n{without}"
        );
        if kind == "pu" {
            assert_eq!(counted, real_affinity_count(), "{without}");
        }
        let with = capped("hwloc-calc", &args);
        assert_eq!(with.stdout_str().trim(), "1", "{kind}\n{with}");
    }
}

//! A ledger (docs/interface.md, "The process-tree budget (ledger)") that is
//! not one the library may trust: truncated, random bytes, a symlink, owned
//! by another user, or readable by others. For each, `THROTTLE_LEDGER` names
//! it and `c_tests/cpus` runs under the library with `THROTTLE_THREADS=2`:
//! the program runs normally (exit status and stdout as without the library,
//! the capped CPU counts aside), exactly one `libthrottle:` line mentions the
//! ledger, the report shows the per-process cap (the whole budget, 2) and
//! `ledger=no`, and the file is left exactly as it was.
//!
//! The valid ledger the bad ones are made from is copied from a live one (a
//! preloaded `sh -c 'echo $THROTTLE_LEDGER; sleep 3'`); nothing here depends
//! on its layout beyond its size. A control test joins an untouched copy, so
//! that the rejections are known to come from the property changed and not
//! from copying.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use common::{Output, Run, TempDir};

/// Keys of `c_tests/cpus` whose value the library caps: `min(cap, real)`.
const CAPPED: &[&str] = &[
    "nprocs_onln",
    "get_nprocs",
    "affinity_count",
    "pthread_affinity_count",
];

/// The bytes of a live ledger, copied while its shell lives (once per run).
/// The shell starts its child before it prints the name: the ledger is
/// created on first need, just before the first `fork`.
fn valid_ledger() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let mut sh = Run::new("/bin/sh")
            .args(["-c", "sleep 3 & echo ledger=${THROTTLE_LEDGER-}; wait"])
            .env("THROTTLE_THREADS", "2")
            .preload(true)
            .spawn();
        let path = sh
            .poll(Duration::from_secs(30), |lines| {
                lines
                    .iter()
                    .find_map(|l| l.text.strip_prefix("ledger=").map(str::to_string))
            })
            .unwrap_or_else(|| panic!("the preloaded shell printed no ledger= line\n{sh}"));
        assert!(
            !path.is_empty(),
            "a preloaded shell exported no THROTTLE_LEDGER (the ledger is not built?)\n{sh}"
        );
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("cannot read the live ledger {path}: {e}\n{sh}"));
        assert!(
            bytes.len() >= 2,
            "the live ledger {path} is {} bytes\n{sh}",
            bytes.len()
        );
        // Let the shell end normally, so that the library removes its ledger
        // itself (a kill would leave the file behind).
        let _ = sh.wait_exit(Duration::from_secs(30));
        bytes
    })
}

/// Writes `bytes` to `path`, mode 0600, owned by us.
fn write_private(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write a ledger copy");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 0600");
}

/// What is at `path` (not following a symlink), and, through it, the bytes.
fn snapshot(path: &Path) -> (bool, u32, u32, u64, Vec<u8>) {
    let lm = std::fs::symlink_metadata(path).expect("stat the ledger");
    let m = std::fs::metadata(path).expect("stat through the ledger");
    (
        lm.file_type().is_symlink(),
        m.uid(),
        m.mode(),
        m.len(),
        std::fs::read(path).expect("read the ledger"),
    )
}

fn cpus(ledger: &Path, preload: bool) -> Output {
    let mut r = Run::c("cpus").preload(preload);
    if preload {
        r = r
            .env("THROTTLE_THREADS", "2")
            .env("THROTTLE_REPORT", "1")
            .env("THROTTLE_LEDGER", ledger);
    }
    r.run()
}

/// Runs the checks for a bad ledger at `path`; panics with every problem.
fn assert_rejected(case: &str, path: &Path) {
    let before = snapshot(path);
    let without = cpus(path, false);
    let with = cpus(path, true);
    let mut problems = Vec::new();

    if with.status.code() != without.status.code() || with.status.code().is_none() {
        problems.push(format!(
            "exit status {} (without the library: {})",
            with.status, without.status
        ));
    }
    // stdout: the same lines, the capped counts at min(2, real).
    let w: Vec<String> = without.stdout_str().lines().map(str::to_string).collect();
    let t: Vec<String> = with.stdout_str().lines().map(str::to_string).collect();
    if w.len() != t.len() {
        problems.push(format!(
            "{} stdout lines, {} without the library",
            t.len(),
            w.len()
        ));
    }
    for (a, b) in w.iter().zip(&t) {
        let expected = match a.split_once('=') {
            Some((k, v)) if CAPPED.contains(&k) => {
                let real: i64 = v.parse().expect("a count");
                format!("{k}={}", real.min(2))
            }
            _ => a.clone(),
        };
        if *b != expected {
            problems.push(format!("stdout `{b}`, expected `{expected}`"));
        }
    }

    let lines = with.throttle_lines();
    let ledger_lines: Vec<&String> = lines.iter().filter(|l| l.contains("ledger")).collect();
    if lines.len() != 1 || ledger_lines.len() != 1 {
        problems.push(format!(
            "{} libthrottle lines ({} mention the ledger), expected exactly 1 about it",
            lines.len(),
            ledger_lines.len()
        ));
    }

    let reports = common::reports(&with.stderr_str());
    if reports.len() != 1 {
        problems.push(format!("{} report lines, expected 1", reports.len()));
    } else {
        let r = &reports[0];
        for (key, want) in [("cap", "2"), ("budget", "2"), ("ledger", "no")] {
            if r.get(key).map(String::as_str) != Some(want) {
                problems.push(format!("report {key}={:?}, expected {want}", r.get(key)));
            }
        }
    }

    let after = snapshot(path);
    if after != before {
        problems.push(format!(
            "the file was changed: (symlink, uid, mode, size) {:?} -> {:?}, contents {}",
            (before.0, before.1, format!("{:o}", before.2), before.3),
            (after.0, after.1, format!("{:o}", after.2), after.3),
            if before.4 == after.4 {
                "same"
            } else {
                "differ"
            }
        ));
    }

    assert!(
        problems.is_empty(),
        "{case}: THROTTLE_LEDGER={}:\n  {}\n{with}",
        path.display(),
        problems.join("\n  ")
    );
}

fn scratch(case: &str) -> (TempDir, PathBuf) {
    let dir = TempDir::new(&format!("ledger-{case}"));
    let path = dir.0.join("ledger");
    (dir, path)
}

#[test]
fn truncated_ledger() {
    let valid = valid_ledger();
    let (_dir, path) = scratch("truncated");
    write_private(&path, &valid[..valid.len() / 2]);
    assert_rejected("truncated to half its size", &path);
}

#[test]
fn empty_ledger() {
    let _ = valid_ledger();
    let (_dir, path) = scratch("empty");
    write_private(&path, b"");
    assert_rejected("empty", &path);
}

#[test]
fn random_bytes_ledger() {
    let valid = valid_ledger();
    let (_dir, path) = scratch("random");
    let mut bytes = vec![0u8; valid.len()];
    let mut f = std::fs::File::open("/dev/urandom").expect("open /dev/urandom");
    std::io::Read::read_exact(&mut f, &mut bytes).expect("read /dev/urandom");
    // Not by chance the same first bytes (the magic) as a valid ledger.
    bytes[0] = !valid[0];
    write_private(&path, &bytes);
    assert_rejected("random bytes, the valid size", &path);
}

#[test]
fn symlinked_ledger() {
    let valid = valid_ledger();
    let (dir, path) = scratch("symlink");
    let target = dir.0.join("target");
    write_private(&target, valid);
    std::os::unix::fs::symlink(&target, &path).expect("symlink");
    assert_rejected("a symlink to a valid-looking file", &path);
}

#[test]
fn ledger_owned_by_another_user() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: chown to nobody needs root");
        return;
    }
    let valid = valid_ledger();
    let (dir, path) = scratch("foreign");
    // The directory stays ours; only the file is someone else's.
    write_private(&path, valid);
    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).expect("chown nobody");
    let _ = &dir;
    assert_rejected("owned by nobody", &path);
}

#[test]
fn ledger_readable_by_others() {
    let valid = valid_ledger();
    let (_dir, path) = scratch("mode644");
    write_private(&path, valid);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    assert_rejected("mode 0644", &path);
}

/// A ledger named by THROTTLE_LEDGER that does not exist here (a job step
/// on another node carries its batch script's THROTTLE_LEDGER; a container
/// has its own /dev/shm) is no error: the process starts a tree of its own,
/// silently, and never creates the named path.
#[test]
fn missing_ledger_starts_a_new_tree() {
    let (_dir, path) = scratch("missing");
    let with = cpus(&path, true);
    with.assert_success();
    assert!(
        with.throttle_lines().is_empty(),
        "a missing ledger: expected no diagnostic\n{with}"
    );
    let r = with.report();
    assert_eq!(r.get("ledger").map(String::as_str), Some("yes"), "{with}");
    assert_eq!(r.get("cap").map(String::as_str), Some("2"), "{with}");
    assert!(
        !path.exists(),
        "a process that was given a missing ledger created it\n{with}"
    );
}

/// Control: an untouched copy of a live ledger, private and ours, is a valid
/// ledger: joined without a diagnostic (`ledger=yes`), and the only claimant
/// gets the whole budget. If this fails, the copies above may be rejected for
/// being copies rather than for what was done to them.
#[test]
fn a_private_copy_of_a_valid_ledger_is_joined() {
    let valid = valid_ledger();
    let (_dir, path) = scratch("control");
    write_private(&path, valid);
    let with = cpus(&path, true);
    with.assert_success();
    assert!(with.throttle_lines().is_empty(), "{with}");
    let r = with.report();
    assert_eq!(r.get("ledger").map(String::as_str), Some("yes"), "{with}");
    assert_eq!(r.get("cap").map(String::as_str), Some("2"), "{with}");
}

/// The directory where a new ledger is made is on a full filesystem (a
/// container's small /dev/shm, filled by other programs): creating the ledger
/// fails cleanly, the program runs as without the library on a per-process
/// cap, one line says why, and no partial ledger is left behind. Before the
/// fix the table was a sparse file, and the first write to it through the
/// mapping killed the program with SIGBUS.
///
/// A 64 KiB tmpfs is mounted in a user and mount namespace (`unshare -rm`)
/// and filled, entirely or up to 12 KiB (room for the file and its header,
/// not for the whole table); `XDG_RUNTIME_DIR` points there.
#[test]
fn a_full_filesystem_gives_per_process_caps_not_a_crash() {
    if !user_and_mount_namespaces() {
        return;
    }
    let without = cpus(Path::new("/nonexistent"), false);
    // Mount, fill, run the program under the library, then list what is left.
    let script = r#"set -e
mount -t tmpfs -o size=64k,mode=0700 tmpfs "$MNT"
head -c "$FILL" /dev/zero >"$MNT/fill" 2>/dev/null || true
set +e
env XDG_RUNTIME_DIR="$MNT" LD_PRELOAD="$LIB" THROTTLE_THREADS=2 THROTTLE_REPORT=1 "$CPUS"
status=$?
echo "left=$(cd "$MNT" && ls -A | tr '\n' ' ')"
exit "$status"
"#;
    for (case, fill) in [("full", 65536), ("12 KiB free", 65536 - 12288)] {
        let dir = TempDir::new("ledger-full-fs");
        let mnt = dir.0.join("mnt");
        std::fs::create_dir(&mnt).expect("create the mount point");
        let with = Run::new("unshare")
            .args(["-rm", "sh", "-c", script])
            .env("MNT", &mnt)
            .env("FILL", fill.to_string())
            .env("LIB", common::lib_path())
            .env("CPUS", common::c_program("cpus"))
            .run();
        let mut problems = Vec::new();
        if with.status.code() != without.status.code() {
            problems.push(format!(
                "exit status {} (without the library: {})",
                with.status, without.status
            ));
        }
        let out = with.stdout_str();
        let (lines, left) = out
            .rsplit_once("left=")
            .unwrap_or((out.as_str(), "(no left= line)"));
        let expected: Vec<String> = without
            .stdout_str()
            .lines()
            .map(|l| match l.split_once('=') {
                Some((k, v)) if CAPPED.contains(&k) => {
                    format!("{k}={}", v.parse::<i64>().expect("a count").min(2))
                }
                _ => l.to_string(),
            })
            .collect();
        if lines.lines().collect::<Vec<_>>() != expected {
            problems.push(format!("stdout differs from {expected:?}"));
        }
        if left.trim() != "fill" {
            problems.push(format!(
                "left on the filesystem: {left:?}, expected only `fill`"
            ));
        }
        let diagnostics = with.throttle_lines();
        if diagnostics.len() != 1 || !diagnostics[0].contains("No space left") {
            problems.push(format!(
                "libthrottle lines {diagnostics:?}, expected one about the full filesystem"
            ));
        }
        let reports = common::reports(&with.stderr_str());
        match reports.as_slice() {
            [r] => {
                for (key, want) in [("cap", "2"), ("budget", "2"), ("ledger", "no")] {
                    if r.get(key).map(String::as_str) != Some(want) {
                        problems.push(format!("report {key}={:?}, expected {want}", r.get(key)));
                    }
                }
            }
            _ => problems.push(format!("{} report lines, expected 1", reports.len())),
        }
        assert!(
            problems.is_empty(),
            "{case}:\n  {}\n{with}",
            problems.join("\n  ")
        );
    }
}

/// Whether `unshare -rm` (a user and a mount namespace, in which a test
/// mounts a small tmpfs) is allowed here; says so when it is not.
fn user_and_mount_namespaces() -> bool {
    let allowed = std::process::Command::new("unshare")
        .args(["-rm", "true"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !allowed {
        eprintln!("skipped: `unshare -rm` (user and mount namespaces) is not allowed here");
    }
    allowed
}

/// A full filesystem is told once per tree, not once per process: a shell
/// that finds no room for its ledger warns, and the three programs it runs
/// then, which find none either, say so at info level only (each still runs
/// on a per-process cap, with `ledger=no` in its report).
#[test]
fn a_full_filesystem_is_told_once_per_tree() {
    if !user_and_mount_namespaces() {
        return;
    }
    let script = r#"set -e
mount -t tmpfs -o size=64k,mode=0700 tmpfs "$MNT"
head -c 65536 /dev/zero >"$MNT/fill" 2>/dev/null || true
env XDG_RUNTIME_DIR="$MNT" LD_PRELOAD="$LIB" THROTTLE_THREADS=2 THROTTLE_REPORT=1 \
    sh -c '"$CPUS" >/dev/null && "$CPUS" >/dev/null && "$CPUS" >/dev/null'
"#;
    let dir = TempDir::new("ledger-full-tree");
    let mnt = dir.0.join("mnt");
    std::fs::create_dir(&mnt).expect("create the mount point");
    let out = Run::new("unshare")
        .args(["-rm", "sh", "-c", script])
        .env("MNT", &mnt)
        .env("LIB", common::lib_path())
        .env("CPUS", common::c_program("cpus"))
        .run_ok();
    told_once_per_tree(&out, "No space left");
}

/// A command prefix that runs a program in a PID namespace of its own, with
/// its own /proc (`unshare --pid --fork --mount-proc`, in a user namespace
/// of the same uid where that is what is allowed), or None.
fn own_pid_namespace() -> Option<Vec<&'static str>> {
    pid_namespace_prefix(&["--mount-proc"])
}

/// `unshare --pid --fork` with `more` options, as root or in a user
/// namespace of the same uid, whichever is allowed here; None if neither.
fn pid_namespace_prefix(more: &[&'static str]) -> Option<Vec<&'static str>> {
    let user: [&[&str]; 2] = [&[], &["--map-current-user"]];
    user.into_iter()
        .map(|user| [&["unshare"][..], user, &["--pid", "--fork"], more].concat())
        .find(|prefix| {
            std::process::Command::new(prefix[0])
                .args(&prefix[1..])
                .arg("true")
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
}

/// A PID namespace that sees another's /proc (`unshare --pid --fork`
/// without `--mount-proc`; bubblewrap's `--unshare-pid` with the host's
/// /proc): `/proc/PID` names a process of the host, not the one `PID` names
/// inside, so that the members of a tree could not be told apart by it.
/// Processes there run outside any tree, each at its cap, and say nothing:
/// no ledger is made inside. Before, the shell inside made one, its members
/// recorded the start times of unrelated host processes (a member whose pid
/// has no host process printed "ledger ... is full"), and a tree killed
/// there left a ledger that no sweep removes (its creator's pid, 1, is
/// always alive on the host).
#[test]
fn a_pid_namespace_that_sees_another_proc_makes_no_tree() {
    let Some(prefix) = pid_namespace_prefix(&[]) else {
        eprintln!("skipped: `unshare --pid --fork` is not allowed here");
        return;
    };
    let dir = TempDir::new("ledger-foreign-proc");
    let runtime = common::runtime_dir(&dir.0);
    // The shell forks (which makes a tree's ledger), a member runs beside
    // it, and the shell lists the runtime directory meanwhile.
    let script = format!(
        "{0} | head -n 1; {1} -c 'import os, time; os.cpu_count(); time.sleep(0.5)' & \
         sleep 0.2; echo \"ledgers=$(ls \"$XDG_RUNTIME_DIR\" | tr '\\n' ' ')\"; wait",
        common::c_program("cpus").display(),
        common::python().display()
    );
    // Only what runs inside carries the library: `unshare` itself, in the
    // host's namespace, would make a ledger of its own there.
    let preload = format!("LD_PRELOAD={}", common::lib_path().display());
    let out = Run::new(prefix[0])
        .args(&prefix[1..])
        .args(["env", &preload, "/bin/bash", "-c", &script])
        .env("THROTTLE_THREADS", "1")
        .env("XDG_RUNTIME_DIR", &runtime)
        .run_ok();
    assert_eq!(out.num("nprocs_onln"), 1, "each process at its cap\n{out}");
    assert_eq!(out.get("ledgers").trim(), "", "no ledger inside\n{out}");
    assert!(out.throttle_lines().is_empty(), "no warning\n{out}");
    let left = common::dir_entries(&runtime);
    assert!(left.is_empty(), "ledgers stayed: {left:?}\n{out}");
}

/// A working process's ledger, seen from a PID namespace of its own that
/// shares the filesystem (`apptainer exec --pid`, `unshare --pid`): the
/// members' pids name other processes there (or none), so a process there
/// must neither join the ledger (its own pid would mean another process to
/// the members) nor judge it. Run there with `THROTTLE_LEDGER` inherited, a
/// program starts a tree of its own; run there as the first preloaded
/// process, its look for stale ledgers (creator gone, no member alive, as
/// seen from its namespace) leaves the live one alone. Before, the first
/// joined the tree, and the second removed the working process's ledger
/// from under it.
#[test]
fn a_process_in_another_pid_namespace_neither_joins_nor_removes_the_ledger() {
    let Some(prefix) = own_pid_namespace() else {
        eprintln!("skipped: `unshare --pid --fork --mount-proc` is not allowed here");
        return;
    };
    const SCRIPT: &str = r#"
import os, subprocess, sys
os.cpu_count()
mine = os.environ["THROTTLE_LEDGER"]
inner = [sys.executable, "-c", "import os; print(os.environ.get('THROTTLE_LEDGER', ''))"]
joined = subprocess.run(sys.argv[1:] + inner, capture_output=True, text=True)
print("there_after_joined=%d" % os.path.exists(mine))
# The namespace's first preloaded process, with no ledger named: it makes one.
bare = {k: v for k, v in os.environ.items() if k not in ("THROTTLE_LEDGER", "LD_PRELOAD")}
preload = "LD_PRELOAD=" + os.environ["LD_PRELOAD"]
made = subprocess.run(sys.argv[1:] + ["env", preload] + inner, env=bare, capture_output=True, text=True)
print("there_after_made=%d" % os.path.exists(mine))
bare["THROTTLE_LEDGER"] = mine
info = subprocess.run(sys.argv[1:] + [os.environ["INFO_BIN"], "info"], env=bare, capture_output=True, text=True)
ledger_lines = [l for l in info.stdout.splitlines() if l.startswith("ledger:")]
print("info=%s" % (ledger_lines + [""])[0])
print("mine=%s" % mine)
print("inside=%s" % joined.stdout.strip())
print("made=%s" % made.stdout.strip())
print("status=%d" % max(joined.returncode, made.returncode))
sys.stderr.write(joined.stderr + made.stderr)
"#;
    let dir = TempDir::new("ledger-pid-namespace");
    let runtime = common::runtime_dir(&dir.0);
    let out = Run::new(common::python())
        .args(["-c", SCRIPT])
        .args(&prefix)
        .preload(true)
        .env("THROTTLE_THREADS", "2")
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("INFO_BIN", common::throttle_bin())
        .run_ok();
    let mine = out.get("mine");
    assert!(mine.starts_with(runtime.to_str().unwrap()), "{out}");
    assert_eq!(out.num("status"), 0, "{out}");
    let inside = out.get("inside");
    assert!(
        inside.starts_with(runtime.to_str().unwrap()) && inside != mine,
        "inside the namespace, a tree of its own\n{out}"
    );
    let made = out.get("made");
    assert!(
        made.starts_with(runtime.to_str().unwrap()) && made != mine,
        "{out}"
    );
    assert_eq!(
        (out.num("there_after_joined"), out.num("there_after_made")),
        (1, 1),
        "the working process's ledger is still there\n{out}"
    );
    assert!(
        out.get("info")
            .ends_with(&format!("{mine} belongs to another PID namespace (a container's, or its host's): its members' pids name other processes here; a process started here starts a tree of its own")),
        "`throttle info` inside the namespace\n{out}"
    );
    assert!(out.throttle_lines().is_empty(), "no warning\n{out}");
    let left = common::dir_entries(&runtime);
    assert!(left.is_empty(), "ledgers stayed: {left:?}\n{out}");
}

/// A live ledger written over by another process of the same user (here:
/// its budget set to 0, out of range): the member says so in one line and
/// goes on with its own cap (2), never a share computed from garbage (the
/// previous build showed it 1 CPU, silently).
#[test]
fn a_ledger_overwritten_while_in_use_costs_one_warning_and_a_per_process_cap() {
    if common::real_affinity_count() < 2 {
        eprintln!("skipped: one CPU, a cap of 2 cannot be told from 1");
        return;
    }
    let dir = TempDir::new("ledger-overwritten");
    let go = dir.0.join("go");
    let probe = common::c_program("ledger_probe");
    let sh = Run::new(&probe)
        .arg(&go)
        .env("THROTTLE_THREADS", "2")
        .preload(true)
        .spawn();
    let ledger = sh
        .poll(Duration::from_secs(30), |lines| {
            let ledger = lines.iter().find_map(|l| l.text.strip_prefix("ledger="))?;
            lines
                .iter()
                .any(|l| l.text.starts_with("before="))
                .then(|| ledger.to_string())
        })
        .unwrap_or_else(|| panic!("the probe printed no ledger\n{sh}"));
    assert!(!ledger.is_empty(), "the probe is in no tree\n{sh}");
    // The header's budget (bytes 20..24) set to 0 and its generation
    // (24..28) bumped, in place, as a scribbling process would.
    let bytes = std::fs::read(&ledger).expect("read the live ledger");
    let generation = u32::from_ne_bytes(bytes[24..28].try_into().unwrap());
    let mut patch = 0u32.to_ne_bytes().to_vec();
    patch.extend_from_slice(&generation.wrapping_add(1).to_ne_bytes());
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&ledger)
            .expect("open the live ledger");
        f.seek(SeekFrom::Start(20)).unwrap();
        f.write_all(&patch).unwrap();
    }
    std::fs::write(&go, "").unwrap();
    let mut sh = sh;
    let status = sh.wait_exit(Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "{sh}");
    let lines = sh.lines();
    let value = |key: &str| {
        lines
            .iter()
            .find_map(|l| l.text.strip_prefix(key).map(str::to_string))
            .unwrap_or_default()
    };
    assert_eq!(value("before="), "2", "{sh}");
    assert_eq!(value("after="), "2", "the per-process cap\n{sh}");
    let warnings: Vec<_> = common::throttle_lines(&sh.stderr_str())
        .into_iter()
        .filter(|l| l.contains("overwritten"))
        .collect();
    assert_eq!(warnings.len(), 1, "{sh}");
    let _ = std::fs::remove_file(&ledger);
}

/// A ledger the tree cannot use (here readable by others) is told once per
/// tree: the shell that meets it first warns, and the three programs it
/// runs, meeting the same ledger, say so at info level only; every process
/// runs on the per-process cap (`ledger=no`). Before, each process warned.
#[test]
fn a_bad_ledger_is_told_once_per_tree() {
    let dir = TempDir::new("ledger-told-once");
    let path = dir.0.join("ledger");
    write_private(&path, valid_ledger());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod 0644");
    let cpus = common::c_program("cpus");
    let script = format!(
        "{c} >/dev/null && {c} >/dev/null && {c} >/dev/null",
        c = common::sh_quote(&cpus)
    );
    let out = Run::new("/bin/sh")
        .args(["-c", &script])
        .preload(true)
        .env("THROTTLE_THREADS", "2")
        .env("THROTTLE_REPORT", "1")
        .env("THROTTLE_LEDGER", &path)
        .run_ok();
    told_once_per_tree(&out, "accessible to others");
}

/// One `libthrottle:` line in all (the shell's, about `about`), and the
/// shell and its three programs each on the per-process cap of 2.
fn told_once_per_tree(out: &Output, about: &str) {
    let diagnostics = out.throttle_lines();
    assert!(
        diagnostics.len() == 1 && diagnostics[0].contains(about),
        "one line ({about}), from the shell\n{out}"
    );
    let reports = common::reports(&out.stderr_str());
    assert_eq!(reports.len(), 4, "the shell and its three programs\n{out}");
    assert!(
        reports
            .iter()
            .all(|r| r["ledger"] == "no" && r["cap"] == "2"),
        "{out}"
    );
}

/// A ledger is created on first need only: a process that neither works
/// nor starts another creates none, so that one killed at once (`kill -9`
/// from a script, a job's time limit) leaves nothing behind, and short
/// commands pay for no file. One that works creates one; a shell's programs
/// join the shell's, created when it starts them. Before, every process
/// created one as it started.
#[test]
fn a_ledger_is_created_on_first_need_only() {
    let dir = TempDir::new("ledger-first-need");
    let entries = || {
        std::fs::read_dir(&dir.0)
            .expect("read the runtime directory")
            .count()
    };
    // Killed before it did anything: nothing left behind.
    let killed = Run::new("/bin/sh")
        .args(["-c", "kill -9 $$"])
        .preload(true)
        .env("XDG_RUNTIME_DIR", &dir.0)
        .run();
    assert_eq!(killed.status.signal(), Some(9), "{killed}");
    assert_eq!(
        entries(),
        0,
        "a process killed at once left a file\n{killed}"
    );
    // A process that works has a tree of its own, with a ledger.
    let alone = Run::c("cpus")
        .preload(true)
        .env("XDG_RUNTIME_DIR", &dir.0)
        .env("THROTTLE_REPORT", "1")
        .run_ok();
    assert_eq!(alone.report()["ledger"], "yes", "{alone}");
    // A program that works not, starting two that do: one tree. bash blocks
    // some signals around each `fork`, perl all of them: the tree is made
    // all the same (it was not, once).
    let cpus = common::sh_quote(common::c_program("cpus"));
    let script = format!("{cpus} >/dev/null; {cpus} >/dev/null");
    let perl = format!("system(q({cpus} >/dev/null)); system(q({cpus} >/dev/null));");
    for (program, args) in [
        ("/bin/sh", ["-c", script.as_str()]),
        ("/bin/bash", ["-c", script.as_str()]),
        ("/usr/bin/perl", ["-e", perl.as_str()]),
    ] {
        let shell = Run::new(program)
            .args(args)
            .preload(true)
            .env("XDG_RUNTIME_DIR", &dir.0)
            .env("THROTTLE_REPORT", "1")
            .env("THROTTLE_LOG", "info")
            .run_ok();
        let reports = common::reports(&shell.stderr_str());
        assert!(reports.len() >= 3, "{program}\n{shell}");
        assert!(
            reports.iter().all(|r| r["ledger"] == "yes"),
            "{program}\n{shell}"
        );
        let ledgers: std::collections::BTreeSet<_> = shell
            .throttle_lines()
            .iter()
            .filter_map(|l| {
                let rest = l.split_once("libthrottle: ledger ")?.1;
                rest.split(':').next().map(str::to_string)
            })
            .collect();
        assert_eq!(
            ledgers.len(),
            1,
            "{program}: one ledger for it and its programs\n{shell}"
        );
        assert_eq!(
            entries(),
            0,
            "{program}: the tree's ledger outlived it\n{shell}"
        );
    }
}

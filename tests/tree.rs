//! The budget shared by a process tree (docs/interface.md, "The process-tree
//! budget (ledger)"), with real Python + numpy processes as the members.
//!
//! Every tree is started by ONE shell run under the library; the Python
//! processes are its background children and inherit `LD_PRELOAD` and the
//! `THROTTLE_LEDGER` the shell exported. Each Python process (WORKER below)
//! imports numpy, does a BLAS call so its OpenBLAS pool exists, then prints,
//! about every 100 ms and until a stop file appears, what threadpoolctl says
//! its OpenBLAS pools are sized to (after one more BLAS call each time, as a
//! real program would make).
//!
//! Behaviour only: every bound on time ("within 1 second") is checked by
//! polling with a generous timeout and the observed delay is put in the
//! message. Every process tree is killed (SIGKILL to its process group) when
//! the test ends, whether it passed or not.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use common::{python, real_affinity_count, real_nprocs_onln, sh_quote, throttle_bin};
use common::{Line, Run, Spawned, TempDir};

/// Generous bound for a change the design promises within 1 second.
const SETTLE: Duration = Duration::from_secs(10);
/// Bound for 6 numpy imports on a small, busy machine.
const STARTUP: Duration = Duration::from_secs(90);

/// argv: TAG STOP_FILE [busy]. Prints `TAG ready pid=N threads=a,b` once,
/// then `TAG threads=a,b live=N gemms=G bad=W` about every 100 ms (G: matrix
/// products done, W: products with a wrong result), and `TAG done` when
/// STOP_FILE exists. Between prints it does one product and sleeps, or, with
/// `busy`, does products back to back. Gives up by itself after 150 s.
const WORKER: &str = r#"
import os, sys, time
tag, stop = sys.argv[1], sys.argv[2]
busy = len(sys.argv) > 3 and sys.argv[3] == "busy"
limit = time.monotonic() + 150
def say(line):
    # One write(2) per line, below PIPE_BUF: lines of the workers sharing the
    # shell's stdout never interleave (print() may write a line in pieces).
    os.write(1, (line + "\n").encode())
import numpy
import threadpoolctl
a = numpy.ones((256, 256))
a @ a
def pools():
    return ",".join(str(p["num_threads"]) for p in threadpoolctl.threadpool_info()
                    if p["internal_api"] == "openblas")
say("%s ready pid=%d threads=%s" % (tag, os.getpid(), pools()))
gemms = bad = 0
last = 0.0
while not os.path.exists(stop) and time.monotonic() < limit:
    b = a @ a
    gemms += 1
    if not (b == 256.0).all():
        bad += 1
    now = time.monotonic()
    if now - last >= 0.1:
        last = now
        say("%s threads=%s live=%d gemms=%d bad=%d"
            % (tag, pools(), len(os.listdir("/proc/self/task")), gemms, bad))
    if not busy:
        time.sleep(0.1)
say("%s done gemms=%d bad=%d" % (tag, gemms, bad))
"#;

/// The tests of this file each run up to 6 numpy processes on a machine that
/// may have 2 CPUs: one at a time, so that they do not starve each other.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// CPUs a process of this machine can use.
fn cpus() -> i64 {
    real_nprocs_onln().min(real_affinity_count())
}

/// How a launcher starts one worker: `{program} TAG {stop}`, both parts
/// quoted for the shell; `dir` is the tree's scratch directory.
struct WorkerCommand {
    program: String,
    stop: String,
    dir: PathBuf,
}

/// A tree of Python workers under one preloaded shell.
struct Tree {
    dir: TempDir,
    stop: PathBuf,
    tags: Vec<String>,
    sh: Spawned,
}

impl Tree {
    /// `sh -c 'echo ledger=$THROTTLE_LEDGER; worker p0; ...; <tail>; wait'`
    /// run under the library with `env`, where `worker TAG` starts a worker
    /// in the background and prints `pid_TAG=PID`. `tail` runs in the shell
    /// after every worker is started, and may start more.
    fn start(name: &str, workers: usize, env: &[(&str, &str)], tail: &str) -> Tree {
        Tree::start_with(name, workers, env, tail, "")
    }

    /// As `start`, with `extra` appended to each worker's arguments.
    fn start_with(
        name: &str,
        workers: usize,
        env: &[(&str, &str)],
        tail: &str,
        extra: &str,
    ) -> Tree {
        Tree::start_full(name, workers, env, |_| tail.to_string(), extra)
    }

    /// As `start_with`, with the tail made by `tail` from the worker's
    /// command line (shell-quoted, the tag to be appended, then the stop
    /// file): for a launcher that starts workers itself.
    fn start_full(
        name: &str,
        workers: usize,
        env: &[(&str, &str)],
        tail: impl FnOnce(&WorkerCommand) -> String,
        extra: &str,
    ) -> Tree {
        Tree::start_program(name, None, workers, env, tail, extra)
    }

    /// As `start_full`, the workers running `program` (a binary speaking
    /// WORKER's protocol) instead of the Python WORKER.
    fn start_program(
        name: &str,
        program: Option<&Path>,
        workers: usize,
        env: &[(&str, &str)],
        tail: impl FnOnce(&WorkerCommand) -> String,
        extra: &str,
    ) -> Tree {
        let dir = TempDir::new(&format!("tree-{name}"));
        let script = dir.0.join("worker.py");
        std::fs::write(&script, WORKER).expect("write the worker script");
        let stop = dir.0.join("stop");
        let tags: Vec<String> = (0..workers).map(|i| format!("p{i}")).collect();
        let command = WorkerCommand {
            program: match program {
                Some(program) => sh_quote(program),
                None => format!("{} {}", sh_quote(python()), sh_quote(&script)),
            },
            stop: sh_quote(&stop),
            dir: dir.0.clone(),
        };
        // `worker TAG` starts one worker in the background (the tail may too).
        let mut sh = format!(
            "echo ledger=${{THROTTLE_LEDGER-}}\nworker() {{ {} \"$1\" {} {extra} & echo pid_$1=$!; }}\n",
            command.program, command.stop
        );
        for tag in &tags {
            sh.push_str(&format!("worker {tag}\n"));
        }
        sh.push_str(&tail(&command));
        sh.push_str("\nwait\necho shell_done\n");
        let run = Run::new("/bin/sh")
            .args(["-c", &sh])
            .preload(true)
            .envs(env);
        let sh = run.spawn();
        Tree {
            dir,
            stop,
            tags,
            sh,
        }
    }

    /// The latest `threads=` list each worker printed (its `ready` line
    /// counts), by tag.
    fn latest(&self) -> BTreeMap<String, Vec<i64>> {
        latest(&self.sh.lines())
    }

    /// Waits until every worker has printed its `ready` line; returns the
    /// time since the start when the last one did.
    fn wait_ready(&self) -> Duration {
        let tags = self.tags.clone();
        self.sh
            .poll(STARTUP, |lines| {
                let ready: Vec<&Line> = lines
                    .iter()
                    .filter(|l| !l.stderr && l.text.split_whitespace().nth(1) == Some("ready"))
                    .collect();
                let all = tags.iter().all(|t| {
                    ready
                        .iter()
                        .any(|l| l.text.split_whitespace().next() == Some(t.as_str()))
                });
                all.then(|| ready.iter().map(|l| l.at).max().unwrap_or_default())
            })
            .unwrap_or_else(|| {
                panic!(
                    "not every worker printed `ready` within {} s\n{}",
                    STARTUP.as_secs(),
                    self.sh
                )
            })
    }

    /// Polls up to `timeout` until every worker named in `want` has printed a
    /// `threads=` list whose every entry equals its wanted value; returns how
    /// long that took from the call, or `None`.
    fn wait_for(&self, want: &HashMap<String, i64>, timeout: Duration) -> Option<Duration> {
        let t0 = Instant::now();
        self.sh.poll(timeout, |lines| {
            let latest = latest(lines);
            want.iter()
                .all(|(tag, &n)| {
                    latest
                        .get(tag)
                        .is_some_and(|v| !v.is_empty() && v.iter().all(|&x| x == n))
                })
                .then(|| t0.elapsed())
        })
    }

    /// Waits until every worker in `tags` has printed `n` more `threads=`
    /// lines than it had at the call (so that a value seen is not a passing
    /// one).
    fn more_lines(&self, tags: &[String], n: usize) {
        let count = |lines: &[Line], tag: &str| {
            lines
                .iter()
                .filter(|l| {
                    !l.stderr
                        && l.text.split_whitespace().next() == Some(tag)
                        && l.text.contains("threads=")
                })
                .count()
        };
        let before: Vec<usize> = tags.iter().map(|t| count(&self.sh.lines(), t)).collect();
        let ok = self.sh.poll(SETTLE, |lines| {
            tags.iter()
                .zip(&before)
                .all(|(t, &b)| count(lines, t) >= b + n)
                .then_some(())
        });
        assert!(ok.is_some(), "workers stopped printing\n{}", self.sh);
    }

    /// The value of a `key=value` line the shell printed (`ledger`, `pid_p0`).
    fn shell_value(&self, key: &str) -> Option<String> {
        self.sh.lines().iter().find_map(|l| {
            l.text
                .strip_prefix(key)
                .and_then(|r| r.strip_prefix('='))
                .map(str::to_string)
        })
    }

    fn worker_pid(&self, tag: &str) -> i32 {
        let v = self
            .shell_value(&format!("pid_{tag}"))
            .unwrap_or_else(|| panic!("the shell printed no pid for {tag}\n{}", self.sh));
        v.parse().expect("a pid")
    }

    /// Creates the stop file and waits for the shell to finish; asserts it
    /// exited with status 0.
    fn finish(&mut self) {
        std::fs::write(&self.stop, "").expect("create the stop file");
        let status = self.sh.wait_exit(Duration::from_secs(30));
        assert!(
            status.is_some_and(|s| s.success()),
            "the tree did not exit cleanly after the stop file: {status:?}\n{}",
            self.sh
        );
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        // Kill the whole tree first (the Spawned field would, but only after
        // this), then remove a ledger file the killed tree may have left.
        self.sh.kill_group();
        let _ = self.sh.wait_exit(Duration::from_secs(5));
        if let Some(ledger) = self.shell_value("ledger") {
            if !ledger.is_empty() {
                let _ = std::fs::remove_file(ledger);
            }
        }
        let _ = &self.dir;
    }
}

/// `TAG ready ... threads=a,b` / `TAG threads=a,b live=N`: the latest list per tag.
fn latest(lines: &[Line]) -> BTreeMap<String, Vec<i64>> {
    let mut out = BTreeMap::new();
    for l in lines.iter().filter(|l| !l.stderr) {
        let mut words = l.text.split_whitespace();
        let Some(tag) = words.next() else { continue };
        for w in words {
            if let Some(v) = w.strip_prefix("threads=") {
                let list: Vec<i64> = v.split(',').filter_map(|x| x.parse().ok()).collect();
                out.insert(tag.to_string(), list);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Sampling the tree's threads through /proc.

/// `(pid, ppid)` of every process; processes that vanish are skipped.
fn all_parents() -> Vec<(i32, i32)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Some((_, rest)) = stat_fields(&e.path().join("stat")) {
            if let Some(ppid) = rest.get(1).and_then(|s| s.parse().ok()) {
                out.push((pid, ppid));
            }
        }
    }
    out
}

/// The comm and the fields after it (`state ppid ...`) of a stat file.
fn stat_fields(path: &Path) -> Option<(String, Vec<String>)> {
    let text = std::fs::read_to_string(path).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_string();
    let rest = text[close + 1..]
        .split_whitespace()
        .map(str::to_string)
        .collect();
    Some((comm, rest))
}

/// `root` and all its descendants.
fn tree_pids(root: i32) -> Vec<i32> {
    let parents = all_parents();
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parents.iter().filter(|&&(_, pp)| pp == p).map(|&(c, _)| c));
        i += 1;
    }
    out
}

/// `pid`'s thread count: field 20 of its `stat`.
fn thread_count(pid: i32) -> Option<usize> {
    stat_fields(Path::new(&format!("/proc/{pid}/stat")))?
        .1
        .get(17)?
        .parse()
        .ok()
}

/// The state letter of each thread of `pid`, and its thread count. A
/// listing of `/proc/PID/task` stops short when a thread ends during it
/// (docs/design.md, section 13), which would hide threads from these
/// samples: it is made again, up to four times, until the count did not
/// change during it; the count itself is exact.
fn thread_states(pid: i32) -> (Vec<char>, usize) {
    let mut out = Vec::new();
    for _ in 0..4 {
        out.clear();
        let before = thread_count(pid);
        let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return (out, 0);
        };
        for e in rd.flatten() {
            if let Some((_, rest)) = stat_fields(&e.path().join("stat")) {
                if let Some(s) = rest.first().and_then(|s| s.chars().next()) {
                    out.push(s);
                }
            }
        }
        let after = thread_count(pid);
        if before == after && after.is_some_and(|n| out.len() >= n) {
            break;
        }
    }
    let count = thread_count(pid).unwrap_or(0).max(out.len());
    (out, count)
}

/// One look at the tree: threads in state R in all of it, and live threads
/// of the processes below the shell (the shell itself holds no share), with a
/// per-process breakdown.
#[derive(Clone, Debug, Default)]
struct Look {
    running: usize,
    live_below_root: usize,
    /// libthrottle's own steward threads (named `libthrottle`) among them.
    stewards: usize,
    detail: String,
}

/// Threads of `pid` named `libthrottle`: the ledger's stewards.
fn stewards(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.flatten()
                .filter(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        .is_ok_and(|c| c.trim() == "libthrottle")
                })
                .count()
        })
        .unwrap_or(0)
}

fn look(root: i32) -> Look {
    let mut l = Look::default();
    for pid in tree_pids(root) {
        let (states, count) = thread_states(pid);
        let r = states.iter().filter(|&&c| c == 'R').count();
        l.running += r;
        if pid != root {
            l.live_below_root += count;
            l.stewards += stewards(pid);
        }
        let comm = stat_fields(Path::new(&format!("/proc/{pid}/stat")))
            .map(|(c, _)| c)
            .unwrap_or_default();
        let all: String = states.iter().collect();
        l.detail.push_str(&format!("{pid}({comm}):{all} "));
    }
    l
}

#[derive(Clone, Debug, Default)]
struct Samples {
    count: u64,
    max_running: usize,
    max_running_at: Duration,
    max_running_detail: String,
    max_live: usize,
}

/// Samples the tree under `root` every ~10 ms until stopped.
struct Sampler {
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<Samples>>,
}

impl Sampler {
    fn start(root: i32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = thread::spawn(move || {
            let t0 = Instant::now();
            let mut s = Samples::default();
            while !flag.load(Ordering::Relaxed) {
                let l = look(root);
                s.count += 1;
                if l.running > s.max_running {
                    s.max_running = l.running;
                    s.max_running_at = t0.elapsed();
                    s.max_running_detail = l.detail;
                }
                s.max_live = s.max_live.max(l.live_below_root);
                thread::sleep(Duration::from_millis(10));
            }
            s
        });
        Sampler {
            stop,
            handle: Some(handle),
        }
    }

    fn finish(mut self) -> Samples {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .expect("sampler running")
            .join()
            .expect("sampler thread")
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

// ---------------------------------------------------------------------------
// The tests.

/// Runs a tree of 6 workers with `env` and returns the settled pool sizes
/// (asserting each equals `want`), the time they took to settle after the
/// last `ready`, the live threads below the shell once every worker printed
/// its result, and the samples taken while it ran.
fn six_workers(name: &str, env: &[(&str, &str)], want: i64) -> (Duration, Look, Samples, Tree) {
    let mut tree = Tree::start(name, 6, env, "");
    let sampler = Sampler::start(tree.sh.pid());
    let ready_at = tree.wait_ready();
    let want_all: HashMap<String, i64> = tree.tags.iter().map(|t| (t.clone(), want)).collect();
    let settled = tree.wait_for(&want_all, SETTLE);
    // A few more rounds, so that the value checked is where it stays.
    tree.more_lines(&tree.tags.clone(), 3);
    let latest = tree.latest();
    let live_now = look(tree.sh.pid());
    let wrong: Vec<String> = latest
        .iter()
        .filter(|(_, v)| v.is_empty() || v.iter().any(|&x| x != want))
        .map(|(t, v)| format!("{t}={v:?}"))
        .collect();
    assert!(
        settled.is_some() && wrong.is_empty(),
        "{name}: every OpenBLAS pool should be {want} ({env:?}, 6 processes, {} CPUs); \
         not settled within {} s of the last `ready` (at {} ms); latest: {latest:?}; \
         wrong: {wrong:?}\n{}",
        cpus(),
        SETTLE.as_secs(),
        ready_at.as_millis(),
        tree.sh
    );
    let samples = sampler.finish();
    tree.finish();
    (settled.unwrap(), live_now, samples, tree)
}

/// What one run of the B=2 tree measured, as a message.
fn describe(settled: Duration, live: &Look, samples: &Samples) -> String {
    format!(
        "pools settled to 1 after {} ms; once settled, {} running and {} live threads below \
         the shell, {} of them libthrottle's stewards [thread states per process: {}]; sampled \
         {} times: max running (R) {} at {} ms [{}], max live below the shell {}",
        settled.as_millis(),
        live.running,
        live.live_below_root,
        live.stewards,
        live.detail.trim_end(),
        samples.count,
        samples.max_running,
        samples.max_running_at.as_millis(),
        samples.max_running_detail.trim_end(),
        samples.max_live
    )
}

/// B=2 shared by 6 numpy processes: each gets 1 (B/C, at least 1), and the
/// tree never runs more than max(B, P) = 6 threads: not one sample, from the
/// first process's start to the last result, with more than 6 threads in
/// the 6 processes (live, whatever their state) or more than 6 threads
/// running in the whole tree. This holds from the start because the first
/// claimers count their busy, young siblings (they do not size their pools
/// from the whole budget), and because a process at a share of 1 in a tree
/// with more working processes than budget has no steward thread.
#[test]
fn six_processes_share_a_budget_of_2() {
    let _serial = serial();
    let (settled, live, samples, tree) = six_workers("share2", &[("THROTTLE_THREADS", "2")], 1);
    let msg = describe(settled, &live, &samples);
    eprintln!("six_processes_share_a_budget_of_2: {msg}");
    assert!(samples.count > 0, "no samples\n{msg}");
    let mut problems = Vec::new();
    if samples.max_live > 6 {
        problems.push("more than max(B,P)=6 live threads in the 6 processes at some point");
    }
    if live.live_below_root > 6 {
        problems.push("more than max(B,P)=6 live threads in the 6 processes once settled");
    }
    if samples.max_running > 6 {
        problems.push("more than max(B,P)=6 threads running (R) at once in the tree");
    }
    assert!(
        problems.is_empty(),
        "{}: {msg}\n{}",
        problems.join("; "),
        tree.sh
    );
}

/// B=12 shared by 6 numpy processes: each gets 2 (on a machine with fewer
/// CPUs, its CPU count).
#[test]
fn six_processes_share_a_budget_of_12() {
    let _serial = serial();
    let want = 2.min(cpus());
    let (settled, live, samples, _tree) =
        six_workers("share12", &[("THROTTLE_THREADS", "12")], want);
    eprintln!(
        "six_processes_share_a_budget_of_12: pools settled to {want} after {} ms; live \
         below the shell {} [{}]; max running {} [{}]; max live {}",
        settled.as_millis(),
        live.live_below_root,
        live.detail.trim_end(),
        samples.max_running,
        samples.max_running_detail.trim_end(),
        samples.max_live
    );
}

/// A launcher named by the issue starts the 6 workers itself, under one
/// preloaded shell with a budget of 12: GNU parallel (a Perl program that
/// forks helpers and runs each job through a shell) or make (`make -j6`).
/// The launcher holds no share, so each worker gets 12/6 = 2 (its CPU count
/// on a smaller machine). Had the launcher claimed a share too, 7 claimers
/// would split 12 as 2,2,2,2,2,1,1 and two workers would stay at 1.
fn six_workers_under_a_launcher(name: &str, launcher: impl FnOnce(&WorkerCommand) -> String) {
    let _serial = serial();
    let want = 2.min(cpus());
    let mut tree = Tree::start_full(name, 0, &[("THROTTLE_THREADS", "12")], launcher, "");
    tree.tags = (0..6).map(|i| format!("p{i}")).collect();
    tree.wait_ready();
    let all: HashMap<String, i64> = tree.tags.iter().map(|t| (t.clone(), want)).collect();
    let settled = tree.wait_for(&all, SETTLE);
    assert!(
        settled.is_some(),
        "not every pool settled to {want} within {} s: {:?}\n{}",
        SETTLE.as_secs(),
        tree.latest(),
        tree.sh
    );
    // Not a passing value: two more rounds from everyone, still `want`.
    tree.more_lines(&tree.tags.clone(), 2);
    let latest = tree.latest();
    for tag in &tree.tags {
        assert_eq!(
            latest.get(tag).map(|v| v.iter().all(|&n| n == want)),
            Some(true),
            "{tag}: {latest:?}\n{}",
            tree.sh
        );
    }
    tree.finish();
}

#[test]
fn gnu_parallel_holds_no_share() {
    six_workers_under_a_launcher("parallel", |w| {
        format!(
            "parallel -j6 --line-buffer {} {{}} {} ::: p0 p1 p2 p3 p4 p5\n",
            w.program, w.stop
        )
    });
}

#[test]
fn make_holds_no_share() {
    six_workers_under_a_launcher("make", |w| {
        let tags = "p0 p1 p2 p3 p4 p5";
        let makefile = w.dir.join("Makefile");
        std::fs::write(
            &makefile,
            format!(".PHONY: all {tags}\nall: {tags}\n{tags}:\n\t$(WORKER) $@ $(STOP)\n"),
        )
        .expect("write the Makefile");
        format!(
            "make -s -j6 -f {} WORKER={} STOP={}\n",
            sh_quote(&makefile),
            sh_quote(&w.program),
            sh_quote(&w.stop)
        )
    });
}

/// argv: PYTHON WORKER STOP TAG...: a launcher written in Python, which asks
/// for the CPU count and starts a thread (either would make it claim a
/// share), then runs one worker per TAG and waits for them.
const LAUNCH_PY: &str = r#"
import os, subprocess, sys, threading, time
os.cpu_count()
threading.Thread(target=time.sleep, args=(0.2,)).start()
python, worker, stop = sys.argv[1:4]
workers = [subprocess.Popen([python, worker, tag, stop]) for tag in sys.argv[4:]]
sys.exit(max(w.wait() for w in workers))
"#;

/// The latest pools of 2 workers started by `launch.py` (LAUNCH_PY) under
/// one preloaded shell with a budget of 4 and `env`, once both have
/// printed 3 more rounds after their start.
fn two_workers_under_launch_py(name: &str, env: &[(&str, &str)]) -> BTreeMap<String, Vec<i64>> {
    let mut vars = vec![("THROTTLE_THREADS", "4")];
    vars.extend_from_slice(env);
    let mut tree = Tree::start_full(
        name,
        0,
        &vars,
        |w| {
            let launch = w.dir.join("launch.py");
            std::fs::write(&launch, LAUNCH_PY).expect("write the launcher");
            format!(
                "{} {} {} {} p0 p1\n",
                sh_quote(python()),
                sh_quote(&launch),
                w.program,
                w.stop
            )
        },
        "",
    );
    tree.tags = vec!["p0".to_string(), "p1".to_string()];
    tree.wait_ready();
    tree.more_lines(&tree.tags.clone(), 3);
    let latest = tree.latest();
    tree.finish();
    latest
}

/// `THROTTLE_LAUNCHERS` names a site's own launcher (here a Python script,
/// by its file name): it holds no share, so at budget 4 its 2 workers get 2
/// each. Without it, the launcher claims like any process that asks for its
/// CPU count and, first to claim, takes 2 of the 4, leaving 1 to each
/// worker: the control that shows the test can tell.
#[test]
fn a_launcher_named_by_throttle_launchers_holds_no_share() {
    if cpus() < 2 {
        eprintln!("skipped: one CPU, every share would be 1");
        return;
    }
    let _serial = serial();
    let named =
        two_workers_under_launch_py("launcher-named", &[("THROTTLE_LAUNCHERS", "launch.py")]);
    for tag in ["p0", "p1"] {
        assert_eq!(named.get(tag), Some(&vec![2]), "{tag}: {named:?}");
    }
    let control = two_workers_under_launch_py("launcher-control", &[]);
    assert!(
        control.values().any(|pools| pools == &vec![1]),
        "the unnamed launcher claimed nothing? {control:?}"
    );
}

/// A launcher that is the first preloaded process (`throttle run -- mpirun
/// ...`) still makes the ledger, so that what it starts shares one budget,
/// and removes it at the end, though it never was a member.
#[test]
fn a_launcher_that_makes_the_ledger_shares_it_and_removes_it() {
    let dir = TempDir::new("tree-launcher-creator");
    let runtime = common::runtime_dir(&dir.0);
    let launch = dir.0.join("launch.py");
    std::fs::write(&launch, LAUNCH_PY).unwrap();
    let worker = dir.0.join("worker.py");
    std::fs::write(
        &worker,
        "import os, sys\n\
         line = 'ledger_%s=%s\\n' % (sys.argv[1], os.environ.get('THROTTLE_LEDGER', ''))\n\
         os.write(1, line.encode())\n",
    )
    .unwrap();
    let out = Run::new(python())
        .arg(&launch)
        .arg(python())
        .arg(&worker)
        .args(["unused", "p0", "p1"])
        .preload(true)
        .env("THROTTLE_THREADS", "4")
        .env("THROTTLE_LAUNCHERS", "launch.py")
        .env("THROTTLE_REPORT", "1")
        .env("XDG_RUNTIME_DIR", &runtime)
        .run();
    out.assert_success();
    let (p0, p1) = (out.get("ledger_p0"), out.get("ledger_p1"));
    assert!(p0.starts_with(runtime.to_str().unwrap()), "{out}");
    assert_eq!(p0, p1, "one ledger for both\n{out}");
    let left = common::dir_entries(&runtime);
    assert!(left.is_empty(), "the ledger stayed: {left:?}\n{out}");
    // Three reports: the workers' and the launcher's, all in the tree.
    let reports = common::reports(&out.stderr_str());
    assert_eq!(reports.len(), 3, "{out}");
    assert!(reports.iter().all(|r| r["ledger"] == "yes"), "{out}");
}

/// A launcher started in the background by the tree's creator, a shell
/// that ends once the launcher has started (`sh -c 'srun ... &'`), starts
/// its workers only after the shell has ended: they still join the shell's
/// tree, and the last process of the tree removes the ledger. (Before, a
/// launcher held no slot: the shell, ending with no member left, removed
/// the ledger, and each worker started a tree of its own, with the whole
/// budget.) The launcher tells the shell it has started through a FIFO.
#[test]
fn a_launcher_that_outlives_the_creator_keeps_the_tree() {
    const LATE_PY: &str = r#"
import os, subprocess, sys, time
shell, fifo, python, worker = sys.argv[1:5]
with open(fifo, "w") as f:
    f.write("started\n")
# Until the shell that started us has ended; bounded, since the test reads
# our output to its end.
deadline = time.monotonic() + 60
while os.getppid() == int(shell) and time.monotonic() < deadline:
    time.sleep(0.01)
workers = [subprocess.Popen([python, worker, tag]) for tag in sys.argv[5:]]
sys.exit(max(w.wait() for w in workers))
"#;
    let dir = TempDir::new("tree-launcher-outlives");
    let runtime = common::runtime_dir(&dir.0);
    let late = dir.0.join("late.py");
    std::fs::write(&late, LATE_PY).unwrap();
    let fifo = dir.0.join("started");
    let made = Run::new("mkfifo").arg(&fifo).run();
    made.assert_success();
    let worker = dir.0.join("worker.py");
    std::fs::write(
        &worker,
        "import os, sys\n\
         path = os.environ.get('THROTTLE_LEDGER', '')\n\
         line = 'ledger_%s=%s\\nthere_%s=%d\\n' % (sys.argv[1], path, sys.argv[1], os.path.exists(path))\n\
         os.write(1, line.encode())\n",
    )
    .unwrap();
    let script = format!(
        "echo \"ledger_sh=$THROTTLE_LEDGER\"\n\
         {py} {late} $$ {fifo} {py} {worker} p0 p1 &\n\
         read started < {fifo}\n",
        py = sh_quote(python()),
        late = sh_quote(&late),
        fifo = sh_quote(&fifo),
        worker = sh_quote(&worker),
    );
    let out = Run::new("sh")
        .args(["-c", &script])
        .preload(true)
        .env("THROTTLE_THREADS", "2")
        .env("THROTTLE_LAUNCHERS", "late.py")
        .env("THROTTLE_REPORT", "1")
        .env("XDG_RUNTIME_DIR", &runtime)
        .run_ok();
    let shell = out.get("ledger_sh");
    assert!(shell.starts_with(runtime.to_str().unwrap()), "{out}");
    for tag in ["p0", "p1"] {
        assert_eq!(
            out.get(&format!("ledger_{tag}")),
            shell,
            "{tag} is in the shell's tree\n{out}"
        );
        assert_eq!(
            out.num(&format!("there_{tag}")),
            1,
            "the ledger is still there\n{out}"
        );
    }
    let left = common::dir_entries(&runtime);
    assert!(left.is_empty(), "the ledger stayed: {left:?}\n{out}");
    let reports = common::reports(&out.stderr_str());
    assert_eq!(
        reports.len(),
        4,
        "the shell, the launcher, two workers\n{out}"
    );
    assert!(
        reports
            .iter()
            .all(|r| r["ledger"] == "yes" && r["budget"] == "2"),
        "{out}"
    );
}

/// Under `THROTTLE_POLICY=fail` and a budget of 1: a launcher's own thread
/// over the cap is created (a launcher is never held back), while its fork
/// child, an ordinary member, is refused one (Python raises). The event log
/// says so: `policy` is `audit` in the launcher's `start` event and `fail`
/// in its child's `fork` event.
#[test]
fn a_launcher_is_never_held_back_but_its_fork_child_is_capped() {
    const SCRIPT: &str = r#"
import os, threading, time
def start():
    try:
        threading.Thread(target=time.sleep, args=(0.05,)).start()
        return "started"
    except RuntimeError:
        return "refused"
print("launcher=%s" % start(), flush=True)
child = os.fork()
if child == 0:
    print("child=%s" % start(), flush=True)
    os._exit(0)
os.waitpid(child, 0)
"#;
    let dir = TempDir::new("tree-launcher-fork");
    let script = dir.0.join("launch_fork.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let log = dir.0.join("events.jsonl");
    let run = |launchers: &str| {
        let _ = std::fs::remove_file(&log);
        let out = Run::new(python())
            .arg(&script)
            .preload(true)
            .env("THROTTLE_THREADS", "1")
            .env("THROTTLE_POLICY", "fail")
            .env("THROTTLE_LAUNCHERS", launchers)
            .env("THROTTLE_LOG_FILE", &log)
            .run();
        out.assert_success();
        let events = std::fs::read_to_string(&log).unwrap_or_default();
        let policy_of = |event: &str| {
            events
                .lines()
                .find(|l| l.contains(&format!("\"event\":\"{event}\"")))
                .and_then(|l| l.split("\"policy\":\"").nth(1))
                .and_then(|rest| rest.split('"').next())
                .map(str::to_string)
        };
        (
            (out.get("launcher"), out.get("child")),
            (policy_of("start"), policy_of("fork")),
        )
    };
    let fail = || Some("fail".to_string());
    assert_eq!(
        run("launch_fork.py"),
        (
            ("started".into(), "refused".into()),
            (Some("audit".into()), fail())
        )
    );
    // Not named: the same program is capped too.
    assert_eq!(
        run("other"),
        (("refused".into(), "refused".into()), (fail(), fail()))
    );
}

/// `THROTTLE_SCOPE=process` opts out: with B=2 each of the 6 processes gets
/// the whole budget, 2 (its CPU count on a 1-CPU machine).
#[test]
fn scope_process_gives_every_process_the_whole_budget() {
    let _serial = serial();
    let want = 2.min(cpus());
    let (settled, live, samples, tree) = six_workers(
        "scope-process",
        &[("THROTTLE_THREADS", "2"), ("THROTTLE_SCOPE", "process")],
        want,
    );
    eprintln!(
        "scope_process: pools at {want} after {} ms; live below the shell {}; max \
         running {}; max live {}",
        settled.as_millis(),
        live.live_below_root,
        samples.max_running,
        samples.max_live
    );
    // No ledger with scope=process.
    assert_eq!(
        tree.shell_value("ledger").as_deref(),
        Some(""),
        "THROTTLE_SCOPE=process should create no ledger\n{}",
        tree.sh
    );
}

/// `pools()` for the scripts below: the OpenBLAS pool sizes threadpoolctl
/// sees, comma-separated.
const POOLS_PY: &str = r#"
import threadpoolctl
def pools():
    return ",".join(str(p["num_threads"]) for p in threadpoolctl.threadpool_info()
                    if p["internal_api"] == "openblas")
"#;

/// Runs `python -c POOLS_PY + script` under the library with a budget of 2;
/// asserts it succeeded.
fn python_at_budget_2(script: &str) -> common::Output {
    let out = Run::new(python())
        .args(["-c", &format!("{POOLS_PY}{script}")])
        .preload(true)
        .env("THROTTLE_THREADS", "2")
        .run();
    out.assert_success();
    out
}

/// Seed 003's shape: a numpy parent alone in its tree sizes its pool from the
/// whole budget, then starts a `multiprocessing.Pool`. Each worker is a fork
/// child: it must start at its own share, before its first BLAS call (it
/// inherits the parent's pool size, and nothing in a numpy loop would call
/// the library again), so the witness reads 1 and no OpenBLAS thread is ever
/// started in a worker. When the workers are gone (they end by `os._exit`,
/// which the library's `_exit` hook sees) the parent's pool grows back.
#[test]
fn pool_workers_start_at_their_share_and_the_parent_grows_back() {
    const SCRIPT: &str = r#"
import os, time
import numpy
from multiprocessing import Pool

def task(i):
    first = pools()
    a = numpy.ones((256, 256))
    ok = bool(((a @ a) == 256.0).all())
    return "%d:%s:%d:%s" % (os.getpid(), first, len(os.listdir("/proc/self/task")), ok)

if __name__ == "__main__":
    a = numpy.ones((256, 256))
    a @ a
    print("parent_before=%s" % pools(), flush=True)
    with Pool(2) as p:
        print("workers=%s" % " ".join(p.map(task, range(4), chunksize=1)), flush=True)
    limit = time.monotonic() + 10
    while pools() != "2" and time.monotonic() < limit:
        time.sleep(0.05)
    print("parent_after=%s" % pools(), flush=True)
"#;
    let _serial = serial();
    if cpus() < 2 {
        eprintln!("skipped: one CPU, a parent's pool of 2 cannot be seen");
        return;
    }
    let out = python_at_budget_2(SCRIPT);
    assert_eq!(
        out.get("parent_before"),
        "2",
        "alone: the whole budget\n{out}"
    );
    let workers = out.get("workers");
    let results: Vec<Vec<&str>> = workers
        .split_whitespace()
        .map(|w| w.split(':').collect())
        .collect();
    assert_eq!(results.len(), 4, "{out}");
    for r in &results {
        assert_eq!(
            r.get(1..4),
            Some(&["1", "1", "True"][..]),
            "worker {}: pool at its first task, live threads after a product, \
             product right (B=2 over the parent and 2 workers: 1 each)\n{out}",
            r[0]
        );
    }
    assert_eq!(
        out.get("parent_after"),
        "2",
        "the parent's pool should grow back to 2 once its workers are gone\n{out}"
    );
}

/// A member that has claimed and then waits (a notebook server beside its
/// kernel, a browser beside its renderer, a parent waiting for its pool)
/// rests after a second without using its share, and the members that work
/// split the budget without it; when it works again, they split it with it
/// again. Here a numpy parent starts a numpy child and waits for it: the
/// child's pool starts at its share (1 of 2), grows to the whole budget
/// once the parent rests, and drops back to 1 once the parent computes
/// again (told by a file the child writes). The child also runs three
/// sleeping threads, so at a share of 1 its threads are confined to one
/// CPU (the default policy); when the share grows, the confinement must
/// follow before the pool grows (a pool of 2 on one CPU spins: a notebook's
/// kernel took 6.5x its time).
#[test]
fn a_member_that_waits_rests_and_the_others_share_without_it() {
    const SCRIPT: &str = r#"
import os, subprocess, sys, tempfile, time
import numpy
CHILD = """
import os, sys, threading, time
import numpy
def allowed():
    for line in open("/proc/thread-self/status"):
        if line.startswith("Cpus_allowed_list:"):
            n = 0
            for part in line.split()[1].split(","):
                lo, _, hi = part.partition("-")
                n += int(hi or lo) - int(lo) + 1
            return n
stop = threading.Event()
sleepers = [threading.Thread(target=stop.wait) for _ in range(3)]
for t in sleepers:
    t.start()
a = numpy.ones((128, 128))
def wait_for(want, limit):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        a @ a
        if pools() == want:
            return want
    return pools()
a @ a
print("child_first=%s" % pools(), flush=True)
print("child_first_cpus=%d" % allowed(), flush=True)
print("child_grown=%s" % wait_for("2", 20), flush=True)
print("child_grown_cpus=%d" % allowed(), flush=True)
open(sys.argv[1], "w").close()
print("child_shrunk=%s" % wait_for("1", 20), flush=True)
stop.set()
"""
a = numpy.ones((128, 128))
a @ a
go = os.path.join(tempfile.mkdtemp(), "go")
child = subprocess.Popen([sys.executable, "-c", POOLS_PY + CHILD, go])
while not os.path.exists(go) and child.poll() is None:
    time.sleep(0.05)
while child.poll() is None:
    a @ a
child.wait()
print("parent_status=%d" % child.returncode, flush=True)
"#;
    let _serial = serial();
    if cpus() < 2 {
        eprintln!("skipped: one CPU, a pool of 2 cannot be seen");
        return;
    }
    let script = format!("POOLS_PY = {POOLS_PY:?}\n{SCRIPT}");
    let out = python_at_budget_2(&script);
    assert_eq!(out.get("parent_status"), "0", "{out}");
    assert_eq!(
        out.get("child_first"),
        "1",
        "beside its working parent, the child starts at its share\n{out}"
    );
    assert_eq!(
        out.get("child_first_cpus"),
        "1",
        "at a share of 1, four threads: confined to one CPU\n{out}"
    );
    assert_eq!(
        out.get("child_grown"),
        "2",
        "once the parent rests, the child's pool is the whole budget\n{out}"
    );
    assert_eq!(
        out.get("child_grown_cpus"),
        "2",
        "and its threads may run on both CPUs again\n{out}"
    );
    assert_eq!(
        out.get("child_shrunk"),
        "1",
        "once the parent works again, the child's pool is its share again\n{out}"
    );
}

/// A process that started working alone holds the whole budget; a second
/// one started a while later (not counted as about to work: the first has
/// long claimed) makes both shrink to their shares. The first has pools
/// with threads, so it keeps a steward for this even while alone.
#[test]
fn a_process_working_alone_shrinks_when_another_starts() {
    let _serial = serial();
    if cpus() < 2 {
        eprintln!("skipped: one CPU, a pool cannot be seen to shrink");
        return;
    }
    let go_dir = TempDir::new("tree-late-go");
    let go = go_dir.0.join("go");
    let tail = format!(
        "i=0; while [ ! -e {go} ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done\nworker p1\n",
        go = sh_quote(&go)
    );
    let mut tree = Tree::start("late", 1, &[("THROTTLE_THREADS", "2")], &tail);
    tree.wait_ready();
    let alone: HashMap<String, i64> = [("p0".to_string(), 2)].into();
    let was_alone = tree.wait_for(&alone, SETTLE);
    assert!(
        was_alone.is_some(),
        "alone, p0's pool should be the whole budget, 2\n{}",
        tree.sh
    );
    tree.more_lines(&["p0".to_string()], 3);
    std::fs::write(&go, "").expect("create the go file");
    let both: HashMap<String, i64> = [("p0".to_string(), 1), ("p1".to_string(), 1)].into();
    let shrunk = tree.wait_for(&both, SETTLE);
    assert!(
        shrunk.is_some(),
        "after p1 started, both pools should be 1 within {} s; latest {:?}\n{}",
        SETTLE.as_secs(),
        tree.latest(),
        tree.sh
    );
    eprintln!(
        "late start: p0 alone at 2, both at 1 {} ms after p1 was started",
        shrunk.unwrap().as_millis()
    );
    tree.finish();
}

/// A working process that forks and `exec`s a helper (`subprocess` with a
/// `preexec_fn` forks for real) lowers its pools for the fork child, which
/// claims; the helper, a new program, gives that claim back at its `exec`
/// and holds no share while it sleeps, so the parent's pool is its whole
/// budget again. The parent, single-threaded when `fork` returns, gets the
/// steward that raises it at its next hooked call (here a CPU-count query),
/// not inside `fork` (see host_safety.rs,
/// `a_parent_is_single_threaded_when_fork_returns`).
#[test]
fn a_helper_forked_and_execed_holds_no_share() {
    const SCRIPT: &str = r#"
import os, subprocess, time
import numpy
a = numpy.ones((256, 256))
a @ a
print("before=%s" % pools(), flush=True)
helper = subprocess.Popen(["sleep", "5"], preexec_fn=lambda: None)
limit = time.monotonic() + 4
while pools() != "2" and time.monotonic() < limit:
    os.cpu_count()
    time.sleep(0.05)
print("during=%s" % pools(), flush=True)
print("helper_running=%d" % (helper.poll() is None), flush=True)
helper.kill()
helper.wait()
"#;
    let _serial = serial();
    if cpus() < 2 {
        eprintln!("skipped: one CPU, a pool of 2 cannot be seen");
        return;
    }
    let out = python_at_budget_2(SCRIPT);
    assert_eq!(out.get("before"), "2", "{out}");
    assert_eq!(out.num("helper_running"), 1, "{out}");
    assert_eq!(
        out.get("during"),
        "2",
        "the sleeping helper should hold no share\n{out}"
    );
}

/// A process working alone (the sole member of its tree, so it has no
/// steward) starts a second numpy program and keeps working beside it. No
/// `fork` handler runs for `vfork` (`subprocess`), `posix_spawn` or
/// `system`, and no hooked call happens in the parent meanwhile (the witness
/// is a getter looked up once): it must still drop to its share, 1, while
/// the program works, and grow back to 2 when it is gone.
fn a_sole_worker_follows_the_program_it_starts(method: &str) {
    const SCRIPT: &str = r#"
import os, shlex, sys, threading, time, subprocess
import numpy
from threadpoolctl import ThreadpoolController

CHILD = """
import os, sys, time, numpy
a = numpy.ones((256, 256))
a @ a
open(os.path.join(sys.argv[1], "claimed"), "w").close()
limit = time.monotonic() + 60
while not os.path.exists(os.path.join(sys.argv[1], "stop")) and time.monotonic() < limit:
    a @ a
"""

method, scratch = sys.argv[1], sys.argv[2]
# Looked up once: ctypes keeps the function, later calls reach no hook.
blas = ThreadpoolController().select(internal_api="openblas").lib_controllers[0]
a = numpy.ones((256, 256))
a @ a
print("before=%d" % blas.get_num_threads(), flush=True)

cmd = [sys.executable, "-c", CHILD, scratch]
if method == "subprocess":
    wait = subprocess.Popen(cmd).wait
elif method == "posix_spawn":
    pid = os.posix_spawn(cmd[0], cmd, os.environ)
    wait = lambda: os.waitpid(pid, 0)
else:
    runner = threading.Thread(target=os.system, args=(shlex.join(cmd),))
    runner.start()
    wait = runner.join

def working_until(value, seconds):
    limit = time.monotonic() + seconds
    while blas.get_num_threads() != value and time.monotonic() < limit:
        a @ a
        time.sleep(0.01)
    return blas.get_num_threads()

claimed = os.path.join(scratch, "claimed")
limit = time.monotonic() + 60
while not os.path.exists(claimed) and time.monotonic() < limit:
    time.sleep(0.02)
print("child_claimed=%d" % os.path.exists(claimed), flush=True)
print("during=%d" % working_until(1, 5), flush=True)
open(os.path.join(scratch, "stop"), "w").close()
wait()
print("after=%d" % working_until(2, 5), flush=True)
"#;
    let _serial = serial();
    if cpus() < 2 {
        eprintln!("skipped: one CPU, a pool of 2 cannot be seen");
        return;
    }
    let scratch = TempDir::new(&format!("tree-spawn-{method}"));
    let out = Run::new(python())
        .args(["-c", SCRIPT, method])
        .arg(&scratch.0)
        .preload(true)
        .env("THROTTLE_THREADS", "2")
        .run();
    out.assert_success();
    assert_eq!(out.get("before"), "2", "alone: the whole budget\n{out}");
    assert_eq!(out.num("child_claimed"), 1, "{out}");
    assert_eq!(
        out.get("during"),
        "1",
        "with the program it started ({method}) working beside it, the parent's share is 1\n{out}"
    );
    assert_eq!(
        out.get("after"),
        "2",
        "the program gone, the parent's pool should grow back to 2\n{out}"
    );
}

#[test]
fn a_sole_worker_follows_a_program_started_by_subprocess() {
    a_sole_worker_follows_the_program_it_starts("subprocess");
}

#[test]
fn a_sole_worker_follows_a_program_started_by_posix_spawn() {
    a_sole_worker_follows_the_program_it_starts("posix_spawn");
}

#[test]
fn a_sole_worker_follows_a_program_started_by_system() {
    a_sole_worker_follows_the_program_it_starts("system");
}

/// Runs two `placement` members under one preloaded shell (B=2): their
/// lines `TAG nprocs=N cpus=... [real=...]`, as (tag, nprocs, cpus, real).
fn two_placed_members(extra: &str, env: &[(&str, &str)]) -> Vec<(String, i64, Vec<i64>, Vec<i64>)> {
    let program = common::c_program("placement");
    let p = sh_quote(&program);
    // `/bin/true` between them takes a pid: p0's and p1's pids usually have
    // the same parity, so CPUs spread by pid rather than by rank would be
    // the same CPU of two.
    let run = Run::new("/bin/sh")
        .args([
            "-c",
            &format!("{p} p0 1 {extra} & /bin/true; {p} p1 1 {extra} & wait"),
        ])
        .preload(true)
        .env("THROTTLE_THREADS", "2")
        .envs(env);
    let out = run.run();
    out.assert_success();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let members: Vec<_> = stdout
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let tag = w.next()?.to_string();
            let nprocs = w.next()?.strip_prefix("nprocs=")?.parse().ok()?;
            let cpus = common::num_list(w.next()?.strip_prefix("cpus=")?);
            let real = w
                .next()
                .and_then(|r| r.strip_prefix("real="))
                .map(common::num_list)
                .unwrap_or_default();
            Some((tag, nprocs, cpus, real))
        })
        .collect();
    assert_eq!(members.len(), 2, "{out}");
    for (tag, nprocs, cpus, _) in &members {
        assert_eq!(
            (*nprocs, cpus.len()),
            (1, 1),
            "{tag}: a share of 1, one CPU shown\n{out}"
        );
    }
    members
}

/// Placement: two working members of one tree, each with a share of 1 on a
/// machine with 2 or more CPUs, are shown disjoint CPUs by their virtual
/// affinity masks (spread by rank in the tree).
#[test]
fn members_of_a_tree_are_shown_disjoint_cpus() {
    let _serial = serial();
    if cpus() < 2 {
        eprintln!("skipped: one CPU, nothing to spread over");
        return;
    }
    let m = two_placed_members("", &[]);
    assert_ne!(m[0].2, m[1].2, "both were shown the same CPU: {m:?}");
}

/// Placement under `confine`: the same two members each start 2 spinning
/// threads (over their share of 1), which are pinned, as the kernel reports
/// through the raw system call, to one CPU each, disjoint between members.
#[test]
fn confine_pins_members_of_a_tree_to_disjoint_cpus() {
    let _serial = serial();
    if cpus() < 2 {
        eprintln!("skipped: one CPU, nothing to spread over");
        return;
    }
    let m = two_placed_members("threads", &[("THROTTLE_POLICY", "confine")]);
    for (tag, _, _, real) in &m {
        assert_eq!(real.len(), 1, "{tag}: confined to one CPU: {m:?}");
    }
    assert_ne!(m[0].3, m[1].3, "both were pinned to the same CPU: {m:?}");
}

/// A tree whose only other members ended by `os._exit` (multiprocessing's
/// workers: no destructor runs, only the library's `_exit` hook) leaves no
/// ledger file behind: the parent (the ledger's creator) exits right after
/// joining them.
#[test]
fn a_pool_that_ends_by_os_exit_leaves_no_ledger_file() {
    const SCRIPT: &str = r#"
import os
from multiprocessing import Pool
import numpy
def task(i):
    a = numpy.ones((64, 64))
    return float((a @ a).sum())
if __name__ == "__main__":
    print("ledger=%s" % os.environ.get("THROTTLE_LEDGER", ""), flush=True)
    with Pool(2) as p:
        print("sums=%s" % p.map(task, range(4)), flush=True)
        p.close()
        p.join()
"#;
    let _serial = serial();
    for round in 0..5 {
        let out = python_at_budget_2(SCRIPT);
        let ledger = out.get("ledger");
        assert!(!ledger.is_empty(), "no ledger was created\n{out}");
        let outlived = Path::new(&ledger).exists();
        let _ = std::fs::remove_file(&ledger);
        assert!(
            !outlived,
            "round {round}: the ledger {ledger} outlived its tree\n{out}"
        );
    }
}

/// The ledger's creator `exec`s another program (`throttle run -- env X=1
/// cmd` does, as does a shell's `exec`): the same process is still the
/// creator. A member of its tree is killed with SIGKILL (it never leaves);
/// at the end the creator reclaims it and removes the ledger. The ledger is
/// made in a runtime directory of the test's own, empty afterwards.
#[test]
fn a_creator_that_execs_still_removes_its_ledger() {
    let dir = TempDir::new("tree-creator-exec");
    let runtime = common::runtime_dir(&dir.0);
    let ready = dir.0.join("ready");
    let script = format!(
        "echo ledger=$THROTTLE_LEDGER\n\
         (touch {ready}; exec sleep 60) &\n\
         i=0; while [ ! -e {ready} ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done\n\
         kill -9 $!\nwait\necho done=1\n",
        ready = sh_quote(&ready)
    );
    let out = Run::new("env")
        .args(["X=1", "/bin/sh", "-c", &script])
        .preload(true)
        .env("THROTTLE_THREADS", "2")
        .env("XDG_RUNTIME_DIR", &runtime)
        .run();
    out.assert_success();
    assert_eq!(out.num("done"), 1, "{out}");
    let ledger = out.get("ledger");
    assert!(
        ledger.starts_with(runtime.to_str().unwrap()),
        "the ledger is not in the test's runtime directory: {ledger:?}\n{out}"
    );
    let left = common::dir_entries(&runtime);
    assert!(left.is_empty(), "the ledger stayed: {left:?}\n{out}");
}

/// At budget 1 (no process has a steward, so no member looks for the
/// dead): the parent claims, its fork child claims and then ends by `how`
/// (Python code run in the child); once the child is reaped, the parent runs
/// `throttle info` (in its tree). Returns the run, the child's exit status
/// and the `state` column of the parent's and the child's rows (None: no
/// row).
fn info_after_a_child_ends(how: &str) -> (common::Output, i64, Option<String>, Option<String>) {
    let script = format!(
        r#"
import os, signal, subprocess, sys
os.cpu_count()
child = os.fork()
if child == 0:
    os.cpu_count()
    {how}
_, status = os.waitpid(child, 0)
print("parent=%d\nchild=%d\nstatus=%d" % (os.getpid(), child, os.waitstatus_to_exitcode(status)))
info = subprocess.run([sys.argv[1], "info"], capture_output=True, text=True)
print("info_status=%d" % info.returncode)
print(info.stdout, end="")
"#
    );
    let out = Run::new(python())
        .args(["-c", &script])
        .arg(throttle_bin())
        .preload(true)
        .env("THROTTLE_THREADS", "1")
        .run();
    out.assert_success();
    assert_eq!(out.num("info_status"), 0, "{out}");
    let stdout = out.stdout_str();
    assert!(stdout.contains("ledger:    /"), "no ledger\n{out}");
    let state = |pid: i64| {
        stdout
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|w| w.first() == Some(&pid.to_string().as_str()))
            .and_then(|w| w.get(1).map(|s| s.to_string()))
    };
    let (parent, child) = (state(out.num("parent")), state(out.num("child")));
    let status = out.num("status");
    (out, status, parent, child)
}

/// A member that ends by `os._exit` (no destructor runs) gives its slot back
/// as it ends, not when another member next looks for the dead: `throttle
/// info` right after lists the parent, working, and not the child.
#[test]
fn a_member_ended_by_os_exit_leaves_the_ledger_at_once() {
    let (out, status, parent, child) = info_after_a_child_ends("os._exit(3)");
    assert_eq!(status, 3, "{out}");
    assert_eq!(parent.as_deref(), Some("working"), "{out}");
    assert_eq!(child, None, "the child still holds a slot\n{out}");
}

/// A member killed with `SIGKILL` cannot leave: until a steward reclaims
/// its slot, `throttle info` shows it as gone, not working.
#[test]
fn throttle_info_shows_a_killed_member_as_gone() {
    let (out, status, parent, child) =
        info_after_a_child_ends("os.kill(os.getpid(), signal.SIGKILL)");
    assert_eq!(status, -9, "{out}");
    assert_eq!(parent.as_deref(), Some("working"), "{out}");
    assert_eq!(child.as_deref(), Some("gone"), "{out}");
    assert!(
        out.stdout_str().contains("and 1 gone without leaving"),
        "{out}"
    );
}

/// Two processes share B; one is killed with SIGKILL (so it never says
/// goodbye); the survivor's pool grows back to the whole budget.
///
/// B is the machine's CPU count (at most 4, rounded down to even) rather than
/// a fixed 4: a pool is never sized above the CPUs the process can use, so on
/// a 2-CPU machine B=4 would give 2 before and after the kill and show
/// nothing. Here, on 2 CPUs: B=2, 1 each, then 2.
#[test]
fn sigkill_of_a_member_gives_its_share_back() {
    let _serial = serial();
    let n = cpus();
    if n < 2 {
        eprintln!("skipped: one CPU, a pool cannot be seen to grow");
        return;
    }
    let budget = (n.min(4) / 2) * 2;
    let share = budget / 2;
    let mut tree = Tree::start(
        "sigkill",
        2,
        &[("THROTTLE_THREADS", &budget.to_string())],
        "",
    );
    tree.wait_ready();
    let both: HashMap<String, i64> = tree.tags.iter().map(|t| (t.clone(), share)).collect();
    let split = tree.wait_for(&both, SETTLE);
    assert!(
        split.is_some(),
        "B={budget}, 2 processes: both pools should be {share}; latest {:?}\n{}",
        tree.latest(),
        tree.sh
    );
    let victim = tree.worker_pid("p0");
    // SAFETY: kill has no memory-safety preconditions; victim is our grandchild.
    assert_eq!(unsafe { libc::kill(victim, libc::SIGKILL) }, 0, "kill p0");
    let killed = Instant::now();
    let survivor: HashMap<String, i64> = [("p1".to_string(), budget)].into();
    let grown = tree.wait_for(&survivor, SETTLE);
    let msg = format!(
        "B={budget}: both at {share} after {} ms; after SIGKILL of p0 (pid {victim}) the \
         survivor {}",
        split.unwrap().as_millis(),
        match grown {
            Some(d) => format!("reached {budget} after {} ms", d.as_millis()),
            None => format!(
                "did not reach {budget} within {} s (latest {:?})",
                SETTLE.as_secs(),
                tree.latest().get("p1")
            ),
        }
    );
    eprintln!(
        "sigkill: {msg} (since the kill: {} ms)",
        killed.elapsed().as_millis()
    );
    assert!(grown.is_some(), "{msg}\n{}", tree.sh);
    tree.more_lines(&["p1".to_string()], 3);
    assert_eq!(
        tree.latest().get("p1"),
        Some(&vec![budget]),
        "the survivor's pool did not stay at {budget}: {msg}\n{}",
        tree.sh
    );
    tree.finish();
}

/// Two working members are killed with `SIGKILL` at once, so that no
/// steward is left to reclaim their slots; a process that starts working
/// afterwards, alone, gets the whole budget, not the share it would have
/// beside two dead members. (Before, the dead held their shares until the
/// tree's creator ended.) The parent, which never works, reaps them first.
#[test]
fn members_killed_together_give_their_shares_to_the_next_worker() {
    let script = r#"
import os, signal, subprocess, sys
work = "import os, sys, time; print(os.cpu_count(), flush=True); time.sleep(60)"
a = subprocess.Popen([sys.executable, "-c", work], stdout=subprocess.PIPE)
b = subprocess.Popen([sys.executable, "-c", work], stdout=subprocess.PIPE)
print("a=%s\nb=%s" % (a.stdout.readline().decode().strip(), b.stdout.readline().decode().strip()))
for p in (a, b):
    p.send_signal(signal.SIGKILL)
for p in (a, b):
    p.wait()
c = subprocess.run([sys.executable, "-c", "import os; print(os.cpu_count())"], capture_output=True, text=True)
print("c=%s" % c.stdout.strip())
"#;
    let out = Run::new(python())
        .args(["-c", script])
        .preload(true)
        .env("THROTTLE_THREADS", "2")
        .run_ok();
    let n = cpus().min(2);
    assert!(
        (1..=n).contains(&out.num("a")) && (1..=n).contains(&out.num("b")),
        "the workers' CPU counts, before the kill, are shares of the budget\n{out}"
    );
    assert_eq!(
        out.num("c"),
        n,
        "after both workers were killed, a new worker alone should get the budget\n{out}"
    );
}

/// The budget file changes under a running process: its pool shrinks to the
/// new budget, then grows back when the file is restored.
#[test]
fn budget_file_change_resizes_a_running_process() {
    let _serial = serial();
    let n = cpus();
    if n < 2 {
        eprintln!("skipped: one CPU, a pool cannot be seen to shrink");
        return;
    }
    let dir = TempDir::new("budget-file-test");
    let budget = dir.0.join("budget");
    std::fs::write(&budget, "4\n").expect("write the budget file");
    let budget_s = budget.to_str().expect("UTF-8 path").to_string();
    let mut tree = Tree::start("budget-file", 1, &[("THROTTLE_BUDGET_FILE", &budget_s)], "");
    tree.wait_ready();
    let before = 4.min(n);
    let p0 = |v: i64| -> HashMap<String, i64> { [("p0".to_string(), v)].into() };
    let first = tree.wait_for(&p0(before), SETTLE);
    assert!(
        first.is_some(),
        "budget file 4: the pool should be {before} ({n} CPUs); latest {:?}\n{}",
        tree.latest(),
        tree.sh
    );

    // As an administrator would: `echo 1 > file` (truncate and rewrite).
    std::fs::write(&budget, "1\n").expect("rewrite the budget file");
    let shrunk = tree.wait_for(&p0(1), SETTLE);
    let msg_shrink = match shrunk {
        Some(d) => format!("4 -> 1: pool 1 after {} ms", d.as_millis()),
        None => format!(
            "4 -> 1: pool not 1 within {} s (latest {:?})",
            SETTLE.as_secs(),
            tree.latest().get("p0")
        ),
    };
    eprintln!("budget file: {msg_shrink}");
    assert!(shrunk.is_some(), "{msg_shrink}\n{}", tree.sh);

    std::fs::write(&budget, "4\n").expect("restore the budget file");
    let grown = tree.wait_for(&p0(before), SETTLE);
    let msg_grow = match grown {
        Some(d) => format!("1 -> 4: pool {before} again after {} ms", d.as_millis()),
        None => format!(
            "1 -> 4: pool not back to {before} within {} s (latest {:?})",
            SETTLE.as_secs(),
            tree.latest().get("p0")
        ),
    };
    eprintln!("budget file: {msg_grow}");
    assert!(grown.is_some(), "{msg_shrink}; {msg_grow}\n{}", tree.sh);
    tree.finish();
}

/// A budget file rewritten after the process started but before it first
/// claims (so before its steward exists) is still picked up: the process
/// rewrites its own file from 4 to 1, atomically, before it first asks for
/// its CPU count, then waits for `os.cpu_count()` to say 1. Its exit report
/// keeps the largest cap it had, `max_cap=4` (it started at 4), beside
/// `cap=1`, and its event log's `exit` event says the same.
#[test]
fn a_budget_file_rewritten_before_the_first_claim_is_seen() {
    const SCRIPT: &str = r#"
import os, sys, time
path = sys.argv[1]
with open(path + ".new", "w") as f:
    f.write("1\n")
os.replace(path + ".new", path)
deadline = time.monotonic() + 30
while os.cpu_count() != 1 and time.monotonic() < deadline:
    time.sleep(0.02)
print("last=%d" % os.cpu_count())
"#;
    let _serial = serial();
    let n = cpus();
    if n < 2 {
        eprintln!("skipped: one CPU, the cap cannot fall");
        return;
    }
    let dir = TempDir::new("max-cap-test");
    let budget = dir.0.join("budget");
    std::fs::write(&budget, "4\n").expect("write the budget file");
    let log = dir.0.join("events.jsonl");
    let out = Run::new(python())
        .args(["-c", SCRIPT])
        .arg(&budget)
        .reported()
        .env("THROTTLE_BUDGET_FILE", &budget)
        .env("THROTTLE_LOG_FILE", &log)
        .run_ok();
    assert_eq!(
        out.num("last"),
        1,
        "the budget file's 1 was not applied\n{out}"
    );
    assert_eq!(out.report_num("cap"), 1, "{out}");
    assert_eq!(out.report_num("max_cap"), 4, "{out}");
    let events = std::fs::read_to_string(&log).expect("read the event log");
    let exit = events
        .lines()
        .find(|l| l.contains(r#""event":"exit""#))
        .unwrap_or_else(|| panic!("no exit event in\n{events}\n{out}"));
    for (key, value) in [("cap", 1), ("max_cap", 4)] {
        assert!(
            exit.contains(&format!(r#""{key}":{value},"#)),
            "exit event: want {key}={value}: {exit}\n{out}"
        );
    }
}

/// `throttle info`, run by the preloaded shell (so with the THROTTLE_LEDGER
/// it exported) while two workers hold their shares, names the ledger and
/// lists both workers' pids.
#[test]
fn throttle_info_shows_the_ledger_and_its_members() {
    let _serial = serial();
    let go_dir = TempDir::new("tree-info-go");
    let go = go_dir.0.join("go");
    let tail = format!(
        "i=0; while [ ! -e {go} ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done\n\
         echo '=== info begin'\n{throttle} info\necho \"=== info end status=$?\"\n",
        go = sh_quote(&go),
        throttle = sh_quote(throttle_bin())
    );
    let mut tree = Tree::start("info", 2, &[("THROTTLE_THREADS", "2")], &tail);
    tree.wait_ready();
    let both: HashMap<String, i64> = tree.tags.iter().map(|t| (t.clone(), 1)).collect();
    // Both have claimed once they print; wait for the split (1 each) so the
    // ledger is in its steady state, but run info even if it never comes.
    let split = tree.wait_for(&both, SETTLE);
    std::fs::write(&go, "").expect("create the go file");
    let ended = tree.sh.poll(Duration::from_secs(60), |lines| {
        lines
            .iter()
            .any(|l| l.text.starts_with("=== info end"))
            .then_some(())
    });
    assert!(ended.is_some(), "throttle info did not finish\n{}", tree.sh);
    std::fs::write(&tree.stop, "").expect("create the stop file");

    let ledger = tree.shell_value("ledger").unwrap_or_default();
    let lines = tree.sh.lines();
    let begin = lines
        .iter()
        .position(|l| l.text == "=== info begin")
        .expect("begin marker");
    let end = lines
        .iter()
        .position(|l| l.text.starts_with("=== info end"))
        .expect("end marker");
    // Lines the workers printed meanwhile are not info's.
    let info: Vec<&str> = lines[begin + 1..end]
        .iter()
        .filter(|l| {
            !tree
                .tags
                .iter()
                .any(|t| l.text.starts_with(&format!("{t} ")))
        })
        .map(|l| l.text.as_str())
        .collect();
    let info_text = info.join("\n");
    let status = lines[end].text.clone();
    let pids: Vec<i32> = tree.tags.iter().map(|t| tree.worker_pid(t)).collect();
    let has_pid = |pid: i32| {
        info_text
            .split(|c: char| !c.is_ascii_digit())
            .any(|w| w == pid.to_string())
    };
    let msg = format!(
        "split to 1 each: {:?}; ledger={ledger:?}; worker pids {pids:?}; {status}; \
         throttle info printed:\n{info_text}",
        split.map(|d| d.as_millis())
    );
    assert!(status.ends_with("status=0"), "{msg}\n{}", tree.sh);
    assert!(
        !ledger.is_empty(),
        "the shell got no THROTTLE_LEDGER: {msg}"
    );
    assert!(
        info_text.contains(&ledger),
        "throttle info does not name the ledger {ledger}: {msg}"
    );
    for pid in &pids {
        assert!(
            has_pid(*pid),
            "throttle info does not list member {pid}: {msg}"
        );
    }
    // Once split, each worker's row reads `PID  working  1  python...`, and
    // the shell that started them is a launcher holding nothing.
    let row = |pid: i32| {
        info.iter()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|w| w.first() == Some(&pid.to_string().as_str()))
            .unwrap_or_default()
    };
    if split.is_some() {
        for pid in &pids {
            assert_eq!(
                row(*pid).get(1..3),
                Some(&["working", "1"][..]),
                "member {pid}'s row: {msg}"
            );
        }
    }
    assert_eq!(
        row(tree.sh.pid()).get(1..3),
        Some(&["launcher", "-"][..]),
        "the shell's row: {msg}"
    );
    eprintln!("throttle info: {msg}");
    tree.finish();
}

/// The share is put in force by the library while the program is inside
/// OpenBLAS: a worker doing matrix products back to back while its budget
/// file flips between 1 and 2 every 50 ms for 5 s. Every product stays
/// right, the process neither crashes nor hangs, and it ends normally.
#[test]
fn budget_flips_during_blas_calls_break_nothing() {
    budget_flips_break_nothing(None);
}

/// The same under Debian's OpenBLAS, the pthreads build (whose setter the
/// steward calls) and the OpenMP build (whose setter it never calls from
/// its own thread: that build frees per-thread buffers in it, and its
/// teams are lowered at each region instead).
#[test]
fn budget_flips_under_debian_openblas_break_nothing() {
    for build in ["openblas-pthread", "openblas-openmp"] {
        let dir = format!("/usr/lib/x86_64-linux-gnu/{build}");
        let mut flags = vec![
            format!("{dir}/libopenblas.so.0"),
            format!("-Wl,-rpath,{dir}"),
            format!("-I{}", common::repo_root().join("c_tests").display()),
        ];
        if build.ends_with("openmp") {
            flags.push("-fopenmp".into());
        }
        let worker = common::c_program_with(
            "blas_worker.c",
            &format!("blas_worker_{build}"),
            "cc",
            &flags,
        );
        budget_flips_break_nothing(Some(&worker));
    }
}

fn budget_flips_break_nothing(program: Option<&Path>) {
    let _serial = serial();
    let dir = TempDir::new("flips-test");
    let budget = dir.0.join("budget");
    std::fs::write(&budget, "2\n").expect("write the budget file");
    let budget_s = budget.to_str().expect("UTF-8 path").to_string();
    let mut tree = Tree::start_program(
        "flips",
        program,
        1,
        &[("THROTTLE_BUDGET_FILE", &budget_s)],
        |_| String::new(),
        "busy",
    );
    tree.wait_ready();
    let mut seen = std::collections::BTreeSet::new();
    let t0 = Instant::now();
    let mut flips = 0;
    while t0.elapsed() < Duration::from_secs(5) {
        flips += 1;
        std::fs::write(&budget, if flips % 2 == 0 { "2\n" } else { "1\n" })
            .expect("rewrite the budget file");
        thread::sleep(Duration::from_millis(50));
        if let Some(v) = tree.latest().get("p0") {
            seen.insert(v.clone());
        }
    }
    tree.finish();
    let done = tree
        .sh
        .lines()
        .into_iter()
        .find(|l| l.text.starts_with("p0 done"))
        .map(|l| l.text)
        .unwrap_or_default();
    let kv = common::kv(&done.replace(' ', "\n"));
    let gemms: i64 = kv.get("gemms").and_then(|v| v.parse().ok()).unwrap_or(-1);
    let bad: i64 = kv.get("bad").and_then(|v| v.parse().ok()).unwrap_or(-1);
    let msg = format!(
        "{flips} flips; pool sizes seen {seen:?}; `{done}`; libthrottle lines: {:?}",
        common::throttle_lines(&tree.sh.stderr_str())
    );
    eprintln!("budget flips: {msg}");
    assert!(gemms > 0 && bad == 0, "{msg}\n{}", tree.sh);
}

/// The OpenMP worker (c_tests/omp_worker.c), built against libgomp or LLVM's
/// libomp.
fn omp_worker(llvm: bool) -> PathBuf {
    if llvm {
        common::c_program_with(
            "omp_worker.c",
            "omp_worker_llvm",
            "clang",
            &["-fopenmp=libomp".to_string()],
        )
    } else {
        common::c_program_with(
            "omp_worker.c",
            "omp_worker_gomp",
            "cc",
            &["-fopenmp".to_string()],
        )
    }
}

/// Two OpenMP processes under a budget of 2 share it (a team of 1 each);
/// when one is killed, the other's teams grow back to 2 at its next
/// regions, whether they ask for the default team or `num_threads(64)`.
/// Before: the default team stayed at the share the process started with
/// (libgomp), or never followed the share at all (LLVM's libomp, whose
/// default regions the library did not see).
fn omp_teams_follow_the_share(llvm: bool, request: bool) {
    let _serial = serial();
    if cpus() < 2 {
        eprintln!("skipped: one CPU, a team cannot be seen to grow");
        return;
    }
    let program = omp_worker(llvm);
    let extra = if request { "busy request" } else { "busy" };
    let mut tree = Tree::start_program(
        "omp-teams",
        Some(&program),
        2,
        &[("THROTTLE_THREADS", "2")],
        |_| String::new(),
        extra,
    );
    tree.wait_ready();
    let both: HashMap<String, i64> = tree.tags.iter().map(|t| (t.clone(), 1)).collect();
    let split = tree.wait_for(&both, SETTLE);
    assert!(
        split.is_some(),
        "budget 2, 2 OpenMP processes: both teams should be 1; latest {:?}\n{}",
        tree.latest(),
        tree.sh
    );
    tree.more_lines(&tree.tags.clone(), 3);
    assert_eq!(
        tree.latest().values().cloned().collect::<Vec<_>>(),
        vec![vec![1], vec![1]],
        "teams did not stay at the share\n{}",
        tree.sh
    );
    let victim = tree.worker_pid("p0");
    // SAFETY: kill has no memory-safety preconditions; victim is our grandchild.
    assert_eq!(unsafe { libc::kill(victim, libc::SIGKILL) }, 0, "kill p0");
    let survivor: HashMap<String, i64> = [("p1".to_string(), 2)].into();
    let grown = tree.wait_for(&survivor, SETTLE);
    assert!(
        grown.is_some(),
        "after p0 was killed, p1's team did not grow back to 2 within {} s (latest {:?})\n{}",
        SETTLE.as_secs(),
        tree.latest().get("p1"),
        tree.sh
    );
    tree.more_lines(&["p1".to_string()], 3);
    assert_eq!(tree.latest().get("p1"), Some(&vec![2]), "{}", tree.sh);
    tree.finish();
}

#[test]
fn libgomp_default_teams_follow_the_share() {
    omp_teams_follow_the_share(false, false);
}

#[test]
fn libgomp_requested_teams_follow_the_share() {
    omp_teams_follow_the_share(false, true);
}

#[test]
fn llvm_openmp_default_teams_follow_the_share() {
    omp_teams_follow_the_share(true, false);
}

#[test]
fn llvm_openmp_requested_teams_follow_the_share() {
    omp_teams_follow_the_share(true, true);
}

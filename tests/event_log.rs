//! The event log (`THROTTLE_LOG_FILE`) and `throttle report`: many processes
//! append to one log at once without ever interleaving a line, every line is
//! strict JSON, each process writes one start (or fork) and one exit event
//! (also one that ends by `_exit`: Python's `os._exit`, `multiprocessing`'s
//! workers, a signal handler), the report names the program, its cap and its peak, and an unusable path
//! costs the program nothing but one warning.

mod common;

use common::{Output, Run};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use throttle_command::report::{parse_line, Event, Value};

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("event_log")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

/// Every line of the log, checked: newline-terminated, under 4 KiB, strict
/// JSON (by Python's `json`, independently of our reader) of a flat object,
/// and readable by the report's reader.
fn events(log: &Path) -> Vec<Event> {
    let bytes = std::fs::read(log).unwrap_or_else(|e| panic!("read {}: {e}", log.display()));
    assert!(bytes.ends_with(b"\n"), "the log ends mid-line");
    let checker = "import json, sys\n\
                   def bad(c): raise ValueError('constant ' + c)\n\
                   for n, line in enumerate(open(sys.argv[1], 'rb'), 1):\n    \
                       o = json.loads(line.decode('utf-8'), parse_constant=bad)\n    \
                       assert isinstance(o, dict), n\n    \
                       assert all(isinstance(v, (str, int, bool)) for v in o.values()), n\n\
                   print('valid=%d' % n)\n";
    let out = Run::new(common::python())
        .args(["-c", checker])
        .arg(log)
        .run();
    out.assert_success();
    let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
    assert_eq!(out.num("valid"), lines.len() as i64, "{out}");
    lines
        .iter()
        .map(|line| {
            assert!(line.len() < 4096, "a line of {} bytes", line.len());
            parse_line(&line[..line.len() - 1]).unwrap_or_else(|| {
                panic!(
                    "the report's reader rejects {}",
                    String::from_utf8_lossy(line)
                )
            })
        })
        .collect()
}

fn text<'a>(e: &'a Event, key: &str) -> &'a str {
    match e.get(key) {
        Some(Value::Str(s)) => s,
        other => panic!("`{key}` is {other:?} in {e:?}"),
    }
}

fn num(e: &Event, key: &str) -> i64 {
    match e.get(key) {
        Some(Value::Num(n)) => *n as i64,
        other => panic!("`{key}` is {other:?} in {e:?}"),
    }
}

/// The events of each pid, in the order they were written.
fn by_pid(events: &[Event]) -> BTreeMap<i64, Vec<&Event>> {
    let mut map: BTreeMap<i64, Vec<&Event>> = BTreeMap::new();
    for e in events {
        map.entry(num(e, "pid")).or_default().push(e);
    }
    map
}

/// Each pid's stream is complete: one start (or fork) first, one exit last.
fn assert_complete(pid: i64, stream: &[&Event]) {
    let kinds: Vec<&str> = stream.iter().map(|e| text(e, "event")).collect();
    let begins = kinds
        .iter()
        .filter(|k| matches!(**k, "start" | "fork"))
        .count();
    let exits = kinds.iter().filter(|k| **k == "exit").count();
    assert_eq!((begins, exits), (1, 1), "pid {pid}: {kinds:?}");
    assert!(matches!(kinds[0], "start" | "fork"), "pid {pid}: {kinds:?}");
    assert_eq!(kinds[kinds.len() - 1], "exit", "pid {pid}: {kinds:?}");
}

fn throttle(args: &[&str]) -> Output {
    Run::new(common::throttle_bin()).args(args).run()
}

/// 8 processes (two each under wait, fail, confine and audit, cap 2, 12
/// CPU-bound threads each) append to one log at once.
#[test]
fn concurrent_processes_write_complete_streams_and_the_report_reads_them() {
    let dir = scratch("concurrent");
    let log = dir.join("events.jsonl");
    let program = common::c_program("concurrency");
    let policies = ["wait", "fail", "confine", "audit"];
    let runs: Vec<_> = (0..8)
        .map(|i| {
            let run = Run::new(&program)
                .arg("12")
                .preload(true)
                .env("THROTTLE_THREADS", "2")
                .env("THROTTLE_POLICY", policies[i % 4])
                .env("THROTTLE_LOG_FILE", &log)
                .env("SLURM_JOB_ID", "4242");
            std::thread::spawn(move || run.run())
        })
        .collect();
    let outputs: Vec<Output> = runs.into_iter().map(|t| t.join().unwrap()).collect();
    for out in &outputs {
        out.assert_success();
        assert!(out.throttle_lines().is_empty(), "{out}");
        // The library never writes to stdout: only the program's own lines.
        for line in out.stdout_str().lines() {
            assert!(
                ["created=", "eagain=", "other_errors=", "finished=", "peak="]
                    .iter()
                    .any(|k| line.starts_with(k)),
                "{out}"
            );
        }
    }

    let events = events(&log);
    let streams = by_pid(&events);
    assert_eq!(streams.len(), 8, "{} pids", streams.len());
    let mut peaks = Vec::new();
    let mut over_cap = 0;
    for (pid, stream) in &streams {
        assert_complete(*pid, stream);
        let start = stream[0];
        assert_eq!(text(start, "event"), "start");
        assert_eq!(text(start, "exe"), program.to_str().unwrap());
        assert_eq!(text(start, "slurm_job_id"), "4242");
        assert_eq!(text(start, "source"), "THROTTLE_THREADS");
        assert_eq!(num(start, "cap"), 2);
        let exit = stream[stream.len() - 1];
        assert_eq!(num(exit, "cap"), 2);
        // Under `wait` a worker may end before the next creation: fewer.
        assert!((1..=11).contains(&num(exit, "over_cap")), "{exit:?}");
        let count = |kind: &str| stream.iter().filter(|e| text(e, "event") == kind).count() as i64;
        // Every counted action was logged (fewer than the rate limit here).
        assert_eq!(count("refuse"), num(exit, "refused"), "{exit:?}");
        assert_eq!(count("confine"), num(exit, "confined"), "{exit:?}");
        assert_eq!(count("wait"), num(exit, "waited"), "{exit:?}");
        match text(start, "policy") {
            "fail" => assert_eq!(num(exit, "refused"), 11, "{exit:?}"),
            "confine" => assert_eq!(num(exit, "confined"), 11, "{exit:?}"),
            _ => {}
        }
        peaks.push(num(exit, "peak"));
        over_cap += num(exit, "over_cap");
    }

    // The report names the program, its cap and its peak, in job 4242.
    let out = throttle(&["report", log.to_str().unwrap()]);
    out.assert_success();
    let stdout = out.stdout_str();
    assert!(stdout.contains("job 4242"), "{out}");
    let row = stdout
        .lines()
        .find(|l| l.ends_with(program.to_str().unwrap()))
        .unwrap_or_else(|| panic!("no row for the program\n{out}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    // procs cap peak over_cap waits refusals confines clamps program
    assert_eq!(cells[0], "8", "{row}");
    assert_eq!(cells[1], "2", "{row}");
    assert_eq!(cells[2], peaks.iter().max().unwrap().to_string(), "{row}");
    assert_eq!(cells[3], over_cap.to_string(), "{row}");
    let ranking = stdout
        .split("programs that tried hardest")
        .nth(1)
        .unwrap_or_else(|| panic!("no ranking\n{out}"));
    assert!(
        ranking.contains(program.to_str().unwrap()),
        "the program tried to exceed its cap\n{out}"
    );
    assert!(out.stderr_str().is_empty(), "{out}");

    // Garbage and a cut line are counted on stderr; the rest still reads.
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.extend_from_slice(b"not json\n{\"event\":\"exit\",\"pid\":1");
    let damaged = dir.join("damaged.jsonl");
    std::fs::write(&damaged, bytes).unwrap();
    let out = throttle(&["report", damaged.to_str().unwrap()]);
    out.assert_success();
    assert!(out.stderr_str().contains("skipped 2 unreadable"), "{out}");
    assert!(out.stdout_str().contains(row), "{out}");

    let out = throttle(&["report", "--json", log.to_str().unwrap()]);
    out.assert_success();
    assert!(out.stdout_str().contains("\"processes\":8,"), "{out}");
}

/// Forked children share the parent's open log: each writes its own `fork`
/// event, its refusals and its exit, all at the same moment.
#[test]
fn forked_children_log_under_their_own_pid() {
    let dir = scratch("fork");
    let log = dir.join("events.jsonl");
    // Per-process caps: each child gets the whole budget of 2 (in a shared
    // tree budget the 9 working processes would get 1 each).
    let out = Run::c("fork_burst")
        .args(["8", "8"])
        .preload(true)
        .env("THROTTLE_SCOPE", "process")
        .env("THROTTLE_THREADS", "2")
        .env("THROTTLE_POLICY", "fail")
        .env("THROTTLE_LOG_FILE", &log)
        .run();
    out.assert_success();
    assert_eq!(out.num("failed"), 0, "{out}");
    assert_eq!(out.stdout_str(), "children=8\nfailed=0\n", "{out}");

    let events = events(&log);
    let streams = by_pid(&events);
    assert_eq!(streams.len(), 9, "the parent and 8 children");
    let parent = streams
        .iter()
        .find(|(_, s)| text(s[0], "event") == "start")
        .map(|(pid, _)| *pid)
        .expect("the parent's start event");
    for (pid, stream) in &streams {
        assert_complete(*pid, stream);
        if *pid != parent {
            assert_eq!(text(stream[0], "event"), "fork");
            assert_eq!(num(stream[0], "ppid"), parent);
            let exit = stream[stream.len() - 1];
            // 8 sleeping threads on a cap of 2: main + 1 created, 7 refused.
            assert_eq!(num(exit, "refused"), 7, "{exit:?}");
            assert_eq!(num(exit, "peak"), 2, "{exit:?}");
        }
    }
}

/// Past the rate limit events are only counted: the exit event has the total.
#[test]
fn events_are_rate_limited_and_the_exit_has_the_totals() {
    let dir = scratch("limit");
    let log = dir.join("events.jsonl");
    let out = Run::c("concurrency")
        .arg("300")
        .preload(true)
        .env("THROTTLE_THREADS", "2")
        .env("THROTTLE_POLICY", "fail")
        .env("THROTTLE_LOG_FILE", &log)
        .run();
    out.assert_success();
    let events = events(&log);
    let refusals = events
        .iter()
        .filter(|e| text(e, "event") == "refuse")
        .count();
    assert_eq!(refusals, 100);
    let exit = events.last().unwrap();
    assert_eq!(text(exit, "event"), "exit");
    assert_eq!(num(exit, "refused"), out.num("eagain"), "{out}");
    assert!(num(exit, "refused") > 100, "{exit:?}");
}

/// A path that cannot be opened: exactly one warning, the program's stdout
/// and exit status unchanged, no log. Also a path that names the program's
/// own standard output (a pipe here) is refused.
#[test]
fn an_unusable_log_path_costs_one_warning_and_nothing_else() {
    let dir = scratch("unusable");
    let plain = Run::c("print_hello").arg("3").run();
    assert_eq!(plain.code(), 3);
    for path in [
        dir.clone(),
        dir.join("missing").join("events.jsonl"),
        PathBuf::from("/dev/stdout"),
    ] {
        let out = Run::c("print_hello")
            .arg("3")
            .preload(true)
            .env("THROTTLE_LOG_FILE", &path)
            .run();
        assert_eq!(out.code(), 3, "{out}");
        assert_eq!(out.stdout, plain.stdout, "{out}");
        let lines = out.throttle_lines();
        assert_eq!(lines.len(), 1, "{out}");
        assert!(lines[0].contains("THROTTLE_LOG_FILE"), "{out}");
        assert!(!dir.join("missing").exists());
    }
}

/// With the log on, the library still writes nothing to stdout, even when
/// the log's path is the program's standard output as a regular file.
#[test]
fn the_log_never_reaches_stdout() {
    let dir = scratch("stdout");
    let log = dir.join("events.jsonl");
    let out = Run::c("print_hello")
        .preload(true)
        .env("THROTTLE_LOG_FILE", &log)
        .env("THROTTLE_REPORT", "1")
        .run();
    out.assert_success();
    assert_eq!(out.stdout_str(), "hello=world\n", "{out}");
    assert_eq!(out.report_num("peak"), 1, "{out}");
    let events = events(&log);
    let kinds: Vec<&str> = events.iter().map(|e| text(e, "event")).collect();
    assert_eq!(kinds, ["start", "exit"]);

    // `/dev/stdout` when stdout is a regular file: refused, not written.
    let file = dir.join("stdout.txt");
    let program = common::c_program("print_hello");
    let status = Command::new(&program)
        .env("LD_PRELOAD", common::lib_path())
        .env("THROTTLE_LOG_FILE", "/dev/stdout")
        .env_remove("THROTTLE_LOG")
        .stdout(std::fs::File::create(&file).unwrap())
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run print_hello");
    assert!(status.status.success());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "hello=world\n");
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert!(
        stderr.contains("THROTTLE_LOG_FILE '/dev/stdout' is the program's standard output"),
        "{stderr}"
    );
}

/// A program path with a quote, a backslash, a newline and invalid UTF-8
/// still gives strict JSON lines, and the path reads back (the invalid byte
/// as U+FFFD).
#[test]
fn odd_program_paths_are_escaped() {
    use std::os::unix::ffi::OsStrExt;
    let dir = scratch("odd");
    let log = dir.join("events.jsonl");
    let name = std::ffi::OsStr::from_bytes(b"we\"ird\\na\nme\xff\x01");
    let odd = dir.join(name);
    std::fs::copy(common::c_program("print_hello"), &odd).unwrap();
    let out = Run::new(&odd)
        .preload(true)
        .env("THROTTLE_LOG_FILE", &log)
        .run();
    out.assert_success();
    assert_eq!(out.stdout_str(), "hello=world\n", "{out}");
    let events = events(&log);
    assert_eq!(events.len(), 2);
    let expected = String::from_utf8_lossy(odd.as_os_str().as_bytes()).into_owned();
    for e in &events {
        assert_eq!(text(e, "exe"), expected);
        assert_eq!(text(e, "argv0"), expected);
    }
    let report = throttle(&["report", log.to_str().unwrap()]);
    report.assert_success();
    assert!(report.stdout_str().contains("no job"), "{report}");
}

/// Every Python process has the same `exe`: the log names the script or
/// module each one runs (never inline `-c` code), and the report gives each
/// script its own row.
#[test]
fn python_processes_are_told_apart_by_their_script() {
    let dir = scratch("scripts");
    let log = dir.join("events.jsonl");
    std::fs::write(dir.join("train.py"), "print('ran=train')\n").unwrap();
    std::fs::write(dir.join("score.py"), "print('ran=score')\n").unwrap();
    let train = dir.join("train.py").to_str().unwrap().to_string();
    let score = dir.join("score.py").to_str().unwrap().to_string();
    let runs: [(&[&str], &str); 4] = [
        (&["-u", &train], "ran=train"),
        (&[&score, "--fast"], "ran=score"),
        (&["-m", "json.tool", "--help"], "usage"),
        (&["-c", "print('ran=inline secret')"], "ran=inline"),
    ];
    for (args, printed) in runs {
        let out = Run::new(common::python())
            .args(args.iter().copied())
            .preload(true)
            .env("THROTTLE_LOG_FILE", &log)
            .run();
        out.assert_success();
        assert!(out.stdout_str().contains(printed), "{out}");
    }
    let events = events(&log);
    let starts: Vec<_> = events
        .iter()
        .filter(|e| text(e, "event") == "start")
        .collect();
    assert_eq!(starts.len(), 4, "{events:?}");
    let named: Vec<(Option<&str>, Option<&str>)> = starts
        .iter()
        .map(|e| {
            let field = |key| match e.get(key) {
                Some(Value::Str(s)) => Some(s.as_str()),
                _ => None,
            };
            (field("script"), field("module"))
        })
        .collect();
    assert_eq!(
        named,
        [
            (Some(train.as_str()), None),
            (Some(score.as_str()), None),
            (None, Some("json.tool")),
            (None, None)
        ]
    );
    let bytes = std::fs::read_to_string(&log).unwrap();
    assert!(
        !bytes.contains("secret"),
        "inline code reached the log:\n{bytes}"
    );

    let report = throttle(&["report", log.to_str().unwrap()]);
    report.assert_success();
    let stdout = report.stdout_str();
    for suffix in [&format!(" {train}"), &format!(" {score}"), " -m json.tool"] {
        assert!(
            stdout.lines().any(|l| l.ends_with(suffix)),
            "no row for{suffix}\n{report}"
        );
    }
}

/// A process that ends by `_exit` runs no destructor: the library's `_exit`
/// hook writes its exit event and report. Python's `os._exit` keeps its
/// status and its output, as without the library.
#[test]
fn a_process_ended_by_os_exit_writes_its_exit_event_and_report() {
    let dir = scratch("os_exit");
    let log = dir.join("events.jsonl");
    let code = "import os\nprint('out', flush=True)\nos._exit(7)\n";
    let plain = Run::new(common::python()).args(["-c", code]).run();
    assert_eq!(plain.code(), 7, "{plain}");
    let out = Run::new(common::python())
        .args(["-c", code])
        .preload(true)
        .env("THROTTLE_THREADS", "2")
        .env("THROTTLE_REPORT", "1")
        .env("THROTTLE_LOG_FILE", &log)
        .run();
    assert_eq!(out.code(), 7, "{out}");
    assert_eq!(out.stdout_str(), plain.stdout_str(), "{out}");
    assert!(out.throttle_lines().is_empty(), "{out}");
    let pid = out.report_num("pid");
    let events = events(&log);
    let streams = by_pid(&events);
    assert_eq!(
        streams.keys().copied().collect::<Vec<_>>(),
        [pid],
        "{events:?}"
    );
    assert_complete(pid, &streams[&pid]);
}

/// Every `multiprocessing` worker started by `fork` ends by `os._exit` (when
/// the pool is closed and joined; `terminate`, as leaving a `with` block
/// does, kills them with SIGTERM instead): each now has a complete stream in the log (its `fork` event, its `exit` event
/// with its peak) and an exit report, and `throttle report` counts it as
/// finished.
#[test]
fn multiprocessing_workers_log_their_exit() {
    let dir = scratch("pool_exit");
    let log = dir.join("events.jsonl");
    let code = "import multiprocessing as mp, os\n\
                def task(i):\n    return os.getpid(), i * i\n\
                if __name__ == '__main__':\n    \
                    pool = mp.get_context('fork').Pool(2)\n    \
                    results = pool.map(task, range(40), chunksize=1)\n    \
                    pool.close()\n    \
                    pool.join()\n    \
                    print('total=%d' % sum(r for _, r in results))\n    \
                    print('workers=%s' % ','.join(sorted({str(p) for p, _ in results})))\n";
    std::fs::write(dir.join("pool.py"), code).unwrap();
    let script = dir.join("pool.py");
    let plain = Run::new(common::python()).arg(&script).run();
    plain.assert_success();
    let out = Run::new(common::python())
        .arg(&script)
        .preload(true)
        .env("THROTTLE_THREADS", "2")
        .env("THROTTLE_REPORT", "1")
        .env("THROTTLE_LOG_FILE", &log)
        .run();
    out.assert_success();
    assert_eq!(out.get("total"), plain.get("total"), "{out}");
    assert!(out.throttle_lines().is_empty(), "{out}");
    let workers: Vec<i64> = common::num_list(&out.get("workers"));
    assert!(!workers.is_empty(), "{out}");
    let reported: Vec<i64> = common::reports(&out.stderr_str())
        .iter()
        .map(|r| common::report_num(r, "pid", &out))
        .collect();
    let events = events(&log);
    let streams = by_pid(&events);
    // Pool(2) has two workers; a worker that took no task is in the log
    // and the reports too, so count those, not only the ones that answered.
    assert_eq!(reported.len(), 3, "the parent and 2 workers\n{out}");
    assert_eq!(streams.len(), 3, "{events:?}");
    for pid in &workers {
        assert!(reported.contains(pid), "no report from worker {pid}\n{out}");
        let stream = &streams[pid];
        assert_complete(*pid, stream);
        assert_eq!(text(stream[0], "event"), "fork", "{stream:?}");
    }
    let report = throttle(&["report", log.to_str().unwrap()]);
    report.assert_success();
    let stdout = report.stdout_str();
    assert!(!stdout.contains("without an exit event"), "{report}");
}

/// `_exit` from a signal handler that interrupts malloc in a threaded
/// program: the hook's end-of-process work (exit event, leaving the ledger,
/// removing it as its creator, the report) allocates nothing and takes no
/// lock, so the program ends with its status every time instead of hanging
/// (`c_tests/exit_in_handler.c`; a hook that allocated hung in about half
/// of the rounds). The ledger is made in a runtime directory of the test's
/// own, which must be empty after each round.
#[test]
fn an_exit_from_a_signal_handler_ends_the_program_every_time() {
    const ROUNDS: usize = 20;
    let dir = scratch("handler");
    let log = dir.join("events.jsonl");
    let runtime = common::runtime_dir(&dir);
    for round in 0..ROUNDS {
        let out = Run::c("exit_in_handler")
            .preload(true)
            .env("THROTTLE_THREADS", "2")
            .env("THROTTLE_REPORT", "1")
            .env("THROTTLE_LOG_FILE", &log)
            .env("XDG_RUNTIME_DIR", &runtime)
            .run();
        assert_eq!(out.code(), 5, "round {round}\n{out}");
        assert_eq!(out.stdout_str(), "cpus=2\n", "round {round}\n{out}");
        assert_eq!(out.report()["ledger"], "yes", "round {round}\n{out}");
        let left = common::dir_entries(&runtime);
        assert!(
            left.is_empty(),
            "round {round}: the ledger stayed: {left:?}\n{out}"
        );
    }
    let events = events(&log);
    let streams = by_pid(&events);
    assert_eq!(streams.len(), ROUNDS, "{events:?}");
    for (pid, stream) in &streams {
        assert_complete(*pid, stream);
    }
}

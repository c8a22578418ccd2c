//! `throttle report FILE...`: reads event logs written under
//! `THROTTLE_LOG_FILE` and tells an admin which jobs overthread, and with
//! what library.
//!
//! The logs are JSON Lines of flat objects (strings, numbers, booleans), as
//! `crates/preload/src/events.rs` writes them. Each line is read by
//! `serde_json` and then held to exactly that shape: a line that is not one
//! flat object (cut short by a crash or a full disk, nested, or not JSON at
//! all) is counted, reported on stderr, and skipped. The tests read logs
//! with this reader too.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::process::ExitCode;

/// A JSON value of a flat object.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
}

impl Value {
    /// A scalar as a flat object's value; `None` for an array or an object,
    /// which are not part of the format.
    fn from_json(value: serde_json::Value) -> Option<Value> {
        match value {
            serde_json::Value::String(s) => Some(Value::Str(s)),
            serde_json::Value::Number(n) => n.as_f64().map(Value::Num),
            serde_json::Value::Bool(b) => Some(Value::Bool(b)),
            serde_json::Value::Null => Some(Value::Null),
            serde_json::Value::Array(_) | serde_json::Value::Object(_) => None,
        }
    }
}

/// One event: its fields by name (a repeated name keeps the last value).
pub type Event = BTreeMap<String, Value>;

/// Parses one line holding one flat JSON object. `None` for anything else:
/// invalid JSON (serde_json is strict: no trailing commas, leading zeros,
/// raw control characters in strings, lone surrogates, or numbers beyond an
/// `f64`), trailing bytes, nested objects or arrays, invalid UTF-8.
pub fn parse_line(line: &[u8]) -> Option<Event> {
    // A map, not `serde_json::Value`: anything but an object at the top
    // level is refused, and a repeated name keeps the last value.
    let object: BTreeMap<String, serde_json::Value> = serde_json::from_slice(line).ok()?;
    object
        .into_iter()
        .map(|(key, value)| Some((key, Value::from_json(value)?)))
        .collect()
}

fn text<'a>(event: &'a Event, key: &str) -> Option<&'a str> {
    match event.get(key) {
        Some(Value::Str(s)) => Some(s),
        _ => None,
    }
}

fn count(event: &Event, key: &str) -> Option<u64> {
    match event.get(key) {
        Some(Value::Num(n)) if *n >= 0.0 && n.fract() == 0.0 => Some(*n as u64),
        _ => None,
    }
}

fn signed(event: &Event, key: &str) -> Option<i64> {
    match event.get(key) {
        Some(Value::Num(n)) if n.fract() == 0.0 => Some(*n as i64),
        _ => None,
    }
}

/// The batch job a process belongs to, from the job ids its events carry.
pub fn job_of(event: &Event) -> Option<String> {
    ["slurm_job_id", "pbs_jobid", "lsb_jobid", "job_id"]
        .iter()
        .find_map(|key| text(event, key).filter(|s| !s.is_empty()))
        .map(str::to_string)
}

/// What enforcement did to a process, or to a program's processes summed
/// (the peak: the highest of them).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counts {
    pub peak: u64,
    pub over_cap: u64,
    pub waits: u64,
    pub refusals: u64,
    pub confinements: u64,
    pub clamps: u64,
}

impl Counts {
    /// The names: in the text report's header, then in the JSON report.
    const NAMES: [(&'static str, &'static str); 6] = [
        ("peak", "peak"),
        ("over_cap", "over_cap"),
        ("waits", "waits"),
        ("refusals", "refusals"),
        ("confines", "confinements"),
        ("clamps", "clamps"),
    ];

    fn values(&self) -> [u64; 6] {
        [
            self.peak,
            self.over_cap,
            self.waits,
            self.refusals,
            self.confinements,
            self.clamps,
        ]
    }

    /// At least the totals of an `exit` event (the rate limit may have left
    /// events out).
    fn at_least(&mut self, exit: &BTreeMap<String, Value>) {
        let total = |key| count(exit, key).unwrap_or(0);
        self.peak = self.peak.max(total("peak"));
        self.over_cap = self.over_cap.max(total("over_cap"));
        self.waits = self.waits.max(total("waited"));
        self.refusals = self.refusals.max(total("refused"));
        self.confinements = self.confinements.max(total("confined"));
        self.clamps = self.clamps.max(total("clamped"));
    }

    /// Adds another process's.
    fn add(&mut self, other: &Counts) {
        self.peak = self.peak.max(other.peak);
        self.over_cap += other.over_cap;
        self.waits += other.waits;
        self.refusals += other.refusals;
        self.confinements += other.confinements;
        self.clamps += other.clamps;
    }
}

/// One process, from its `start` (or `fork`) event to its `exit` event.
#[derive(Clone, Debug, Default)]
pub struct Process {
    pub job: Option<String>,
    pub program: String,
    pub cap: Option<u64>,
    /// The largest cap it had, from its events and its exit's `max_cap`.
    pub max_cap: Option<u64>,
    pub exited: bool,
    pub counts: Counts,
    /// The largest thread count asked of a runtime setter.
    pub asked: u64,
    /// Clamp events by library: how many, and the largest count asked.
    pub libraries: BTreeMap<String, (u64, i64)>,
}

/// What a set of logs holds: the processes, and the lines that could not be read.
#[derive(Debug, Default)]
pub struct Log {
    pub processes: Vec<Process>,
    pub lines: u64,
    pub bad_lines: u64,
    /// The latest process of each (host, pid) in `processes`; an event after
    /// its `exit`, or a new `start`/`fork`, begins another (a reused pid).
    open: HashMap<(String, u64), usize>,
}

impl Log {
    /// Adds one line of a log. Returns false when it could not be read.
    pub fn add_line(&mut self, line: &[u8]) -> bool {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return true;
        }
        self.lines += 1;
        let Some(event) = parse_line(line) else {
            self.bad_lines += 1;
            return false;
        };
        let (Some(kind), Some(pid)) = (text(&event, "event"), count(&event, "pid")) else {
            self.bad_lines += 1;
            return false;
        };
        let key = (text(&event, "host").unwrap_or("").to_string(), pid);
        let begins = matches!(kind, "start" | "fork");
        let index = match self.open.get(&key) {
            Some(&i) if !begins && !self.processes[i].exited => i,
            _ => {
                self.processes.push(Process::default());
                self.open.insert(key, self.processes.len() - 1);
                self.processes.len() - 1
            }
        };
        let p = &mut self.processes[index];
        if p.job.is_none() {
            p.job = job_of(&event);
        }
        if p.program.is_empty() {
            p.program = text(&event, "exe")
                .or_else(|| text(&event, "argv0"))
                .unwrap_or("?")
                .to_string();
            // An interpreter's processes are told apart by what they run.
            if let Some(script) = text(&event, "script") {
                p.program = format!("{} {script}", p.program);
            } else if let Some(module) = text(&event, "module") {
                p.program = format!("{} -m {module}", p.program);
            }
        }
        if let Some(cap) = count(&event, "cap") {
            p.cap = Some(cap);
        }
        for cap in [count(&event, "cap"), count(&event, "max_cap")] {
            p.max_cap = p.max_cap.max(cap);
        }
        match kind {
            "wait" => p.counts.waits += 1,
            "refuse" => p.counts.refusals += 1,
            "confine" => p.counts.confinements += 1,
            "clamp" => {
                p.counts.clamps += 1;
                let requested = signed(&event, "requested").unwrap_or(0);
                p.asked = p.asked.max(requested.max(0) as u64);
                let library = text(&event, "library").unwrap_or("?").to_string();
                let entry = p.libraries.entry(library).or_insert((0, i64::MIN));
                entry.0 += 1;
                entry.1 = entry.1.max(requested);
            }
            "exit" => {
                p.exited = true;
                p.counts.at_least(&event);
            }
            _ => {}
        }
        if let Some(live) = count(&event, "live") {
            p.counts.peak = p.counts.peak.max(live);
        }
        true
    }

    /// Reads a whole log, line by line.
    pub fn read(&mut self, input: impl Read) -> std::io::Result<(u64, Option<u64>)> {
        let mut reader = BufReader::new(input);
        let mut line = Vec::new();
        let (mut bad, mut first_bad, mut number) = (0, None, 0);
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 {
                return Ok((bad, first_bad));
            }
            number += 1;
            if !self.add_line(&line) {
                bad += 1;
                first_bad.get_or_insert(number);
            }
        }
    }
}

/// The processes of one program in one job, summed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Program {
    pub job: Option<String>,
    pub program: String,
    pub processes: u64,
    pub unfinished: u64,
    pub caps: BTreeSet<u64>,
    pub counts: Counts,
    /// The most threads one of its processes tried to have (see [`wanted`]),
    /// and that over the largest cap the process had: what the ranking
    /// orders by.
    pub wanted: u64,
    pub wanted_per_cap: f64,
    pub libraries: BTreeMap<String, (u64, i64)>,
}

impl Program {
    pub fn attempts(&self) -> u64 {
        self.counts.over_cap + self.counts.clamps
    }

    /// Whether the program ever tried to exceed its cap.
    pub fn overthreads(&self) -> bool {
        self.attempts() > 0 || self.wanted_per_cap > 1.0
    }
}

/// The most threads a process tried to have at once, as far as its events
/// tell: its peak, its cap plus its creations that found it at the cap (an
/// upper estimate: they need not have overlapped), or the largest count it
/// asked a runtime setter for, whichever is largest.
pub fn wanted(p: &Process) -> u64 {
    let cap = p.cap.unwrap_or(0);
    let over = if p.counts.over_cap > 0 {
        cap + p.counts.over_cap
    } else {
        0
    };
    p.counts.peak.max(over).max(p.asked)
}

/// Sums the processes by (job, program), in job then program order.
pub fn programs(log: &Log) -> Vec<Program> {
    let mut by: BTreeMap<(Option<String>, String), Program> = BTreeMap::new();
    for p in &log.processes {
        let key = (p.job.clone(), p.program.clone());
        let g = by.entry(key).or_insert_with(|| Program {
            job: p.job.clone(),
            program: p.program.clone(),
            ..Program::default()
        });
        g.processes += 1;
        g.unfinished += u64::from(!p.exited);
        g.caps.extend(p.cap);
        g.caps.extend(p.max_cap);
        g.counts.add(&p.counts);
        let wanted = wanted(p);
        // Over the largest cap, not the last: a tree member whose share fell
        // reached its peak under a larger share, which is no attempt to
        // exceed it. Creations over the cap still count as attempts.
        let ratio = wanted as f64 / p.max_cap.unwrap_or(1).max(1) as f64;
        if ratio > g.wanted_per_cap {
            (g.wanted, g.wanted_per_cap) = (wanted, ratio);
        }
        for (library, &(n, asked)) in &p.libraries {
            let e = g.libraries.entry(library.clone()).or_insert((0, i64::MIN));
            e.0 += n;
            e.1 = e.1.max(asked);
        }
    }
    by.into_values().collect()
}

/// The programs that tried hardest to exceed their allocation: the highest
/// `wanted / cap` first, then the most attempts (creations over the cap and
/// clamped setter calls).
pub fn ranking(programs: &[Program]) -> Vec<&Program> {
    let mut ranked: Vec<&Program> = programs.iter().filter(|p| p.overthreads()).collect();
    ranked.sort_by(|a, b| {
        b.wanted_per_cap
            .total_cmp(&a.wanted_per_cap)
            .then(b.attempts().cmp(&a.attempts()))
    });
    ranked
}

fn job_label(job: &Option<String>) -> String {
    match job {
        Some(j) => format!("job {}", shown(j)),
        None => "no job".to_string(),
    }
}

/// A name as one line of text: control characters escaped.
fn shown(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            c if c.is_control() => c.escape_debug().to_string(),
            c => c.to_string(),
        })
        .collect()
}

fn caps_label(caps: &BTreeSet<u64>) -> String {
    if caps.is_empty() {
        return "?".to_string();
    }
    caps.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn libraries_label(p: &Program) -> String {
    p.libraries
        .iter()
        .map(|(lib, (n, asked))| format!("{} (asked for {asked}, {n} clamps)", shown(lib)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The report for people: per job, per program; then the ranking.
pub fn text_report(log: &Log, files: usize) -> String {
    let programs = programs(log);
    let mut out = String::new();
    let unfinished: u64 = programs.iter().map(|p| p.unfinished).sum();
    let _ = writeln!(
        out,
        "{} processes in {files} file(s), {} events{}",
        log.processes.len(),
        log.lines - log.bad_lines,
        if unfinished > 0 {
            format!(" ({unfinished} without an exit event: killed, exec'd or still running)")
        } else {
            String::new()
        }
    );
    let header: Vec<&str> = ["procs", "cap"]
        .into_iter()
        .chain(Counts::NAMES.map(|(text, _)| text))
        .collect();
    let mut job = None;
    for p in &programs {
        if job != Some(&p.job) {
            job = Some(&p.job);
            let _ = writeln!(out, "\n{}", job_label(&p.job));
            let _ = writeln!(
                out,
                "{}  program",
                header.iter().map(|h| format!("{h:>9}")).collect::<String>()
            );
        }
        let cells: Vec<String> = [p.processes.to_string(), caps_label(&p.caps)]
            .into_iter()
            .chain(p.counts.values().map(|v| v.to_string()))
            .collect();
        let _ = write!(
            out,
            "{}  {}",
            cells.iter().map(|c| format!("{c:>9}")).collect::<String>(),
            shown(&p.program)
        );
        if !p.libraries.is_empty() {
            let _ = write!(out, "  clamped in: {}", libraries_label(p));
        }
        out.push('\n');
    }

    let ranked = ranking(&programs);
    let _ = writeln!(
        out,
        "\nprograms that tried hardest to exceed their allocation"
    );
    if ranked.is_empty() {
        let _ = writeln!(out, "  none: no creation over the cap, no clamped setter");
        return out;
    }
    let _ = writeln!(
        out,
        "  (wanted: the most threads one process tried to have: its peak, its cap plus its\n   \
         creations over the cap, or the most it asked a runtime's setter for; cap: the\n   \
         largest that process had; attempts: creations over the cap and clamped setter\n   \
         calls, all processes)"
    );
    let _ = writeln!(
        out,
        "  {:>3}  {:>10}  {:>6}  {:>5}  {:>8}  job / program / library",
        "#", "wanted/cap", "wanted", "procs", "attempts"
    );
    for (i, p) in ranked.iter().enumerate() {
        let _ = write!(
            out,
            "  {:>3}  {:>9.1}x  {:>6}  {:>5}  {:>8}  {}  {}",
            i + 1,
            p.wanted_per_cap,
            p.wanted,
            p.processes,
            p.attempts(),
            job_label(&p.job),
            shown(&p.program)
        );
        if !p.libraries.is_empty() {
            let _ = write!(out, "  via {}", libraries_label(p));
        }
        out.push('\n');
    }
    out
}

/// `s` as a JSON string.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            // C0 and C1 controls: a terminal may act on a raw C1 (U+009B
            // starts an escape sequence), and a log is anyone's input.
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_number(x: f64) -> String {
    if x.is_finite() {
        format!("{:.3}", x)
    } else {
        "null".to_string()
    }
}

/// The report for machines: one JSON object.
pub fn json_report(log: &Log, files: usize) -> String {
    let programs = programs(log);
    let entry = |p: &Program| {
        let libraries = p
            .libraries
            .iter()
            .map(|(lib, (n, asked))| {
                format!(
                    "{{\"library\":{},\"clamps\":{n},\"max_requested\":{asked}}}",
                    json_string(lib)
                )
            })
            .collect::<Vec<_>>()
            .join(",");
        let counts: String = Counts::NAMES
            .iter()
            .zip(p.counts.values())
            .map(|((_, key), value)| format!("\"{key}\":{value},"))
            .collect();
        format!(
            "{{\"job\":{},\"program\":{},\"processes\":{},\"unfinished\":{},\"caps\":[{}],\
             {counts}\"wanted\":{},\"wanted_per_cap\":{},\"libraries\":[{libraries}]}}",
            p.job.as_deref().map_or("null".to_string(), json_string),
            json_string(&p.program),
            p.processes,
            p.unfinished,
            p.caps
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(","),
            p.wanted,
            json_number(p.wanted_per_cap),
        )
    };
    let all: Vec<String> = programs.iter().map(entry).collect();
    let ranked: Vec<String> = ranking(&programs).into_iter().map(entry).collect();
    format!(
        "{{\"files\":{files},\"events\":{},\"bad_lines\":{},\"processes\":{},\
         \"programs\":[{}],\"hardest\":[{}]}}\n",
        log.lines - log.bad_lines,
        log.bad_lines,
        log.processes.len(),
        all.join(","),
        ranked.join(",")
    )
}

/// `throttle report [--json] FILE...`, its arguments parsed by the command
/// (`-` is standard input). Files that cannot be read are reported and make
/// the status 1; unreadable lines are reported on stderr and do not.
pub fn main(json: bool, files: &[OsString]) -> ExitCode {
    let mut log = Log::default();
    let mut status = ExitCode::SUCCESS;
    for file in files {
        let shown = std::path::Path::new(file).display().to_string();
        let result = if file.as_os_str() == "-" {
            log.read(std::io::stdin().lock())
        } else {
            std::fs::File::open(file).and_then(|f| log.read(f))
        };
        match result {
            Ok((0, _)) => {}
            Ok((bad, first)) => eprintln!(
                "throttle report: {shown}: skipped {bad} unreadable line(s) (truncated or \
                 not an event), the first at line {}",
                first.unwrap_or(0)
            ),
            Err(e) => {
                eprintln!("throttle report: cannot read {shown}: {e}");
                status = ExitCode::FAILURE;
            }
        }
    }
    let out = if json {
        json_report(&log, files.len())
    } else {
        text_report(&log, files.len())
    };
    print!("{out}");
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(v.to_string())
    }

    #[test]
    fn reads_flat_objects() {
        let e =
            parse_line(br#" {"a":"x","n":-12.5e1,"z":0,"t":true,"f":false,"u":null} "#).unwrap();
        assert_eq!(e["a"], s("x"));
        assert_eq!(e["n"], Value::Num(-125.0));
        assert_eq!(e["z"], Value::Num(0.0));
        assert_eq!(e["t"], Value::Bool(true));
        assert_eq!(e["f"], Value::Bool(false));
        assert_eq!(e["u"], Value::Null);
        assert_eq!(parse_line(b"{}").unwrap().len(), 0);
    }

    #[test]
    fn reads_escapes() {
        let e =
            parse_line(br#"{"k":"q\" b\\ s\/ \n\t\r\b\f \u00e9 \ud83d\ude00 \u0001"}"#).unwrap();
        assert_eq!(e["k"], s("q\" b\\ s/ \n\t\r\u{8}\u{c} é 😀 \u{1}"));
        let e = parse_line("{\"k\":\"日本\u{fffd}\"}".as_bytes()).unwrap();
        assert_eq!(e["k"], s("日本\u{fffd}"));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            &b""[..],
            b"garbage",
            b"{",
            b"{\"a\":1",
            b"{\"a\":1,}",
            b"{\"a\" 1}",
            b"{\"a\":1}}",
            b"{\"a\":1} x",
            b"{\"a\":01}",
            b"{\"a\":1.}",
            b"{\"a\":-}",
            b"{\"a\":1e}",
            b"{\"a\":+1}",
            b"{\"a\":tru}",
            b"{\"a\":\"x}",
            b"{\"a\":\"\\x\"}",
            b"{\"a\":\"\\u12\"}",
            b"{\"a\":\"\\ud800\"}",
            b"{\"a\":\"\\udc00\"}",
            b"{\"a\":\"tab\there\"}",
            b"{\"a\":\"\xff\"}",
            b"{\"a\":{\"b\":1}}",
            b"{\"a\":[1]}",
            b"[1]",
            b"{a:1}",
            b"\"x\"",
            b"1",
            b"null",
            b"{\"a\":1e400}",
            b"{\"a\":NaN}",
            b"{\"a\":1}\n{\"b\":2}",
            b"{\"time\":\"2024-01-01T00:00:00.000Z\",\"event\":\"st",
        ] {
            assert_eq!(parse_line(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn a_repeated_name_keeps_the_last_value() {
        let e = parse_line(br#"{"a":1,"b":"x","a":"two"}"#).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e["a"], s("two"));
        // Integers beyond u64 and i64 read as the nearest f64.
        let e = parse_line(br#"{"big":18446744073709551616,"low":-9223372036854775809}"#).unwrap();
        assert_eq!(e["big"], Value::Num(18446744073709551616.0));
        assert_eq!(e["low"], Value::Num(-9223372036854775808.0));
    }

    fn log(lines: &[&str]) -> Log {
        let mut log = Log::default();
        for line in lines {
            log.add_line(line.as_bytes());
        }
        log
    }

    const START: &str = r#"{"event":"start","pid":10,"host":"n1","slurm_job_id":"77","exe":"/usr/bin/python3","cap":2,"policy":"fail"}"#;
    const REFUSE: &str = r#"{"event":"refuse","pid":10,"host":"n1","slurm_job_id":"77","exe":"/usr/bin/python3","cap":2,"live":2}"#;
    const CLAMP: &str = r#"{"event":"clamp","pid":10,"host":"n1","slurm_job_id":"77","exe":"/usr/bin/python3","setter":"openblas_set_num_threads","library":"libopenblas.so.0","requested":64,"granted":2,"cap":2}"#;
    const EXIT: &str = r#"{"event":"exit","pid":10,"host":"n1","slurm_job_id":"77","exe":"/usr/bin/python3","cap":2,"peak":2,"over_cap":14,"waited":0,"refused":14,"confined":0,"clamped":3}"#;

    #[test]
    fn garbage_lines_are_counted_and_skipped() {
        let l = log(&[
            START,
            "not json",
            REFUSE,
            "{\"event\":\"exit\",\"pid\":10,",
            "",
            EXIT,
        ]);
        assert_eq!((l.lines, l.bad_lines), (5, 2));
        assert_eq!(l.processes.len(), 1);
        let p = &l.processes[0];
        assert!(p.exited);
        assert_eq!(
            (p.counts.refusals, p.counts.over_cap, p.counts.clamps),
            (14, 14, 3)
        );
        // A line without event or pid is not an event.
        let l = log(&[r#"{"pid":3}"#, r#"{"event":"exit"}"#]);
        assert_eq!((l.lines, l.bad_lines, l.processes.len()), (2, 2, 0));
    }

    #[test]
    fn programs_are_summed_per_job_and_ranked() {
        let other = r#"{"event":"exit","pid":11,"host":"n1","exe":"/bin/quiet","cap":4,"peak":3,"over_cap":0}"#;
        let reused = START
            .replace("python3", "solver")
            .replace("\"fail\"", "\"wait\"");
        let reused_exit = r#"{"event":"exit","pid":10,"host":"n1","slurm_job_id":"77","exe":"/usr/bin/solver","cap":2,"peak":9,"over_cap":7}"#;
        let l = log(&[START, REFUSE, CLAMP, EXIT, other, &reused, reused_exit]);
        assert_eq!(l.processes.len(), 3, "pid 10 was reused after its exit");
        let programs = programs(&l);
        let names: Vec<_> = programs
            .iter()
            .map(|p| (p.job.as_deref(), p.program.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                (None, "/bin/quiet"),
                (Some("77"), "/usr/bin/python3"),
                (Some("77"), "/usr/bin/solver")
            ]
        );
        let python = &programs[1];
        assert_eq!(python.libraries["libopenblas.so.0"], (1, 64));
        assert_eq!((python.wanted, python.wanted_per_cap), (64, 32.0));
        let ranked = ranking(&programs);
        assert_eq!(ranked.len(), 2, "the quiet program never exceeded its cap");
        assert_eq!(ranked[0].program, "/usr/bin/python3");
        assert_eq!((ranked[1].wanted, ranked[1].attempts()), (9, 7));
        let text = text_report(&l, 1);
        assert!(text.contains("job 77"), "{text}");
        assert!(text.contains("libopenblas.so.0 (asked for 64"), "{text}");
        let json = json_report(&l, 1);
        assert!(json.contains("\"max_requested\":64"), "{json}");
    }

    #[test]
    fn a_program_s_caps_include_the_largest_each_process_had() {
        // A tree member that started at 4 and ended at 1 (its exit's
        // max_cap), and one whose cap was always 2.
        let shrunk =
            r#"{"event":"exit","pid":5,"host":"n1","exe":"/bin/w","cap":1,"max_cap":4,"peak":4}"#;
        let steady =
            r#"{"event":"exit","pid":6,"host":"n1","exe":"/bin/w","cap":2,"max_cap":2,"peak":2}"#;
        let l = log(&[shrunk, steady]);
        assert_eq!(l.processes[0].cap, Some(1));
        assert_eq!(l.processes[0].max_cap, Some(4));
        let programs = programs(&l);
        assert_eq!(programs[0].caps, BTreeSet::from([1, 2, 4]));
        assert!(text_report(&l, 1).contains("1,2,4"));
        assert!(json_report(&l, 1).contains(r#""caps":[1,2,4]"#));
        // Its peak of 4 was reached under its share of 4: not an offender.
        assert_eq!(programs[0].wanted_per_cap, 1.0);
        assert!(ranking(&programs).is_empty());
    }

    #[test]
    fn an_interpreter_s_scripts_are_told_apart() {
        let exit = |pid: u32, what: &str| {
            format!(
                r#"{{"event":"exit","pid":{pid},"host":"n1","exe":"/usr/bin/python3.11",{what}"cap":2,"peak":2}}"#
            )
        };
        let lines = [
            exit(1, r#""script":"train.py","#),
            exit(2, r#""script":"train.py","#),
            exit(3, r#""module":"pkg.main","#),
            exit(4, ""),
        ];
        let l = log(&lines.iter().map(String::as_str).collect::<Vec<_>>());
        let names: Vec<_> = programs(&l)
            .iter()
            .map(|p| (p.program.clone(), p.processes))
            .collect();
        assert_eq!(
            names,
            [
                ("/usr/bin/python3.11".to_string(), 1),
                ("/usr/bin/python3.11 -m pkg.main".to_string(), 1),
                ("/usr/bin/python3.11 train.py".to_string(), 2),
            ]
        );
    }

    #[test]
    fn json_strings_read_back() {
        assert_eq!(json_string("a\"b\\c\n\u{1}"), r#""a\"b\\c\n\u0001""#);
        for s in ["", "plain", "a\"b\\c\n\r\t\u{1}\u{7f}", "日本 😀"] {
            let line = format!("{{\"k\":{}}}", json_string(s));
            assert_eq!(
                parse_line(line.as_bytes()).unwrap()["k"],
                Value::Str(s.into())
            );
        }
        let json = json_report(&log(&[START, CLAMP, EXIT]), 1);
        assert!(json.starts_with("{\"files\":1,"), "{json}");
    }

    /// Event-log lines as the library writes them (every kind of event),
    /// then mutated: whatever a log holds (a line cut by a full disk, two
    /// writers interleaved, a hand edit), `throttle report` reads on and
    /// reports it; the reports stay valid (the JSON one parses back).
    #[test]
    fn fuzz_event_log_lines() {
        use throttle_core::fuzzcore::{mutate, run, Rng};
        const KINDS: &[&str] = &[START, REFUSE, CLAMP, EXIT];
        run("event-log", |rng: &mut Rng| {
            let mut log = Log::default();
            for _ in 0..1 + rng.below(6) {
                let kind = *rng.pick::<&str>(KINDS);
                let mut line = kind.as_bytes().to_vec();
                if rng.chance(2) {
                    // A number or a string made strange, then bytes mutated.
                    let from = *rng.pick::<&str>(&["\"pid\":10", "\"cap\":2", "\"n1\"", "\"77\""]);
                    let to = *rng.pick::<&str>(&[
                        "\"pid\":-1",
                        "\"pid\":1e400",
                        "\"cap\":18446744073709551616",
                        "\"n\\u0000\\ud800\"",
                        "\"\\\"\"",
                        "\"pid\":[1]",
                    ]);
                    let text = String::from_utf8_lossy(&line).replace(from, to);
                    line = text.into_bytes();
                }
                mutate(rng, &mut line);
                let stripped = line.strip_suffix(b"\n").unwrap_or(&line);
                let stripped = stripped.strip_suffix(b"\r").unwrap_or(stripped);
                let readable = parse_line(stripped).is_some();
                let blank = stripped.iter().all(u8::is_ascii_whitespace);
                // Read only what parses (an event also needs its kind and pid).
                assert!(!log.add_line(&line) || readable || blank);
                assert!(log.bad_lines <= log.lines);
            }
            let text = text_report(&log, 1);
            assert!(!text.is_empty());
            assert!(
                !text.chars().any(|c| c.is_control() && c != '\n'),
                "a raw control character: {text}"
            );
            let json = json_report(&log, 1);
            let body = json.trim_end_matches('\n');
            assert!(body.starts_with('{') && body.ends_with('}'), "{json}");
            assert!(
                !body.chars().any(char::is_control),
                "a raw control character: {json}"
            );
        });
    }
}

//! `throttle`: run a program under libthrottle, or show what it would do.
//!
//! The command never links the library's hooks: it compiles only the pure
//! modules it needs (budget resolution, masks, the runtime registry), so its
//! own `pthread_create` and `sysconf` stay libc's.

use throttle_command::{elf, report};
use throttle_core::{config, envsize, launchers, ledger, runtimes, sys};

use clap::Parser;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const LIBRARY: &str = "libthrottle.so";

/// `throttle`'s command line.
#[derive(Debug, Parser)]
#[command(
    name = "throttle",
    version,
    about = "Run a program under libthrottle.so (a preloaded library that caps its \
             thread pools), show what the library would do here, or read its event logs.",
    override_usage = "throttle run [-n N] [--policy P] [--wait-ms MS] [--report] [--] CMD [ARGS...]\n       \
                      throttle info [PROGRAM]\n       \
                      throttle report [--json] FILE...\n       \
                      throttle --help | --version",
    after_help = "`throttle COMMAND --help` describes a command and its options.\n\n\
                  Configuration: see the README's table, or docs/interface.md.",
    subcommand_required = true,
    arg_required_else_help = false
)]
struct Cli {
    #[command(subcommand)]
    command: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    Run(RunArgs),
    Info(InfoArgs),
    Report(ReportArgs),
}

/// Run CMD with libthrottle.so preloaded (prepended to LD_PRELOAD).
///
/// The options set the library's variables for CMD (the README's table);
/// the runtimes' variables (OMP_NUM_THREADS, GOMAXPROCS, ...) are sized as
/// the library sizes them, also for programs it cannot enter. Everything
/// from CMD on is passed to CMD untouched. The exit status is CMD's (2 for a
/// usage error, 126 or 127 when CMD cannot be run).
#[derive(Debug, clap::Args)]
#[command(
    override_usage = "throttle run [-n N] [--policy P] [--wait-ms MS] [--report] [--] CMD [ARGS...]",
    args_override_self = true
)]
struct RunArgs {
    /// The thread budget (THROTTLE_THREADS)
    #[arg(short = 'n', long, value_name = "N", allow_hyphen_values = true, value_parser = thread_count)]
    threads: Option<String>,
    /// The policy at the cap: wait, confine, fail or audit (THROTTLE_POLICY)
    #[arg(long, value_name = "P", allow_hyphen_values = true, value_parser = policy)]
    policy: Option<String>,
    /// Bound on a wait, in milliseconds (THROTTLE_WAIT_MS)
    #[arg(long, value_name = "MS", allow_hyphen_values = true, value_parser = wait_ms)]
    wait_ms: Option<String>,
    /// Print a one-line report on stderr at exit (THROTTLE_REPORT)
    #[arg(long)]
    report: bool,
    /// The program to run, and its arguments
    #[arg(
        value_name = "CMD",
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        value_hint = clap::ValueHint::CommandWithArguments
    )]
    command: Vec<OsString>,
}

/// Show the cap this environment resolves to and every source consulted.
///
/// Also the ledger of the process tree it runs in, the runtime variables a
/// program gets, and what a capped program sees of the CPUs; with PROGRAM,
/// also whether that program can be throttled at all (a static binary or a
/// Go program cannot) and whether it is a launcher.
#[derive(Debug, clap::Args)]
struct InfoArgs {
    /// A program (a path, or a name looked up in PATH) to inspect
    #[arg(value_name = "PROGRAM", value_hint = clap::ValueHint::CommandName)]
    program: Option<OsString>,
}

/// Summarise event logs (THROTTLE_LOG_FILE) per job and program.
///
/// Also ranks the programs that tried hardest to exceed their allocation.
/// Unreadable lines (a line cut short, not an event) are counted on stderr
/// and skipped; a file that cannot be read makes the status 1.
#[derive(Debug, clap::Args)]
#[command(args_override_self = true)]
struct ReportArgs {
    /// One JSON object instead of the text report
    #[arg(long)]
    json: bool,
    /// Event logs (JSON lines); - is standard input
    #[arg(value_name = "FILE", required = true, value_hint = clap::ValueHint::FilePath)]
    files: Vec<OsString>,
}

/// `-n`/`--threads`: checked as the library checks THROTTLE_THREADS.
fn thread_count(raw: &str) -> Result<String, String> {
    config::check_count(raw).map(|_| raw.to_string())
}

/// `--policy`: checked as the library checks THROTTLE_POLICY.
fn policy(raw: &str) -> Result<String, String> {
    config::check_policy(raw).map(|_| raw.to_string())
}

/// `--wait-ms`: a number of milliseconds (digits only, fits a u64).
fn wait_ms(raw: &str) -> Result<String, String> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) || raw.parse::<u64>().is_err() {
        return Err("is not a number of milliseconds".to_string());
    }
    Ok(raw.to_string())
}

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, which turns `throttle info | head` into a panic
    // on the closed pipe: stop quietly instead, as Unix tools do.
    // SAFETY: restoring a signal's default disposition, before any thread.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version, on stdout.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // A usage error: one `throttle: ` line, the usage, status 2.
            let text = e.render().to_string();
            eprint!(
                "throttle: {}",
                text.strip_prefix("error: ").unwrap_or(&text)
            );
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Action::Run(args) => run(args),
        Action::Info(args) => info(args.program.as_deref()),
        Action::Report(args) => report::main(args.json, &args.files),
    }
}

/// The library beside this executable (a build tree) or in `../lib` (an
/// installed prefix).
fn find_library() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate this executable: {e}"))?;
    let dir = exe.parent().unwrap_or(Path::new("/"));
    let candidates = [dir.join(LIBRARY), dir.join("../lib").join(LIBRARY)];
    candidates
        .iter()
        .find(|p| p.is_file())
        .map(|p| p.canonicalize().unwrap_or_else(|_| p.clone()))
        .ok_or_else(|| {
            format!(
                "cannot find {LIBRARY} beside {} or in {}",
                exe.display(),
                dir.join("../lib").display()
            )
        })
}

/// The environment with `throttle run`'s own settings over it.
struct WithSettings<'a> {
    settings: &'a [(&'a str, String)],
}

impl config::Inputs for WithSettings<'_> {
    fn var(&self, name: &str) -> Option<Vec<u8>> {
        match self.settings.iter().rev().find(|(n, _)| *n == name) {
            Some((_, v)) => Some(v.clone().into_bytes()),
            None => config::Inputs::var(&sys::Live, name),
        }
    }
    fn read_file(&self, path: &str) -> Result<Vec<u8>, config::FileError> {
        config::Inputs::read_file(&sys::Live, path)
    }
    fn affinity_count(&self) -> usize {
        config::Inputs::affinity_count(&sys::Live)
    }
    fn secure(&self) -> bool {
        config::Inputs::secure(&sys::Live)
    }
    fn hostname(&self) -> Option<String> {
        config::Inputs::hostname(&sys::Live)
    }
}

/// Sizes the runtimes' variables for the program `throttle run` starts, as
/// the library does when it loads (`envsize::plan`): programs the library
/// never enters start sized too (a static binary; Go, which reads the
/// environment it started with, not what a constructor sets). The values
/// are recorded in `THROTTLE_SAVED_ENV` as the library's own, so that the
/// library, where it does load, still tells them from the user's.
fn sized_environment(settings: &[(&str, String)], cmd: &mut Command) {
    let inputs = WithSettings { settings };
    let resolved = config::resolve(&inputs);
    let Some(mask) = sys::affinity(0) else {
        return;
    };
    if resolved.disabled {
        return;
    }
    // The program starts the tree: alone, its share is its own cap.
    let own = resolved.cap.min(mask.count()).max(1);
    let var =
        |name: &str| config::Inputs::var(&inputs, name).and_then(|v| String::from_utf8(v).ok());
    let plan = envsize::plan(var, own, own, mask.count(), |bound| {
        sys::cores_up_to(&mask, bound)
    });
    for (name, value) in plan.changes {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    match plan.saved {
        Some(text) => cmd.env("THROTTLE_SAVED_ENV", text),
        None => cmd.env_remove("THROTTLE_SAVED_ENV"),
    };
}

/// `LD_PRELOAD` with the library first, not repeated if already present.
fn preload_value(library: &Path, current: Option<&OsStr>) -> OsString {
    let mut value = library.as_os_str().to_os_string();
    if let Some(current) = current {
        let others: Vec<&[u8]> = current
            .as_bytes()
            .split(|&b| b == b':' || b == b' ')
            .filter(|entry| !entry.is_empty() && *entry != library.as_os_str().as_bytes())
            .collect();
        for entry in others {
            value.push(":");
            value.push(OsStr::from_bytes(entry));
        }
    }
    value
}

fn run(args: RunArgs) -> ExitCode {
    // The values were checked as they were parsed.
    let env: Vec<(&str, String)> = [
        ("THROTTLE_THREADS", args.threads),
        ("THROTTLE_POLICY", args.policy),
        ("THROTTLE_WAIT_MS", args.wait_ms),
        ("THROTTLE_REPORT", args.report.then(|| "1".to_string())),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some((name, value?)))
    .collect();
    let (command, rest) = args.command.split_first().expect("clap requires CMD");
    let library = match find_library() {
        Ok(l) => l,
        Err(why) => {
            eprintln!("throttle: {why}");
            return ExitCode::from(127);
        }
    };
    let preload = preload_value(&library, std::env::var_os("LD_PRELOAD").as_deref());
    let mut cmd = Command::new(command);
    cmd.args(rest);
    sized_environment(&env, &mut cmd);
    let error = cmd.envs(env).env("LD_PRELOAD", preload).exec();
    eprintln!(
        "throttle: cannot run '{}': {error}",
        command.to_string_lossy()
    );
    ExitCode::from(match error.kind() {
        std::io::ErrorKind::NotFound => 127,
        _ => 126,
    })
}

fn info(program: Option<&OsStr>) -> ExitCode {
    let r = config::resolve(&sys::Live);
    let real = sys::affinity(0).map_or(1, |m| m.count());
    println!("throttle {}", env!("CARGO_PKG_VERSION"));
    match find_library() {
        Ok(lib) => {
            let preloaded = std::env::var_os("LD_PRELOAD").is_some_and(|v| {
                v.as_bytes()
                    .split(|&b| b == b':' || b == b' ')
                    .any(|e| e == lib.as_os_str().as_bytes())
            });
            println!("library:   {}", lib.display());
            println!(
                "preloaded: {}",
                if preloaded {
                    "yes, in LD_PRELOAD"
                } else {
                    "no (use `throttle run` or LD_PRELOAD)"
                }
            );
        }
        Err(why) => println!("library:   not found: {why}"),
    }
    if r.disabled {
        println!("state:     disabled by THROTTLE_DISABLE: the library does nothing");
    }
    let source = match &r.ceiling {
        Some(file) => format!("max_threads in {file}"),
        None => r.source.label().to_string(),
    };
    println!("cap:       {} threads (from {source})", r.cap);
    println!(
        "cpus:      a capped program sees {} of the {real} CPUs in its mask",
        r.cap.min(real)
    );
    println!("policy:    {} (wait_ms {})", r.policy.name(), r.wait_ms);
    println!("scope:     {:?}", r.scope);
    println!("system:    {}", config::SYSTEM_CONF);
    println!();
    println!("sources consulted (<== won: the one the cap came from):");
    // Long names (cgroup files) only push their own line out.
    let width = r
        .consulted
        .iter()
        .map(|c| c.name.len())
        .filter(|&n| n <= 28)
        .max()
        .unwrap_or(0);
    for c in &r.consulted {
        let won = if c.won { "  <== won" } else { "" };
        println!("  {:width$}  '{}'  {}{won}", c.name, c.value, c.verdict);
    }
    if !r.warnings.is_empty() {
        println!();
        println!("problems (each printed once by the library as `libthrottle: ...`):");
        for w in &r.warnings {
            println!("  {w}");
        }
    }
    println!();
    println!(
        "runtime variables a program gets (set only where the runtime's own default \
         would exceed its share; lowered, never raised):"
    );
    // What the library does at load (envsize::plan): the program starts
    // alone in its tree, so its share is its own cap.
    let own = r.cap.min(real).max(1);
    let cores = |bound| {
        sys::affinity(0)
            .as_ref()
            .map_or(real, |mask| sys::cores_up_to(mask, bound))
    };
    let var = |name: &str| std::env::var(name).ok();
    let plan = envsize::plan(var, own, own, real, cores);
    for var in runtimes::sizing_vars() {
        let current = std::env::var(var.name).ok();
        match plan.changes.iter().find(|(name, _)| *name == var.name) {
            Some((_, new)) => println!(
                "  {}={} (was {})",
                var.name,
                new.as_deref().unwrap_or("unset"),
                current.as_deref().unwrap_or("unset")
            ),
            None => {
                if let Some(value) = current {
                    println!("  {}={value} (kept)", var.name);
                }
            }
        }
    }
    println!();
    if own < real {
        println!(
            "cpu views: a capped program is shown {own} of its {real} CPUs by sysconf, get_nprocs, \
             sched_getaffinity, pthread_getaffinity_np, /sys/devices/system/cpu/online, \
             /proc/cpuinfo and /proc/stat; possible, present, the per-CPU directories and \
             _SC_NPROCESSORS_CONF stay real (programs size per-CPU arrays by them). Not \
             reached: static binaries and raw system calls (Go's NumCPU); `throttle run` \
             exports the variables above for them."
        );
    } else {
        println!(
            "cpu views: not capped below its mask: a program sees every CPU and reads the \
             real files."
        );
    }
    println!();
    print_ledger(&r);
    if let Some(program) = program {
        println!();
        print_linkage(Path::new(program), &r.launchers);
    }
    ExitCode::SUCCESS
}

/// The process tree's shared budget, when this command runs inside one.
fn print_ledger(r: &config::Resolution) {
    if r.scope == config::Scope::Process {
        println!("ledger:    none (THROTTLE_SCOPE=process: every process gets the whole budget)");
        return;
    }
    let Some(path) = std::env::var_os("THROTTLE_LEDGER") else {
        println!("ledger:    none yet: the first preloaded process of a tree creates one");
        return;
    };
    let path = path.to_string_lossy().into_owned();
    let ledger = match ledger::Ledger::open(&path) {
        Ok(l) => l,
        Err(why) => {
            println!("ledger:    {path} {why}: its processes use per-process caps");
            return;
        }
    };
    if ledger.foreign(sys::pid_namespace()) {
        println!(
            "ledger:    {path} belongs to another PID namespace (a container's, or its host's): \
             its members' pids name other processes here; a process started here starts a tree of its own"
        );
        return;
    }
    let members = ledger.members();
    // A member killed without leaving keeps its slot (and, if it worked, a
    // share) until a member with a steward reclaims it: shown as gone.
    let gone = |m: &ledger::Member| sys::ended(m.pid, m.start);
    let count = |role| {
        members
            .iter()
            .filter(|m| m.role == role && !gone(m))
            .count()
    };
    let (working, about, resting) = (
        count(ledger::Role::Working),
        count(ledger::Role::AboutToWork),
        count(ledger::Role::Resting),
    );
    let dead = members.iter().filter(|m| gone(m)).count();
    println!("ledger:    {path}");
    println!(
        "           budget {} shared by {working} working and {about} about to work, of {} member processes{}{}",
        ledger.budget(),
        members.len() - dead,
        if resting > 0 {
            format!(" ({resting} resting: claimed, not using their share)")
        } else {
            String::new()
        },
        if dead > 0 {
            format!(" (and {dead} gone without leaving, not yet reclaimed)")
        } else {
            String::new()
        }
    );
    println!("    pid  state          share  command");
    for m in &members {
        let command = std::fs::read_to_string(format!("/proc/{}/comm", m.pid)).unwrap_or_default();
        let (state, share) = match m.role {
            _ if gone(m) => ("gone", "-".to_string()),
            ledger::Role::Working => ("working", m.applied.max(1).to_string()),
            ledger::Role::Resting => ("resting", m.applied.max(1).to_string()),
            ledger::Role::AboutToWork => ("about to work", "-".to_string()),
            ledger::Role::Launcher => ("launcher", "-".to_string()),
            ledger::Role::Idle => ("idle", "-".to_string()),
        };
        // A gone member's pid may belong to another process now.
        let command = if gone(m) { "" } else { command.trim() };
        println!("  {:>5}  {state:<13}  {share:>5}  {command}", m.pid);
    }
}

fn print_linkage(program: &Path, launchers: &[String]) {
    let resolved = if program.components().count() > 1 {
        Some(program.to_path_buf())
    } else {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(program))
                .find(|p| p.is_file())
        })
    };
    let Some(path) = resolved else {
        println!("program:   {}: not found", program.display());
        return;
    };
    let verdict = match elf::linkage(&path) {
        Ok(elf::Linkage::Dynamic) => "dynamically linked: can be throttled".to_string(),
        Ok(elf::Linkage::Static) => {
            "statically linked: LD_PRELOAD is never read, it cannot be throttled".to_string()
        }
        Ok(elf::Linkage::Go { .. }) => {
            "a Go program: its runtime creates threads with raw clone(), \
             which no preload library can see; only GOMAXPROCS is lowered"
                .to_string()
        }
        Ok(elf::Linkage::NotElf) => {
            "not an ELF executable (a script?): what counts is the interpreter it runs".to_string()
        }
        Err(e) => format!("cannot be inspected: {e}"),
    };
    println!("program:   {}: {verdict}", path.display());
    // As the library judges it at run time (the resolved executable or the
    // name typed); a script launcher is known by its script's name.
    let resolved = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    if let Some(name) = launchers::matching(
        &[
            Some(resolved.as_os_str().as_bytes()),
            Some(program.as_os_str().as_bytes()),
        ],
        launchers,
    ) {
        println!(
            "           a launcher ({name}): in its tree, but holds no share and its threads are not capped"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("throttle").chain(args.iter().copied()))
    }

    /// `throttle run ARGS...`, parsed.
    fn run_args(args: &[&str]) -> RunArgs {
        let args: Vec<&str> = std::iter::once("run").chain(args.iter().copied()).collect();
        match parse(&args)
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
            .command
        {
            Action::Run(r) => r,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn words(args: &[OsString]) -> Vec<&str> {
        args.iter().map(|a| a.to_str().unwrap()).collect()
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_passes_everything_from_cmd_on_untouched() {
        let r = run_args(&["-n", "2", "ls", "-l", "--policy", "x", "--", "-n"]);
        assert_eq!(r.threads.as_deref(), Some("2"));
        assert_eq!(r.policy, None);
        assert_eq!(words(&r.command), ["ls", "-l", "--policy", "x", "--", "-n"]);
        let r = run_args(&["--", "-weird", "--report"]);
        assert!(!r.report);
        assert_eq!(words(&r.command), ["-weird", "--report"]);
        let r = run_args(&["-", "a"]);
        assert_eq!(words(&r.command), ["-", "a"]);
    }

    #[test]
    fn run_reads_its_options_in_every_spelling() {
        for args in [
            &[
                "-n",
                "3",
                "--policy",
                "fail",
                "--wait-ms",
                "50",
                "--report",
                "--",
                "x",
            ][..],
            &["-n3", "--policy=fail", "--wait-ms=50", "--report", "x"],
            &[
                "--threads",
                "1",
                "--threads=3",
                "--policy",
                "fail",
                "--wait-ms",
                "50",
                "--report",
                "x",
            ],
        ] {
            let r = run_args(args);
            assert_eq!(r.threads.as_deref(), Some("3"), "{args:?}");
            assert_eq!(r.policy.as_deref(), Some("fail"), "{args:?}");
            assert_eq!(r.wait_ms.as_deref(), Some("50"), "{args:?}");
            assert!(r.report, "{args:?}");
            assert_eq!(words(&r.command), ["x"], "{args:?}");
        }
    }

    #[test]
    fn usage_errors_are_refused_with_the_checks_messages() {
        for (args, says) in [
            (&["run", "-n", "0", "x"][..], "is not a positive integer"),
            (&["run", "-n", "-1", "x"], "is not a positive integer"),
            (
                &["run", "--threads", "abc", "x"],
                "is not a positive integer",
            ),
            (&["run", "-n", "99999999999", "x"], "is out of range"),
            (
                &["run", "--policy", "never", "x"],
                "is not one of wait, confine, fail, audit",
            ),
            (
                &["run", "--wait-ms", "1.5", "x"],
                "is not a number of milliseconds",
            ),
            (
                &["run", "--wait-ms", "", "x"],
                "is not a number of milliseconds",
            ),
            (&["run", "-n"], "a value is required"),
            (&["run", "-n", "2"], "CMD"),
            (&["run", "--"], "CMD"),
            (&["run", "-x", "ls"], "'-x'"),
            (&["run"], "CMD"),
            (&["info", "a", "b"], "'b'"),
            (&["report"], "FILE"),
            (&["report", "--csv", "f"], "'--csv'"),
            (&["bogus"], "'bogus'"),
            (&[], "subcommand"),
        ] {
            let e = parse(args).expect_err(&format!("{args:?} was accepted"));
            assert!(e.use_stderr(), "{args:?}");
            assert_eq!(e.exit_code(), 2, "{args:?}");
            let text = e.render().to_string();
            assert!(text.starts_with("error: "), "{args:?}: {text}");
            assert!(text.contains(says), "{args:?}: {text}");
        }
    }

    #[test]
    fn info_and_report_take_their_operands() {
        match parse(&["info"]).unwrap().command {
            Action::Info(i) => assert_eq!(i.program, None),
            other => panic!("{other:?}"),
        }
        match parse(&["info", "--", "-p"]).unwrap().command {
            Action::Info(i) => assert_eq!(i.program.as_deref(), Some(OsStr::new("-p"))),
            other => panic!("{other:?}"),
        }
        match parse(&["report", "a", "--json", "-", "--", "--json"])
            .unwrap()
            .command
        {
            Action::Report(r) => {
                assert!(r.json);
                assert_eq!(words(&r.files), ["a", "-", "--json"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn help_and_version_go_to_stdout() {
        for args in [
            &["--help"][..],
            &["-h"],
            &["help"],
            &["run", "--help"],
            &["--version"],
            &["-V"],
        ] {
            let e = parse(args).expect_err(&format!("{args:?}"));
            assert!(!e.use_stderr(), "{args:?}");
            assert_eq!(e.exit_code(), 0, "{args:?}");
        }
        let help = Cli::command().render_long_help().to_string();
        for word in [
            "run [-n N]",
            "info [PROGRAM]",
            "report [--json]",
            "docs/interface.md",
        ] {
            assert!(help.contains(word), "{word}: {help}");
        }
    }

    #[test]
    fn preload_is_prepended_once() {
        let lib = Path::new("/opt/t/lib/libthrottle.so");
        assert_eq!(
            preload_value(lib, None),
            OsString::from("/opt/t/lib/libthrottle.so")
        );
        assert_eq!(
            preload_value(
                lib,
                Some(OsStr::new("/a.so:/opt/t/lib/libthrottle.so /b.so"))
            ),
            OsString::from("/opt/t/lib/libthrottle.so:/a.so:/b.so")
        );
    }
}

//! `throttle`: run a program under libthrottle, or show what it would do.
//!
//! The command never links the library's hooks: it compiles only the pure
//! modules it needs (budget resolution, masks, the runtime registry), so its
//! own `pthread_create` and `sysconf` stay libc's.

use throttle_command::{elf, report};
use throttle_core::{config, envsize, launchers, ledger, runtimes, sys};

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const LIBRARY: &str = "libthrottle.so";

const USAGE: &str = "\
usage: throttle run [-n N] [--policy P] [--wait-ms MS] [--report] [--] CMD [ARGS...]
       throttle info [PROGRAM]
       throttle report [--json] FILE...
       throttle --help | --version

  run    run CMD with libthrottle.so preloaded (prepended to LD_PRELOAD)
           -n, --threads N   the thread budget (THROTTLE_THREADS)
           --policy P        wait, confine, fail or audit (THROTTLE_POLICY)
           --wait-ms MS      bound on a wait (THROTTLE_WAIT_MS)
           --report          print a one-line report on stderr at exit
  info   show the cap this environment resolves to and every source consulted;
         with PROGRAM, also whether that program can be throttled at all
  report summarise event logs (THROTTLE_LOG_FILE) per job and program, and
         rank the programs that tried hardest to exceed their allocation;
           --json            one JSON object instead of the text report

Configuration: see the README's table, or docs/interface.md.";

/// A usage error: message, exit status 2.
struct Usage(String);

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, which turns `throttle info | head` into a panic
    // on the closed pipe: stop quietly instead, as Unix tools do.
    // SAFETY: restoring a signal's default disposition, before any thread.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let result = match args
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .as_deref()
    {
        Some("run") => run(&args[1..]),
        Some("info") => info(&args[1..]),
        Some("report") => report::main(&args[1..]).map_err(Usage),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        Some("-V" | "--version") => {
            println!("throttle {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Some(other) => Err(Usage(format!("unknown command '{other}'"))),
        None => Err(Usage("no command given".to_string())),
    };
    result.unwrap_or_else(|Usage(message)| {
        eprintln!("throttle: {message}");
        eprintln!("{USAGE}");
        ExitCode::from(2)
    })
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
    let plan = envsize::plan(var, own, own, mask.count(), || sys::cores(&mask));
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

fn run(args: &[OsString]) -> Result<ExitCode, Usage> {
    let mut env: Vec<(&str, String)> = Vec::new();
    let mut rest = args.iter();
    let command = loop {
        let Some(arg) = rest.next() else {
            return Err(Usage("run: no command given".to_string()));
        };
        let text = arg.to_string_lossy();
        let (flag, inline) = match text.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ if text.starts_with("-n") && text.len() > 2 => {
                ("-n".to_string(), Some(text[2..].to_string()))
            }
            _ => (text.to_string(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| rest.next().map(|v| v.to_string_lossy().into_owned()))
                .ok_or_else(|| Usage(format!("run: {name} needs a value")))
        };
        match flag.as_str() {
            "-n" | "--threads" => {
                let n = value(&flag)?;
                config::check_count(&n).map_err(|why| Usage(format!("run: {flag} '{n}' {why}")))?;
                env.push(("THROTTLE_THREADS", n));
            }
            "--policy" => {
                let p = value(&flag)?;
                config::check_policy(&p)
                    .map_err(|why| Usage(format!("run: --policy '{p}' {why}")))?;
                env.push(("THROTTLE_POLICY", p));
            }
            "--wait-ms" => {
                let ms = value(&flag)?;
                if ms.is_empty()
                    || !ms.bytes().all(|b| b.is_ascii_digit())
                    || ms.parse::<u64>().is_err()
                {
                    return Err(Usage(format!(
                        "run: --wait-ms '{ms}' is not a number of milliseconds"
                    )));
                }
                env.push(("THROTTLE_WAIT_MS", ms));
            }
            "--report" => env.push(("THROTTLE_REPORT", "1".to_string())),
            "--" => match rest.next() {
                Some(cmd) => break cmd,
                None => return Err(Usage("run: no command given after --".to_string())),
            },
            f if f.starts_with('-') && f != "-" => {
                return Err(Usage(format!("run: unknown option '{f}'")))
            }
            _ => break arg,
        }
    };
    let library = match find_library() {
        Ok(l) => l,
        Err(why) => {
            eprintln!("throttle: {why}");
            return Ok(ExitCode::from(127));
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
    Ok(ExitCode::from(match error.kind() {
        std::io::ErrorKind::NotFound => 127,
        _ => 126,
    }))
}

fn info(args: &[OsString]) -> Result<ExitCode, Usage> {
    if args.len() > 1 {
        return Err(Usage("info: at most one PROGRAM".to_string()));
    }
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
    let cores = || sys::affinity(0).as_ref().map_or(real, sys::cores);
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
    if let Some(program) = args.first() {
        println!();
        print_linkage(Path::new(program), &r.launchers);
    }
    Ok(ExitCode::SUCCESS)
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
    let (working, about) = (
        count(ledger::Role::Working),
        count(ledger::Role::AboutToWork),
    );
    let dead = members.iter().filter(|m| gone(m)).count();
    println!("ledger:    {path}");
    println!(
        "           budget {} shared by {working} working and {about} about to work, of {} member processes{}",
        ledger.budget(),
        members.len() - dead,
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

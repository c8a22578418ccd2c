//! Launchers: programs that start a tree's work and do none of it, but that
//! would otherwise claim a share, since they start threads of their own
//! (`srun`'s message threads) or ask for the CPU count. A launcher is never
//! a member of its tree's ledger: it holds no share, counts for nothing in
//! the census, and its own threads are never held back (policy `audit`). It
//! still creates the ledger when it is the first preloaded process
//! (`throttle run -- mpirun -np 4 ./app`), so that what it starts shares one
//! budget. Its `fork` children are ordinary members. Shells, GNU parallel
//! and make need no entry: they never claim.
//!
//! Also the rest of program identification: which script or module an
//! interpreter runs ([`script_of`]), for the launcher list and the event
//! log (which process runs what: the library's `events::launcher`).

/// Slurm's commands; MPI launchers (Open MPI's `mpirun` is `orterun` or
/// `prterun` once its links are resolved, MPICH's is `mpiexec.hydra`) and
/// their per-node daemons; Flux.
pub const BUILT_IN: [&str; 14] = [
    "srun",
    "salloc",
    "sbatch",
    "sattach",
    "mpirun",
    "mpiexec",
    "orterun",
    "prterun",
    "prte",
    "prted",
    "orted",
    "mpiexec.hydra",
    "hydra_pmi_proxy",
    "flux",
];

/// The first of `names` (paths: only the file name counts) that is a
/// launcher's, built in or named in `extra` (`THROTTLE_LAUNCHERS`).
pub fn matching(names: &[Option<&[u8]>], extra: &[String]) -> Option<String> {
    names.iter().flatten().find_map(|path| {
        let base = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
        BUILT_IN
            .iter()
            .copied()
            .chain(extra.iter().map(String::as_str))
            .find(|name| name.as_bytes() == base)
            .map(str::to_string)
    })
}

/// What an interpreter runs, from its arguments.
#[derive(Debug, PartialEq)]
pub enum Script<'a> {
    /// A script file: `python3 train.py`, `Rscript fit.R`, `bash job.sh`.
    Path(&'a [u8]),
    /// A Python module: `python3 -m pkg.main`.
    Module(&'a [u8]),
}

/// Interpreters whose script the event log names, by the name of their
/// executable without a version (`python3.11` is `python`).
pub const INTERPRETERS: [&[u8]; 13] = [
    b"python", b"pypy", b"perl", b"ruby", b"Rscript", b"julia", b"node", b"lua", b"tclsh", b"bash",
    b"sh", b"dash", b"zsh",
];

/// The script an interpreter runs, so that the event log can tell one
/// Python program from another (they all have the same `exe`). `exe` is
/// the resolved executable, `argv` the NUL-separated command line.
///
/// Python's options are parsed as Python does: `-m MOD` names a module,
/// `-c CODE` and `-` (standard input) name no script, and `-W`, `-X` and
/// `--check-hash-based-pycs` take a value. Other interpreters' options are
/// not known here, so their script is named only when it comes first
/// (`Rscript fit.R`, not `Rscript --vanilla fit.R`): code given inline
/// (`bash -c ...`, `perl -e ...`) is never recorded.
pub fn script_of<'a>(exe: &[u8], argv: &'a [u8]) -> Option<Script<'a>> {
    let base = exe.rsplit(|&b| b == b'/').next().unwrap_or(exe);
    let name_end = base
        .iter()
        .rposition(|b| !(b.is_ascii_digit() || *b == b'.'))?
        + 1;
    let name = &base[..name_end];
    if !INTERPRETERS.contains(&name) {
        return None;
    }
    // Each argument ends in a NUL: no piece after the last one.
    let argv = argv.strip_suffix(&[0]).unwrap_or(argv);
    let mut args = argv.split(|&b| b == 0).skip(1);
    if name != b"python" && name != b"pypy" {
        return args
            .next()
            .filter(|a| !a.is_empty() && a.first() != Some(&b'-'))
            .map(Script::Path);
    }
    while let Some(arg) = args.next() {
        match arg {
            b"-" | b"" => return None,
            b"--" => return args.next().map(Script::Path),
            b"--check-hash-based-pycs" => {
                args.next();
                continue;
            }
            [b'-', b'-', ..] => continue,
            [b'-', flags @ ..] => {
                for (i, &flag) in flags.iter().enumerate() {
                    if !matches!(flag, b'c' | b'm' | b'W' | b'X') {
                        continue;
                    }
                    // The option's value: the rest of this argument, or the next.
                    let rest = &flags[i + 1..];
                    let value = if rest.is_empty() { args.next()? } else { rest };
                    match flag {
                        b'm' => return Some(Script::Module(value)),
                        b'c' => return None,
                        _ => break,
                    }
                }
            }
            _ => return Some(Script::Path(arg)),
        }
    }
    None
}

/// The first NUL-terminated piece of `bytes` (all of it without a NUL).
pub fn until_nul(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_launcher_is_known_by_its_executable_its_name_or_its_script() {
        let none: &[String] = &[];
        assert_eq!(
            matching(&[Some(b"/usr/bin/srun"), Some(b"srun"), None], none),
            Some("srun".into())
        );
        // Open MPI's mpirun resolves to orterun; argv[0] still says mpirun.
        assert_eq!(
            matching(&[Some(b"/usr/bin/orterun"), Some(b"mpirun"), None], none),
            Some("orterun".into())
        );
        let extra = ["ibrun".to_string(), "launch.py".to_string()];
        assert_eq!(
            matching(
                &[
                    Some(b"/usr/bin/bash"),
                    Some(b"/bin/bash"),
                    Some(b"/opt/bin/ibrun")
                ],
                &extra
            ),
            Some("ibrun".into())
        );
        assert_eq!(
            matching(
                &[
                    Some(b"/usr/bin/python3.11"),
                    Some(b"python"),
                    Some(b"launch.py")
                ],
                &extra
            ),
            Some("launch.py".into())
        );
        // Names, not parts of names or directories.
        assert_eq!(
            matching(&[Some(b"/usr/bin/srunner"), Some(b"/srun/x"), None], none),
            None
        );
        assert_eq!(
            matching(&[Some(b"/usr/bin/python3"), None, None], &extra),
            None
        );
        assert_eq!(matching(&[None, None, None], &extra), None);
    }

    fn script(exe: &str, argv: &[&str]) -> Option<String> {
        let mut cmdline = Vec::new();
        for arg in argv {
            cmdline.extend_from_slice(arg.as_bytes());
            cmdline.push(0);
        }
        script_of(exe.as_bytes(), &cmdline).map(|s| match s {
            Script::Path(p) => String::from_utf8_lossy(p).into_owned(),
            Script::Module(m) => format!("-m {}", String::from_utf8_lossy(m)),
        })
    }

    #[test]
    fn python_scripts_and_modules_are_named() {
        let py = "/usr/bin/python3.11";
        assert_eq!(
            script(py, &["python", "train.py", "-n", "4"]).as_deref(),
            Some("train.py")
        );
        assert_eq!(
            script(py, &["python3", "-u", "-O", "a.py"]).as_deref(),
            Some("a.py")
        );
        assert_eq!(
            script(py, &["python", "-W", "ignore", "b.py"]).as_deref(),
            Some("b.py")
        );
        assert_eq!(
            script(py, &["python", "-Wignore", "-X", "dev", "c.py"]).as_deref(),
            Some("c.py")
        );
        assert_eq!(
            script(py, &["python", "-m", "pkg.main", "x.py"]).as_deref(),
            Some("-m pkg.main")
        );
        assert_eq!(
            script(py, &["python", "-um", "pkg"]).as_deref(),
            Some("-m pkg")
        );
        assert_eq!(script(py, &["python", "-mpkg"]).as_deref(), Some("-m pkg"));
        assert_eq!(
            script(py, &["python", "--", "-odd.py"]).as_deref(),
            Some("-odd.py")
        );
        assert_eq!(
            script(py, &["python", "--check-hash-based-pycs", "never", "d.py"]).as_deref(),
            Some("d.py")
        );
        assert_eq!(
            script("/opt/pypy3.10", &["pypy", "e.py"]).as_deref(),
            Some("e.py")
        );
        // Inline code, standard input, a bare interpreter, a missing value.
        assert_eq!(script(py, &["python", "-c", "import secret"]), None);
        assert_eq!(script(py, &["python", "-uc", "print(1)"]), None);
        assert_eq!(script(py, &["python", "-"]), None);
        assert_eq!(script(py, &["python"]), None);
        assert_eq!(script(py, &["python", "-m"]), None);
        assert_eq!(script(py, &["python", "-i"]), None);
        // An empty argument is a value like any other.
        assert_eq!(
            script(py, &["python", "-W", "", "f.py"]).as_deref(),
            Some("f.py")
        );
    }

    #[test]
    fn other_interpreters_name_a_script_given_first() {
        assert_eq!(
            script("/usr/bin/Rscript", &["Rscript", "fit.R"]).as_deref(),
            Some("fit.R")
        );
        assert_eq!(
            script("/usr/bin/bash", &["bash", "job.sh", "1"]).as_deref(),
            Some("job.sh")
        );
        assert_eq!(
            script("/usr/bin/dash", &["sh", "run.sh"]).as_deref(),
            Some("run.sh")
        );
        assert_eq!(script("/usr/bin/perl", &["perl", "-e", "print 1"]), None);
        assert_eq!(script("/usr/bin/bash", &["bash", "-c", "echo hi"]), None);
        assert_eq!(
            script("/usr/bin/Rscript", &["Rscript", "--vanilla", "fit.R"]),
            None
        );
        // Not an interpreter: no script, whatever its arguments.
        assert_eq!(script("/usr/bin/solver", &["solver", "in.dat"]), None);
        assert_eq!(
            script("/usr/bin/python-config", &["python-config", "x"]),
            None
        );
        assert_eq!(script("/usr/bin/3", &["3", "x"]), None);
        assert_eq!(script("", &[]), None);
    }
}

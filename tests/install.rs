//! `admin/install.sh`: the layout it puts into a prefix, the installed
//! `throttle run` finding the installed library from anywhere, the installed
//! Slurm TaskProlog, a second install changing nothing, and `--uninstall`
//! removing exactly what install put there.
//!
//! One test function: every step works on the same prefix, in order.

mod common;

use common::{c_program, empty_so, lib_path, repo_root, Run, TempDir};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The package version, which names the modulefiles.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Every path under `dir` (relative), with its contents for files.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
        for entry in fs::read_dir(dir).expect("read a directory of the prefix") {
            let path = entry.expect("a directory entry").path();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            if path.is_dir() {
                out.insert(rel, None);
                walk(root, &path, out);
            } else {
                out.insert(
                    rel,
                    Some(fs::read(&path).expect("read a file of the prefix")),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn install(args: &[&Path]) -> common::Output {
    let mut run = Run::new("bash").arg(repo_root().join("admin/install.sh"));
    for a in args {
        run = run.arg(a);
    }
    run.run()
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[test]
fn install_run_taskprolog_reinstall_uninstall() {
    let tmp = TempDir::new("install");
    let prefix = tmp.0.join("prefix");
    // Things of the site's own that must survive the uninstall.
    fs::create_dir_all(prefix.join("lib")).unwrap();
    fs::write(prefix.join("lib/other.so"), "not ours\n").unwrap();
    fs::create_dir_all(prefix.join("share/doc")).unwrap();
    fs::write(prefix.join("share/doc/README"), "not ours\n").unwrap();
    let before = snapshot(&prefix);

    // --- install (the library and command of this test build, as built).
    let lib = lib_path();
    let build_dir = lib.parent().unwrap();
    let out = install(&[
        Path::new("--prefix"),
        &prefix,
        Path::new("--from"),
        build_dir,
    ]);
    out.assert_success();

    let installed_lib = prefix.join("lib/libthrottle.so");
    let installed_bin = prefix.join("bin/throttle");
    let lua = prefix.join(format!("share/modulefiles/throttle/{VERSION}.lua"));
    let tcl = prefix.join(format!("share/modulefiles/throttle/{VERSION}"));
    let prolog = prefix.join("libexec/throttle/taskprolog.sh");
    assert_eq!(
        fs::read(&installed_lib).unwrap(),
        fs::read(&lib).unwrap(),
        "the installed library is the built one\n{out}"
    );
    assert!(is_executable(&installed_bin), "{out}");
    assert!(is_executable(&prolog), "{out}");
    let lib_str = installed_lib.to_str().unwrap();
    let bin_dir = prefix.join("bin");
    let bin_str = bin_dir.to_str().unwrap();
    let lua_text = fs::read_to_string(&lua).unwrap();
    assert!(
        lua_text.contains(&format!("prepend_path(\"LD_PRELOAD\", \"{lib_str}\")")),
        "{lua_text}"
    );
    assert!(
        lua_text.contains(&format!("prepend_path(\"PATH\", \"{bin_str}\")")),
        "{lua_text}"
    );
    let tcl_text = fs::read_to_string(&tcl).unwrap();
    assert!(tcl_text.starts_with("#%Module1.0\n"), "{tcl_text}");
    assert!(
        tcl_text.contains(&format!("prepend-path LD_PRELOAD {lib_str}\n")),
        "{tcl_text}"
    );
    assert!(
        tcl_text.contains(&format!("prepend-path PATH {bin_str}\n")),
        "{tcl_text}"
    );
    let prolog_text = fs::read_to_string(&prolog).unwrap();
    for (name, text) in [
        ("lua", &lua_text),
        ("tcl", &tcl_text),
        ("prolog", &prolog_text),
    ] {
        assert!(
            !text.contains("@PREFIX@") && !text.contains("@VERSION@"),
            "a placeholder is left in the installed {name} file:\n{text}"
        );
    }

    // --- a second install changes nothing.
    let installed = snapshot(&prefix);
    install(&[
        Path::new("--prefix"),
        &prefix,
        Path::new("--from"),
        build_dir,
    ])
    .assert_success();
    let again = snapshot(&prefix);
    assert_eq!(
        installed.keys().collect::<Vec<_>>(),
        again.keys().collect::<Vec<_>>(),
        "a second install changed the files of the prefix"
    );
    assert!(
        installed == again,
        "a second install changed a file's contents"
    );

    // --- the installed command, run from elsewhere, finds the installed
    // library (../lib) and caps the program.
    let cpus = c_program("cpus");
    let out = Run::new("env")
        .args(["-C", "/"])
        .arg(&installed_bin)
        .args(["run", "-n", "1", "--"])
        .arg(&cpus)
        .run();
    out.assert_success();
    assert_eq!(out.num("nprocs_onln"), 1, "{out}");
    assert_eq!(out.num("affinity_count"), 1, "{out}");
    let out = Run::new("env")
        .args(["-C", "/"])
        .arg(&installed_bin)
        .args(["run", "-n", "1", "--", "printenv", "LD_PRELOAD"])
        .run();
    out.assert_success();
    let canonical_lib = installed_lib.canonicalize().unwrap();
    assert_eq!(
        out.stdout_str().trim_end(),
        canonical_lib.to_str().unwrap(),
        "`throttle run` preloads the installed library\n{out}"
    );

    // --- the installed TaskProlog: one `export` line, the library first.
    let other = empty_so(&tmp.0);
    let other_str = other.to_str().unwrap();
    let prolog_run = |preload: Option<&str>| {
        let mut run = Run::new(&prolog);
        if let Some(p) = preload {
            run = run.env("LD_PRELOAD", p);
        }
        let out = run.run();
        out.assert_success();
        out
    };
    let out = prolog_run(None);
    assert_eq!(
        out.stdout_str(),
        format!("export LD_PRELOAD={lib_str}\n"),
        "{out}"
    );
    let out = prolog_run(Some(other_str));
    assert_eq!(
        out.stdout_str(),
        format!("export LD_PRELOAD={lib_str}:{other_str}\n"),
        "{out}"
    );
    let out = prolog_run(Some(&format!("{other_str}:{lib_str}")));
    assert_eq!(
        out.stdout_str(),
        format!("export LD_PRELOAD={lib_str}:{other_str}\n"),
        "the library is not repeated\n{out}"
    );
    // Missing on this node: nothing on stdout, one line on stderr.
    let moved = tmp.0.join("moved.so");
    fs::rename(&installed_lib, &moved).unwrap();
    let out = prolog_run(None);
    fs::rename(&moved, &installed_lib).unwrap();
    assert_eq!(out.stdout_str(), "", "{out}");
    assert!(
        out.stderr_str().contains("missing"),
        "a missing library is reported on stderr\n{out}"
    );

    // --- uninstall: the prefix is as it was before the install.
    install(&[Path::new("--prefix"), &prefix, Path::new("--uninstall")]).assert_success();
    let after = snapshot(&prefix);
    assert!(
        after == before,
        "uninstall left the prefix different from before the install:\nbefore: {:?}\nafter: {:?}",
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    // A second uninstall has nothing to do, and succeeds.
    install(&[Path::new("--prefix"), &prefix, Path::new("--uninstall")]).assert_success();
    assert!(snapshot(&prefix) == before);

    // --- a prefix LD_PRELOAD cannot hold is refused, and nothing is created.
    let bad = tmp.0.join("with space");
    let out = install(&[Path::new("--prefix"), &bad, Path::new("--from"), build_dir]);
    assert_ne!(out.code(), 0, "{out}");
    assert!(!bad.exists(), "{out}");
}

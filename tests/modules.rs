//! The modulefiles (`admin/modulefiles/`, installed by `admin/install.sh`)
//! under the real module systems: Lmod (Debian `lmod`, installed by
//! `scripts/setup.sh`) and Environment Modules (Debian `environment-modules`,
//! which conflicts with `lmod` as a package, so `setup.sh` unpacks it into
//! `target/testenv/environment-modules`).
//!
//! For each, in a non-interactive `bash -c` with a clean environment: source
//! the init script, `module use <prefix>/share/modulefiles`, `module load
//! throttle`; a program started then is preloaded (THROTTLE_THREADS=1 caps its
//! CPU count to 1); `module list`, `module avail` and `module whatis` still work
//! with the library loaded into the module command itself; `module unload
//! throttle` gives LD_PRELOAD and PATH back exactly, whether LD_PRELOAD was
//! unset or held another library before.

mod common;

use common::{c_program, empty_so, lib_path, repo_root, Output, Run, TempDir};
use std::fs;
use std::path::{Path, PathBuf};

/// What each run prints for an unset variable.
const UNSET: &str = "<unset>";

/// The commands run under each module system. Inputs come in the environment:
/// INIT (the init script to source), PREFIX, CPUS (c_tests/cpus).
const SCRIPT: &str = r#"
source "$INIT" || { echo "init_rc=$?"; exit 3; }
echo "before_preload=${LD_PRELOAD-<unset>}"
echo "before_path=$PATH"
module use "$PREFIX/share/modulefiles"
echo "use_rc=$?"
module load throttle
echo "load_rc=$?"
echo "loaded_preload=${LD_PRELOAD-<unset>}"
echo "loaded_throttle=$(command -v throttle)"
THROTTLE_THREADS=1 "$CPUS" | sed 's/^/capped_/'
echo "capped_rc=${PIPESTATUS[0]}"
for cmd in list avail whatis; do
    if [ "$cmd" = whatis ]; then
        out="$(module whatis throttle 2>&1)"
    else
        out="$(module "$cmd" 2>&1)"
    fi
    echo "${cmd}_rc=$?"
    case "$out" in
        *throttle*) echo "${cmd}_mentions_throttle=1" ;;
        *) echo "${cmd}_mentions_throttle=0" ;;
    esac
    case "$out" in
        *libthrottle*) echo "${cmd}_mentions_libthrottle=1" ;;
        *) echo "${cmd}_mentions_libthrottle=0" ;;
    esac
    printf '%s\n' "$out" | sed "s/^/module $cmd: /" >&2
done
module unload throttle
echo "unload_rc=$?"
echo "after_preload=${LD_PRELOAD-<unset>}"
echo "after_path=$PATH"
echo "after_throttle=$(command -v throttle || true)"
echo "done=1"
"#;

/// Installs this build into `<dir>/prefix` with admin/install.sh.
fn install(dir: &Path) -> PathBuf {
    let prefix = dir.join("prefix");
    let build_dir = lib_path().parent().unwrap().to_path_buf();
    Run::new("bash")
        .arg(repo_root().join("admin/install.sh"))
        .arg("--prefix")
        .arg(&prefix)
        .arg("--from")
        .arg(&build_dir)
        .run()
        .assert_success();
    prefix
}

/// Runs SCRIPT under `init` with a clean environment (and LD_PRELOAD set to
/// `preload` before the module system starts, if given).
fn run_script(init: &Path, prefix: &Path, home: &Path, preload: Option<&Path>) -> Output {
    let mut run = Run::new("env")
        .arg("-i")
        .arg("PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .arg(format!("HOME={}", home.display()))
        .arg(format!("INIT={}", init.display()))
        .arg(format!("PREFIX={}", prefix.display()))
        .arg(format!("CPUS={}", c_program("cpus").display()));
    if let Some(p) = preload {
        run = run.arg(format!("LD_PRELOAD={}", p.display()));
    }
    run.args(["bash", "-c", SCRIPT]).run()
}

fn check(system: &str, init: &Path) {
    assert!(
        init.is_file(),
        "{system}: no init script {}: run scripts/setup.sh",
        init.display()
    );
    let tmp = TempDir::new(&format!("modules-{system}"));
    let prefix = install(&tmp.0);
    let home = tmp.0.join("home");
    fs::create_dir_all(&home).unwrap();
    let other = empty_so(&tmp.0);
    let lib = prefix.join("lib/libthrottle.so");
    let lib = lib.to_str().unwrap();

    for preload in [None, Some(other.as_path())] {
        let out = run_script(init, &prefix, &home, preload);
        let ctx = format!("{system}, LD_PRELOAD before: {preload:?}\n{out}");
        out.assert_success();
        assert_eq!(out.get("done"), "1", "{ctx}");
        let before = preload.map_or(UNSET.to_string(), |p| p.display().to_string());
        assert_eq!(out.get("before_preload"), before, "{ctx}");
        for key in ["use_rc", "load_rc", "capped_rc", "unload_rc"] {
            assert_eq!(out.get(key), "0", "{key}\n{ctx}");
        }

        // Loaded: the library first, the other entry kept behind it.
        let loaded = match preload {
            None => lib.to_string(),
            Some(p) => format!("{lib}:{}", p.display()),
        };
        assert_eq!(out.get("loaded_preload"), loaded, "{ctx}");
        assert_eq!(
            PathBuf::from(out.get("loaded_throttle")),
            prefix.join("bin/throttle"),
            "{ctx}"
        );
        // A program started with the module loaded is throttled.
        assert_eq!(out.num("capped_nprocs_onln"), 1, "{ctx}");
        assert_eq!(out.num("capped_affinity_count"), 1, "{ctx}");

        // The module commands keep working with the library in LD_PRELOAD
        // (it is loaded into the module command itself and must stay silent).
        for cmd in ["list", "avail", "whatis"] {
            assert_eq!(out.get(&format!("{cmd}_rc")), "0", "{cmd}\n{ctx}");
            assert_eq!(
                out.get(&format!("{cmd}_mentions_throttle")),
                "1",
                "`module {cmd}` does not mention throttle\n{ctx}"
            );
        }
        assert_eq!(
            out.get("whatis_mentions_libthrottle"),
            "1",
            "the whatis line\n{ctx}"
        );

        // Unloaded: LD_PRELOAD and PATH exactly as before.
        assert_eq!(out.get("after_preload"), before, "{ctx}");
        assert_eq!(out.get("after_path"), out.get("before_path"), "{ctx}");
        assert_eq!(out.get("after_throttle"), "", "{ctx}");
        assert!(
            !out.stderr_str().contains("ld.so"),
            "ld.so complained about LD_PRELOAD\n{ctx}"
        );
    }
}

#[test]
fn lmod_loads_caps_and_unloads_cleanly() {
    check("lmod", Path::new("/usr/share/lmod/lmod/init/bash"));
}

#[test]
fn environment_modules_loads_caps_and_unloads_cleanly() {
    let dir = std::env::var_os("THROTTLE_TEST_ENVIRONMENT_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/testenv/environment-modules"));
    check(
        "environment-modules",
        &dir.join("usr/share/modules/init/bash"),
    );
}

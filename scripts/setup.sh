#!/usr/bin/env bash
# Install what the tests and the demo need on a fresh Debian 12 machine.
# Idempotent: a second run installs nothing and only prints the versions.
set -euo pipefail

SCRIPT=setup
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

export DEBIAN_FRONTEND=noninteractive

# Run apt as root, or through sudo when we are not root.
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo -n)
    else
        log "not root and no sudo: apt installs will fail"
    fi
fi

APT_UPDATED=0
apt_install() {
    if [ "$APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        "${SUDO[@]}" apt-get update -qq >&2
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    local out
    out="$(mktemp)"
    if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@" >"$out" 2>&1; then
        cat "$out" >&2
        rm -f "$out"
        log "apt-get install failed"
        return 1
    fi
    rm -f "$out"
}

is_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

# --- apt packages --------------------------------------------------------
APT_PACKAGES=(gcc make parallel libc6-dev python3 python3-venv python3-pip
    libopenblas-dev libopenblas0-pthread procps
    libopenblas0-openmp libblis4-pthread libblis4-openmp g++ clang libomp-dev libtbb-dev
    libjemalloc2 golang-go r-base-core nodejs default-jdk-headless util-linux hwloc
    man-db bubblewrap)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
else
    log "apt packages already installed"
fi

# --- cluster tools (tests/modules.rs, tests/slurm.rs) -------------------------
# Lmod from apt; Slurm and munge, whose postinst would start services: with no
# policy-rc.d of the machine's own, one that forbids starting them is in place
# while they install (the tests start their own private daemons).
CLUSTER_PACKAGES=(lmod slurmctld slurmd slurm-client munge)
missing=()
for pkg in "${CLUSTER_PACKAGES[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    policy_rc=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
        "${SUDO[@]}" chmod 0755 /usr/sbin/policy-rc.d
        policy_rc=1
    fi
    status=0
    apt_install "${missing[@]}" || status=$?
    if [ "$policy_rc" -eq 1 ]; then
        "${SUDO[@]}" rm -f /usr/sbin/policy-rc.d
    fi
    [ "$status" -eq 0 ] || exit "$status"
else
    log "lmod, slurm and munge already installed"
fi

# Environment Modules conflicts with lmod as a package: unpack it (no
# install) into target/testenv/environment-modules, with its init scripts
# pointed at the unpacked modulecmd.tcl (it needs tclsh8.6, which lmod brings).
EM_DIR="$ROOT/target/testenv/environment-modules"
if [ -f "$EM_DIR/.unpacked" ]; then
    log "environment-modules already unpacked in $EM_DIR"
else
    em_tmp="$(mktemp -d)"
    if ! (cd "$em_tmp" && apt-get download -qq -o APT::Sandbox::User=root environment-modules >&2); then
        log "apt-get update"
        "${SUDO[@]}" apt-get update -qq >&2
        APT_UPDATED=1
        (cd "$em_tmp" && apt-get download -qq -o APT::Sandbox::User=root environment-modules >&2)
    fi
    rm -rf "$EM_DIR"
    mkdir -p "$EM_DIR"
    dpkg -x "$em_tmp"/environment-modules_*.deb "$EM_DIR"
    for f in "$EM_DIR"/usr/share/modules/init/*; do
        if [ -f "$f" ]; then
            sed -i "s|'/usr/lib/\([^']*\)modulecmd.tcl'|'$EM_DIR/usr/lib/\1modulecmd.tcl'|g" "$f"
        fi
    done
    dpkg-deb -f "$em_tmp"/environment-modules_*.deb Version >"$EM_DIR/.unpacked"
    rm -rf "$em_tmp"
    log "unpacked environment-modules $(cat "$EM_DIR/.unpacked") into $EM_DIR"
fi

# --- Rust toolchain --------------------------------------------------------
cargo_on_path
if ! command -v cargo >/dev/null 2>&1; then
    log "cargo not on PATH: trying Debian's toolchain (apt-get install -y cargo rustc rustfmt rust-clippy)"
    apt_install cargo rustc rustfmt rust-clippy
fi
# scripts/test.sh runs `cargo fmt` and `cargo clippy`.
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null 2>&1; then
        log "rustup component add rustfmt clippy"
        rustup component add rustfmt clippy >&2
    else
        log "cargo fmt/clippy missing: apt-get install rustfmt rust-clippy"
        apt_install rustfmt rust-clippy
    fi
fi

# --- Python virtualenv ------------------------------------------------------
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
if ! "$PY" -c 'import sys' >/dev/null 2>&1; then
    log "creating virtualenv $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
fi
if "$PY" -c 'import numpy, scipy, threadpoolctl' >/dev/null 2>&1; then
    log "numpy, scipy, threadpoolctl already in $VENV"
else
    log "pip install numpy scipy threadpoolctl (into $VENV)"
    "$PY" -m pip install --disable-pip-version-check --no-input -q --upgrade pip >&2
    "$PY" -m pip install --disable-pip-version-check --no-input -q numpy scipy threadpoolctl >&2
fi

# --- MKL, on demand (tests/runtimes.rs): the wheel is ~1 GB installed ---------
if [ "${THROTTLE_TEST_MKL:-}" = "1" ]; then
    MKL_VENV="$ROOT/target/venv-mkl"
    if "$MKL_VENV/bin/python" -c 'import importlib.metadata as m; m.version("mkl")' >/dev/null 2>&1; then
        log "mkl already in $MKL_VENV"
    else
        log "pip install mkl (into $MKL_VENV)"
        rm -rf "$MKL_VENV"
        python3 -m venv "$MKL_VENV"
        "$MKL_VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q mkl >&2
    fi
fi

# --- versions ---------------------------------------------------------------
gcc_version="$(gcc -dumpfullversion 2>/dev/null || gcc -dumpversion)"
log "gcc $gcc_version"
log "make $(make --version | head -n1 | awk '{print $NF}')"
if command -v cargo >/dev/null 2>&1; then
    log "$(cargo --version)"
fi
"$PY" -c 'import os, sys, numpy, scipy, threadpoolctl
print("python", sys.version.split()[0])
print("numpy", numpy.__version__)
print("scipy", scipy.__version__)
print("threadpoolctl", threadpoolctl.__version__)
import scipy.linalg
for pool in threadpoolctl.threadpool_info():
    print("  bundled", os.path.basename(pool["filepath"]), pool.get("version"),
          pool.get("threading_layer", ""), "threads=%d" % pool["num_threads"])' | while IFS= read -r line; do log "$line"; done
log "openblas (Debian libopenblas0-pthread) $(dpkg-query -W -f='${Version}' libopenblas0-pthread)"
log "lmod $(dpkg-query -W -f='${Version}' lmod), environment-modules $(cat "$EM_DIR/.unpacked") (unpacked), slurm $(dpkg-query -W -f='${Version}' slurmd), munge $(dpkg-query -W -f='${Version}' munge)"
log "done"

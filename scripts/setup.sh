#!/usr/bin/env bash
# Install what the tests and the demo need on a fresh Debian 12 machine.
# Idempotent: a second run installs nothing and only prints the versions.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { echo "setup: $*" >&2; }

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
APT_PACKAGES=(gcc make libc6-dev python3 python3-venv python3-pip
    libopenblas-dev libopenblas0-pthread procps)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
else
    log "apt packages already installed"
fi

# --- Rust toolchain --------------------------------------------------------
# A rustup install lives in ~/.cargo/bin, which non-login shells may lack.
if ! command -v cargo >/dev/null 2>&1 && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi
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
log "done"

#!/usr/bin/env bash
# The project's one test command: setup, format check, lints, release build,
# and the full test suite (unit, C and Python integration tests).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# A rustup install lives in ~/.cargo/bin, which non-login shells may lack.
if ! command -v cargo >/dev/null 2>&1 && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi

log() { echo "test: $*" >&2; }

"$ROOT/scripts/setup.sh"

# The integration tests run numpy/scipy workloads with this interpreter.
export THROTTLE_TEST_PYTHON="$ROOT/.venv/bin/python"

log "cargo fmt --all -- --check"
cargo fmt --all -- --check

log "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

log "cargo build --release"
cargo build --release

log "cargo test --release"
cargo test --release

log "all checks passed"

#!/usr/bin/env bash
# The project's one test command: setup, format check, lints, release build,
# and the full test suite (unit, C and Python integration tests).
set -euo pipefail

SCRIPT="test"
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

cargo_on_path

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

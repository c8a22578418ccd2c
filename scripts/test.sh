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

log "scripts/check-imports.py: no import cycle, no call upward (docs/design.md, section 1)"
python3 "$ROOT/scripts/check-imports.py" --self-test
python3 "$ROOT/scripts/check-imports.py"

log "cargo fmt --all -- --check"
cargo fmt --all -- --check

log "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

log "cargo build --release"
cargo build --release

log "cargo test --release"
cargo test --release

# The real-software corpus (corpus/README.md, docs/corpus.md): every case
# with and without the library at the defaults, the way `module load` or
# ld.so.preload deploys it. The cap-1 and tree modes take about three times as
# long as CI allows on 2 CPUs: `scripts/corpus.sh` runs all three.
log "real-software corpus, default mode (scripts/corpus.sh runs every mode)"
"$ROOT/scripts/corpus.sh" --mode default

log "the start-up sweep: every installed program's --version and --help, with and without the library (docs/corpus.md)"
python3 "$ROOT/corpus/sweep.py"
# Again with every program a member of a tree (it joins a live ledger at
# start and leaves at exit), as under a preloaded shell: the other path.
log "the start-up sweep in a tree"
python3 "$ROOT/corpus/sweep.py" --tree

log "all checks passed"

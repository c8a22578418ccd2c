#!/usr/bin/env bash
# The long fuzz run: every fuzz target (crates/core/src/fuzz.rs: settings, allocation
# parsers, the ledger, a ledger scribbled on by another process; and
# crates/command/src/report.rs: event-log lines) with 10 million cases each,
# one target at a time, each spread over the CPUs. CI runs the same targets
# with 20,000 cases as part of `cargo test`.
#
#   scripts/fuzz.sh                 # 10,000,000 cases per target, fixed seed
#   CASES=1000000 scripts/fuzz.sh   # fewer
#   SEED=random scripts/fuzz.sh     # a new seed (printed; a failure names its case's seed)
set -euo pipefail
cd "$(dirname "$0")/.."
export THROTTLE_FUZZ_CASES="${CASES:-10000000}"
export THROTTLE_FUZZ_SEED="${SEED:-24301}"
cargo test --release -p throttle-core --lib --no-run >/dev/null 2>&1 || cargo test --release -p throttle-core --lib --no-run
cargo test --release -p throttle-command --lib --no-run >/dev/null 2>&1 || cargo test --release -p throttle-command --lib --no-run
start=$(date +%s)
cargo test --release -p throttle-core --lib fuzz -- --nocapture --test-threads=1 2>&1 | grep -oE 'fuzz [a-z-]+: .*|test result.*|panicked.*|failed.*'
cargo test --release -p throttle-command --lib fuzz -- --nocapture --test-threads=1 2>&1 | grep -oE 'fuzz [a-z-]+: .*|test result.*|panicked.*|failed.*'
echo "all fuzz targets: $(( $(date +%s) - start )) s"

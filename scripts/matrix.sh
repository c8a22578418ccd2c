#!/usr/bin/env bash
# Prints the compatibility matrix (Markdown): every runtime x case of
# tests/runtimes.rs and tests/rt_python.rs, run without the library and with
# it at THROTTLE_THREADS=2, each forced above the cap by the runtime's own
# variable (OPENBLAS_NUM_THREADS=8, OMP_NUM_THREADS=8, BLIS_NUM_THREADS=8,
# MKL_NUM_THREADS=8). A cell is the most threads working inside the runtime
# at once, then the live threads and the runtime's own getter.
#
#   scripts/matrix.sh                      # needs scripts/setup.sh run first
#   THROTTLE_TEST_MKL=1 scripts/matrix.sh  # MKL too (after THROTTLE_TEST_MKL=1 scripts/setup.sh)
set -euo pipefail

SCRIPT=matrix
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
cargo_on_path
export THROTTLE_TEST_PYTHON="${THROTTLE_TEST_PYTHON:-$ROOT/.venv/bin/python}"

cargo build --release >&2
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
for t in runtimes rt_python; do
    cargo test --release --test "$t" -- --ignored --exact matrix --nocapture >"$out" 2>&1 || {
        cat "$out" >&2
        echo "matrix: cargo test --test $t failed" >&2
        exit 1
    }
    if [ "$t" = runtimes ]; then
        grep '^|' "$out"
    else
        grep '^| numpy' "$out"
    fi
done
echo
echo "cap 2 on $(nproc) CPUs; $(uname -srm); a cell: threads working at once (live threads, the runtime's getter)"

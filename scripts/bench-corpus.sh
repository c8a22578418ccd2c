#!/usr/bin/env bash
# Timings of the corpus (corpus/run.py --bench): for every case whose plain
# run takes at least 1 s, R alternated rounds of
#   plain run / the same with libthrottle preloaded          (ratio library/plain)
#   taskset -c 0 + *_NUM_THREADS=1 / THROTTLE_THREADS=1       (ratio cap1/taskset)
# medians printed, ratios over 1.02 flagged "!", over 1.05 "!!".
#
#   scripts/bench-corpus.sh [--rounds R] [--only NAME] ...   (run.py's options)
set -euo pipefail

SCRIPT=bench-corpus
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

cargo_on_path

"$ROOT/corpus/setup-python.sh"
if [ -x "$ROOT/corpus/setup-system.sh" ]; then
    "$ROOT/corpus/setup-system.sh"
elif [ -f "$ROOT/corpus/setup-system.sh" ]; then
    bash "$ROOT/corpus/setup-system.sh"
fi

log "cargo build --release"
cargo build --release --quiet

exec python3 "$ROOT/corpus/run.py" --bench "$@"

#!/usr/bin/env bash
# The real-software corpus (corpus/README.md): install what its cases need,
# build the library, run every case with and without it.
#
#   scripts/corpus.sh                    # everything
#   scripts/corpus.sh --only NAME ...    # run.py's options (corpus/run.py --help)
#
# Exit status: run.py's (non-zero when a case failed).
set -euo pipefail

SCRIPT=corpus
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

exec python3 "$ROOT/corpus/run.py" "$@"

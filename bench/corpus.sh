#!/usr/bin/env bash
# Timings of the corpus (corpus/run.py --bench): for every case whose plain
# run takes at least 1 s, R alternated rounds of
#   plain run / the same with libthrottle preloaded          (ratio library/plain)
#   taskset -c 0 + *_NUM_THREADS=1 / THROTTLE_THREADS=1       (ratio cap1/taskset)
# each round running the four in turn; wall-time medians printed with their
# ratios (flagged "!" over the bounds, 1.02 and 1.05), and beside each the
# ratio of CPU-time medians (user + system: the library's own cost, with far
# less of the shared machine's noise than wall time).
#
#   bench/corpus.sh [--rounds R] [--only NAME] ...   (run.py's options)
set -euo pipefail

# The same set-up as scripts/corpus.sh, which runs run.py with these options.
exec "$(dirname "${BASH_SOURCE[0]}")/../scripts/corpus.sh" --bench "$@"

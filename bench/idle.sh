#!/usr/bin/env bash
# What an idle tree costs: P Python processes that import numpy, run one
# small BLAS call (so OpenBLAS starts its pool and each process claims a
# share) and then sleep, all in one tree with a budget of 2P (every share
# is 2, so every member runs a steward). Over S seconds of idleness the CPU
# time of every process (all threads, utime+stime from /proc) is summed,
# with the library and without it, alternated, R rounds; prints the medians
# and the difference in CPU-seconds.
#
#   bench/idle.sh            # P=128 S=15 R=3, the issue's figure
#   P=64 S=10 R=1 bench/idle.sh
set -euo pipefail

SCRIPT=bench/idle
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$ROOT"
cargo_on_path

case "${1:-}" in
-h | --help)
    sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
esac

P="${P:-128}"
S="${S:-15}"
R="${R:-3}"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || die "$PY is missing: run scripts/setup.sh"
if [ -z "${SKIP_BUILD:-}" ]; then cargo build --release --quiet; fi
LIB="${LIB:-$ROOT/target/release/libthrottle.so}"
TICK=$(getconf CLK_TCK)
WORK="$(mktemp -d)"
trap 'pkill -f "$WORK/idle.py" 2>/dev/null || true; rm -rf "$WORK"' EXIT

cat >"$WORK/idle.py" <<'PY'
import os, sys, time
import numpy as np
a = np.ones((64, 64))
a @ a
sys.stdout.write("ready\n"); sys.stdout.flush()
time.sleep(3600)
PY

# Sum of utime+stime (clock ticks) of every thread of the given pids.
ticks() {
    local total=0 pid f rest
    for pid in "$@"; do
        for f in /proc/"$pid"/task/*/stat; do
            [ -r "$f" ] || continue
            rest=$(sed 's/^.*) //' "$f" 2>/dev/null) || continue
            # shellcheck disable=SC2086
            set -- $rest
            total=$((total + ${12} + ${13}))
        done
    done
    echo "$total"
}

# one MODE: starts P members (MODE lib: under one preloaded parent, so in one
# tree), waits until all are ready, measures S seconds; prints CPU-seconds.
one() {
    local mode=$1 pids=() i
    local fifo="$WORK/ready"
    rm -f "$fifo"
    mkfifo "$fifo"
    exec 9<>"$fifo"
    if [ "$mode" = lib ]; then
        # The parent shell is preloaded too: the members' tree is its.
        LD_PRELOAD="$LIB" THROTTLE_THREADS=$((2 * P)) bash -c '
            for ((i = 0; i < '"$P"'; i++)); do "'"$PY"'" "'"$WORK"'/idle.py" >&9 & done
            wait' &
    else
        OPENBLAS_NUM_THREADS=2 bash -c '
            for ((i = 0; i < '"$P"'; i++)); do "'"$PY"'" "'"$WORK"'/idle.py" >&9 & done
            wait' &
    fi
    local launcher=$!
    for ((i = 0; i < P; i++)); do read -r _ <&9; done
    sleep 2 # the last claims settle
    mapfile -t pids < <(pgrep -f "$WORK/idle.py")
    local before after
    before=$(ticks "${pids[@]}")
    sleep "$S"
    after=$(ticks "${pids[@]}")
    kill "${pids[@]}" 2>/dev/null || true
    wait "$launcher" 2>/dev/null || true
    exec 9>&-
    awk -v t=$((after - before)) -v hz="$TICK" 'BEGIN { printf "%.2f\n", t / hz }'
}

declare -a LIBR PLAIN
for ((r = 1; r <= R; r++)); do
    PLAIN+=("$(one plain)")
    LIBR+=("$(one lib)")
    log "round $r: without ${PLAIN[-1]} s, with ${LIBR[-1]} s"
done
m_plain=$(median "${PLAIN[@]}")
m_lib=$(median "${LIBR[@]}")
echo "idle tree: $P numpy processes, budget $((2 * P)) (share 2 each), ${S} s idle, $R rounds (medians)"
echo "  CPU-seconds without the library: $m_plain"
echo "  CPU-seconds with the library:    $m_lib"
awk -v a="$m_lib" -v b="$m_plain" 'BEGIN { printf "  difference: %+.2f CPU-seconds (acceptance: at most +1)\n", a - b }'

#!/usr/bin/env bash
# What the library costs a program: N thread create+join pairs, timed inside
# the program, run alternately without the library, with it below the cap (the
# fast path), and with it at the cap under `wait` with sleeping threads beside
# it (the slow path: a creation over the cap reads the threads' states in
# /proc, one reading serving a burst): 8 threads beside N pairs, and 1,000
# beside 200 pairs (issue 16's figure); and a million dlsym lookups by
# handle of a symbol that is not a runtime setter (what every ctypes attribute
# or plugin lookup pays for the dlsym hook). Prints the median of R rounds of
# each and the ratios, measured side by side in one run.
#
# BEFORE=path/to/an/older/libthrottle.so adds that library's fast path,
# `wait` path and dlsym lookups to the same rounds, with their ratios to
# this build's: a change's before/after figures from one run.
set -euo pipefail

SCRIPT=bench/overhead
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$ROOT"
cargo_on_path

N="${N:-20000}"
R="${R:-7}"

cargo build --release --quiet
LIB="$ROOT/target/release/libthrottle.so"
BIN="$ROOT/target/bench/create_join"
mkdir -p "$(dirname "$BIN")"
cc -O2 -pthread -o "$BIN" bench/c/create_join.c
DLSYM_BIN="$ROOT/target/bench/dlsym_lookup"
cc -O2 -o "$DLSYM_BIN" bench/c/dlsym_lookup.c

one() { # one ENV... : prints ns per thread
    env -u LD_PRELOAD -u THROTTLE_THREADS -u THROTTLE_POLICY "$@" "$BIN" "${PAIRS:-$N}" "${BG:-0}" |
        sed -n 's/^ns_per_thread=//p'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A runs
log "$R rounds of $N create+join pairs each, alternating configurations"
for _ in $(seq "$R"); do
    runs[plain]+="$(one) "
    runs[fast]+="$(one LD_PRELOAD="$LIB" THROTTLE_THREADS=64) "
    runs[slow]+="$(BG=8 one LD_PRELOAD="$LIB" THROTTLE_THREADS=2 THROTTLE_POLICY=wait) "
    runs[slow_plain]+="$(BG=8 one) "
    # Issue 16's figure: 200 pairs at the cap beside 1,000 sleeping threads.
    runs[crowd]+="$(PAIRS=200 BG=1000 one LD_PRELOAD="$LIB" THROTTLE_THREADS=2 THROTTLE_POLICY=wait) "
    runs[crowd_plain]+="$(PAIRS=200 BG=1000 one) "
    runs[dlsym_plain]+="$(env -u LD_PRELOAD "$DLSYM_BIN" | sed -n 's/^ns_per_lookup=//p') "
    runs[dlsym]+="$(env LD_PRELOAD="$LIB" "$DLSYM_BIN" | sed -n 's/^ns_per_lookup=//p') "
    if [[ -n "${BEFORE:-}" ]]; then
        runs[fast_before]+="$(one LD_PRELOAD="$BEFORE" THROTTLE_THREADS=64) "
        runs[slow_before]+="$(BG=8 one LD_PRELOAD="$BEFORE" THROTTLE_THREADS=2 THROTTLE_POLICY=wait) "
        runs[dlsym_before]+="$(env LD_PRELOAD="$BEFORE" "$DLSYM_BIN" | sed -n 's/^ns_per_lookup=//p') "
    fi
done

m() { tr ' ' '\n' <<<"${runs[$1]}" | grep . | median; }
plain=$(m plain) fast=$(m fast) slow=$(m slow) slow_plain=$(m slow_plain)
dlsym_plain=$(m dlsym_plain) dlsym=$(m dlsym)
crowd=$(m crowd) crowd_plain=$(m crowd_plain)
printf '%-58s %8s %8s\n' "configuration ($(nproc) CPUs, median of $R)" "ns/thread" "ratio"
printf '%-58s %8s %8s\n' "no library" "$plain" "1.00"
printf '%-58s %8s %8s\n' "libthrottle, below the cap (fast path)" "$fast" "$(awk -v a="$fast" -v b="$plain" 'BEGIN{printf "%.2f", a/b}')"
printf '%-58s %8s %8s\n' "no library, 8 sleeping threads beside" "$slow_plain" "1.00"
printf '%-58s %8s %8s\n' "libthrottle at cap 2 (wait), 8 sleeping threads beside" "$slow" "$(awk -v a="$slow" -v b="$slow_plain" 'BEGIN{printf "%.2f", a/b}')"
printf '%-58s %8s %8s\n' "no library, 1,000 sleeping threads beside (200 pairs)" "$crowd_plain" "1.00"
printf '%-58s %8s %8s\n' "libthrottle at cap 2 (wait), 1,000 sleeping beside" "$crowd" "$(awk -v a="$crowd" -v b="$crowd_plain" 'BEGIN{printf "%.2f", a/b}')"
printf '%-58s %8s %8s\n' "dlsym by handle, no library (ns/lookup)" "$dlsym_plain" "1.00"
printf '%-58s %8s %8s\n' "dlsym by handle, libthrottle (ns/lookup)" "$dlsym" "$(awk -v a="$dlsym" -v b="$dlsym_plain" 'BEGIN{printf "%.2f", a/b}')"
if [[ -n "${BEFORE:-}" ]]; then
    fast_before=$(m fast_before) slow_before=$(m slow_before) dlsym_before=$(m dlsym_before)
    echo
    printf '%-58s %8s %8s\n' "this build against BEFORE ($BEFORE)" "before" "now/before"
    printf '%-58s %8s %8s\n' "below the cap, fast path (ns/thread)" "$fast_before" "$(awk -v a="$fast" -v b="$fast_before" 'BEGIN{printf "%.2f", a/b}')"
    printf '%-58s %8s %8s\n' "at cap 2 (wait), 8 sleeping beside (ns/thread)" "$slow_before" "$(awk -v a="$slow" -v b="$slow_before" 'BEGIN{printf "%.2f", a/b}')"
    printf '%-58s %8s %8s\n' "dlsym by handle (ns/lookup)" "$dlsym_before" "$(awk -v a="$dlsym" -v b="$dlsym_before" 'BEGIN{printf "%.2f", a/b}')"
fi

#!/usr/bin/env bash
# The cost of the file hooks on every other open (docs/design.md, section
# 11): one open+close of a path that is no CPU view, a million times in a
# tight loop, and a real program that opens many files (tar reading
# /usr/share/doc), each without and with the library (capped at 1, so that
# every hook is in force), alternated, ROUNDS times (default 7); prints the
# medians and their ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${ROUNDS:-7}"
cargo build --release -q
LIB="$PWD/target/release/libthrottle.so"
BIN="$PWD/target/release/open_bench"
cc -O2 -o "$BIN" c_tests/open_bench.c
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
plain_open=(); with_open=(); plain_tar=(); with_tar=()
tar_run() { local t0 t1; t0=$(date +%s%N); "$@" tar -cf /dev/null -C /usr/share doc 2>/dev/null || true; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000 )); }
for r in $(seq "$ROUNDS"); do
    plain_open+=("$("$BIN" /etc/hostname 1000000 | cut -d= -f2)")
    with_open+=("$(env LD_PRELOAD="$LIB" THROTTLE_THREADS=1 "$BIN" /etc/hostname 1000000 | cut -d= -f2)")
    plain_tar+=("$(tar_run env)")
    with_tar+=("$(tar_run env LD_PRELOAD="$LIB" THROTTLE_THREADS=1)")
done
po=$(printf '%s\n' "${plain_open[@]}" | median); wo=$(printf '%s\n' "${with_open[@]}" | median)
pt=$(printf '%s\n' "${plain_tar[@]}" | median); wt=$(printf '%s\n' "${with_tar[@]}" | median)
files=$(find /usr/share/doc -type f | wc -l)
echo "open+close of /etc/hostname, median of $ROUNDS alternated rounds of 1,000,000:"
echo "  without: ${po} ns   with: ${wo} ns   ratio: $(awk -v a="$wo" -v b="$po" 'BEGIN {printf "%.3f", a/b}')"
echo "tar -cf /dev/null /usr/share/doc ($files files), median of $ROUNDS alternated rounds:"
echo "  without: ${pt} us   with: ${wt} us   ratio: $(awk -v a="$wt" -v b="$pt" 'BEGIN {printf "%.3f", a/b}')"

#!/usr/bin/env bash
# How the costs of the process-tree ledger grow with the size of the tree.
# For each N (default 8 16 32 64 128 256 512 1024), N real processes
# (bench/c/scale_member.c) are started one after another by one parent,
# kept alive and idle, then told to exit, with the library (the parent and
# every member preloaded, THROTTLE_THREADS=2N: one ledger, a share of 2 for
# each member) and without. Each member claims a share (its first CPU-count
# query), starts one thread that sleeps (so it holds a share above 1 among
# working processes, and the library gives it a steward thread), and reports.
# Measured, per N:
#
#   (a) start    fork to the member's report, mean over members started one
#                after another (exec, ld.so, the library's constructor: the
#                join, then the claim and the thread)
#   (b) claim    the first sysconf(_SC_NPROCESSORS_ONLN), timed inside the
#                member (with the library: joins the share, runs a census),
#                median over members
#   (c) idle     CPU time (all threads: the process CPU clock, utime+stime in
#                ns) of all members over IDLE_S seconds of idleness, SETTLE_S
#                seconds after the last start, per second and per member; the
#                "% machine" column is all members' CPU over the machine's
#                CPUs: near 100% the machine is saturated and the members'
#                cost is capped by it
#   (d) leave    from telling every member at once to exit (the pipe they
#                block on is closed) to the last reap, over the members
#   (e) info     (library only) the wall time of `throttle info`, which reads
#                the ledger and checks every member: one call, not per member
#   reclaim      (library only) one member killed with SIGKILL (it cannot
#                leave): time until `throttle info`, run back to back, shows
#                it reclaimed by the surviving members' stewards; resolution:
#                one `throttle info` run
#
# Every configuration of every N runs once per round, the library's and the
# plain one's alternating in an order that rotates between rounds; R rounds;
# the table shows medians. "x" columns: the growth of the cost per member with
# the library relative to the smallest N (N0): 1 means the cost per member does
# not grow with the tree, N/N0 means it grows linearly per member
# (quadratically in all); the "none" column beside it shows how much of the
# cost plain processes pay too. A run whose start step takes longer than
# JOIN_LIMIT_S stops there: its N and every larger one show "over" for that
# configuration (with the mean start time of the members it did start).
# Timings on a shared machine are noisy; the ratios of one run are what to
# read. The numbers also go to a CSV file (--csv) that bench/chart.py draws.
#
# With the library, the members of a large tree keep the machine busy: this
# benchmark loads both CPUs of a 2-CPU machine for minutes from N = 256 on.
#
# Tables go to stdout, progress to stderr.
set -euo pipefail

SCRIPT=bench/scale
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$ROOT"
cargo_on_path

usage() {
    cat <<'USAGE'
usage: bench/scale.sh [-r R] [--quick] [--csv FILE]
  -r R        rounds (default 3; 1 with --quick)
  --quick     N_LIST="8 64 256", R=1, IDLE_S=2 (unless given)
  --csv FILE  where the numbers go (default target/bench/scale.csv)
Environment (defaults in brackets):
  N_LIST        tree sizes, each from 2 to 4096 [8 16 32 64 128 256 512 1024]
  IDLE_S        seconds of idleness measured [5]
  SETTLE_S      seconds between the last start and the idle measurement [3]
  JOIN_LIMIT_S  longest start step of one run, in seconds [120]
  LIB=PATH      the library (default target/release/libthrottle.so, built with
                cargo build --release unless SKIP_BUILD=1)
  THROTTLE_BIN  the throttle command [the one beside LIB]
  SKIP_BUILD=1  do not run cargo build
USAGE
}

R=""
QUICK=0
CSV="$ROOT/target/bench/scale.csv"
while [ "$#" -gt 0 ]; do
    case "$1" in
        -r) [ "$#" -ge 2 ] || die "-r needs a value"; R="$2"; shift 2 ;;
        --quick) QUICK=1; shift ;;
        --csv) [ "$#" -ge 2 ] || die "--csv needs a value"; CSV="$2"; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
if [ "$QUICK" -eq 1 ]; then
    : "${R:=1}" "${N_LIST:=8 64 256}" "${IDLE_S:=2}"
fi
: "${R:=3}" "${N_LIST:=8 16 32 64 128 256 512 1024}" "${IDLE_S:=5}" "${SETTLE_S:=3}" "${JOIN_LIMIT_S:=120}"
posint() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive integer, got '$2'"; }
posint "-r" "$R"
posint IDLE_S "$IDLE_S"
posint JOIN_LIMIT_S "$JOIN_LIMIT_S"
[[ "$SETTLE_S" =~ ^[0-9]+$ ]] || die "SETTLE_S must be a whole number of seconds, got '$SETTLE_S'"
read -r -a NS <<<"$N_LIST"
[ "${#NS[@]}" -gt 0 ] || die "N_LIST is empty"
for n in "${NS[@]}"; do
    posint N_LIST "$n"
    if [ "$n" -lt 2 ] || [ "$n" -gt 4096 ]; then die "N_LIST: $n is not between 2 and 4096"; fi
done
mapfile -t NS < <(printf '%s\n' "${NS[@]}" | sort -n | uniq)
N0="${NS[0]}"
NMAX="${NS[${#NS[@]} - 1]}"

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "cargo build --release"
    cargo build --release --quiet
fi
LIB="${LIB:-$ROOT/target/release/libthrottle.so}"
[ -f "$LIB" ] || die "$LIB not found (build it, or set LIB=...)"
LIB="$(cd "$(dirname "$LIB")" && pwd)/$(basename "$LIB")"
THROTTLE_BIN="${THROTTLE_BIN:-$(dirname "$LIB")/throttle}"
[ -x "$THROTTLE_BIN" ] || die "$THROTTLE_BIN not found (set THROTTLE_BIN=...)"

MEMBER="$ROOT/target/bench/scale_member"
mkdir -p "$(dirname "$MEMBER")" "$(dirname "$CSV")"
cc -O2 -Wall -pthread -o "$MEMBER" bench/c/scale_member.c

# Room for NMAX members of 3 threads each (main, sleeper, steward) besides
# everything else this user runs: raise the soft limits to the hard ones if
# needed (root is not held by RLIMIT_NPROC).
need_tasks=$((4 * NMAX + 256))
if [ "$(id -u)" -ne 0 ]; then
    soft="$(ulimit -S -u)"
    if [ "$soft" != unlimited ] && [ "$soft" -lt "$((need_tasks + $(ps -L -u "$(id -u)" --no-headers | wc -l)))" ]; then
        ulimit -S -u "$(ulimit -H -u)" || true
        log "ulimit -u: raised from $soft to $(ulimit -S -u)"
    fi
fi
soft="$(ulimit -S -n)"
if [ "$soft" != unlimited ] && [ "$soft" -lt 1024 ]; then ulimit -S -n "$(ulimit -H -n)" || true; fi
pid_max="$(cat /proc/sys/kernel/pid_max 2>/dev/null || echo 32768)"
[ "$pid_max" -gt "$need_tasks" ] || die "kernel.pid_max ($pid_max) is below the $need_tasks tasks N=$NMAX needs"

CLEAN_ENV=(env -u LD_PRELOAD -u THROTTLE_THREADS -u THROTTLE_BUDGET_FILE -u THROTTLE_POLICY
    -u THROTTLE_WAIT_MS -u THROTTLE_DISABLE -u THROTTLE_SCOPE -u THROTTLE_LEDGER
    -u THROTTLE_SAVED_ENV -u THROTTLE_REPORT -u THROTTLE_LOG -u THROTTLE_LOG_FILE
    -u THROTTLE_LAUNCHERS -u OMP_NUM_THREADS -u OPENBLAS_NUM_THREADS -u MKL_NUM_THREADS)

TMP="$(mktemp -d)"
PIDS="$TMP/pids"
LAUNCH_PID=""
# ours PID: whether PID is still one of this benchmark's processes (a pid
# may be reused once its process is gone).
ours() { [ "$(readlink "/proc/$1/exe" 2>/dev/null || true)" = "$MEMBER" ]; }
# reap_members: waits (at most 60 s) for every member of the last run to be
# gone (they exit by themselves once their launcher has gone), then kills
# what is left.
reap_members() {
    local pid alive i
    [ -s "$PIDS" ] || return 0
    for ((i = 0; i < 600; i++)); do
        alive=0
        while read -r pid; do
            if ours "$pid"; then alive=1; break; fi
        done <"$PIDS"
        [ "$alive" -eq 0 ] && break
        sleep 0.1
    done
    while read -r pid; do
        if ours "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    done <"$PIDS"
    : >"$PIDS"
}
# On an interruption: the launcher is ended (its members then exit by
# themselves and the last one removes the ledger); a ledger still there
# afterwards (members that had to be killed) is removed: its name holds the
# launcher's pid (the tree's creator).
cleanup() {
    local launcher="$LAUNCH_PID" f
    if [ -n "$launcher" ] && ours "$launcher"; then
        kill -TERM "$launcher" 2>/dev/null || true
        wait "$launcher" 2>/dev/null || true
    fi
    reap_members
    if [ -n "$launcher" ]; then
        for f in /dev/shm/throttle-"$(id -u)"-ledger-"$launcher"-* \
            ${XDG_RUNTIME_DIR:+"$XDG_RUNTIME_DIR"/throttle-ledger-"$launcher"-*}; do
            if [ -f "$f" ]; then rm -f "$f"; fi
        done
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

field() { sed -n "s/^$1=//p" "$2" | head -n 1; }

KEYS=(start_us main_us claim_us claim_cpu_us join_cpu_us idle_cpu_us_per_s_member idle_cpu_us_per_s leave_us_member
    info_ms reclaim_ms threads rss_kib launcher_cpu_us_per_s info_members info_working reclaim_members)
declare -A vals=() over=() ledgers_left=() diag=() diag_first=()
LEDGERS_SEEN=0

# run CFG N REP: one launcher run; records its numbers in vals[CFG.N.KEY].
run() {
    local cfg="$1" n="$2" rep="$3" out="$TMP/$1.$2.$3.out" err="$TMP/$1.$2.$3.err" status=0 ledger i
    : >"$PIDS"
    if [ "$cfg" = library ]; then
        "${CLEAN_ENV[@]}" LD_PRELOAD="$LIB" THROTTLE_THREADS="$((2 * n))" SCALE_PIDS_FILE="$PIDS" \
            SCALE_JOIN_LIMIT_S="$JOIN_LIMIT_S" "$MEMBER" --info "$THROTTLE_BIN" "$n" "$IDLE_S" "$SETTLE_S" \
            >"$out" 2>"$err" &
    else
        "${CLEAN_ENV[@]}" SCALE_PIDS_FILE="$PIDS" SCALE_JOIN_LIMIT_S="$JOIN_LIMIT_S" \
            "$MEMBER" "$n" "$IDLE_S" "$SETTLE_S" >"$out" 2>"$err" &
    fi
    LAUNCH_PID=$!
    wait "$LAUNCH_PID" || status=$?
    LAUNCH_PID=""
    reap_members
    # The ledger goes with its last process; give a busy machine a moment.
    ledger="$(field ledger "$out")"
    if [ -n "$ledger" ]; then
        LEDGERS_SEEN=$((LEDGERS_SEEN + 1))
        for ((i = 0; i < 50; i++)); do [ -e "$ledger" ] || break; sleep 0.1; done
        [ ! -e "$ledger" ] || ledgers_left[$ledger]=1
    fi
    if [ "$status" -eq 3 ] && [ "$(field incomplete "$out")" = 1 ]; then
        over[$cfg]="$n"
        vals[$cfg.$n.over_start_us]="$(field start_us "$out")"
        vals[$cfg.$n.over_started]="$(field started "$out")"
        log "N=$n $cfg (round $rep): start step over ${JOIN_LIMIT_S} s after $(field started "$out") members" \
            "($(field start_us "$out") us each); larger N skipped for $cfg"
        return 0
    fi
    if [ "$status" -ne 0 ] || ! grep -q '^leave_ms=' "$out"; then
        tail -n 5 "$err" | sed 's/^/    /' >&2
        die "N=$n $cfg: the launcher failed (status $status)"
    fi
    for key in "${KEYS[@]}"; do
        v="$(field "$key" "$out")"
        [ -n "$v" ] && vals[$cfg.$n.$key]+="${vals[$cfg.$n.$key]:+ }$v"
    done
    if grep -q '^libthrottle: ' "$err"; then
        diag[$cfg]+="$(grep -c '^libthrottle: ' "$err") "
        [ -n "${diag_first[$cfg]:-}" ] || diag_first[$cfg]="N=$n: $(grep -m 1 '^libthrottle: ' "$err")"
    fi
    local extra=""
    [ -z "$ledger" ] || extra=", info $(field info_ms "$out") ms, reclaim $(field reclaim_ms "$out") ms"
    log "N=$n $cfg (round $rep): start $(field start_us "$out") us, claim $(field claim_us "$out") us," \
        "idle $(field idle_cpu_us_per_s_member "$out") us/s per member, leave $(field leave_us_member "$out") us$extra"
}

log "$(nproc) CPUs; N = ${NS[*]}; R=$R; IDLE_S=$IDLE_S SETTLE_S=$SETTLE_S JOIN_LIMIT_S=$JOIN_LIMIT_S; library $LIB"
for ((rep = 1; rep <= R; rep++)); do
    for n in "${NS[@]}"; do
        for cfg in $(rotate "$((rep + n))" library none); do
            if [ -n "${over[$cfg]:-}" ] && [ "$n" -ge "${over[$cfg]}" ]; then continue; fi
            run "$cfg" "$n" "$rep"
        done
    done
done

# --- tables -------------------------------------------------------------------
# med CFG N KEY: the median of the runs, or "" when there is none.
med() {
    local v="${vals[$1.$2.$3]:-}"
    # shellcheck disable=SC2086 # a word list of numbers
    if [ -n "$v" ]; then median $v; fi
}
# fmt VALUE: 3 significant figures at most, "-" when empty.
fmt() {
    awk -v v="$1" 'BEGIN { if (v == "") { print "-"; exit }
        a = v < 0 ? -v : v
        if (a >= 100) printf "%.0f\n", v; else if (a >= 10) printf "%.1f\n", v; else printf "%.2f\n", v }'
}
# added LIB NONE: LIB - NONE, or LIB when NONE is empty; "" when LIB is.
added() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "") print ""; else if (b == "") print a; else print a - b }'; }
# growth VALUE BASE: VALUE / BASE, "n/a" when either is missing or BASE <= 0.
growth() {
    awk -v v="$1" -v b="$2" 'BEGIN { if (v == "" || b == "" || b <= 0) print "n/a"; else printf "%.1f\n", v / b }'
}
NCPU="$(nproc)"

# The costs: key, CSV name, unit, whether there is a plain value.
COSTS=("start_us start us 1" "main_us main us 1" "claim_us claim us 1"
    "claim_cpu_us claim_cpu us 1" "join_cpu_us join_cpu us 1"
    "idle_cpu_us_per_s_member idle_cpu us_cpu_per_s 1" "leave_us_member leave us 1"
    "info_ms info ms 0" "reclaim_ms reclaim ms 0")
declare -A M=()
for n in "${NS[@]}"; do
    for c in "${COSTS[@]}"; do
        read -r key _ _ plain <<<"$c"
        M[library.$n.$key]="$(med library "$n" "$key")"
        M[none.$n.$key]=""
        [ "$plain" = 1 ] && M[none.$n.$key]="$(med none "$n" "$key")"
    done
done
cell() { # cell CFG N KEY: the median, or "over" past the limit
    if [ -n "${over[$1]:-}" ] && [ "$2" -ge "${over[$1]}" ]; then
        echo over
    elif [ -n "${M[$1.$2.$3]+set}" ]; then
        fmt "${M[$1.$2.$3]}"
    else
        fmt "$(med "$1" "$2" "$3")"
    fi
}
gcell() { # gcell N KEY: growth of the library's cost against N0
    if [ -n "${over[library]:-}" ] && [ "$1" -ge "${over[library]}" ]; then
        echo "-"
    else
        growth "${M[library.$1.$2]}" "${M[library.$N0.$2]}"
    fi
}
machine() { # machine N: all members' idle CPU over the machine's CPUs, in %
    local v
    v="$(med library "$1" idle_cpu_us_per_s)"
    if [ -z "$v" ]; then echo "-"; else awk -v v="$v" -v c="$NCPU" 'BEGIN { printf "%.1f%%\n", v / 1e4 / c }'; fi
}

echo "ledger scale: N members started one after another under one ledger (THROTTLE_THREADS=2N), $NCPU CPUs, median of $R round(s);"
echo "per member unless said; lib: with the library, none: without; x: lib / lib at N=$N0"
printf '%-5s|%25s |%25s |%32s |%25s |%16s |%8s\n' "" "(a) start us" "(b) claim us" "(c) idle CPU us/s per member" \
    "(d) leave us per member" "(e) info ms" "reclaim"
printf '%-5s|%9s%9s%7s |%9s%9s%7s |%9s%7s%7s%9s |%9s%9s%7s |%9s%7s |%8s\n' "N" "lib" "none" "x" "lib" "none" "x" \
    "lib" "none" "x" "%machine" "lib" "none" "x" "lib" "x" "ms"
for n in "${NS[@]}"; do
    printf '%-5s|%9s%9s%7s |%9s%9s%7s |%9s%7s%7s%9s |%9s%9s%7s |%9s%7s |%8s\n' "$n" \
        "$(cell library "$n" start_us)" "$(cell none "$n" start_us)" "$(gcell "$n" start_us)" \
        "$(cell library "$n" claim_us)" "$(cell none "$n" claim_us)" "$(gcell "$n" claim_us)" \
        "$(cell library "$n" idle_cpu_us_per_s_member)" "$(cell none "$n" idle_cpu_us_per_s_member)" \
        "$(gcell "$n" idle_cpu_us_per_s_member)" "$(machine "$n")" \
        "$(cell library "$n" leave_us_member)" "$(cell none "$n" leave_us_member)" "$(gcell "$n" leave_us_member)" \
        "$(cell library "$n" info_ms)" "$(gcell "$n" info_ms)" "$(cell library "$n" reclaim_ms)"
done
echo "  (a) fork to the member's report: exec, ld.so, join, claim, one thread; (b) first sysconf(_SC_NPROCESSORS_ONLN) in the member;"
echo "  (c) CPU of idle members (all threads) per second of wall time, %machine: all members' over $NCPU CPUs; (d) all told to"
echo "  exit at once, first tell to last reap, over the members; (e) one \`throttle info\` (whole ledger); reclaim: SIGKILL to"
echo "  the first \`throttle info\` showing the member reclaimed. over: the start step took more than ${JOIN_LIMIT_S} s"
for cfg in library none; do
    if [ -n "${over[$cfg]:-}" ]; then
        n="${over[$cfg]}"
        echo "  $cfg over the limit at N=$n: ${vals[$cfg.$n.over_started]} members started in ${JOIN_LIMIT_S} s, $(fmt "${vals[$cfg.$n.over_start_us]}") us each on average"
    fi
done
echo
echo "CPU, per member (medians): (b') the claim's CPU time on the member's thread (its cost, without the wait for a CPU);"
echo "(f) the members' CPU from their start to the end of the join step (their start, and what later members' claims cost them)"
printf '%-5s|%27s |%27s\n' "" "(b') claim CPU us" "(f) join CPU us per member"
printf '%-5s|%9s%9s%9s |%9s%9s%9s\n' "N" "lib" "none" "x" "lib" "none" "x"
for n in "${NS[@]}"; do
    printf '%-5s|%9s%9s%9s |%9s%9s%9s\n' "$n" \
        "$(cell library "$n" claim_cpu_us)" "$(cell none "$n" claim_cpu_us)" "$(gcell "$n" claim_cpu_us)" \
        "$(cell library "$n" join_cpu_us)" "$(cell none "$n" join_cpu_us)" "$(gcell "$n" join_cpu_us)"
done
echo
echo "checks, per member (medians): threads (main, sleeper, and the library's steward), resident KiB; the launcher's CPU"
echo "during the idle second; the member processes and claimed ones (working or resting) \`throttle info\` counted (expected: N + the launcher, N)"
printf '%-5s|%9s%9s |%9s%9s |%9s%9s |%14s\n' "" "threads" "" "RSS KiB" "" "launcher" "us/s" "info counted"
printf '%-5s|%9s%9s |%9s%9s |%9s%9s |%14s\n' "N" "lib" "none" "lib" "none" "lib" "none" "members/work."
for n in "${NS[@]}"; do
    counted="$(med library "$n" info_members)/$(med library "$n" info_working)"
    if [ -n "${over[library]:-}" ] && [ "$n" -ge "${over[library]}" ]; then counted=over; fi
    printf '%-5s|%9s%9s |%9s%9s |%9s%9s |%14s\n' "$n" \
        "$(cell library "$n" threads)" "$(cell none "$n" threads)" "$(cell library "$n" rss_kib)" "$(cell none "$n" rss_kib)" \
        "$(cell library "$n" launcher_cpu_us_per_s)" "$(cell none "$n" launcher_cpu_us_per_s)" "$counted"
done
sum() { awk '{ for (i = 1; i <= NF; i++) s += $i } END { print s + 0 }' <<<"$1"; }
echo "libthrottle lines on stderr (launchers and members): library $(sum "${diag[library]:-}"), none $(sum "${diag[none]:-}")"
for cfg in library none; do
    if [ -n "${diag_first[$cfg]:-}" ]; then echo "  the first, $cfg, ${diag_first[$cfg]}"; fi
done
short=""
for n in "${NS[@]}"; do
    m="$(med library "$n" info_members)"
    if [ -n "$m" ] && awk -v m="$m" -v n="$n" 'BEGIN { exit !(m < n + 1) }'; then short+=" N=$n ($m of $((n + 1)))"; fi
done
if [ -n "$short" ]; then
    echo "  \`throttle info\` counted fewer member processes than the launcher and its members at:$short:"
    echo "  those left out run on their own cap, outside the tree (a full ledger: see the lines above)"
fi

# --- CSV ------------------------------------------------------------------------
{
    echo "n,cost,unit,per,library,no_library,added,growth"
    for n in "${NS[@]}"; do
        for c in "${COSTS[@]}"; do
            read -r key name unit plain <<<"$c"
            per=member
            case "$name" in info | reclaim) per=call ;; esac
            lib="${M[library.$n.$key]}" none="${M[none.$n.$key]}"
            if [ -n "${over[library]:-}" ] && [ "$n" -ge "${over[library]}" ]; then lib=""; fi
            if [ -n "${over[none]:-}" ] && [ "$n" -ge "${over[none]}" ]; then none=""; fi
            g="$(growth "$lib" "${M[library.$N0.$key]}")"
            [ "$g" = n/a ] && g=""
            echo "$n,$name,$unit,$per,$lib,$none,$(added "$lib" "$none"),$g"
        done
    done
} >"$CSV"
echo "numbers: $CSV (drawn by bench/chart.py $CSV docs/scale.svg [NOTE])"

if [ "${#ledgers_left[@]}" -gt 0 ]; then
    echo "ledgers of the library runs still there after their last process: ${#ledgers_left[@]} of $LEDGERS_SEEN: ${!ledgers_left[*]}"
else
    echo "ledgers of the library runs still there after their last process: 0 of $LEDGERS_SEEN"
fi
# The largest N the library's runs completed.
NTOP=""
for n in "${NS[@]}"; do
    if [ -z "${over[library]:-}" ] || [ "$n" -lt "${over[library]}" ]; then NTOP="$n"; fi
done
summary="bench/scale: $NCPU CPUs, R=$R, N=${NS[*]}"
if [ -n "$NTOP" ]; then
    summary+="; cost per member with the library at N=$NTOP, x its value at N=$N0:"
    for key in start_us claim_us idle_cpu_us_per_s_member leave_us_member; do
        summary+=" ${key%%_*} $(gcell "$NTOP" "$key")"
    done
fi
if [ -n "${over[library]:-}" ]; then summary+="; library over ${JOIN_LIMIT_S} s to start N=${over[library]}"; fi
echo "$summary"

#!/usr/bin/env bash
# The process-tree budget (the ledger), measured: three benchmarks, each run
# side by side with its comparison configurations, alternating, R times, and
# reported as medians.
#
#   seed000  seed 000's numpy script as P concurrent processes started by GNU
#            parallel, as in the seed, under `throttle run --` with no thread
#            count (the budget is this machine's CPUs, shared by the tree),
#            against the hand-tuned run (*_NUM_THREADS=1, no library) and
#            plain.
#   seed003  seed 003's four programs, which combine a process pool with BLAS
#            threads (pool or not, BLAS threads 1 or nproc), and the untuned
#            pooled program (Pool(), no variables) under `throttle run --`,
#            against the best of the four; the no-pool program under
#            `throttle run --`, against its own best tuning; and, for
#            reference only, two rewrites: the no-pool program touching less
#            memory, and the pooled program under `throttle run --` with its
#            tasks returning a float instead of their product (what sending
#            every product back to the parent costs).
#   ledger   what joining and leaving the ledger costs a process: N = 1, 8, 64
#            children started at once (bench/c/ledger_churn.c), under one
#            ledger, under THROTTLE_SCOPE=process (no ledger), and with no
#            library.
#
# Besides wall time, the seed tables show each run's CPU time (user+sys of its
# whole process tree) and its mean number of runnable threads (sampled): on a
# machine shared with other users, wall time is noisy, and these two show what
# a configuration did (oversubscribed or not) whatever the others were doing.
# Seed 003's table also shows each run's minor page faults.
# The exit reports of the throttled processes (THROTTLE_REPORT=1: peak threads,
# cap, budget, ledger) are summarised under each table.
#
# Tables and one summary line go to stdout, progress to stderr.
set -euo pipefail

SCRIPT=bench/tree
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$ROOT"

cargo_on_path

usage() {
    cat <<'USAGE'
usage: bench/tree.sh [-r R] [-p P] [--quick] [--only LIST]
  -r R         repetitions of every configuration, alternated; medians are
               reported (default 3; 1 with --quick); the ledger benchmark,
               a few seconds a repetition, runs 3R
  -p P         concurrent processes of seed 000 (default 6)
  --quick      a short smoke run: SEED000_ITERS=5, SEED003_TASKS=4,
               SEED003_SIZE=1500, CHURN_PROCS=64, R=1 (unless given)
  --only LIST  comma-separated subset of: seed000,seed003,ledger (default all)
Environment (defaults in brackets):
  SEED000_ITERS  iterations of each seed 000 process [30, the seed's]
  SEED003_TASKS  tasks of seed 003 [16; the seed has 100]
  SEED003_SIZE   matrix side of seed 003 [2000, the seed's]
  CHURN_PROCS    children started per ledger measurement [256]
USAGE
}

R=""
P=6
QUICK=0
PARTS="seed000,seed003,ledger"
while [ "$#" -gt 0 ]; do
    case "$1" in
        -r) [ "$#" -ge 2 ] || die "-r needs a value"; R="$2"; shift 2 ;;
        -r*) R="${1#-r}"; shift ;;
        -p) [ "$#" -ge 2 ] || die "-p needs a value"; P="$2"; shift 2 ;;
        -p*) P="${1#-p}"; shift ;;
        --quick) QUICK=1; shift ;;
        --only) [ "$#" -ge 2 ] || die "--only needs a value"; PARTS="$2"; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
if [ "$QUICK" -eq 1 ]; then
    : "${R:=1}" "${SEED000_ITERS:=5}" "${SEED003_TASKS:=4}" "${SEED003_SIZE:=1500}" "${CHURN_PROCS:=64}"
fi
: "${R:=3}" "${SEED000_ITERS:=30}" "${SEED003_TASKS:=16}" "${SEED003_SIZE:=2000}" "${CHURN_PROCS:=256}"
posint() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive integer, got '$2'"; }
posint "-r" "$R"
posint "-p" "$P"
posint SEED000_ITERS "$SEED000_ITERS"
posint SEED003_TASKS "$SEED003_TASKS"
posint SEED003_SIZE "$SEED003_SIZE"
posint CHURN_PROCS "$CHURN_PROCS"
[ "$P" -le 256 ] || die "-p must be at most 256, got '$P'"
for part in ${PARTS//,/ }; do
    case "$part" in seed000 | seed003 | ledger) ;; *) die "--only: unknown benchmark '$part'" ;; esac
done
want() { [[ ",$PARTS," == *",$1,"* ]]; }

"$ROOT/scripts/setup.sh"
log "cargo build --release"
cargo build --release --quiet

PY="$ROOT/.venv/bin/python"
THROTTLE="$ROOT/target/release/throttle"
CHURN="$ROOT/target/bench/ledger_churn"
NCPU="$(nproc)"
[ -x "$THROTTLE" ] || die "$THROTTLE not found after cargo build --release"
[ -f "$ROOT/target/release/libthrottle.so" ] || die "target/release/libthrottle.so not found after cargo build --release"
if want ledger; then
    mkdir -p "$(dirname "$CHURN")"
    cc -O2 -Wall -pthread -o "$CHURN" bench/c/ledger_churn.c
fi

# Every configuration starts from the same environment: no thread-count
# variables, no preload, no throttle setting inherited from the caller.
CLEAN_ENV=(env -u OMP_NUM_THREADS -u OPENBLAS_NUM_THREADS -u MKL_NUM_THREADS
    -u BLIS_NUM_THREADS -u VECLIB_MAXIMUM_THREADS -u GOTO_NUM_THREADS
    -u NUMEXPR_NUM_THREADS -u PYTHON_CPU_COUNT -u LD_PRELOAD
    -u THROTTLE_THREADS -u THROTTLE_BUDGET_FILE -u THROTTLE_POLICY
    -u THROTTLE_WAIT_MS -u THROTTLE_DISABLE -u THROTTLE_SCOPE -u THROTTLE_LEDGER
    -u THROTTLE_REPORT -u THROTTLE_LOG -u THROTTLE_LOG_FILE)
ONE_THREAD=(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1)
ALL_THREADS=(OMP_NUM_THREADS="$NCPU" OPENBLAS_NUM_THREADS="$NCPU" MKL_NUM_THREADS="$NCPU")

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

now() { date +%s.%N; }
# cpu_children: sets CPU_NOW to the user+sys seconds of this shell's reaped
# children (and of theirs, each waited for), from the `times` builtin, which
# must run in this very process (not in a $(...) subshell): CPU time is less
# sensitive than wall time to the other users of a shared machine, and it
# counts the spinning of oversubscribed threads.
CPU_NOW=""
cpu_children() {
    local file="$TMP/times.$BASHPID" # this process's pid, not a subshell's
    times >"$file"
    CPU_NOW="$(awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, ms, "m"); t += ms[1] * 60 + ms[2] }
                              printf "%.2f\n", t }' "$file")"
}
elapsed() { awk -v s="$1" -v e="$2" 'BEGIN { printf "%.2f", e - s }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
div() { awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { if (b == 0) print "n/a"; else printf "%.*f\n", d, a / b }'; }
verdict() { # verdict VALUE OP TARGET: "met" or "NOT met"
    awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
        ok = (op == "<=") ? (v <= t) : (v >= t); print (ok ? "met" : "NOT met") }'
}
# rotate (scripts/lib.sh): configurations alternate in order between repetitions
# ledger_status: whether `throttle run` with no number creates a ledger now,
# seen from the inside: the library exports THROTTLE_LEDGER when it does.
ledger_status() {
    local out
    out="$("${CLEAN_ENV[@]}" "$THROTTLE" run -- env 2>/dev/null || true)"
    if grep -q '^THROTTLE_LEDGER=' <<<"$out"; then
        echo "active"
    else
        echo "absent"
    fi
}
# runnable ROOT: every SAMPLE_S seconds until ROOT is reaped, one line: how
# many threads of ROOT's process tree are runnable (state R: running or
# waiting for a CPU). Over the CPUs' number, the tree oversubscribes them,
# whatever else the machine is doing; the other engineers' load does not
# count here, which makes it the least noisy view of what a configuration did.
SAMPLE_S=0.5
runnable() {
    local root="$1"
    while kill -0 "$root" 2>/dev/null; do
        ps -e -L -o pid=,ppid=,stat= 2>/dev/null | awk -v root="$root" '
            { parent[$1] = $2; if ($3 ~ /^R/) r[$1]++ }
            END { n = 0
                  for (p in r) { q = p; for (d = 0; d < 64 && q != "" && q != root && q > 1; d++) q = parent[q]
                                 if (q == root) n += r[p] }
                  print n }' || true
        sleep "$SAMPLE_S"
    done
}
# mean_of FILE: the mean of the numbers in FILE, "-" when it has none.
mean_of() { awk '{ s += $1; n++ } END { if (n) printf "%.1f", s / n; else print "-" }' "$1"; }

# reports FILES...: what the libthrottle exit-report lines in FILES say, as
# counts of processes: by peak (the most threads a process had: 2 means its
# BLAS pool started 2 threads), by cap at exit (after the last rebalance), by
# the largest cap it had (max_cap), by budget and by ledger.
reports() {
    { grep -h '^libthrottle: report ' "$@" 2>/dev/null || true; } |
        awk 'BEGIN { nk = split("peak cap max_cap budget ledger", keys, " ") }
             { for (k = 1; k <= nk; k++) v[keys[k]] = "-"
               for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] in v) v[kv[1]] = kv[2] }
               for (k = 1; k <= nk; k++) {
                   key = keys[k] "=" v[keys[k]]
                   if (!(key in n)) order[k] = order[k] " " key
                   n[key]++ }
               total++ }
             END {
               if (!total) { print "no report line"; exit }
               out = total " processes:"
               for (k = 1; k <= nk; k++) {
                   m = split(order[k], seen, " ")
                   for (j = 1; j <= m; j++) out = out (j == 1 ? (k == 1 ? " " : "; ") : ", ") seen[j] " x" n[seen[j]] }
               print out }'
}
# warnings FILES...: libthrottle diagnostics other than the report, to stderr;
# prints their count.
warnings() {
    local lines
    lines="$(grep -h '^libthrottle: ' "$@" 2>/dev/null | grep -v '^libthrottle: report ' || true)"
    if [ -n "$lines" ]; then
        log "libthrottle diagnostics (first 5):"
        head -n 5 <<<"$lines" | sed 's/^/    /' >&2
        wc -l <<<"$lines"
    else
        echo 0
    fi
}

# ledger_files: how many ledger files of this user exist (the library's two
# places), to see whether the runs leave any behind.
ledger_files() {
    local uid n=0 f
    uid="$(id -u)"
    for f in /dev/shm/throttle-"$uid"-ledger-* ${XDG_RUNTIME_DIR:+"$XDG_RUNTIME_DIR"/throttle-ledger-*}; do
        [ -e "$f" ] && n=$((n + 1))
    done
    echo "$n"
}

LEDGER_FILES_BEFORE="$(ledger_files)"
LEDGER_STATE="$(ledger_status)"
log "$NCPU CPUs; R=$R; ledger under \`throttle run\` with no number: $LEDGER_STATE"
SUMMARY=()

# measure DIR OUT ERR CMD...: runs CMD (stdout to OUT, stderr to ERR) while
# sampling its runnable threads into DIR/runnable; sets M_STATUS (its exit
# status), M_WALL and M_CPU (seconds; CPU of the whole tree, user+sys) and
# M_RUNNABLE (mean runnable threads).
measure() {
    local dir="$1" out="$2" err="$3" cpu0 start end pid sampler
    shift 3
    mkdir -p "$dir"
    M_STATUS=0
    cpu_children
    cpu0="$CPU_NOW"
    start="$(now)"
    "$@" >"$out" 2>"$err" &
    pid="$!"
    runnable "$pid" >"$dir/runnable" &
    sampler="$!"
    wait "$pid" || M_STATUS=$?
    end="$(now)"
    cpu_children # before the sampler is reaped: its ps and awk are not the workload's
    M_CPU="$(awk -v a="$cpu0" -v b="$CPU_NOW" 'BEGIN { printf "%.2f", b - a }')"
    wait "$sampler" || true
    M_WALL="$(elapsed "$start" "$end")"
    M_RUNNABLE="$(mean_of "$dir/runnable")"
}

# --- seed 000: P processes from GNU parallel ------------------------------------
# The launcher, as in the seed (`seq 10 | parallel -j32 'python test.py {}'`):
# GNU parallel running P jobs at once, each job's output kept apart. Its exit
# status is the number of jobs that failed. The paths reach the jobs' shell
# through the environment, so that no path is ever parsed as shell code.
# shellcheck disable=SC2016 # expanded by the jobs' shell
JOB='"$S0_PY" "$S0_WORKLOAD" {} >"$S0_DIR/{}.out" 2>"$S0_DIR/{}.err"'

# seed000_run NAME REP CMD...: the launcher under CMD (a prefix); prints
# "WALL CPU RUNNABLE": wall and CPU seconds, mean runnable threads.
seed000_run() {
    local name="$1" rep="$2"
    shift 2
    local dir="$TMP/seed000/$name.$rep" i out status
    measure "$dir" /dev/null "$dir/launcher.err" \
        "${CLEAN_ENV[@]}" "$@" env S0_PY="$PY" S0_WORKLOAD="$ROOT/scripts/workloads/seed000.py" S0_DIR="$dir" \
        parallel -j "$P" "$JOB" ::: $(seq "$P")
    status="$M_STATUS"
    for ((i = 1; i <= P; i++)); do
        out="$(cat "$dir/$i.out" 2>/dev/null || true)"
        if [ "$status" -ne 0 ] || ! [[ "$out" =~ ^-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$ ]]; then
            log "seed000 $name: process $i printed '${out:0:80}' (launcher status $status); its stderr:"
            tail -n 5 "$dir/$i.err" "$dir/launcher.err" 2>/dev/null | sed 's/^/    /' >&2
            die "seed000 $name: the run failed"
        fi
    done
    echo "$M_WALL $M_CPU $M_RUNNABLE"
}

if want seed000; then
    log "seed000: $P concurrent processes, SEED000_ITERS=$SEED000_ITERS, $R repetitions"
    log "seed000: warm-up (one process, untimed)"
    SEED000_ITERS=1 "${CLEAN_ENV[@]}" "$PY" scripts/workloads/seed000.py 0 >/dev/null
    export SEED000_ITERS
    declare -A s0=() c0=() r0=()
    for ((rep = 1; rep <= R; rep++)); do
        for cfg in $(rotate "$((rep - 1))" throttle tuned plain); do
            case "$cfg" in
                throttle) t="$(seed000_run throttle "$rep" THROTTLE_REPORT=1 "$THROTTLE" run --)" ;;
                tuned) t="$(seed000_run tuned "$rep" "${ONE_THREAD[@]}")" ;;
                plain) t="$(seed000_run plain "$rep")" ;;
            esac
            read -r wall cpu run <<<"$t"
            log "seed000 rep $rep/$R: $cfg $wall s wall, $cpu s cpu, $run threads runnable"
            s0[$cfg]+="${s0[$cfg]:+ }$wall"
            c0[$cfg]+="${c0[$cfg]:+ }$cpu"
            r0[$cfg]+="${r0[$cfg]:+ }$run"
        done
    done
    # shellcheck disable=SC2086 # word lists of numbers
    {
        m_plain="$(median ${s0[plain]})"
        m_thr="$(median ${s0[throttle]})"
        m_tuned="$(median ${s0[tuned]})"
        c_plain="$(median ${c0[plain]})"
        c_thr="$(median ${c0[throttle]})"
        c_tuned="$(median ${c0[tuned]})"
        r_plain="$(median ${r0[plain]})"
        r_thr="$(median ${r0[throttle]})"
        r_tuned="$(median ${r0[tuned]})"
    }
    thr_tuned="$(div "$m_thr" "$m_tuned")"
    plain_thr="$(div "$m_plain" "$m_thr" 1)"
    caps="$(reports "$TMP"/seed000/throttle.*/[0-9]*.err)"
    nwarn="$(warnings "$TMP"/seed000/throttle.*/*.err)"

    echo "seed 000: $P concurrent processes started by GNU parallel -j $P, $NCPU CPUs, SEED000_ITERS=$SEED000_ITERS, median of $R (alternated)"
    row0() { printf '%-48s %8s %8s %9s  %s\n' "$@"; }
    row0 "configuration" "wall s" "cpu s" "runnable" "wall s of each run"
    row0 "plain (no variables, no library)" "$m_plain" "$c_plain" "$r_plain" "${s0[plain]}"
    row0 "throttle run -- parallel -j $P python ..." "$m_thr" "$c_thr" "$r_thr" "${s0[throttle]}"
    row0 "hand-tuned OMP/OPENBLAS/MKL_NUM_THREADS=1" "$m_tuned" "$c_tuned" "$r_tuned" "${s0[tuned]}"
    row0 "ratio throttle / hand-tuned (target <= 1.10)" "$thr_tuned" "$(div "$c_thr" "$c_tuned")" "" \
        "target $(verdict "$thr_tuned" "<=" 1.10) (on wall time)"
    row0 "ratio plain / throttle (target >= 5)" "${plain_thr}x" "$(div "$c_plain" "$c_thr" 1)x" "" \
        "target $(verdict "$plain_thr" ">=" 5) (on wall time)"
    echo "  cpu s: user+sys of the whole tree; runnable: mean threads of the tree in state R (sampled every ${SAMPLE_S} s)"
    echo "  ledger: $LEDGER_STATE; exit reports of the throttle runs' python processes, $caps; other libthrottle lines: $nwarn"
    echo
    SUMMARY+=("seed000 throttle/tuned $thr_tuned ($(verdict "$thr_tuned" "<=" 1.10)), plain/throttle ${plain_thr}x ($(verdict "$plain_thr" ">=" 5))")
fi

# --- seed 003: pools and BLAS threads ------------------------------------------
# Every seed 003 run starts from the same memory state. On a virtual machine
# whose balloon device reports free pages to the host (virtio-balloon free
# page reporting, as on the machine the README quotes), memory left free for
# a few seconds is handed back, and the next program to touch it pays for
# it again: a no-pool run, which holds 1.5 GB at the default size, took 2.5 s
# more (in page faults, system time) after an 8-second pause than straight
# after another run, so a row's time depended on the row before it. So
# before each timed run a helper touches, then frees, as much memory as the
# hungriest row holds (the no-pool program: every matrix and every product),
# at most half of MemAvailable. On a machine without such a device this costs
# a fraction of a second and changes nothing.
SEED003_PRIME_MIB=$((3 * SEED003_TASKS * SEED003_SIZE * SEED003_SIZE / 131072 + 256))
avail_mib="$(awk '$1 == "MemAvailable:" { print int($2 / 1024) }' /proc/meminfo)"
if [ -n "$avail_mib" ] && [ "$SEED003_PRIME_MIB" -gt "$((avail_mib / 2))" ]; then
    SEED003_PRIME_MIB=$((avail_mib / 2))
fi
prime_memory() {
    "${CLEAN_ENV[@]}" OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$PY" -c \
        'import sys, numpy; numpy.ones(int(sys.argv[1]) << 17)' "$SEED003_PRIME_MIB" >/dev/null ||
        die "seed003: cannot touch $SEED003_PRIME_MIB MiB of memory before a run"
}
# seed003_run NAME REP CMD...: CMD (a prefix) python seed003.py ARGS; the
# program's arguments follow a literal "--args"; prints "WALL CPU POOL
# RUNNABLE FAULTS": wall and CPU seconds, the size of the pool the program
# made, the mean runnable threads, the minor page faults of the program and its
# workers (which the program counts itself).
seed003_run() {
    local name="$1" rep="$2"
    shift 2
    local prefix=() args=()
    while [ "$#" -gt 0 ] && [ "$1" != "--args" ]; do
        prefix+=("$1")
        shift
    done
    [ "$#" -gt 0 ] && shift
    args=("$@")
    local dir="$TMP/seed003/$name.$rep" out status
    prime_memory
    measure "$dir" "$dir/out" "$dir/err" "${CLEAN_ENV[@]}" "${prefix[@]}" "$PY" \
        "$ROOT/scripts/workloads/seed003.py" --tasks "$SEED003_TASKS" --size "$SEED003_SIZE" "${args[@]}"
    status="$M_STATUS"
    out="$(cat "$dir/out")"
    if [ "$status" -ne 0 ] || ! [[ "$out" =~ ^tasks=$SEED003_TASKS\ size=$SEED003_SIZE\ pool=([a-z0-9]+)\ checksum=[^\ ]+\ faults=([0-9]+)$ ]]; then
        log "seed003 $name: printed '${out:0:100}' (status $status); its stderr:"
        tail -n 5 "$dir/err" | sed 's/^/    /' >&2
        die "seed003 $name: the run failed"
    fi
    echo "$M_WALL $M_CPU ${BASH_REMATCH[1]} $M_RUNNABLE ${BASH_REMATCH[2]}"
}

if want seed003; then
    log "seed003: $SEED003_TASKS tasks of ${SEED003_SIZE}x$SEED003_SIZE matrices, $R repetitions; $SEED003_PRIME_MIB MiB touched before each run"
    log "seed003: warm-up (untimed)"
    "${CLEAN_ENV[@]}" "$PY" scripts/workloads/seed003.py --pool none --tasks 1 --size 200 >/dev/null
    declare -A s3=() c3=() r3=() f3=() s3pool=()
    for ((rep = 1; rep <= R; rep++)); do
        for cfg in $(rotate "$((rep - 1))" a b c d e f g h); do
            case "$cfg" in
                a) res="$(seed003_run a "$rep" "${ONE_THREAD[@]}" --args --pool none)" ;;
                b) res="$(seed003_run b "$rep" "${ALL_THREADS[@]}" --args --pool none)" ;;
                g) res="$(seed003_run g "$rep" "${ALL_THREADS[@]}" --args --pool none --streamed)" ;;
                c) res="$(seed003_run c "$rep" "${ONE_THREAD[@]}" --args --pool "$NCPU")" ;;
                d) res="$(seed003_run d "$rep" "${ALL_THREADS[@]}" --args --pool "$NCPU")" ;;
                e) res="$(seed003_run e "$rep" THROTTLE_REPORT=1 "$THROTTLE" run -- --args)" ;;
                f) res="$(seed003_run f "$rep" THROTTLE_REPORT=1 "$THROTTLE" run -- --args --pool none)" ;;
                h) res="$(seed003_run h "$rep" THROTTLE_REPORT=1 "$THROTTLE" run -- --args --returns trace)" ;;
            esac
            read -r wall cpu pool run faults <<<"$res"
            log "seed003 rep $rep/$R: ($cfg) $wall s wall, $cpu s cpu, pool=$pool, $run threads runnable, $faults page faults"
            r3[$cfg]+="${r3[$cfg]:+ }$run"
            f3[$cfg]+="${f3[$cfg]:+ }$faults"
            s3[$cfg]+="${s3[$cfg]:+ }$wall"
            c3[$cfg]+="${c3[$cfg]:+ }$cpu"
            s3pool[$cfg]="$pool"
        done
    done
    declare -A m3=() mc3=() mr3=() mf3=()
    for cfg in a b c d e f g h; do
        # shellcheck disable=SC2086 # word lists of numbers
        m3[$cfg]="$(median ${s3[$cfg]})" mc3[$cfg]="$(median ${c3[$cfg]})" mr3[$cfg]="$(median ${r3[$cfg]})"
        # shellcheck disable=SC2086
        mf3[$cfg]="$(div "$(median ${f3[$cfg]})" 1000 0)"
    done
    best=a
    for cfg in b c d; do
        if awk -v x="${m3[$cfg]}" -v y="${m3[$best]}" 'BEGIN { exit !(x < y) }'; then best="$cfg"; fi
    done
    e_best="$(div "${m3[e]}" "${m3[$best]}")"
    # The best the program's own structure (it makes a pool) allows: (c) or (d).
    best_pool=c
    if awk -v x="${m3[d]}" -v y="${m3[c]}" 'BEGIN { exit !(x < y) }'; then best_pool=d; fi
    caps="$(reports "$TMP"/seed003/e.*/err)"
    caps_f="$(reports "$TMP"/seed003/f.*/err)"
    caps_h="$(reports "$TMP"/seed003/h.*/err)"
    nwarn="$(warnings "$TMP"/seed003/[efh].*/err)"
    declare -A label=(
        [a]="no pool, BLAS threads 1"
        [b]="no pool, BLAS threads $NCPU"
        [c]="Pool($NCPU), BLAS threads 1"
        [d]="Pool($NCPU), BLAS threads $NCPU"
        [e]="throttle run -- (Pool(), no variables)"
        [f]="throttle run -- (no pool, no variables)"
        [g]="(b) rewritten: each pair made in turn"
        [h]="(e) rewritten: tasks return traces"
    )

    echo "seed 003: $SEED003_TASKS tasks (2 random ${SEED003_SIZE}x$SEED003_SIZE matrices, one product each), $NCPU CPUs, median of $R (alternated), $SEED003_PRIME_MIB MiB of memory touched before each run"
    printf '%-4s %-40s %5s %8s %8s %8s %9s %8s  %s\n' "row" "configuration" "pool" "wall s" "vs best" "cpu s" "runnable" \
        "faults k" "wall s of each run"
    for cfg in a b c d e f g h; do
        printf '%-4s %-40s %5s %8s %8s %8s %9s %8s  %s\n' "($cfg)" "${label[$cfg]}" "${s3pool[$cfg]}" "${m3[$cfg]}" \
            "$(div "${m3[$cfg]}" "${m3[$best]}")" "${mc3[$cfg]}" "${mr3[$cfg]}" "${mf3[$cfg]}" "${s3[$cfg]}"
    done
    echo "  cpu s: user+sys of the whole tree; runnable: mean threads of the tree in state R (sampled every ${SAMPLE_S} s);"
    echo "      faults k: thousands of minor page faults of the program and its Pool workers (getrusage)"
    echo "  best of (a)-(d): ($best); (e) / best = $e_best (target <= 1.10: $(verdict "$e_best" "<=" 1.10))"
    echo "  best of the rows with a pool, as the program has: ($best_pool); (e) / ($best_pool) = $(div "${m3[e]}" "${m3[$best_pool]}")"
    echo "  (f), the seed's no-pool program under throttle run, against its own best tuning (b): (f) / (b) = $(div "${m3[f]}" "${m3[b]}")"
    echo "  (g) is not one of the seed's programs: (b) with the pooled program's tasks in one process, each pair of"
    echo "      matrices made just before its product and freed after it; for reference, (e) / (g) = $(div "${m3[e]}" "${m3[g]}")"
    echo "  (h) is not one of the seed's programs either: (e) with each task returning its product's trace, not the"
    echo "      product, so that no matrix goes back to the parent; (h) / best = $(div "${m3[h]}" "${m3[$best]}"), (e) / (h) = $(div "${m3[e]}" "${m3[h]}")"
    echo "  ledger: $LEDGER_STATE; exit reports of the (e) runs (each parent and its Pool workers), $caps;"
    echo "      of the (f) runs, $caps_f;"
    echo "      of the (h) runs, $caps_h; other libthrottle lines: $nwarn"
    echo
    SUMMARY+=("seed003 (e)/best($best) $e_best ($(verdict "$e_best" "<=" 1.10))")
fi

# --- ledger cost: join and leave ---------------------------------------------
# churn_run N SCOPE: prints the launcher's key=value output on one line.
churn_run() {
    local n="$1" scope="$2" rounds=$(((CHURN_PROCS + $1 - 1) / $1))
    local err="$TMP/churn.$n.$scope.err" out status=0
    case "$scope" in
        none) out="$("${CLEAN_ENV[@]}" "$CHURN" "$n" "$rounds" 2>>"$err")" || status=$? ;;
        process) out="$("${CLEAN_ENV[@]}" THROTTLE_SCOPE=process "$THROTTLE" run -- "$CHURN" "$n" "$rounds" 2>>"$err")" || status=$? ;;
        tree) out="$("${CLEAN_ENV[@]}" "$THROTTLE" run -- "$CHURN" "$n" "$rounds" 2>>"$err")" || status=$? ;;
    esac
    if [ "$status" -ne 0 ] || ! grep -q '^total_us=' <<<"$out"; then
        tail -n 5 "$err" | sed 's/^/    /' >&2
        die "ledger_churn $n ($scope): the run failed (status $status)"
    fi
    tr '\n' ' ' <<<"$out"
}
field() { # field KEY LINE
    sed -n "s/.*\\b$1=\\([0-9.]*\\).*/\\1/p" <<<"$2"
}

if want ledger; then
    LR=$((3 * R))
    log "ledger: $CHURN_PROCS children per measurement, N = 1, 8, 64 at once, $LR repetitions"
    log "ledger: warm-up (untimed)"
    for scope in none process tree; do churn_run 8 "$scope" >/dev/null; done
    KEYS=(us_per_process start_us claim_us exit_us total_us)
    declare -A lc=()
    for ((rep = 1; rep <= LR; rep++)); do
        for n in 1 8 64; do
            for scope in $(rotate "$((rep - 1))" tree process none); do
                line="$(churn_run "$n" "$scope")"
                log "ledger rep $rep/$LR: N=$n $scope: $line"
                for key in "${KEYS[@]}"; do
                    lc[$n.$scope.$key]+="$(field "$key" "$line") "
                done
            done
        done
    done
    nwarn="$(warnings "$TMP"/churn.*.err)"

    echo "ledger cost: N children exec'd at once, each creates and joins 1 thread, then exits; $CHURN_PROCS children per measurement, $NCPU CPUs, median of $LR (alternated)"
    printf '%-4s %-38s %10s %10s %10s %10s %10s\n' "N" "configuration" "us/process" "start us" "claim us" "exit us" "total us"
    declare -A lab=([none]="no library" [process]="throttle run, THROTTLE_SCOPE=process" [tree]="throttle run (tree: ledger $LEDGER_STATE)")
    ledger_cost=()
    for n in 1 8 64; do
        declare -A med=()
        for scope in none process tree; do
            row=()
            for key in "${KEYS[@]}"; do
                # shellcheck disable=SC2086 # a word list of numbers
                med[$scope.$key]="$(median ${lc[$n.$scope.$key]})"
                row+=("${med[$scope.$key]}")
            done
            printf '%-4s %-38s %10s %10s %10s %10s %10s\n' "$n" "${lab[$scope]}" "${row[@]}"
        done
        row=()
        for key in "${KEYS[@]}"; do
            row+=("$(awk -v a="${med[tree.$key]}" -v b="${med[process.$key]}" 'BEGIN { printf "%+.1f", a - b }')")
        done
        printf '%-4s %-38s %10s %10s %10s %10s %10s\n' "$n" "ledger: tree - process" "${row[@]}"
        row=()
        for key in "${KEYS[@]}"; do
            row+=("$(awk -v a="${med[process.$key]}" -v b="${med[none.$key]}" 'BEGIN { printf "%+.1f", a - b }')")
        done
        printf '%-4s %-38s %10s %10s %10s %10s %10s\n' "$n" "library: process - no library" "${row[@]}"
        ledger_cost+=("$(awk -v a="${med[tree.us_per_process]}" -v b="${med[process.us_per_process]}" 'BEGIN { printf "%+.0f", a - b }')")
    done
    echo "  us/process: launcher wall time / children (throughput, N at once on $NCPU CPUs); start: fork to main (exec, ld.so, constructor: join);"
    echo "  claim: first pthread_create + join; exit: return from main to reap (destructors: leave); medians over children, then over repetitions"
    echo "  ledger: $LEDGER_STATE; libthrottle lines on stderr: $nwarn"
    echo
    SUMMARY+=("ledger ($LEDGER_STATE) cost tree - process at N=1/8/64: $(IFS=/; echo "${ledger_cost[*]}") us/process")
fi

echo "ledger files of uid $(id -u) in /dev/shm${XDG_RUNTIME_DIR:+ and $XDG_RUNTIME_DIR}: $LEDGER_FILES_BEFORE before the benchmarks, $(ledger_files) after (other users of the machine count too)"
summary="bench/tree: $NCPU CPUs, R=$R"
for s in "${SUMMARY[@]}"; do summary+="; $s"; done
echo "$summary"

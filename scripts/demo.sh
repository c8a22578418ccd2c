#!/usr/bin/env bash
# The main job: seed 000's numpy "black box" run as P concurrent processes,
# three ways, on this machine:
#   plain     every process lets OpenBLAS start one thread per CPU (oversubscribed)
#   throttle  each process under `throttle run -n K`, K = max(1, nproc / P)
#   tree      all P started by one shell under `throttle run --`, no number:
#             the machine's CPUs are the budget, shared by the tree
#   tuned     the hand-tuned fix: OMP/OPENBLAS/MKL_NUM_THREADS=1
# Results (a table and a summary line) go to stdout, progress to stderr.
set -euo pipefail

SCRIPT=demo
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

cargo_on_path

usage() {
    cat <<'USAGE'
usage: scripts/demo.sh [-p P] [--quick] [--only LIST]
  -p P         number of concurrent processes (default 6)
  --quick      SEED000_ITERS=5 for a fast smoke run (default: the seed's 30)
  --only LIST  comma-separated subset of: plain,throttle,tree,tuned (default: all)
Environment: SEED000_ITERS (iterations per process) is passed through.
USAGE
}

P=6
CONFIGS="plain,throttle,tree,tuned"
while [ "$#" -gt 0 ]; do
    case "$1" in
        -p) [ "$#" -ge 2 ] || die "-p needs a value"; P="$2"; shift 2 ;;
        -p*) P="${1#-p}"; shift ;;
        --quick) export SEED000_ITERS=5; shift ;;
        --only) [ "$#" -ge 2 ] || die "--only needs a value"; CONFIGS="$2"; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
[[ "$P" =~ ^[1-9][0-9]*$ ]] || die "-p must be a positive integer, got '$P'"
export SEED000_ITERS="${SEED000_ITERS:-30}"
[[ "$SEED000_ITERS" =~ ^[1-9][0-9]*$ ]] || die "SEED000_ITERS must be a positive integer, got '$SEED000_ITERS'"
for c in ${CONFIGS//,/ }; do
    case "$c" in plain | throttle | tree | tuned) ;; *) die "--only: unknown configuration '$c'" ;; esac
done
want() { [[ ",$CONFIGS," == *",$1,"* ]]; }

"$ROOT/scripts/setup.sh"
if want throttle || want tree; then
    log "cargo build --release"
    cargo build --release --quiet
fi

PY="$ROOT/.venv/bin/python"
WORKLOAD="$ROOT/scripts/workloads/seed000.py"
THROTTLE="$ROOT/target/release/throttle"
NCPU="$(nproc)"
K=$((NCPU / P))
[ "$K" -ge 1 ] || K=1

# Every configuration starts from the same environment: no thread-count
# variables and no preload inherited from the caller.
CLEAN_ENV=(env -u OMP_NUM_THREADS -u OPENBLAS_NUM_THREADS -u MKL_NUM_THREADS
    -u BLIS_NUM_THREADS -u VECLIB_MAXIMUM_THREADS -u GOTO_NUM_THREADS
    -u LD_PRELOAD -u THROTTLE_THREADS -u THROTTLE_BUDGET_FILE -u THROTTLE_POLICY
    -u THROTTLE_DISABLE)

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

now() { date +%s.%N; }

# run_batch NAME CMD...: run CMD WORKLOAD i for i in 1..P concurrently, wait
# for all, check each printed a float; sets ELAPSED to the wall seconds.
ELAPSED=""
run_batch() {
    local name="$1"
    shift
    local pids=() i start end failed=0 status out
    start="$(now)"
    for ((i = 1; i <= P; i++)); do
        "$@" "$PY" "$WORKLOAD" "$i" >"$TMP/$name.$i.out" 2>"$TMP/$name.$i.err" &
        pids+=("$!")
    done
    for ((i = 1; i <= P; i++)); do
        status=0
        wait "${pids[$((i - 1))]}" || status=$?
        if [ "$status" -ne 0 ]; then
            log "$name: process $i exited with status $status"
            failed=1
        fi
    done
    end="$(now)"
    check_batch "$name" "$failed" "$start" "$end"
}

# run_tree NAME CMD...: the same P processes, started by one bash under CMD,
# so that they are one process tree (one ledger, one budget).
run_tree() {
    local name="$1" start end status=0
    shift
    start="$(now)"
    # shellcheck disable=SC2016 # the inner script reads its own arguments
    "$@" bash -c 'for ((i = 1; i <= $1; i++)); do "$2" "$3" "$i" >"$4.$i.out" 2>"$4.$i.err" & done; wait' \
        _ "$P" "$PY" "$WORKLOAD" "$TMP/$name" || status=$?
    end="$(now)"
    [ "$status" -eq 0 ] || log "$name: the launching shell exited with status $status"
    check_batch "$name" "$((status != 0))" "$start" "$end"
}

# check_batch NAME FAILED START END: every process printed a float; sets
# ELAPSED.
check_batch() {
    local name="$1" failed="$2" start="$3" end="$4" i out
    for ((i = 1; i <= P; i++)); do
        out="$(cat "$TMP/$name.$i.out")"
        if ! [[ "$out" =~ ^-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$ ]]; then
            log "$name: process $i printed '${out:0:80}', not a float"
            failed=1
        fi
        if [ "$failed" -ne 0 ] && [ -s "$TMP/$name.$i.err" ]; then
            log "$name: process $i stderr (last lines):"
            tail -n 5 "$TMP/$name.$i.err" | sed 's/^/    /' >&2
        fi
    done
    [ "$failed" -eq 0 ] || die "$name: the run failed"
    ELAPSED="$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", e - s }')"
    log "$name: $ELAPSED s"
}

log "$P processes on $NCPU CPUs, SEED000_ITERS=$SEED000_ITERS, throttle cap K=$K"

log "warm-up: one plain process (untimed)"
SEED000_ITERS=1 "${CLEAN_ENV[@]}" "$PY" "$WORKLOAD" 0 >/dev/null

names=()
labels=()
times=()
if want plain; then
    log "plain: $P x python seed000.py"
    run_batch plain "${CLEAN_ENV[@]}"
    names+=(plain); labels+=("plain"); times+=("$ELAPSED")
fi
if want throttle; then
    [ -x "$THROTTLE" ] || die "$THROTTLE not found (cargo build --release)"
    log "throttle: $P x throttle run -n $K -- python seed000.py (a cap per process)"
    run_batch throttle "${CLEAN_ENV[@]}" "$THROTTLE" run -n "$K" --
    names+=(throttle); labels+=("throttle run -n $K (each)"); times+=("$ELAPSED")
fi
if want tree; then
    [ -x "$THROTTLE" ] || die "$THROTTLE not found (cargo build --release)"
    log "tree: throttle run -- bash -c '$P x python seed000.py &; wait' (no number: the machine's CPUs, shared)"
    run_tree tree "${CLEAN_ENV[@]}" "$THROTTLE" run --
    names+=(tree); labels+=("throttle run (no number)"); times+=("$ELAPSED")
fi
if want tuned; then
    log "tuned: $P x OMP/OPENBLAS/MKL_NUM_THREADS=1 python seed000.py"
    run_batch tuned "${CLEAN_ENV[@]}" OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
    names+=(tuned); labels+=("hand-tuned *_NUM_THREADS=1"); times+=("$ELAPSED")
fi

# ratio PLAIN X [DIGITS]: "N.NNx faster" (plain / x) or "N.NNx slower"
ratio() {
    awk -v p="$1" -v x="$2" -v d="${3:-2}" 'BEGIN {
        if (x <= 0 || p <= 0) { print "n/a"; exit }
        f = "%." d "fx %s\n"
        if (p >= x) printf f, p / x, "faster"; else printf f, x / p, "slower" }'
}

plain_time=""
want plain && plain_time="${times[0]}"

echo "seed 000: $P processes on $NCPU CPUs, SEED000_ITERS=$SEED000_ITERS"
printf '%-32s %10s  %s\n' "configuration" "wall s" "vs plain"
for i in "${!names[@]}"; do
    vs="-"
    if [ "${names[$i]}" = plain ]; then
        vs="1.00x (baseline)"
    elif [ -n "$plain_time" ]; then
        vs="$(ratio "$plain_time" "${times[$i]}")"
    fi
    printf '%-32s %10s  %s\n' "${labels[$i]}" "${times[$i]}" "$vs"
done

summary="demo: $P processes on $NCPU CPUs:"
sep=""
for i in "${!names[@]}"; do
    summary+="$sep ${labels[$i]} $(awk -v t="${times[$i]}" 'BEGIN { printf "%.1f", t }') s"
    if [ -n "$plain_time" ] && [ "${names[$i]}" != plain ]; then
        summary+=" ($(ratio "$plain_time" "${times[$i]}" 1))"
    fi
    sep=","
done
echo "$summary"

#!/usr/bin/env bash
# What the library adds to the start of a process that does nothing:
# /bin/true started N times one after another (each waited for) by a small
# driver (bench/c/spawn_true.c, which itself runs without the library
# and preloads only its children), in four configurations:
#
#   none     no LD_PRELOAD
#   empty    an empty shared object preloaded: what any preloaded library
#            costs (ld.so opens, maps and relocates one more object)
#   rust     a shared object with Rust's standard library whose constructor
#            reads one variable (bench/floor), built as the library is: the
#            floor under any preloaded library written in Rust, and so under
#            libthrottle's own cost
#   library  libthrottle at its defaults
#   tree     libthrottle, each child inside an existing tree: THROTTLE_LEDGER
#            names a live ledger (held by a preloaded process that claimed a
#            share: `spawn_true --hold`), so each /bin/true joins and leaves it
#
# and, the measure of the issue, a bash loop running SHELL_N /bin/true, with
# bash (and so every /bin/true) preloaded or not, timed as one process and
# divided by SHELL_N: this adds the shell's fork under the library.
#
# Every configuration runs once per round, in an order that rotates between
# rounds; R rounds; the tables show the median of each, in microseconds per
# process, and the difference to the matching run without a preload (none,
# or bash without LD_PRELOAD) measured in the same rounds. Timings on a shared
# machine are noisy: compare rows of one run, not runs of different days;
# the "each round" column shows the spread.
#
# Then, for one /bin/true: the system calls it makes without and with the
# library (strace -f -c, when strace is installed) and which it adds; the
# files the library looks at; whether LD_PRELOAD=lib /bin/true creates any
# file (in an empty XDG_RUNTIME_DIR of mode 0700 made for the check, and in
# /dev/shm, compared before and after: other processes of the machine may
# add files there meanwhile, so only throttle files count); and whether the
# preloaded bash of the loop gave its tree a ledger.
#
# Tables go to stdout, progress to stderr.
set -euo pipefail

SCRIPT=bench/startup
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$ROOT"
cargo_on_path

usage() {
    cat <<'USAGE'
usage: bench/startup.sh [-n N] [-r R] [-s SHELL_N]
  -n N        processes started per measurement (default 400)
  -r R        rounds, configurations alternated in each (default 7)
  -s SHELL_N  /bin/true runs of the bash loop (default 500, as in the issue)
Environment:
  LIB=PATH      the library to measure (default target/release/libthrottle.so,
                built with cargo build --release unless SKIP_BUILD=1)
  SKIP_BUILD=1  do not run cargo build
  BEFORE=PATH   another build of the library (an earlier commit's), measured
                in the same rounds: its rows are the "before" ones. Its tree
                run joins the same ledger as LIB's: both must share the
                ledger's format
  N, R, SHELL_N as the options
USAGE
}

N="${N:-400}"
R="${R:-7}"
SHELL_N="${SHELL_N:-500}"
while [ "$#" -gt 0 ]; do
    case "$1" in
        -n) [ "$#" -ge 2 ] || die "-n needs a value"; N="$2"; shift 2 ;;
        -r) [ "$#" -ge 2 ] || die "-r needs a value"; R="$2"; shift 2 ;;
        -s) [ "$#" -ge 2 ] || die "-s needs a value"; SHELL_N="$2"; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
posint() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive integer, got '$2'"; }
posint N "$N"
posint R "$R"
posint SHELL_N "$SHELL_N"

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "cargo build --release"
    cargo build --release --quiet
fi
LIB="${LIB:-$ROOT/target/release/libthrottle.so}"
[ -f "$LIB" ] || die "$LIB not found (build it, or set LIB=...)"
LIB="$(cd "$(dirname "$LIB")" && pwd)/$(basename "$LIB")"
BEFORE="${BEFORE:-}"
if [ -n "$BEFORE" ]; then
    [ -f "$BEFORE" ] || die "BEFORE=$BEFORE not found"
    BEFORE="$(cd "$(dirname "$BEFORE")" && pwd)/$(basename "$BEFORE")"
fi

BENCH="$ROOT/target/bench"
DRIVER="$BENCH/spawn_true"
EMPTY="$BENCH/empty_preload.so"
mkdir -p "$BENCH"
cc -O2 -Wall -o "$DRIVER" bench/c/spawn_true.c
printf 'void throttle_bench_empty(void) {}\n' | cc -O2 -shared -fPIC -x c -o "$EMPTY" -
cargo build --release --quiet --offline --manifest-path bench/floor/Cargo.toml --target-dir "$BENCH/floor"
FLOOR="$BENCH/floor/release/libthrottle_bench_floor.so"

TRUE_BIN=/bin/true
[ -x "$TRUE_BIN" ] || die "$TRUE_BIN not found"
BASH_BIN="$(type -P bash)" || die "bash not found in PATH"

# Every configuration starts from the same environment: no preload, no
# throttle setting inherited from the caller.
CLEAN_ENV=(env -u LD_PRELOAD -u CHILD_PRELOAD -u THROTTLE_THREADS -u THROTTLE_BUDGET_FILE
    -u THROTTLE_POLICY -u THROTTLE_WAIT_MS -u THROTTLE_DISABLE -u THROTTLE_SCOPE
    -u THROTTLE_LEDGER -u THROTTLE_SAVED_ENV -u THROTTLE_REPORT -u THROTTLE_LOG
    -u THROTTLE_LOG_FILE -u THROTTLE_LAUNCHERS)

TMP="$(mktemp -d)"
HOLD_PID=""
HOLD_FD=""
TREE_LEDGER=""
# The holder ends at end of file on its FIFO and then removes its ledger; a
# holder killed by a signal cannot, so it gets time to end by itself, and its
# ledger (this script's) is removed if it is still there.
cleanup() {
    local i
    if [ -n "$HOLD_FD" ]; then exec {HOLD_FD}>&- || true; fi
    if [ -n "$HOLD_PID" ]; then
        for ((i = 0; i < 50; i++)); do
            kill -0 "$HOLD_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill "$HOLD_PID" 2>/dev/null || true
        wait "$HOLD_PID" 2>/dev/null || true
    fi
    case "$TREE_LEDGER" in /*) rm -f "$TREE_LEDGER" ;; esac
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# throttle_files DIR: the names of throttle files in DIR, one a line, sorted.
throttle_files() { find "$1" -maxdepth 1 -name 'throttle-*' -printf '%f\n' 2>/dev/null | sort; }

SHM_BEFORE="$(throttle_files /dev/shm)"

# The tree: a preloaded holder that claims (creating the ledger) and waits
# for end of file on a FIFO this script holds open.
mkfifo "$TMP/hold.fifo"
"${CLEAN_ENV[@]}" LD_PRELOAD="$LIB" "$DRIVER" --hold <"$TMP/hold.fifo" >"$TMP/hold.out" 2>"$TMP/hold.err" &
HOLD_PID=$!
exec {HOLD_FD}>"$TMP/hold.fifo"
for _ in $(seq 100); do
    [ -s "$TMP/hold.out" ] && break
    sleep 0.05
done
TREE_LEDGER="$(head -n 1 "$TMP/hold.out" 2>/dev/null || true)"
if [ -z "$TREE_LEDGER" ] || [ "$TREE_LEDGER" = none ] || [ ! -e "$TREE_LEDGER" ]; then
    die "the preloaded holder made no ledger (printed '${TREE_LEDGER}'; stderr: $(head -c 300 "$TMP/hold.err"))"
fi

# one CONFIG: prints microseconds per process.
one() {
    local out per=1
    case "$1" in
        none) out="$("${CLEAN_ENV[@]}" "$DRIVER" "$N" "$TRUE_BIN")" ;;
        empty) out="$("${CLEAN_ENV[@]}" CHILD_PRELOAD="$EMPTY" "$DRIVER" "$N" "$TRUE_BIN")" ;;
        rust) out="$("${CLEAN_ENV[@]}" CHILD_PRELOAD="$FLOOR" "$DRIVER" "$N" "$TRUE_BIN")" ;;
        library) out="$("${CLEAN_ENV[@]}" CHILD_PRELOAD="$LIB" "$DRIVER" "$N" "$TRUE_BIN")" ;;
        tree) out="$("${CLEAN_ENV[@]}" THROTTLE_LEDGER="$TREE_LEDGER" CHILD_PRELOAD="$LIB" "$DRIVER" "$N" "$TRUE_BIN")" ;;
        before) out="$("${CLEAN_ENV[@]}" CHILD_PRELOAD="$BEFORE" "$DRIVER" "$N" "$TRUE_BIN")" ;;
        tree_before) out="$("${CLEAN_ENV[@]}" THROTTLE_LEDGER="$TREE_LEDGER" CHILD_PRELOAD="$BEFORE" "$DRIVER" "$N" "$TRUE_BIN")" ;;
        sh_none | sh_empty | sh_library | sh_before)
            local preload=""
            case "$1" in sh_empty) preload="$EMPTY" ;; sh_library) preload="$LIB" ;; sh_before) preload="$BEFORE" ;; esac
            per="$SHELL_N"
            # shellcheck disable=SC2016 # expanded by the measured bash
            out="$("${CLEAN_ENV[@]}" CHILD_PRELOAD="$preload" LOOP_N="$SHELL_N" LOOP_TRUE="$TRUE_BIN" \
                "$DRIVER" 1 "$BASH_BIN" -c 'for i in $(seq "$LOOP_N"); do "$LOOP_TRUE"; done')"
            ;;
    esac
    # wall us, CPU us, page faults: per process
    awk -F= -v per="$per" '
        $1 == "ns_per_process" { wall = $2 / per / 1000 }
        $1 == "cpu_ns_per_process" { cpu = $2 / per / 1000 }
        $1 == "minflt_per_process" { flt = $2 / per }
        END { if (wall != "") printf "%.1f %.1f %.1f\n", wall, cpu, flt }' <<<"$out"
}

CONFIGS=(none empty rust library tree sh_none sh_empty sh_library)
[ -z "$BEFORE" ] || CONFIGS+=(before tree_before sh_before)
declare -A runs=() cpus=() faults=()
log "$(nproc) CPUs; $R rounds of: $N starts of $TRUE_BIN in each of 5 configurations, and a bash loop of $SHELL_N in 3"
log "library: $LIB; tree ledger: $TREE_LEDGER${BEFORE:+; before: $BEFORE}"
for ((rep = 1; rep <= R; rep++)); do
    line=""
    for cfg in $(rotate "$((rep - 1))" "${CONFIGS[@]}"); do
        read -r us cpu flt <<<"$(one "$cfg")"
        [ -n "$us" ] || die "$cfg: the driver printed no time"
        runs[$cfg]+="${runs[$cfg]:+ }$us"
        cpus[$cfg]+="${cpus[$cfg]:+ }$cpu"
        faults[$cfg]+="${faults[$cfg]:+ }$flt"
        line+=" $cfg=$us"
    done
    log "round $rep/$R (us/process):$line"
done

# The holder's tree is no longer needed: closing the FIFO ends it, and it
# removes its ledger.
exec {HOLD_FD}>&-
HOLD_FD=""
wait "$HOLD_PID" || log "the holder exited with status $?"
HOLD_PID=""

declare -A med=() med_cpu=() med_flt=()
for cfg in "${CONFIGS[@]}"; do
    # shellcheck disable=SC2086 # word lists of numbers
    med[$cfg]="$(median ${runs[$cfg]})"
    # shellcheck disable=SC2086
    med_cpu[$cfg]="$(median ${cpus[$cfg]})"
    # shellcheck disable=SC2086
    med_flt[$cfg]="$(median ${faults[$cfg]})"
done
diff_us() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f", a - b }'; }
row() { printf '%-58s %10s %10s  %s\n' "$@"; }

echo "start of a process: $TRUE_BIN started $N times one after another, $(nproc) CPUs, median of $R rounds (alternated)"
row "configuration" "us/process" "vs none" "us/process of each round"
row "none (no LD_PRELOAD)" "${med[none]}" "+0.0" "${runs[none]}"
row "empty shared object preloaded" "${med[empty]}" "$(diff_us "${med[empty]}" "${med[none]}")" "${runs[empty]}"
row "Rust object: std, reads a variable (the floor)" "${med[rust]}" "$(diff_us "${med[rust]}" "${med[none]}")" "${runs[rust]}"
row "libthrottle (defaults)" "${med[library]}" "$(diff_us "${med[library]}" "${med[none]}")" "${runs[library]}"
row "libthrottle, in a tree (joins and leaves a live ledger)" "${med[tree]}" "$(diff_us "${med[tree]}" "${med[none]}")" "${runs[tree]}"
if [ -n "$BEFORE" ]; then
    row "before: libthrottle (defaults)" "${med[before]}" "$(diff_us "${med[before]}" "${med[none]}")" "${runs[before]}"
    row "before: libthrottle, in a tree" "${med[tree_before]}" "$(diff_us "${med[tree_before]}" "${med[none]}")" "${runs[tree_before]}"
fi
echo "  libthrottle over the empty object: $(diff_us "${med[library]}" "${med[empty]}") us, over the Rust floor: $(diff_us "${med[library]}" "${med[rust]}") us; the tree over libthrottle alone: $(diff_us "${med[tree]}" "${med[library]}") us"
echo
echo "the same processes' own CPU time (user + system) and minor page faults, per process, medians (getrusage of the children)"
row "configuration" "CPU us" "faults" "page faults vs none"
for cfg in none empty rust library tree ${BEFORE:+before tree_before}; do
    row "$cfg" "${med_cpu[$cfg]}" "${med_flt[$cfg]}" "$(diff_us "${med_flt[$cfg]}" "${med_flt[none]}")"
done
echo "  page faults are the steady measure (the same from run to run); here each costs a few microseconds"
echo
echo "the issue's measure: bash running $SHELL_N $TRUE_BIN one after another (bash -c 'for i in \$(seq $SHELL_N); do $TRUE_BIN; done'), per /bin/true"
row "configuration" "us/process" "vs bash" "us/process of each round"
row "bash, no LD_PRELOAD" "${med[sh_none]}" "+0.0" "${runs[sh_none]}"
row "bash, empty shared object preloaded" "${med[sh_empty]}" "$(diff_us "${med[sh_empty]}" "${med[sh_none]}")" "${runs[sh_empty]}"
row "bash, libthrottle preloaded" "${med[sh_library]}" "$(diff_us "${med[sh_library]}" "${med[sh_none]}")" "${runs[sh_library]}"
[ -z "$BEFORE" ] || row "before: bash, libthrottle preloaded" "${med[sh_before]}" "$(diff_us "${med[sh_before]}" "${med[sh_none]}")" "${runs[sh_before]}"
echo "  per /bin/true: its start plus bash's fork and wait; preloaded, bash (whose fork the library hooks) and every /bin/true carry it"
# Whether that bash gave its tree a ledger: the library names the tree's
# ledger in THROTTLE_LEDGER at start and creates it before the first process
# the shell starts.
# shellcheck disable=SC2016 # expanded by the preloaded bash
bash_tree="$("${CLEAN_ENV[@]}" LD_PRELOAD="$LIB" LOOP_TRUE="$TRUE_BIN" "$BASH_BIN" -c \
    '"$LOOP_TRUE"; if [ -z "${THROTTLE_LEDGER:-}" ]; then echo "no THROTTLE_LEDGER set"; elif [ -e "$THROTTLE_LEDGER" ]; then echo "its ledger exists after it ran $LOOP_TRUE (the loop runs in one tree)"; else echo "no ledger after it ran $LOOP_TRUE: the /bin/true processes of the loop are not in one tree"; fi' 2>&1)"
echo "  the preloaded bash: $bash_tree"
echo

# --- one /bin/true, looked at closely ---------------------------------------
if command -v strace >/dev/null 2>&1; then
    "${CLEAN_ENV[@]}" strace -f -c -o "$TMP/strace.none" "$TRUE_BIN"
    "${CLEAN_ENV[@]}" strace -f -c -o "$TMP/strace.lib" -E LD_PRELOAD="$LIB" "$TRUE_BIN"
    # calls per system call name: the 4th column; the name is the last.
    counts() { awk '$NF != "syscall" && $NF != "total" && $4 ~ /^[0-9]+$/ { print $NF, $4 }' "$1"; }
    total() { awk '$NF == "total" { print $4 }' "$1"; }
    s_none="$(total "$TMP/strace.none")"
    s_lib="$(total "$TMP/strace.lib")"
    added="$(awk 'NR == FNR { base[$1] = $2; next } { d = $2 - base[$1]; if (d) print d, $1 }' \
        <(counts "$TMP/strace.none") <(counts "$TMP/strace.lib") | sort -k1,1nr -k2 |
        awk '{ printf "%s%s %+d", (NR > 1 ? ", " : ""), $2, $1 }')"
    echo "system calls of one $TRUE_BIN (strace -f -c): $s_none without the library, $s_lib preloaded ($(diff_us "$s_lib" "$s_none" | sed 's/\.0$//')): $added"
    # The paths the library's system calls name (opened, read, stat'ed), in
    # the order of its first use of each.
    "${CLEAN_ENV[@]}" strace -f -qq -e trace=%file -o "$TMP/files.none" "$TRUE_BIN"
    "${CLEAN_ENV[@]}" strace -f -qq -e trace=%file -o "$TMP/files.lib" -E LD_PRELOAD="$LIB" "$TRUE_BIN"
    paths() { sed -n 's/^[0-9]* *\([a-z0-9_]*\)([^"]*"\([^"]*\)".*/\1 \2/p' "$1" | awk '!seen[$0]++'; }
    files="$(awk 'NR == FNR { base[$0] = 1; next } !($0 in base)' <(paths "$TMP/files.none") <(paths "$TMP/files.lib") |
        awk '{ printf "%s%s %s", (NR > 1 ? "; " : ""), $1, (NF > 1 ? $2 : "\"\" (a descriptor)") }')"
    echo "  paths the preloaded /bin/true's system calls name that the plain one's do not: ${files:-none}"
else
    echo "system calls: strace is not installed; skipped"
fi

# Does a preloaded /bin/true create any file? In an empty runtime directory
# of its own (where the library would put a ledger first), and in /dev/shm.
XDG_DIR="$TMP/xdg"
mkdir -m 0700 "$XDG_DIR"
shm_before="$(throttle_files /dev/shm)"
"${CLEAN_ENV[@]}" XDG_RUNTIME_DIR="$XDG_DIR" LD_PRELOAD="$LIB" "$TRUE_BIN"
shm_after="$(throttle_files /dev/shm)"
xdg_files="$(find "$XDG_DIR" -mindepth 1 -printf '%f ' | sed 's/ $//')"
shm_new="$(comm -13 <(echo "$shm_before") <(echo "$shm_after") | grep . | tr '\n' ' ' | sed 's/ $//' || true)"
echo "files created by XDG_RUNTIME_DIR=<empty 0700 dir> LD_PRELOAD=lib $TRUE_BIN: ${xdg_files:-none} in XDG_RUNTIME_DIR; ${shm_new:-no new throttle file} in /dev/shm"

# Left behind? The tree's ledger must be gone with its holder. Other new
# throttle files are told apart by the pid in their name (the creator's):
# one whose creator still runs belongs to some other program of the machine.
if [ -e "$TREE_LEDGER" ]; then tree_state="still there"; else tree_state="removed"; fi
others="" orphans=""
while read -r f; do
    [ -n "$f" ] || continue
    creator="$(sed -n 's/^throttle-[0-9]*-ledger-\([0-9]*\)-.*/\1/p' <<<"$f")"
    if [ -n "$creator" ] && [ -d "/proc/$creator" ]; then others+=" $f"; else orphans+=" $f"; fi
done < <(comm -13 <(echo "$SHM_BEFORE") <(throttle_files /dev/shm))
echo "ledger of the tree configuration: $tree_state after its holder ended;" \
    "new throttle files in /dev/shm whose creator is gone:${orphans:- none};" \
    "whose creator still runs (other programs):${others:- none}"
echo "bench/startup: $(nproc) CPUs, N=$N, R=$R; us/process over none: empty $(diff_us "${med[empty]}" "${med[none]}"), library $(diff_us "${med[library]}" "${med[none]}"), tree $(diff_us "${med[tree]}" "${med[none]}"); bash loop, per /bin/true: library $(diff_us "${med[sh_library]}" "${med[sh_none]}")"
if [ -n "$BEFORE" ]; then
    echo "bench/startup, before ($BEFORE): library $(diff_us "${med[before]}" "${med[none]}"), tree $(diff_us "${med[tree_before]}" "${med[none]}"); bash loop $(diff_us "${med[sh_before]}" "${med[sh_none]}")"
fi

# shellcheck shell=bash
# Sourced, not run, by the scripts beside it and by those in bench/ and
# admin/:
#
#   SCRIPT=name
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"              # in scripts/
#   . "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"   # in bench/, admin/
#
# sets ROOT (the checkout) and defines log and die, whose lines on stderr
# start with "$SCRIPT: ", and cargo_on_path.

# shellcheck disable=SC2034 # used by the scripts that source this
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { echo "${SCRIPT:-libthrottle}: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# A rustup install lives in ~/.cargo/bin, which non-login shells may lack.
cargo_on_path() {
    if ! command -v cargo >/dev/null 2>&1 && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
        export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
    fi
}

# median NUMBERS...: the middle one (the mean of the two middle ones for an
# even count).
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# rotate K WORDS...: the words, one per line, starting from the K-th (mod
# their count): each round of a benchmark starts from another configuration.
rotate() {
    local k="$1"
    shift
    local n="$#" i
    local words=("$@")
    for ((i = 0; i < n; i++)); do echo "${words[$(((i + k) % n))]}"; done
}

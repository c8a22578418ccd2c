# shellcheck shell=bash
# Sourced, not run, by the scripts beside it:
#
#   SCRIPT=name
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
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

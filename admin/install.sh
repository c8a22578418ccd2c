#!/usr/bin/env bash
# Install libthrottle into a prefix, or remove it again.
#
#   admin/install.sh --prefix DIR [--from BUILD_DIR | --no-build]
#   admin/install.sh --prefix DIR --uninstall
#
# Lays out
#   DIR/lib/libthrottle.so                      the preload library
#   DIR/bin/throttle                            the command (finds ../lib/libthrottle.so)
#   DIR/share/modulefiles/throttle/VERSION.lua  Lmod modulefile
#   DIR/share/modulefiles/throttle/VERSION      Environment Modules (Tcl) modulefile
#   DIR/libexec/throttle/taskprolog.sh          Slurm TaskProlog
#   DIR/share/throttle/install-manifest         what this script installed
# with DIR filled in, so that `module use DIR/share/modulefiles` works with
# both Lmod (which prefers VERSION.lua) and Environment Modules (which only
# takes files starting with #%Module), and `module load throttle` loads it.
#
# Builds with `cargo build --release` first (a no-op when up to date) unless
# --from names a directory holding an already built libthrottle.so and
# throttle, or --no-build takes them from target/release as they are.
# Idempotent: installing again replaces the files in place. --uninstall
# removes exactly the files listed in the manifest, and the directories
# install created, if they are empty; nothing else.
set -euo pipefail

SCRIPT=install
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

usage() {
    cat >&2 <<'EOF'
usage: admin/install.sh --prefix DIR [--from BUILD_DIR | --no-build]
       admin/install.sh --prefix DIR --uninstall
EOF
    exit 2
}

PREFIX=''
FROM=''
BUILD=1
UNINSTALL=0
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || usage; PREFIX="$2"; shift 2 ;;
        --prefix=*) PREFIX="${1#--prefix=}"; shift ;;
        --from) [ $# -ge 2 ] || usage; FROM="$2"; BUILD=0; shift 2 ;;
        --from=*) FROM="${1#--from=}"; BUILD=0; shift ;;
        --no-build) BUILD=0; shift ;;
        --uninstall) UNINSTALL=1; shift ;;
        -h | --help) usage ;;
        *) echo "install: unknown argument '$1'" >&2; usage ;;
    esac
done
[ -n "$PREFIX" ] || usage

# LD_PRELOAD splits on colons and spaces, and the modulefiles and the
# TaskProlog embed the path unquoted: only plain path characters.
if ! [[ "$PREFIX" =~ ^[A-Za-z0-9._/+,=-]+$ ]]; then
    die "the prefix '$PREFIX' has characters other than A-Z a-z 0-9 . _ / + , = -: a space or a colon would break LD_PRELOAD"
fi
if [ "$PREFIX" != "/" ]; then
    PREFIX="${PREFIX%/}"
fi
case "$PREFIX" in
    /*) ;;
    *) PREFIX="$(pwd)/$PREFIX" ;;
esac

MANIFEST_REL="share/throttle/install-manifest"
MANIFEST="$PREFIX/$MANIFEST_REL"

VERSION="$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' "$ROOT/Cargo.toml" | head -n1)"
[ -n "$VERSION" ] || die "cannot read the version from $ROOT/Cargo.toml"

# The files and directories of this version, relative to the prefix.
FILES=(
    "lib/libthrottle.so"
    "bin/throttle"
    "share/modulefiles/throttle/$VERSION.lua"
    "share/modulefiles/throttle/$VERSION"
    "libexec/throttle/taskprolog.sh"
)
DIRS=(lib bin share share/modulefiles share/modulefiles/throttle libexec libexec/throttle share/throttle)

# ---------------------------------------------------------------- uninstall
if [ "$UNINSTALL" -eq 1 ]; then
    [ -d "$PREFIX" ] || { log "$PREFIX does not exist: nothing to remove"; exit 0; }
    files=()
    dirs=()
    if [ -f "$MANIFEST" ]; then
        while IFS=' ' read -r kind rel; do
            case "$rel" in /* | *..*) continue ;; esac # never outside the prefix
            case "$kind" in
                f) files+=("$rel") ;;
                d) dirs+=("$rel") ;;
            esac
        done <"$MANIFEST"
    else
        # No manifest: only this version's files, and our own directories.
        log "no $MANIFEST: removing this version's files only"
        files=("${FILES[@]}")
        dirs=(share/modulefiles/throttle libexec/throttle share/throttle)
    fi
    for rel in "${files[@]}"; do
        if [ -f "$PREFIX/$rel" ] || [ -L "$PREFIX/$rel" ]; then
            rm -f "$PREFIX/$rel"
            log "removed $PREFIX/$rel"
        fi
    done
    rm -f "$MANIFEST"
    # Deepest first; a directory that holds anything else stays.
    for ((i = ${#dirs[@]} - 1; i >= 0; i--)); do
        rmdir "$PREFIX/${dirs[i]}" 2>/dev/null || true
    done
    for d in share/throttle share/modulefiles/throttle libexec/throttle; do
        rmdir "$PREFIX/$d" 2>/dev/null || true
    done
    log "uninstalled libthrottle from $PREFIX"
    exit 0
fi

# ------------------------------------------------------------------ install
if [ "$BUILD" -eq 1 ]; then
    cargo_on_path
    command -v cargo >/dev/null 2>&1 || die "cargo not found: run scripts/setup.sh, or pass --from BUILD_DIR"
    log "cargo build --release"
    (cd "$ROOT" && cargo build --release >&2)
    FROM="$ROOT/target/release"
elif [ -z "$FROM" ]; then
    FROM="$ROOT/target/release"
fi
for f in libthrottle.so throttle; do
    [ -f "$FROM/$f" ] || die "$FROM/$f is missing: build with \`cargo build --release\` first"
done

# Directories: record the ones this install creates (and, from an earlier
# manifest, the ones an earlier install created).
created=()
if [ -f "$MANIFEST" ]; then
    while IFS=' ' read -r kind rel; do
        [ "$kind" = d ] && created+=("$rel")
    done <"$MANIFEST"
fi
old_files=()
if [ -f "$MANIFEST" ]; then
    while IFS=' ' read -r kind rel; do
        [ "$kind" = f ] && old_files+=("$rel")
    done <"$MANIFEST"
fi
if [ ! -d "$PREFIX" ]; then
    mkdir -p "$PREFIX"
fi
for d in "${DIRS[@]}"; do
    if [ ! -d "$PREFIX/$d" ]; then
        mkdir -p "$PREFIX/$d"
        created+=("$d")
    fi
done

# Copies SRC to PREFIX/REL with MODE through a temporary file and a rename,
# so that running processes that map the old library keep their copy.
put() {
    local src="$1" rel="$2" mode="$3"
    local dst="$PREFIX/$rel"
    local tmp
    tmp="$(mktemp "$dst.XXXXXX")"
    cat "$src" >"$tmp"
    chmod "$mode" "$tmp"
    mv -f "$tmp" "$dst"
}

# Fills the @PREFIX@ and @VERSION@ placeholders of a template.
fill() {
    local src="$1" rel="$2" mode="$3"
    local tmp
    tmp="$(mktemp)"
    sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@VERSION@|$VERSION|g" "$src" >"$tmp"
    put "$tmp" "$rel" "$mode"
    rm -f "$tmp"
}

put "$FROM/libthrottle.so" "lib/libthrottle.so" 0755
put "$FROM/throttle" "bin/throttle" 0755
fill "$ROOT/admin/modulefiles/throttle.lua" "share/modulefiles/throttle/$VERSION.lua" 0644
fill "$ROOT/admin/modulefiles/throttle.tcl" "share/modulefiles/throttle/$VERSION" 0644
fill "$ROOT/admin/slurm/taskprolog.sh" "libexec/throttle/taskprolog.sh" 0755

# The manifest: files of this and of earlier installs (other versions'
# modulefiles), then the directories created, parents first.
{
    printf '# libthrottle %s installed by admin/install.sh; used by --uninstall\n' "$VERSION"
    printf '%s\n' "${old_files[@]}" "${FILES[@]}" | sed '/^$/d' | awk '!seen[$0]++' | sed 's/^/f /'
    for d in "${DIRS[@]}"; do
        for c in "${created[@]}"; do
            if [ "$c" = "$d" ]; then
                printf 'd %s\n' "$d"
                break
            fi
        done
    done
} >"$MANIFEST.tmp"
mv -f "$MANIFEST.tmp" "$MANIFEST"

log "installed libthrottle $VERSION into $PREFIX"
log "  preload library: $PREFIX/lib/libthrottle.so"
log "  modules:         module use $PREFIX/share/modulefiles; module load throttle"
log "  Slurm:           TaskProlog=$PREFIX/libexec/throttle/taskprolog.sh"

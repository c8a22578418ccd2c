#!/usr/bin/env bash
# Installs what the corpus's non-Python cases need on Debian 12 and builds
# their compiled drivers into target/corpus/build/. Idempotent: a quiet no-op
# when everything is installed and built. Run as root (or with sudo for apt).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
corpus="$root/corpus"
out="$root/target/corpus"
build="$out/build"

say() { echo "setup-system: $*" >&2; }

# ---- Debian packages -------------------------------------------------------
pkgs=(
  libjemalloc2 libgoogle-perftools4 libmimalloc2.0
  default-jdk-headless nodejs golang-go chromium postgresql-15
  r-base-core r-cran-data.table
  openmpi-bin libopenmpi-dev
  pigz zstd xz-utils git make gcc libc6-dev zlib1g-dev perl coreutils
)
missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  say "installing ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- compiled drivers ------------------------------------------------------
mkdir -p "$build"

# newer SRC OUT: true when OUT is missing or older than SRC
newer() { [ ! -e "$2" ] || [ "$1" -nt "$2" ]; }

# C programs (crash handlers)
for src in "$corpus"/programs/crash_*.c; do
  [ -e "$src" ] || continue
  exe="$build/$(basename "$src" .c)"
  if newer "$src" "$exe"; then
    say "building $(basename "$exe")"
    gcc -O1 -g -pthread -o "$exe" "$src"
  fi
done

# MPI + OpenMP
if newer "$corpus/programs/hybrid.c" "$build/hybrid"; then
  say "building hybrid"
  mpicc -O2 -fopenmp -o "$build/hybrid" "$corpus/programs/hybrid.c" -lm
fi

# Java
if newer "$corpus/programs/Threads.java" "$build/java/Threads.class"; then
  say "building Threads.java"
  mkdir -p "$build/java"
  javac -d "$build/java" "$corpus/programs/Threads.java"
fi

# Go
if newer "$corpus/programs/goroutines.go" "$build/goroutines"; then
  say "building goroutines.go"
  mkdir -p "$out/gocache"
  GOCACHE="$out/gocache" GOPATH="$out/gopath" GO111MODULE=off GOFLAGS= \
    go build -o "$build/goroutines" "$corpus/programs/goroutines.go"
fi

# ---- a real crate for `cargo build --offline` --------------------------------
# corpus/programs/crate (regex-lite + serde_json, its Cargo.lock committed):
# its dependencies are fetched here into a CARGO_HOME of its own, so that the
# case builds it --offline --locked in a fresh target directory.
cargo_home="$out/cargo-home"
manifest="$corpus/programs/crate/Cargo.toml"
lock="$corpus/programs/crate/Cargo.lock"
if newer "$lock" "$cargo_home/.fetched" || newer "$manifest" "$cargo_home/.fetched"; then
  say "fetching the crate's dependencies into $cargo_home"
  mkdir -p "$cargo_home"
  CARGO_HOME="$cargo_home" cargo fetch -q --locked --manifest-path "$manifest"
  touch "$cargo_home/.fetched"
fi

#!/usr/bin/env bash
# Install what the corpus's Python cases need: a virtualenv in
# target/corpus/venv with pinned packages from PyPI, and CPython's own
# regression-test package (`test`) for the cpython cases.
# Idempotent and quiet: a second run checks the installed versions and
# installs nothing.
set -euo pipefail

SCRIPT=setup-python
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$ROOT"

# Pinned: the versions the corpus was last run with (docs/corpus.md).
# numba 0.68.1 needs numpy < 2.5 and llvmlite 0.50; its TBB threading layer
# uses Debian's libtbb12 (scripts/setup.sh installs libtbb-dev), not the
# `tbb` wheel. The gradient-boosting libraries: lightgbm's wheel bundles its
# own libgomp; xgboost-cpu is xgboost without the CUDA parts (the full wheel
# is several hundred MB). hypothesis: numpy's test suite imports it in its conftest.
# nbclient, nbformat, ipykernel: a notebook executed as papermill and
# `jupyter nbconvert --execute` do (the jupyter-notebook case).
PINS=(
    numpy==2.4.6
    scipy==1.17.1
    threadpoolctl==3.8.0
    scikit-learn==1.9.1
    lightgbm==4.7.0
    xgboost-cpu==3.2.0
    numba==0.68.1
    llvmlite==0.50.0
    numexpr==2.14.2
    polars==2.1.0
    pandas==3.1.1
    pytest==9.2.0
    hypothesis==6.170.17
    onnxruntime==1.32.0
    onnx==1.23.2
    nbclient==0.11.0
    nbformat==5.11.1
    ipykernel==7.4.0
)

VENV="$ROOT/target/corpus/venv"
PY="$VENV/bin/python"

# Run apt as root, or through sudo when we are not root.
SUDO=()
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n)
fi

if ! "$PY" -c 'import sys' >/dev/null 2>&1; then
    log "creating virtualenv $VENV"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV"
fi

# The pins not yet installed at their version, by one look at the metadata.
missing="$("$PY" - "${PINS[@]}" <<'EOF'
import sys
from importlib import metadata
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    try:
        have = metadata.version(name)
    except metadata.PackageNotFoundError:
        have = None
    if have != want:
        print(pin)
EOF
)"
if [ -n "$missing" ]; then
    # shellcheck disable=SC2086 # one pin per word
    log "pip install" $missing
    "$PY" -m pip install --disable-pip-version-check --no-input -q "${PINS[@]}" >&2
fi

# CPython's regression tests (category cpython): Debian ships them apart.
if ! "$PY" -c 'import test.support, test.test_threading' >/dev/null 2>&1; then
    base="$("$PY" -c 'import sys; print(sys.base_prefix)')"
    if [ "$base" = "/usr" ]; then
        ver="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
        log "apt-get install libpython$ver-testsuite"
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends "libpython$ver-testsuite" >&2 || {
            "${SUDO[@]}" apt-get update -qq >&2
            "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                --no-install-recommends "libpython$ver-testsuite" >&2
        }
    else
        log "warning: $base/bin/python3 has no test package: the cpython cases will fail"
    fi
fi

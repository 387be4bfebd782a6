#!/usr/bin/env bash
# The whole test suite: lints (Linux and aarch64-apple-darwin), unit tests, the launcher tests
# once per CPython X.Y, the bundler's and verify's tests on 3.11 and 3.12.
#
# The launcher is the same for every Python; the harness (crates/testkit) builds the runtime
# library for each X.Y it tests (target/test-runtime). 3.11 and 3.12 are required; 3.10 and
# 3.13 run when present. Interpreters come from pyenv (shared-library builds); MLXK2_TEST_PYTHONS="/p/python3.11 …"
# overrides the list.
set -euo pipefail
shopt -s inherit_errexit 2>/dev/null || true
cd "$(dirname "$0")/.."

# On a fresh machine (root with apt), install the tools the harness uses.
missing=()
command -v patchelf >/dev/null || missing+=(patchelf)
command -v readelf >/dev/null || missing+=(binutils)
command -v unshare >/dev/null || missing+=(util-linux)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm) # electron/'s dev dependency (TypeScript), installed by npm ci
[[ -x /bin/ps ]] || missing+=(procps) # the Electron module's macOS path (ps), run on Linux by its tests
command -v llvm-install-name-tool-14 >/dev/null || missing+=(llvm-14) # Mach-O fixtures (verify's tests)
command -v openssl >/dev/null || missing+=(openssl) # the local time-stamp server (verify's tests, the macOS gate)
command -v strace >/dev/null || missing+=(strace) # the packager tests trace every execve and write
command -v chromium >/dev/null || missing+=(chromium) # the guard's browser test (real::browser), headless
if ((${#missing[@]})) && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "run-all: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
need() { command -v "$1" >/dev/null || { echo "run-all: '$1' is missing: $2" >&2; exit 1; }; }
need cargo "install Rust (rustup)"
# rcodesign (crates.io apple-codesign, pinned: launcher-tests/macos-gate.sh) signs in the macOS
# gate and verify's signature tests; ~300 crates, ~7-14 min to build, so only when missing.
rcodesign_pin=$(sed -n 's/^RCODESIGN_PIN=\([0-9.]*\).*/\1/p' launcher-tests/macos-gate.sh)
if [[ $(rcodesign --version 2>/dev/null || "${CARGO_HOME:-$HOME/.cargo}/bin/rcodesign" --version 2>/dev/null) != "apple-codesign $rcodesign_pin" ]]; then
    echo "run-all: installing rcodesign $rcodesign_pin (cargo install apple-codesign)" >&2
    cargo install --locked apple-codesign --version "$rcodesign_pin" --no-default-features
fi
# Every crate of the lock file, for every target: the crate-boundary test reads the resolve for
# all targets offline (`cargo tree --target all`), and builds for this machine and macOS alone
# would leave the other platforms' crates undownloaded on a fresh machine.
cargo fetch --locked --quiet
need patchelf "apt-get install patchelf (bundled python3 is made relocatable with it)"
need readelf "apt-get install binutils"
need unshare "apt-get install util-linux"

pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
latest() { ls -d "$pyenv_root"/versions/"$1".* 2>/dev/null | grep -E "/$1\.[0-9]+$" | sort -V | tail -n1; }

declare -a pythons=()
if [[ -n "${MLXK2_TEST_PYTHONS:-}" ]]; then
    read -r -a pythons <<<"$MLXK2_TEST_PYTHONS"
else
    for xy in 3.10 3.11 3.12 3.13; do
        prefix=$(latest "$xy")
        if [[ -n "$prefix" && -e "$prefix/lib/libpython$xy.so.1.0" ]]; then
            pythons+=("$prefix/bin/python$xy")
        elif [[ "$xy" == 3.11 || "$xy" == 3.12 ]]; then
            echo "run-all: no shared-library CPython $xy under $pyenv_root/versions (required)" >&2
            exit 1
        fi
    done
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Each "=== section" line also says how long the previous one took (docs/testing.md's times).
section_start=$SECONDS
section_name=""
section() {
    [[ -n $section_name ]] && echo "--- $section_name: $((SECONDS - section_start)) s"
    section_name=$1
    section_start=$SECONDS
    [[ -n $1 ]] && echo "=== $1"
    return 0
}

# Lints, for this machine and for the macOS target our users ship (type-checked, not linked:
# pyo3 needs only the X.Y there).
section "rustfmt (workspace and fuzz targets)"
cargo fmt --all --check
(cd fuzz && cargo fmt --check)
echo "rustfmt: clean"
section "clippy (x86_64-unknown-linux-gnu, aarch64-apple-darwin)"
PYO3_PYTHON="${pythons[0]}" cargo clippy --locked --workspace --all-targets -- -D warnings
rustup target list --installed 2>/dev/null | grep -qx aarch64-apple-darwin || rustup target add aarch64-apple-darwin
PYO3_CROSS_PYTHON_VERSION=3.12 cargo clippy --locked --workspace --target aarch64-apple-darwin --all-targets -- -D warnings
echo "clippy: clean on both targets"
# The Python the runtime runs inside CPython (include_str!): ruff, pinned with hashes, in a venv
# of its own under target/ (installed once per pin).
section "ruff (crates/runtime/src/python, guard, packaging/python)"
ruff_pin=$(sed -n 's/^ruff==\([0-9.]*\).*/\1/p' crates/runtime/ruff-requirements.txt)
ruff_venv=target/tools/ruff-$ruff_pin
if [[ ! -x $ruff_venv/bin/ruff ]]; then
    "${pythons[0]}" -m venv "$ruff_venv"
    "$ruff_venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r crates/runtime/ruff-requirements.txt
fi
"$ruff_venv/bin/ruff" check --config crates/runtime/ruff.toml crates/runtime/src/python guard
"$ruff_venv/bin/ruff" format --check --config crates/runtime/ruff.toml crates/runtime/src/python guard
# The wheel's package (`python -m msty_mlx_studio`), with its pyproject.toml's settings.
"$ruff_venv/bin/ruff" check packaging/python
"$ruff_venv/bin/ruff" format --check packaging/python

first=1
for python in "${pythons[@]}"; do
    xy=$("$python" -I -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    section "launcher tests on CPython $xy ($python)"
    # The unit tests do not depend on the Python: once, on their own (no filter below reaches
    # them).
    if ((first)); then
        MLXK2_TEST_PYTHON="$python" cargo test --locked --workspace --lib --bins "$@" 2>&1 | tee -a "$log"
        # The launcher's doctests: compile checks that its unsafe fns cannot be called outside `unsafe`.
        cargo test --locked -p msty-mlx-studio --doc "$@" 2>&1 | tee -a "$log"
    fi
    first=0
    MLXK2_TEST_PYTHON="$python" cargo test --locked -p msty-mlx-studio --test launcher "$@" 2>&1 | tee -a "$log"
    # The bundler's tests (minutes: uv installs, cargo builds) and verify's (Mach-O files) run
    # on the two required X.Y only (on every X.Y when arguments are given).
    if [[ "$xy" == 3.11 || "$xy" == 3.12 || $# -gt 0 ]]; then
        section "bundler and verify tests on CPython $xy"
        # verify's tests drive packaging/sign.js with the @electron/osx-sign it pins.
        need node "apt-get install nodejs (packaging/sign.js runs under Node)"
        need openssl "apt-get install openssl (the local time-stamp server)"
        [[ -f packaging/node_modules/@electron/osx-sign/package.json ]] || (cd packaging && npm ci --no-audit --no-fund --loglevel=error)
        MLXK2_TEST_PYTHON="$python" cargo test --locked -p msty-mlx-bundler --test bundler "$@" 2>&1 | tee -a "$log"
        MLXK2_TEST_PYTHON="$python" cargo test --locked -p msty-mlx-verify --test verify "$@" 2>&1 | tee -a "$log"
    else
        echo "(the bundler's and verify's tests run on CPython 3.11 and 3.12, not here)"
    fi
    # The real stack (PyPI mlx-knife + mlx[cpu], Node driving the server) on 3.11 and 3.12,
    # with the chaos storm (docs/testing.md "Chaos suite": 60 sequences on 3.11, 15 on 3.12; CHAOS_*
    # variables pass through).
    if [[ "$xy" == 3.11 || "$xy" == 3.12 ]]; then
        if [[ "${MLXK2_SKIP_REAL:-}" == 1 ]]; then
            section "real-stack suite on CPython $xy: NOT RUN (MLXK2_SKIP_REAL=1)"
        else
            need node "apt-get install nodejs (the real-stack suite drives the server from Node)"
            need npm "apt-get install npm (electron/'s tests type-check an example with TypeScript)"
            need chromium "apt-get install chromium (the guard's headless-browser test, real::browser)"
            # The Electron module's tests (run by the real suite) need its dev dependency: TypeScript.
            [[ -d electron/node_modules/typescript ]] || (cd electron && npm ci --no-audit --no-fund --loglevel=error)
            section "real-stack suite on CPython $xy"
            MLXK2_TEST_PYTHON="$python" cargo test --locked -p msty-mlx-studio --test real "$@" -- --test-threads=1 2>&1 | tee -a "$log"
            echo "--- timings (CPython $xy)"
            cat "target/tmp/real-timings-py$xy.txt"
        fi
    fi
    # Each test removes its own scratch directories when it passes; the fixtures shared by a
    # whole test process (base bundle, real stack) go once every run for this X.Y passed.
    rm -rf target/tmp/py"$xy"-*
done
# The macOS bundle, built here (zig) and checked without a Mac.
section "macOS gate (macosx_14_0_arm64, CPython 3.12, mlx-knife 2.0.8)"
bash launcher-tests/macos-gate.sh 2>&1 | tee -a "$log"
# Issue 25: the release artefacts (both launcher kits, both wheels, the npm tarball), built once
# by packaging/release.sh, then the packager tests against them (the wheel in a fresh venv, uv
# tool install, the real bundle for Linux and macOS from it, the npm tarball, bad kits). A
# second release.sh run from the same commit must give the same SHA256SUMS (the runtimes are
# rebuilt for each X.Y in turn; docs/bundler.md "Releases" has the cold two-clone check).
release_dir=$PWD/target/release-out
section "release artefacts (bash packaging/release.sh target/release-out)"
need strace "apt-get install strace (the packager tests trace every execve)"
bash packaging/release.sh "$release_dir" 2>&1 | grep -E '^release: |^[0-9a-f]{64}  ' | tee -a "$log"
section "release reproducibility (a second run, SHA256SUMS compared)"
bash packaging/release.sh "$PWD/target/release-out-2" >/dev/null 2>&1
if diff "$release_dir/SHA256SUMS" target/release-out-2/SHA256SUMS; then
    echo "release-check: 1 passed, 0 failed (the second run's SHA256SUMS are the first's)" | tee -a "$log"
else
    echo "release-check: 0 passed, 1 failed (SHA256SUMS differ between two runs of one commit)" | tee -a "$log"
    exit 1
fi
rm -rf target/release-out-2
py312=""
for python in "${pythons[@]}"; do
    [[ $("$python" -I -c 'import sys; print("%d.%d" % sys.version_info[:2])') == 3.12 ]] && py312=$python
done
section "packager tests (release artefacts, CPython 3.12)"
MSTY_RELEASE_DIR=$release_dir MLXK2_TEST_PYTHON="$py312" cargo test --locked -p msty-mlx-bundler --test packaging -- --test-threads=1 2>&1 | tee -a "$log"
# Its shared fixtures (the wheel's venv, the Linux bundle and app: ~1 GB) go once it passed.
rm -rf target/tmp/py3.12-*
section ""
# One closing line over every run (cargo prints one per test binary and version).
awk '/^test result:/ { p += $4; f += $6 } /^(macos-gate|release-check): [0-9]+ passed/ { p += $2; f += $4 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"

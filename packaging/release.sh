#!/usr/bin/env bash
# The one release command: bash packaging/release.sh OUT_DIR
#
# Builds, on this Linux x86_64 machine, every artefact a packager, an MLX developer or an app
# developer installs, into OUT_DIR with a SHA256SUMS:
#
#   msty_mlx_studio-<v>-py3-none-manylinux_2_<N>_x86_64.whl  build-external-python for Linux + both kits
#   msty_mlx_studio-<v>-py3-none-macosx_11_0_arm64.whl      build-external-python for macOS arm64 + both kits
#   msty-mlx-studio-launcher-<v>.tgz                         the Electron module (npm pack)
#   launcher-kit.SHA256SUMS                                  the kits' own SHA256SUMS (what a wheel installs)
#
# The launcher kits (aarch64-apple-darwin and x86_64-unknown-linux-gnu: the launcher and a
# runtime per CPython 3.10-3.13) are built by `build-external-python kit build`, the same code
# as `--from-source`; macOS binaries are linked by the toolchain's rust-lld against the pinned
# ziglang's libSystem stubs. The wheels are built by maturin (pinned, --require-hashes) with
# `bindings = "bin"` (packaging/python/pyproject.toml), without the from-source feature.
#
# Reproducible: SOURCE_DATE_EPOCH is the commit's time, build paths are remapped
# (--remap-path-prefix), maturin and npm write sorted archives with fixed times. Two runs from
# one commit give the same SHA256SUMS (docs/bundler.md "Releases" says how that is checked).
# Every shipped binary is checked for build-machine paths; the wheels pass `twine check`.
#
# Needs: cargo (with the aarch64-apple-darwin std: added here with rustup when missing),
# python3 (3.10 or later) with venv and pip, npm; PyPI for maturin, twine and the pinned ziglang.
# MSTY_RELEASE_KIT_ONLY=1 stops after the kits (target/wheel-data/.../kit), for CI's tests.
set -euo pipefail
shopt -s inherit_errexit 2>/dev/null || true
cd "$(dirname "$0")/.."
repo=$PWD

if [[ $# -ne 1 ]]; then
    echo "usage: bash packaging/release.sh OUT_DIR" >&2
    exit 2
fi
out=$(realpath -m "$1")
pythons=(3.10 3.11 3.12 3.13)
targets=(x86_64-unknown-linux-gnu aarch64-apple-darwin)
MATURIN_PIN=1.16.0
TWINE_PIN=7.0.0
t0=$SECONDS
say() { echo "release: $*" >&2; }
die() {
    echo "release: error: $*" >&2
    exit 1
}

[[ $(uname -sm) == "Linux x86_64" ]] || die "releases are built on Linux x86_64 (this is $(uname -sm))"
need() { command -v "$1" >/dev/null || die "'$1' is missing${2:+ ($2)}"; }
for tool in cargo rustc python3 npm git sha256sum; do need "$tool"; done
need objdump "binutils: it reads the glibc symbol versions of the Linux binaries"
commit=$(git rev-parse HEAD)
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct HEAD)
export SOURCE_DATE_EPOCH
if [[ -n $(git status --porcelain --untracked-files=no) ]]; then
    say "warning: the work tree has uncommitted changes; the artefacts say commit $commit but hold them"
fi
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
cargo_home=${CARGO_HOME:-$HOME/.cargo}
rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
remap="--remap-path-prefix=$repo=/src --remap-path-prefix=$cargo_home=/cargo --remap-path-prefix=$rustup_home=/rustup"

# --- tools: maturin and twine with all they need (--require-hashes), in their own venv ----------
tools=$repo/target/release-tools
requirements=packaging/requirements/release-tools.txt
for pin in "maturin==$MATURIN_PIN" "twine==$TWINE_PIN"; do
    grep -qx "$pin" packaging/requirements/release-tools.in && grep -q "^$pin " "$requirements" ||
        die "$pin is not what packaging/requirements/release-tools.{in,txt} pin; recompile them (the command is in release-tools.txt)"
done
python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' || die "python3 is $(python3 -V 2>&1); the release tools' requirements are compiled for 3.10 and later"
installed=$(sha256sum <"$requirements")
if [[ $(cat "$tools/requirements.sha256" 2>/dev/null) != "$installed" ]] ||
    [[ $("$tools/bin/maturin" --version 2>/dev/null) != "maturin $MATURIN_PIN" ]] ||
    [[ $("$tools/bin/twine" --version 2>/dev/null | head -n 1) != "twine version $TWINE_PIN"* ]]; then
    say "installing maturin $MATURIN_PIN and twine $TWINE_PIN (--require-hashes, with what they need) into $tools"
    python3 -m venv --clear "$tools"
    "$tools/bin/pip" install --quiet --disable-pip-version-check --require-hashes --only-binary :all: -r "$requirements"
    echo "$installed" >"$tools/requirements.sha256"
fi
rustup target list --installed 2>/dev/null | grep -qx aarch64-apple-darwin || rustup target add aarch64-apple-darwin

# --- 1. the launcher kits ----------------------------------------------------------------------
say "building the bundler that builds the kits (a contributor's build: it only drives cargo)"
cargo build --locked --quiet -p msty-mlx-bundler --bin build-external-python
bep=$repo/target/debug/build-external-python
data=$repo/target/wheel-data
kit=$data/data/share/msty-mlx-studio/kit
rm -rf "$data"
mkdir -p "$kit"
for target in "${targets[@]}"; do
    say "kit: $target, CPython ${pythons[*]}"
    args=()
    for xy in "${pythons[@]}"; do args+=(--python "$xy"); done
    "$bep" kit build "$kit" --target "$target" "${args[@]}" --commit "$commit" >&2
done
"$bep" kit check "$kit" >&2
t_kits=$SECONDS
if [[ ${MSTY_RELEASE_KIT_ONLY:-} == 1 ]]; then
    say "kits in $kit ($((t_kits - t0)) s); MSTY_RELEASE_KIT_ONLY=1: no wheels"
    exit 0
fi

# --- 2. the wheels -------------------------------------------------------------------------------
staging=$repo/target/release-staging
rm -rf "$staging"
mkdir -p "$staging/wheels"
maturin() { (cd packaging/python && "$tools/bin/maturin" "$@" --release --locked --out "$staging/wheels" >&2); }
say "wheel: Linux x86_64"
# The manylinux tag follows the newest glibc symbol version the kit's Linux binaries use;
# maturin checks the bundler itself against it (and refuses a tag its symbols exceed).
glibc=$(for f in "$kit"/x86_64-unknown-linux-gnu/msty-mlx-studio "$kit"/x86_64-unknown-linux-gnu/py*/*.so; do
    objdump -T "$f" | grep -o 'GLIBC_2\.[0-9]*' || true
done | sort -t. -k2 -n | tail -n 1)
[[ -n $glibc ]] || die "no glibc symbol versions found in the Linux binaries"
manylinux=manylinux_2_${glibc#GLIBC_2.}
say "newest glibc symbol: $glibc -> $manylinux"
RUSTFLAGS="$remap" maturin build --target x86_64-unknown-linux-gnu --compatibility "$manylinux"
say "wheel: macOS arm64 (rust-lld against the pinned ziglang's stubs, macOS 11.0: what Rust's std allows)"
sdk=${XDG_CACHE_HOME:-$HOME/.cache}/msty-mlx-studio/tools/zig-0.17.1/macos-sdk
[[ -f $sdk/usr/lib/libSystem.tbd ]] || die "the macOS stub SDK $sdk is missing (the macOS kit build makes it)"
lld=$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld
CARGO_TARGET_AARCH64_APPLE_DARWIN_LINKER=$lld SDKROOT=$sdk MACOSX_DEPLOYMENT_TARGET=11.0 \
    RUSTFLAGS="$remap $(grep -o '"-C linker-flavor=ld64.lld[^"]*"' crates/bundler/src/cross.rs | tr -d '"')" \
    maturin build --target aarch64-apple-darwin
t_wheels=$SECONDS

# --- 3. the npm tarball ---------------------------------------------------------------------------
say "npm pack (electron/)"
(cd electron && npm pack --silent --pack-destination "$staging" >/dev/null)

# --- 4. checks: build-machine paths, twine -----------------------------------------------------------
say "checking every shipped file for build-machine paths"
forbidden=()
for dir in "$repo" "$cargo_home" "$rustup_home" "${XDG_CACHE_HOME:-$HOME/.cache}" "$(python3 -I -c 'import sys; print(sys.base_prefix)')" "$HOME"; do
    # A system prefix (a Debian python3's is /usr) is on every machine, and every binary names
    # it (/usr/lib/libSystem.B.dylib): not a build-machine path.
    case $dir in "" | / | /usr | /usr/local) continue ;; esac
    forbidden+=("$dir")
done
unpacked=$staging/unpacked
for wheel in "$staging"/wheels/*.whl; do
    rm -rf "$unpacked" && mkdir -p "$unpacked"
    python3 -I -m zipfile -e "$wheel" "$unpacked"
    binaries=0
    while IFS= read -r -d '' f; do
        magic=$(head -c 4 "$f" | od -An -tx1 | tr -d ' \n')
        case $magic in 7f454c46 | cffaedfe | cafebabe) binaries=$((binaries + 1)) ;; esac
        for needle in "${forbidden[@]}"; do
            if grep -qaF "$needle" "$f"; then die "$(basename "$wheel"): ${f#"$unpacked"/} contains the build-machine path $needle"; fi
        done
    done < <(find "$unpacked" -type f -print0)
    ((binaries >= 11)) || die "$(basename "$wheel") holds $binaries binaries; expected the bundler and two kits' 10"
    say "$(basename "$wheel"): $binaries binaries, no build-machine path in any file"
done
rm -rf "$unpacked"
"$tools/bin/twine" check --strict "$staging"/wheels/*.whl >&2

# --- 5. OUT_DIR and SHA256SUMS -------------------------------------------------------------------------
mkdir -p "$out"
rm -f "$out"/*.whl "$out"/*.tgz "$out"/SHA256SUMS "$out"/launcher-kit.SHA256SUMS
cp "$staging"/wheels/*.whl "$staging"/*.tgz "$out"/
cp "$kit/SHA256SUMS" "$out/launcher-kit.SHA256SUMS"
(cd "$out" && LC_ALL=C sha256sum -- *.whl *.tgz launcher-kit.SHA256SUMS >SHA256SUMS)
say "version $version, commit $commit: kits $((t_kits - t0)) s, wheels $((t_wheels - t_kits)) s, total $((SECONDS - t0)) s"
cat "$out/SHA256SUMS"

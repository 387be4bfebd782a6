#!/usr/bin/env bash
# The main job, end to end on this machine: build a real bundle with build-external-python
# (mlx-knife 2.0.8 + mlx[cpu] from PyPI), lay it out as an app's Resources/ next to a relocated
# CPython, generate a tiny local model, and run mlx-knife through the launcher.
#
# Output under target/main-job/. MLXK2_MAIN_JOB_PYTHON picks the interpreter (default: the
# newest pyenv 3.11).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null && ! command -v patchelf >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq patchelf >/dev/null
fi

pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
python=${MLXK2_MAIN_JOB_PYTHON:-$(ls -d "$pyenv_root"/versions/3.11.* | sort -V | tail -n1)/bin/python3}
xy=$("$python" -I -c 'import sys; print("%d.%d" % sys.version_info[:2])')
prefix=$("$python" -I -c 'import sys; print(sys.base_prefix)')
job=$PWD/target/main-job
resources=$job/MyApp.app/Contents/Resources
rm -rf "$job/MyApp.app" && mkdir -p "$job" "$resources/python/bin" "$resources/python/lib"

echo "== 1. build-external-python (CPython $xy: $python)"
cargo run --release --locked -p msty-mlx-bundler --bin build-external-python -- --from-source \
    --python "$python" --project mlx-knife==2.0.8 \
    --requirements launcher-tests/real/requirements.txt \
    --dist-dir "$job/dist-ext-python" --clean

echo "== 2. Resources/: the interpreter (relocated) and the bundle"
cp -p "$prefix/lib/libpython$xy.so.1.0" "$resources/python/lib/"
cp -p "$prefix/bin/python$xy" "$resources/python/bin/python3"
patchelf --force-rpath --set-rpath '$ORIGIN/../lib' "$resources/python/bin/python3"
tar -C "$prefix/lib" -cf - --exclude="python$xy/test" --exclude="python$xy/site-packages" \
    --exclude="python$xy/idlelib" --exclude="python$xy/tkinter" --exclude="python$xy/config-*" "python$xy" |
    tar -C "$resources/python/lib" -xf -
mkdir -p "$resources/python/lib/python$xy/site-packages"
# pyenv builds carry RUNPATH <build prefix>/lib: a shippable copy must not look there.
patchelf --remove-rpath "$resources/python/lib/libpython$xy.so.1.0"
for so in "$resources/python/lib/python$xy/lib-dynload/"*.so; do
    patchelf --force-rpath --set-rpath '$ORIGIN/../..' "$so"
done
cp -a "$job/dist-ext-python/msty-mlx-studio" "$resources/mlxk2"
launcher=$resources/mlxk2/msty-mlx-studio

echo "== 3. a tiny local model"
export HF_HOME=$job/hf HF_HUB_OFFLINE=1
rm -rf "$HF_HOME"
model=$(PYTHONPATH=$resources/mlxk2/_vendor PYTHONNOUSERSITE=1 PYTHONDONTWRITEBYTECODE=1 \
    "$resources/python/bin/python3" python-fixtures/tiny_model/make_tiny_model.py "$HF_HOME" |
    "$python" -I -c 'import json, sys; print(json.load(sys.stdin)["model"])')

echo "== 4. the bundle is ready for signing"
cargo run --release --locked -q -p msty-mlx-bundler --bin build-external-python -- verify "$resources" | tail -n 1

echo "== 5. mlx-knife through the launcher (RESOURCES_PATH=$resources)"
export RESOURCES_PATH=$resources
set -x
"$launcher" --check-mlx-stack
"$launcher" --version
"$launcher" list
"$launcher" run "$model" "hi"

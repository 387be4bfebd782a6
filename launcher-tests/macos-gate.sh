#!/usr/bin/env bash
# The macOS gate without a Mac (issue 11, item 5): build the bundle our users ship — Apple
# silicon, macOS 14, CPython 3.12, mlx-knife 2.0.8 — on this machine with build-external-python
# (wheels-only; launcher and runtime linked here with rust-lld), then check what can be checked
# without running it: the Mach-O launcher and runtime (architecture, file type, minimum macOS,
# loads, rpaths, header padding, code signature, no build-machine paths), `_vendor`'s macOS
# contents, the manifest, `build-external-python verify` (the runtime's imports against
# libpython3.12 included), and then sign it as a packager does (issues 19, 28): rcodesign,
# inside-out in the sign list's order by role, ad hoc and with a self-signed Developer ID
# certificate time-stamped by a local RFC 3161 server, the dist dir and a Resources tree in
# python-build-standalone's shape (bin/python3 -> python3.X, config-3.X-darwin/python.o), read
# back with `verify --signed --release` and `rcodesign print-signature-info`, planted defects
# caught.
#
# Nothing here names a macOS-only requirement or picks the host's Python: the bundler resolves
# with uv for the target (markers included: mlx's `mlx-metal; platform_system == "Darwin"`).
#
# Needs: cargo, python3 (uv's helper; any X.Y), llvm-14 (installed here as root with apt when
# missing), PyPI (uv caches the wheels in ~/.cache/uv; the bundler installs its pinned uv and
# ziglang (whose libSystem stubs rust-lld links against) into ~/.cache/msty-mlx-studio/tools, and rustup adds aarch64-apple-darwin's
# std when missing), rcodesign 0.29.0 (`cargo install --locked apple-codesign --version 0.29.0
# --no-default-features`; .ci/run installs it), openssl (the time-stamp server), a pyenv CPython
# 3.12 (its Linux libpython stands in for macOS's exported C API). Output: target/macos-gate/.
set -euo pipefail
shopt -s inherit_errexit 2>/dev/null || true
cd "$(dirname "$0")/.."
repo=$PWD
t0=$SECONDS

XY=3.12
TAG=macosx_14_0_arm64
TRIPLE=aarch64-apple-darwin
MIN_OS=14.0
PROJECT=mlx-knife==2.0.8
RCODESIGN_PIN=0.29.0 # crates.io apple-codesign; run-all.sh installs it when missing
TEAM=MSTYGATE01

if ! command -v llvm-otool-14 >/dev/null && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "macos-gate: installing llvm-14" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq llvm-14 >/dev/null
fi
for tool in cargo python3 openssl llvm-otool-14 llvm-install-name-tool-14; do
    command -v "$tool" >/dev/null || { echo "macos-gate: '$tool' is missing (llvm-*: apt-get install llvm-14)" >&2; exit 1; }
done
rcodesign=$(command -v rcodesign || echo "${CARGO_HOME:-$HOME/.cargo}/bin/rcodesign")
if ! [[ -x $rcodesign ]] || [[ $("$rcodesign" --version) != "apple-codesign $RCODESIGN_PIN" ]]; then
    echo "macos-gate: rcodesign $RCODESIGN_PIN is missing: cargo install --locked apple-codesign --version $RCODESIGN_PIN --no-default-features" >&2
    exit 1
fi
# The Linux libpython of the gate's X.Y: a faithful stand-in for macOS's exported C-API names.
stand_in=$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$XY".*/lib/libpython"$XY".so.1.0 2>/dev/null | sort -V | tail -n 1)
[[ -n $stand_in ]] || { echo "macos-gate: no shared-library CPython $XY under pyenv (libpython$XY.so.1.0 stands in for macOS's exports)" >&2; exit 1; }

cache=${XDG_CACHE_HOME:-$HOME/.cache}/msty-mlx-studio
gate=$repo/target/macos-gate
mkdir -p "$gate"

t_ready=$SECONDS # tools checked

# --- 2. the bundle ------------------------------------------------------------------------------
echo "=== building the bundler"
cargo build --locked --quiet -p msty-mlx-bundler --bin build-external-python
bundler=$repo/target/debug/build-external-python
echo "=== build-external-python --wheels-only --target-python-version $XY --target-platform $TAG --project $PROJECT"
"$bundler" --from-source --wheels-only --target-python-version "$XY" --target-platform "$TAG" --project "$PROJECT" \
    --dist-dir "$gate/dist-ext-python" --clean
t_bundle=$SECONDS
out=$gate/dist-ext-python/msty-mlx-studio
launcher=$out/msty-mlx-studio
runtime=$out/libmsty_mlx_runtime.dylib

# --- 3. assertions --------------------------------------------------------------------------------
passed=0
failed=0
check() { # check DESCRIPTION COMMAND...: one line per assertion
    local what=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "ok   $what"
    else
        failed=$((failed + 1))
        echo "FAIL $what"
    fi
}
header() { llvm-otool-14 -hv "$1" | tail -n 1; } # magic cputype cpusubtype caps filetype ncmds sizeofcmds flags
field() { header "$1" | awk -v n="$2" '{ print $n }'; }
minos() { llvm-otool-14 -l "$1" | awk '/cmd LC_BUILD_VERSION/ { b = 1 } b && $1 == "minos" { print $2; exit }'; }
loads() { llvm-otool-14 -l "$1" | awk '/cmd LC_(LOAD|LOAD_WEAK|REEXPORT|LAZY_LOAD)_DYLIB/ { l = 1 } l && $1 == "name" { print $2; l = 0 }'; }
rpaths() { llvm-otool-14 -l "$1" | awk '/cmd LC_RPATH/ { r = 1 } r && $1 == "path" { print $2; r = 0 }'; }
has_cmd() { llvm-otool-14 -l "$1" | grep -q "cmd $2\$"; }
dylib_id() { llvm-otool-14 -l "$1" | awk '/cmd LC_ID_DYLIB/ { i = 1 } i && $1 == "name" { print $2; exit }'; }
# Free bytes between the load commands and the first section's data (install_name_tool's room).
headerpad() {
    local first sizeofcmds
    first=$(llvm-otool-14 -l "$1" | awk '/^Section/ { s = 1 } s && $1 == "offset" && $2 > 0 { print $2; s = 0 }' | sort -n | head -n 1)
    sizeofcmds=$(field "$1" 7)
    echo $((first - 32 - sizeofcmds))
}
no_rpath_outside() { ! rpaths "$1" | grep -qv '^@'; }
no_libpython() { ! loads "$1" | grep -q libpython; }
padded() { (($(headerpad "$1") >= 1024)); }
# install_name_tool's edit a packager makes, on a copy: it needs the header padding.
add_rpath_works() {
    local copy=$gate/edit-$(basename "$1")
    cp "$1" "$copy"
    llvm-install-name-tool-14 -add_rpath @executable_path/../python/lib "$copy" && rpaths "$copy" | grep -qx '@executable_path/../python/lib'
}
host_prefix=$(python3 -I -c 'import sys; print(sys.base_prefix)')
forbidden=("$repo" "${CARGO_HOME:-$HOME/.cargo}" "${RUSTUP_HOME:-$HOME/.rustup}" "$host_prefix" "$cache" "${XDG_CACHE_HOME:-$HOME/.cache}/zig")
no_build_paths() {
    local needle
    for needle in "${forbidden[@]}"; do
        if grep -qaF "$needle" "$1"; then
            echo "     $(basename "$1") contains $needle"
            return 1
        fi
    done
}

echo "=== the launcher and the runtime (Mach-O)"
check "launcher is arm64" test "$(field "$launcher" 2)" = ARM64
check "launcher is MH_EXECUTE" test "$(field "$launcher" 5)" = EXECUTE
check "runtime is arm64" test "$(field "$runtime" 2)" = ARM64
check "runtime is MH_DYLIB" test "$(field "$runtime" 5)" = DYLIB
for f in "$launcher" "$runtime"; do
    n=$(basename "$f")
    check "$n: LC_BUILD_VERSION minos $MIN_OS" test "$(minos "$f")" = "$MIN_OS"
    check "$n: no libpython load" no_libpython "$f"
    check "$n: loads only system libraries (/usr/lib, /System)" bash -c '! grep -qvE "^(/usr/lib/|/System/)" <<<"$1"' _ "$(loads "$f")"
    check "$n: no LC_RPATH outside @executable_path/@loader_path/@rpath" no_rpath_outside "$f"
    check "$n: LC_CODE_SIGNATURE present" has_cmd "$f" LC_CODE_SIGNATURE
    check "$n: header padding >= 1024 bytes ($(headerpad "$f"))" padded "$f"
    check "$n: install_name_tool -add_rpath succeeds on a copy" add_rpath_works "$f"
    check "$n: no build-machine paths inside" no_build_paths "$f"
done
check "runtime: install name @rpath/libmsty_mlx_runtime.dylib" test "$(dylib_id "$runtime")" = @rpath/libmsty_mlx_runtime.dylib
# The launch-plan format the runtime must be stamped with: crates/contract/src/plan.rs's plan_format!.
plan_format=$(awk '/macro_rules! plan_format/ { f = 1 } f && /^[[:space:]]*[0-9]+[[:space:]]*$/ { print $1; exit }' crates/contract/src/plan.rs)
check "runtime: stamped for Python $XY, plan format $plan_format" grep -qa "msty-mlx-runtime-stamp:plan=$plan_format;python=$XY;" "$runtime"
# The served port's guard beside the launcher, compiled for the target X.Y (docs/security.md).
check "guard/: its three files and their cpython-${XY/./} pycs beside the launcher" bash -c \
    'for m in msty_mlx_guard msty_mlx_guard_app sitecustomize; do [[ -f $1/guard/$m.py && -f $1/guard/__pycache__/$m.cpython-$2.pyc ]] || exit 1; done' _ "$out" "${XY/./}"
check "runtime: exports only msty_mlx_runtime_main and msty_mlx_runtime_stamp" test "$(llvm-nm-14 -gU "$runtime" | awk '{ print $3 }' | sort | tr '\n' ' ')" = "_msty_mlx_runtime_main _msty_mlx_runtime_stamp "

echo "=== _vendor"
vendor=$out/_vendor
dist_info() { compgen -G "$vendor/$1-*.dist-info" >/dev/null; }
check "mlx dist-info" dist_info mlx
check "mlx_metal dist-info" dist_info mlx_metal
check "mlx/lib/libmlx.dylib" test -f "$vendor/mlx/lib/libmlx.dylib"
check "mlx/lib/mlx.metallib" test -f "$vendor/mlx/lib/mlx.metallib"
check "mlx/core.cpython-${XY/./}-darwin.so" test -f "$vendor/mlx/core.cpython-${XY/./}-darwin.so"
check "no mlx_cpu / mlx_cuda distributions" bash -c '! compgen -G "$1/mlx_c[pu][ud]*.dist-info" >/dev/null' _ "$vendor"
# Every native file is Mach-O; none is ELF (a Linux-only wheel).
elf_files() {
    python3 -I - "$vendor" <<'EOF'
import os, sys
bad = []
for root, _, files in os.walk(sys.argv[1]):
    for name in files:
        path = os.path.join(root, name)
        with open(path, "rb") as f:
            if f.read(4) == b"\x7fELF":
                bad.append(path)
print("\n".join(bad))
EOF
}
check "no ELF files" test -z "$(elf_files)"
check "no *.so for Linux (x86_64-linux-gnu / manylinux names)" bash -c '! find "$1" -name "*linux*.so" | grep -q .' _ "$vendor"

echo "=== bundle-manifest.json"
manifest_is() { # manifest_is PYTHON-EXPRESSION (m = the manifest)
    python3 -I -c "import json, sys; m = json.load(open(sys.argv[1])); sys.exit(0 if ($1) else 1)" "$out/bundle-manifest.json"
}
built_on=$(rustc -vV | sed -n 's/^host: //p')
for entry in launcher runtime; do
    check "$entry: target $TRIPLE, minimum_os $MIN_OS" manifest_is "m['$entry']['target'] == '$TRIPLE' and m['$entry']['minimum_os'] == '$MIN_OS'"
    check "$entry: built_on $built_on, linker rust-lld" manifest_is "m['$entry']['built_on'] == '$built_on' and m['$entry']['linker'].startswith('rust-lld ')"
done
check "runtime file libmsty_mlx_runtime.dylib, python $XY" manifest_is "m['runtime']['file'] == 'libmsty_mlx_runtime.dylib' and m['runtime']['python'] == '$XY'"
check "python.platform_tag $TAG" manifest_is "m['python']['platform_tag'] == '$TAG'"
check "installer: uv for aarch64-apple-darwin, MACOSX_DEPLOYMENT_TARGET $MIN_OS" manifest_is "m['installer']['tool'] == 'uv' and m['installer']['python_platform'] == '$TRIPLE' and m['installer']['macosx_deployment_target'] == '$MIN_OS'"
check "sanity check skipped with the reason (macOS does not run here)" manifest_is "m['sanity_check'].startswith('skipped: ')"
check "distributions: mlx, mlx-metal, mlx-knife 2.0.8" manifest_is "{(d['name'].lower(), d['version']) for d in m['distributions']} >= {('mlx-metal', '0.32.0'), ('mlx-knife', '2.0.8')} and any(d['name'] == 'mlx' for d in m['distributions'])"

echo "=== build-external-python verify"
verify_clean() { # the report goes to a file; its summary line is shown
    local status=0
    "$bundler" verify "$out" >"$gate/verify.txt" 2>&1 || status=$?
    echo "     $(tail -n 1 "$gate/verify.txt") (report: $gate/verify.txt)"
    ((status == 0)) || grep '^error:' "$gate/verify.txt" | head -n 20
    return "$status"
}
check "verify is clean (exit 0)" verify_clean
sign_list=$("$bundler" verify --sign-list "$out")
check "sign list holds the runtime before the launcher" bash -c 'r=$(grep -n "libmsty_mlx_runtime.dylib$" <<<"$1" | cut -d: -f1); l=$(grep -n "/msty-mlx-studio$" <<<"$1" | cut -d: -f1); [[ -n $r && -n $l && $r -lt $l ]]' _ "$sign_list"

check "runtime: every _Py* import a flat lookup exported by libpython$XY (Linux stand-in), LC_DYLD_INFO_ONLY" \
    bash -c '"$1" verify --libpython "$2" "$3" >"$4" 2>&1 || { grep "^error:" "$4"; exit 1; }' _ "$bundler" "$stand_in" "$out" "$gate/verify-libpython.txt"
t_checks=$SECONDS

# --- 4. signed as a packager signs, read back as Gatekeeper would ------------------------------------
echo "=== signing with rcodesign $RCODESIGN_PIN, inside-out in the sign list's order"
zig=$(ls -d "$cache"/tools/zig-*/ziglang/zig 2>/dev/null | head -n 1)
# A Resources tree laid out like the app's: mlxk2/ is the bundle, python/ has
# python-build-standalone's shape (no macOS CPython can be had here: zig-linked stand-ins whose
# libpython exports nothing of the C API, so the runtime is checked against the Linux stand-in):
# bin/python3 a symlink to python3.X, the real file; config-3.X-darwin/python.o an MH_OBJECT.
make_python_stand_ins() { # make_python_stand_ins DIR: the sources and python3.X, linked unsigned-by-us
    local src=$1
    mkdir -p "$src"
    printf 'int Py_BytesMain(int c, char **v) { return c + (v != 0); }\n' >"$src/libpython.c"
    printf 'int Py_BytesMain(int, char **);\nint main(int c, char **v) { return Py_BytesMain(c, v); }\n' >"$src/main.c"
    "$zig" cc -target aarch64-macos -shared "-Wl,-install_name,@rpath/libpython$XY.dylib" \
        -o "$src/libpython$XY.dylib" "$src/libpython.c"
    "$zig" cc -target aarch64-macos -Wl,-rpath,@executable_path/../lib -o "$src/python$XY" \
        "$src/main.c" "$src/libpython$XY.dylib"
    "$zig" cc -target aarch64-macos -c -o "$src/python.o" "$src/main.c"
}
make_resources() { # make_resources DIR
    local res=$1 src=$gate/python-src
    rm -rf "$res" "$src"
    make_python_stand_ins "$src"
    mkdir -p "$res/python/bin" "$res/python/lib/python$XY/encodings" "$res/python/lib/python$XY/config-$XY-darwin"
    cp -a "$out" "$res/mlxk2"
    cp "$src/libpython$XY.dylib" "$res/python/lib/"
    cp "$src/python$XY" "$res/python/bin/"
    ln -s "python$XY" "$res/python/bin/python3"
    cp "$src/python.o" "$res/python/lib/python$XY/config-$XY-darwin/"
}
sign_tree() { # sign_tree DIR [IDENTITY ARGS...]: the sign list by role, inside-out; executables with the hardened runtime
    local dir=$1 role f
    shift
    "$bundler" verify --sign-list --roles --libpython "$stand_in" "$dir" >"$gate/sign-list.txt"
    while IFS=$'\t' read -r role f; do
        case $role in
            python-host) "$rcodesign" sign --code-signature-flags runtime --entitlements-xml-file "$repo/packaging/entitlements.plist" "$@" "$f" ;;
            executable) "$rcodesign" sign --code-signature-flags runtime "$@" "$f" ;;
            *) "$rcodesign" sign "$@" "$f" ;;
        esac >>"$gate/rcodesign.log" 2>&1
    done <"$gate/sign-list.txt"
}
# signed_report DIR EXPECTED-EXIT PYTHON-EXPRESSION [VERIFY ARGS...]: the expression sees f, the
# errors and signature findings (not the wheels' own rpath warnings of above), and n, the
# sign list's length.
signed_report() {
    local dir=$1 want=$2 expr=$3 status=0
    shift 3
    "$bundler" verify --json --signed --libpython "$stand_in" "$@" "$dir" >"$gate/signed.json" 2>"$gate/signed.err" || status=$?
    ((status == want)) || { echo "     exit $status, not $want: $(head -c 500 "$gate/signed.err")"; return 1; }
    python3 -I - "$gate/signed.json" "$expr" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
signature = {"not-signed", "linker-signed", "ad-hoc-signature", "no-secure-timestamp", "not-developer-id",
             "no-hardened-runtime", "missing-entitlement", "unneeded-entitlement", "team-id-mix",
             "modified-after-signing", "malformed", "dangling-link"}
f = [x for x in r["findings"] if x["severity"] == "error" or x["kind"] in signature]
n = len(r["sign_list"])
ok = eval(sys.argv[2])
if not ok:
    print(json.dumps(f, indent=1)[:3000])
sys.exit(0 if ok else 1)
EOF
}
signature_field() { "$rcodesign" print-signature-info "$1" | sed -n '/code_directory:/,$p' | awk -v k="$2:" '$1 == k { $1 = ""; print substr($0, 2); exit }'; }
rm -f "$gate/rcodesign.log"
"$rcodesign" generate-self-signed-certificate --profile developer-id-application --team-id "$TEAM" \
    --person-name "Gate Packager" --pem-unified-file "$gate/developer-id.pem" >>"$gate/rcodesign.log" 2>&1
"$rcodesign" generate-self-signed-certificate --profile developer-id-application --team-id OTHERTEAM2 \
    --person-name "Another Team" --pem-unified-file "$gate/other-team.pem" >>"$gate/rcodesign.log" 2>&1
"$rcodesign" generate-self-signed-certificate --profile apple-development --team-id "$TEAM" \
    --person-name "Gate Developer" --pem-unified-file "$gate/apple-development.pem" >>"$gate/rcodesign.log" 2>&1
# Apple's time-stamp server, stood in for by openssl ts behind Python's http.server (it exits with
# this shell). Notarization wants the token in every signature.
start_tsa() {
    rm -rf "$gate/tsa" && mkdir -p "$gate/tsa"
    python3 -I "$repo/crates/testkit/tsa.py" "$gate/tsa" >"$gate/tsa/url" 2>"$gate/tsa/stderr" &
    tsa_pid=$!
    local i
    for i in $(seq 50); do
        [[ -s $gate/tsa/url ]] && break
        sleep 0.1
    done
    tsa_url=$(head -n 1 "$gate/tsa/url")
    [[ $tsa_url == http://127.0.0.1:* ]] || { echo "macos-gate: the local time-stamp server did not start: $(cat "$gate/tsa/stderr")" >&2; exit 1; }
}
start_tsa
trap 'kill "$tsa_pid" 2>/dev/null || true' EXIT
developer_id=(--pem-file "$gate/developer-id.pem" --team-name "$TEAM" --timestamp-url "$tsa_url")
tsa_answers() { if [[ -f $gate/tsa/requests.log ]]; then wc -l <"$gate/tsa/requests.log"; else echo 0; fi; }

adhoc=$gate/signed-ad-hoc
rm -rf "$adhoc" && cp -a "$out" "$adhoc"
check "dist as built: launcher and runtime linker-signed (rust-lld); wheels' files linker-signed, ad hoc or with unsigned x86_64 slices (exit 1)" \
    signed_report "$adhoc" 1 "all(x['kind'] in ('linker-signed', 'ad-hoc-signature', 'not-signed') for x in f) and sum(x['kind'] == 'linker-signed' and x['path'].endswith(('/libmsty_mlx_runtime.dylib', '/msty-mlx-studio')) for x in f) == 2"
sign_tree "$adhoc"
check "dist signed ad hoc: only ad-hoc warnings, one per file" \
    signed_report "$adhoc" 0 "len(f) == n and all(x['kind'] == 'ad-hoc-signature' and x['severity'] == 'warning' for x in f)"
check "dist signed ad hoc: an error with --release" \
    signed_report "$adhoc" 1 "len(f) == n and all(x['severity'] == 'error' for x in f)" --release
cert=$gate/signed-developer-id
rm -rf "$cert" && cp -a "$out" "$cert"
sign_tree "$cert" --pem-file "$gate/developer-id.pem" --team-name "$TEAM" --timestamp-url none
check "dist signed with a Developer ID (self-signed, team $TEAM) without a timestamp: only no-secure-timestamp warnings, one per file" \
    signed_report "$cert" 0 "len(f) == n and all(x['kind'] == 'no-secure-timestamp' and x['severity'] == 'warning' for x in f)"
check "… and an error with --release (the notary refuses it)" \
    signed_report "$cert" 1 "len(f) == n and all(x['kind'] == 'no-secure-timestamp' and x['severity'] == 'error' for x in f)" --release
check "launcher: rcodesign reads team $TEAM and the hardened runtime" \
    bash -c '[[ $1 == "$2" && $3 == *RUNTIME* ]]' _ "$(signature_field "$cert/$(basename "$launcher")" team_name)" "$TEAM" "$(signature_field "$cert/$(basename "$launcher")" flags)"
check "runtime: rcodesign reads team $TEAM, no hardened-runtime flag (a library)" \
    bash -c '[[ $1 == "$2" && $3 != *RUNTIME* ]]' _ "$(signature_field "$cert/libmsty_mlx_runtime.dylib" team_name)" "$TEAM" "$(signature_field "$cert/libmsty_mlx_runtime.dylib" flags)"
res=$gate/signed-resources/Resources
make_resources "$res"
python_hosts() { "$bundler" verify --sign-list --roles --libpython "$stand_in" "$1" | awk -F '\t' -v r="$1/" '$1 == "python-host" { sub(r, "", $2); print $2 }' | sort | paste -sd ' '; }
check "Resources: the sign list's python hosts are the launcher and python/bin/python$XY (python3's target)" \
    test "$(python_hosts "$res")" = "mlxk2/msty-mlx-studio python/bin/python$XY"
check "Resources: python.o (MH_OBJECT) is not on the sign list" \
    bash -c '! "$1" verify --sign-list --libpython "$2" "$3" | grep -q "/python\.o$"' _ "$bundler" "$stand_in" "$res"
warned() { "$bundler" verify --libpython "$stand_in" "$res" | grep -c -e "^warning: object-file: .*/python\.o: " -e "^warning: python-build-files: .*/config-$XY-darwin: "; }
check "Resources: verify warns about python.o (object-file) and config-$XY-darwin/ (python-build-files)" test "$(warned)" = 2
answered=$(tsa_answers)
sign_tree "$res" "${developer_id[@]}"
check "Resources tree signed with a Developer ID, time-stamped by the local server: clean with --release" signed_report "$res" 0 "f == []" --release
slices() { local role f n=0; while IFS=$'\t' read -r role f; do n=$((n + $(llvm-lipo-14 -archs "$f" | wc -w))); done <"$gate/sign-list.txt"; echo "$n"; }
n_slices=$(slices)
check "the local time-stamp server answered one query per signature: $n_slices slices of $(wc -l <"$gate/sign-list.txt") files" \
    test "$(($(tsa_answers) - answered))" -eq "$n_slices"
check "launcher: rcodesign reads the time-stamp token it embedded" \
    bash -c '"$1" print-signature-info "$2" | grep -q "time_stamp_token"' _ "$rcodesign" "$res/mlxk2/$(basename "$launcher")"
# Planted on the real files: a changed byte of libmlx; a library of another team; libpython
# without a secure timestamp; the runtime signed with an Apple Development certificate; the
# interpreter file re-linked and signed without the entitlements (what a hook that gave them
# only to a path ending in bin/python3 did).
libmlx=$res/mlxk2/_vendor/mlx/lib/libmlx.dylib
printf '\xff' | dd of="$libmlx" bs=1 seek=20000 conv=notrunc status=none
"$rcodesign" sign --pem-file "$gate/other-team.pem" --team-name OTHERTEAM2 --timestamp-url "$tsa_url" \
    "$res/mlxk2/_vendor/mlx/lib/libjaccl.dylib" >>"$gate/rcodesign.log" 2>&1
"$rcodesign" sign --pem-file "$gate/developer-id.pem" --team-name "$TEAM" --timestamp-url none \
    "$res/python/lib/libpython$XY.dylib" >>"$gate/rcodesign.log" 2>&1
"$rcodesign" sign --pem-file "$gate/apple-development.pem" --team-name "$TEAM" --timestamp-url "$tsa_url" \
    "$res/mlxk2/libmsty_mlx_runtime.dylib" >>"$gate/rcodesign.log" 2>&1
cp "$gate/python-src/python$XY" "$res/python/bin/python$XY.new" && mv "$res/python/bin/python$XY.new" "$res/python/bin/python$XY"
"$rcodesign" sign --code-signature-flags runtime "${developer_id[@]}" "$res/python/bin/python$XY" >>"$gate/rcodesign.log" 2>&1
check "planted: libmlx changed, libjaccl of another team, libpython untimestamped, the runtime by Apple Development, python$XY without entitlements" \
    signed_report "$res" 1 "sorted((x['kind'], x['path'].split('/Resources/')[-1]) for x in f) == [('missing-entitlement', 'python/bin/python$XY')] * 2 + [('modified-after-signing', 'mlxk2/_vendor/mlx/lib/libmlx.dylib'), ('no-secure-timestamp', 'python/lib/libpython$XY.dylib'), ('not-developer-id', 'mlxk2/libmsty_mlx_runtime.dylib'), ('team-id-mix', '$res')]" --release
t_signed=$SECONDS

echo "--- llvm-otool-14 -l excerpts"
for f in "$launcher" "$runtime"; do
    echo "$(basename "$f"): $(header "$f" | awk '{ print $2, $5, "ncmds", $6, "sizeofcmds", $7 }'); minos $(minos "$f"); headerpad $(headerpad "$f") bytes"
    loads "$f" | sed 's/^/    LC_LOAD_DYLIB /'
    rpaths "$f" | sed 's/^/    LC_RPATH /'
    has_cmd "$f" LC_CODE_SIGNATURE && echo "    LC_CODE_SIGNATURE"
done
echo "time: tools $((t_ready - t0)) s, bundle $((t_bundle - t_ready)) s, checks $((t_checks - t_bundle)) s, signing $((t_signed - t_checks)) s, total $((SECONDS - t0)) s"
echo "macos-gate: $passed passed, $failed failed"
((failed == 0))
# Passed: the signed copies (~0.7 GB each) go; the dist dir stays for inspection, as the main
# job's bundle does. A failed gate keeps everything.
rm -rf "$adhoc" "$cert" "$gate/signed-resources"

//! The macOS link stubs for builds elsewhere: a minimal SDK (`usr/lib/*.tbd`) that rust-lld
//! links against, made from the libSystem stubs of the pinned `ziglang` wheel (installed with
//! `--require-hashes`, the file checked against its pinned SHA-256) with the architectures this
//! linker does not know (`arm64e.x1`) left out and `arm64e` read as `arm64`, plus a
//! `libiconv.tbd` of our own (Rust's std links `-liconv`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use fs_err as fs;

use crate::tools;

/// The pinned ziglang whose stubs are used.
pub const ZIG_PIN: &str = "0.17.1";

/// What to do when the stubs cannot be had here.
pub const ELSEWHERE: &str = "or build them on a Mac, add them to a kit (kit add) and pass --launcher-kit DIR";

/// The stub SDK (for `SDKROOT`) and the manifest's note on it.
pub struct Sdk {
    pub root: PathBuf,
    /// `libSystem stubs of ziglang 0.17.1 (sha256 …)`.
    pub note: String,
}

/// `<tools>/zig-<pin>/macos-sdk/`, made once (ziglang installed first when missing).
pub fn sdk(note: &dyn Fn(String)) -> Result<Sdk> {
    let pins = tools::zig_pins()
        .ok_or_else(|| anyhow!("ziglang is pinned for Linux x86_64 and macOS arm64 hosts only; {ELSEWHERE}"))?;
    let tbd = pins.binaries[0];
    let cache = tools::tools_dir()
        .ok_or_else(|| anyhow!("zig is needed to link for macOS and there is no usable cache directory to install it into (HOME unset, or the cache refused: see the warning above); set HOME, {ELSEWHERE}"))?;
    let dir = cache.join(format!("zig-{ZIG_PIN}"));
    let installed = tools::check_binary(&dir.join(tbd.path), &tbd);
    let digest = if let Ok(digest) = installed {
        digest
    } else {
        let _ = std::fs::remove_dir_all(&dir);
        let host = super::find_on_path("python3")
            .ok_or_else(|| anyhow!("zig is needed to link for macOS: `{}` is empty and there is no python3 on PATH to install {} with; install python3 with pip, {ELSEWHERE}", dir.display(), pins.wheels))?;
        note(format!("installing {} (--require-hashes) into `{}` (once)", pins.wheels, dir.display()));
        tools::pip_install_pinned(&host, &dir, &pins)
            .map_err(|e| anyhow!("zig is needed to link for macOS and {e:#}; let pip reach PyPI, {ELSEWHERE}"))?;
        tools::check_binary(&dir.join(tbd.path), &tbd)
            .map_err(|why| anyhow!("{why}; remove `{}` to have it installed again", dir.display()))?
    };
    let root = dir.join("macos-sdk");
    if !root.join("usr/lib/libSystem.tbd").is_file() {
        write_sdk(&dir.join(tbd.path), &root)?;
    }
    Ok(Sdk { root, note: format!("libSystem stubs of ziglang {ZIG_PIN} (sha256 {digest})") })
}

/// Writes the stub SDK next to `root` and renames it into place (concurrent builds: the first
/// wins, the others' rename fails harmlessly).
fn write_sdk(tbd: &Path, root: &Path) -> Result<()> {
    let text = fs::read_to_string(tbd)?;
    let tmp = root.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let lib = tmp.join("usr/lib");
    fs::create_dir_all(&lib)?;
    let system = for_lld(&text);
    for name in ["libSystem.tbd", "libc.tbd", "libm.tbd"] {
        fs::write(lib.join(name), &system)?;
    }
    fs::write(lib.join("libiconv.tbd"), LIBICONV)?;
    fs::write(tmp.join("SDKSettings.json"), "{\"Version\":\"11.0\"}\n")?;
    if std::fs::rename(&tmp, root).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
        if !root.join("usr/lib/libSystem.tbd").is_file() {
            return Err(anyhow!("cannot make the macOS stub SDK `{}`", root.display()));
        }
    }
    Ok(())
}

/// The stubs as ld64.lld reads them: in every `[ … ]` list, no `arm64e.x1-*` targets and
/// `arm64e-*` as `arm64-*` (lists that spanned lines are written on one).
fn for_lld(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find(']').map(|c| open + c) else { break };
        out.push_str(&rest[..open]);
        let items: Vec<String> = rest[open + 1..close]
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty() && !item.starts_with("arm64e.x1-"))
            .map(|item| item.replace("arm64e-", "arm64-"))
            .collect();
        out.push_str(&format!("[ {} ]", items.join(", ")));
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// Rust's std links `-liconv` on macOS; its stub (`/usr/lib/libiconv.2.dylib` on every macOS).
const LIBICONV: &str = "--- !tapi-tbd
tbd-version:     4
targets:         [ x86_64-macos, arm64-macos ]
install-name:    '/usr/lib/libiconv.2.dylib'
current-version: 7
compatibility-version: 7
exports:
  - targets:         [ x86_64-macos, arm64-macos ]
    symbols:         [ _iconv, _iconv_close, _iconv_open ]
...
";

/// `rust-lld` of the toolchain that builds (`<sysroot>/lib/rustlib/<host>/bin/rust-lld`).
pub fn rust_lld(host: &str) -> Result<PathBuf> {
    let rustc = crate::cargo::rustc_program();
    let out = std::process::Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .with_context(|| format!("cannot run `{}`", rustc.display()))?;
    let lld =
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join(format!("lib/rustlib/{host}/bin/rust-lld"));
    if !lld.is_file() {
        return Err(anyhow!(
            "`{}` is missing: the Rust toolchain links for macOS with its own rust-lld (rustup component llvm-tools is not needed; reinstall the toolchain), {ELSEWHERE}",
            lld.display()
        ));
    }
    Ok(lld)
}

#[cfg(test)]
mod tests {
    #[test]
    fn unknown_architectures_are_dropped_and_arm64e_reads_as_arm64() {
        let text = "targets:         [ x86_64-macos, arm64e-macos, arm64e.x1-macos, arm64e.x1-maccatalyst ]\n  - targets: [ arm64e.x1-macos, arm64e-macos ]\n";
        assert_eq!(
            super::for_lld(text),
            "targets:         [ x86_64-macos, arm64-macos ]\n  - targets: [ arm64-macos ]\n"
        );
    }
}

//! The release under test (`MSTY_RELEASE_DIR`), the packager's fresh venv with the Linux wheel
//! installed, and the real stack's wheelhouse.

pub use msty_mlx_testkit::*;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// `MSTY_RELEASE_DIR`: an OUT_DIR of `bash packaging/release.sh OUT_DIR`.
pub fn release_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::var_os("MSTY_RELEASE_DIR").map(PathBuf::from).unwrap_or_else(|| {
            panic!("these tests need the release artefacts: set MSTY_RELEASE_DIR to an OUT_DIR of `bash packaging/release.sh OUT_DIR` (run-all.sh builds one)")
        });
        assert!(dir.join("SHA256SUMS").is_file(), "`{}` holds no SHA256SUMS: not a release.sh output", dir.display());
        dir
    })
}

/// The one artefact of the release whose name ends with `suffix`.
pub fn artefact(suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = fs::read_dir(release_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(found.len(), 1, "one `*{suffix}` in `{}`: {found:?}", release_dir().display());
    found.into_iter().next().unwrap()
}

pub fn linux_wheel() -> PathBuf {
    artefact("_x86_64.whl")
}

pub fn macos_wheel() -> PathBuf {
    artefact("_arm64.whl")
}

/// The packager's PATH: the venv's scripts and the system's, nothing of Rust or zig.
pub fn packager_path(bin: &Path) -> String {
    format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display())
}

/// Rust's tools and zig: none may be on the packager's PATH (a C compiler may be: this
/// machine's is in /usr/bin, and the trace proves it never runs).
pub const NOT_ON_PATH: &[&str] = &["cargo", "rustc", "rustup", "zig"];

/// Compilers and linkers: none may run.
pub const COMPILERS: &[&str] = &[
    "cargo", "rustc", "rustup", "zig", "cc", "gcc", "c++", "g++", "clang", "ld", "ld.lld", "rust-lld", "collect2",
    "cc1", "as",
];

/// A fresh venv (the host CPython's `venv`) with the Linux wheel installed by pip; `bin`.
pub struct Packager {
    pub venv: PathBuf,
    pub bin: PathBuf,
}

impl Packager {
    /// `build-external-python` from the venv, with only the packager's environment.
    pub fn bundler(&self, cwd: &Path) -> Command {
        let mut cmd = Command::new(self.bin.join("build-external-python"));
        self.env(&mut cmd, cwd);
        cmd
    }

    pub fn env(&self, cmd: &mut Command, cwd: &Path) {
        let tmp = cwd.join(".tmp");
        fs::create_dir_all(&tmp).unwrap();
        cmd.env_clear()
            .env("PATH", packager_path(&self.bin))
            .env("HOME", dirs::home_dir().unwrap())
            .env("LANG", "C.UTF-8")
            .env("TMPDIR", &tmp)
            .current_dir(cwd);
        // What a packager's shell has for the network: the CA bundle and proxies.
        for var in [
            "SSL_CERT_FILE",
            "SSL_CERT_DIR",
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "NO_PROXY",
            "no_proxy",
        ] {
            if let Some(value) = std::env::var_os(var) {
                cmd.env(var, value);
            }
        }
    }
}

pub fn packager() -> &'static Packager {
    static PACKAGER: OnceLock<Packager> = OnceLock::new();
    PACKAGER.get_or_init(|| {
        kept(|| {
            let venv = scratch("packager-venv");
            run_ok(Command::new(&host_python().executable).args(["-I", "-m", "venv"]).arg(&venv));
            let bin = venv.join("bin");
            let path = packager_path(&bin);
            for dir in std::env::split_paths(&path) {
                for compiler in NOT_ON_PATH {
                    assert!(!dir.join(compiler).exists(), "the packager's PATH has `{}`", dir.join(compiler).display());
                }
            }
            run_ok(pip(&bin.join("python"), "install").arg("--no-index").arg(linux_wheel()));
            Packager { venv, bin }
        })
    })
}

/// The files under `dir`, relative, sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    tree(dir)
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| p.strip_prefix(dir).unwrap().to_string_lossy().into_owned())
        .collect()
}

/// The members of a wheel (zip), with their bytes.
pub fn wheel_members(wheel: &Path) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(fs::File::open(wheel).unwrap()).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut f = zip.by_index(i).unwrap();
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes).unwrap();
            (f.name().unwrap().to_string(), bytes)
        })
        .collect()
}

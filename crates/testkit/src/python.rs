//! The host CPython the bundles are made from (`MLXK2_TEST_PYTHON`, else `PYO3_PYTHON`, else
//! `python3`), and its X.Y read at run time: one test build serves every CPython.

use std::ffi::OsStr;
use std::fmt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The test Python's X.Y (`3.11`), read from the interpreter at run time: one test build serves
/// every CPython. Derefs to `str`.
#[derive(Clone, Copy)]
pub struct Xy;

pub static XY: Xy = Xy;

impl std::ops::Deref for Xy {
    type Target = str;
    fn deref(&self) -> &str {
        &host_python().xy
    }
}

impl fmt::Display for Xy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

impl fmt::Debug for Xy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl PartialEq<&str> for Xy {
    fn eq(&self, other: &&str) -> bool {
        **self == **other
    }
}

impl PartialEq<Xy> for serde_json::Value {
    fn eq(&self, other: &Xy) -> bool {
        self.as_str() == Some(&**other)
    }
}

impl AsRef<OsStr> for Xy {
    fn as_ref(&self) -> &OsStr {
        OsStr::new(&**self)
    }
}

/// The host CPython the bundles are made from.
#[derive(Debug)]
pub struct HostPython {
    pub executable: PathBuf,
    pub prefix: PathBuf,
    pub version: String,
    pub xy: String,
    pub libdir: PathBuf,
    pub ldlibrary: String,
}

pub fn host_python() -> &'static HostPython {
    static HOST: OnceLock<HostPython> = OnceLock::new();
    HOST.get_or_init(|| {
        let exe = std::env::var_os("MLXK2_TEST_PYTHON")
            .or_else(|| std::env::var_os("PYO3_PYTHON"))
            .unwrap_or_else(|| "python3".into());
        let out = Command::new(&exe)
            .args(["-I", "-c", "import sys, sysconfig; print(sys.base_prefix); print('%d.%d.%d' % sys.version_info[:3]); print(sysconfig.get_config_var('LIBDIR')); print(sysconfig.get_config_var('INSTSONAME')); print(sys.executable)"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run host python {exe:?}: {e}"));
        assert!(out.status.success(), "host python {exe:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        HostPython {
            prefix: lines[0].into(),
            xy: lines[1].split('.').take(2).collect::<Vec<_>>().join("."),
            version: lines[1].into(),
            libdir: lines[2].into(),
            ldlibrary: lines[3].into(),
            executable: lines[4].into(),
        }
    })
}

/// `python -I -m pip <command> --quiet --disable-pip-version-check`, for the rest of the arguments.
pub fn pip(python: &std::path::Path, command: &str) -> Command {
    let mut cmd = Command::new(python);
    cmd.args(["-I", "-m", "pip", command, "--quiet", "--disable-pip-version-check"]);
    cmd
}

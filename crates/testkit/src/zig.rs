//! Tools that make and read Mach-O files on Linux: zig's C compiler (the `ziglang` wheel) for
//! linking them, Debian's LLVM 14 for reading and editing them. Nothing Mach-O runs here.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::{host_python, pip, run_ok};

/// The `ziglang` wheel the tests link Mach-O files with (the bundler's pin).
const ZIGLANG: &str = "ziglang==0.17.1";

/// A Debian LLVM 14 tool, e.g. `llvm("lipo")` → `/usr/bin/llvm-lipo-14`.
pub fn llvm(tool: &str) -> PathBuf {
    let path = PathBuf::from(format!("/usr/bin/llvm-{tool}-14"));
    assert!(path.exists(), "`{}` is missing: apt-get install llvm-14", path.display());
    path
}

/// `python -m ziglang cc`; installs the ziglang wheel first when it is missing.
pub fn zig_cc() -> Command {
    static READY: OnceLock<()> = OnceLock::new();
    let python = &host_python().executable;
    READY.get_or_init(|| {
        let present =
            Command::new(python).args(["-I", "-m", "ziglang", "version"]).output().is_ok_and(|o| o.status.success());
        if !present {
            run_ok(pip(python, "install").arg(ZIGLANG));
        }
    });
    let mut cmd = Command::new(python);
    cmd.args(["-I", "-m", "ziglang", "cc"]);
    cmd
}

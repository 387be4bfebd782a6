//! `python -m msty_mlx_studio …` is `build-external-python …`: the same arguments, output and
//! exit code (the module `exec`s the binary installed with it), from the packager's venv and
//! from a `pip install --target` directory; a missing binary is one line, not a traceback.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::harness::*;

/// `python -m msty_mlx_studio ARGS` with the packager's environment (and `PYTHONPATH`).
fn via_module(python: &Path, cwd: &Path, pythonpath: Option<&Path>, args: &[&str]) -> Run {
    let mut cmd = Command::new(python);
    packager().env(&mut cmd, cwd);
    if let Some(dir) = pythonpath {
        cmd.env("PYTHONPATH", dir);
    }
    run(cmd.args(["-m", "msty_mlx_studio"]).args(args))
}

#[test]
fn python_dash_m_is_the_installed_bundler_with_its_arguments_output_and_exit_code() {
    let p = packager();
    let cwd = scratch("python-m");
    let spaced = cwd.join("a kit with spaces");
    let spaced = spaced.to_str().unwrap();
    for (args, code) in [(&["kit", "check"][..], 0), (&["kit", "check", spaced][..], 3), (&["--no-such-flag"][..], 2)] {
        let direct = run(p.bundler(&cwd).args(args));
        let module = via_module(&p.bin.join("python"), &cwd, None, args);
        assert_eq!(direct.code, Some(code), "{args:?}: {}", direct.stderr());
        assert_eq!(module.code, direct.code, "{args:?}: {}", module.stderr());
        assert_eq!(module.stdout(), direct.stdout(), "{args:?}");
        assert_eq!(module.stderr(), direct.stderr(), "{args:?}");
    }

    // `pip install --target DIR`: the binary is DIR/bin, the kit DIR/share (it was looked for
    // three levels above the package, and the miss was a Python traceback).
    let target = scratch("pip-target");
    run_ok(pip(&host_python().executable, "install").args(["--no-index", "--target"]).arg(&target).arg(linux_wheel()));
    let r = via_module(&host_python().executable, &cwd, Some(&target), &["kit", "check"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let kit = target.join("share/msty-mlx-studio/kit");
    assert!(r.stdout().starts_with(&format!("kit `{}`: ", kit.display())), "{}", r.stdout());

    fs::remove_file(target.join("bin/build-external-python")).unwrap();
    let r = via_module(&host_python().executable, &cwd, Some(&target), &["kit", "check"]);
    assert_eq!(r.code, Some(1), "{}", r.stderr());
    let stderr = r.stderr();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", r.stderr());
    assert!(
        lines[0].starts_with("python -m msty_mlx_studio: error: build-external-python is not in ")
            && lines[0].contains(&target.join("bin").display().to_string()),
        "{}",
        lines[0]
    );
}

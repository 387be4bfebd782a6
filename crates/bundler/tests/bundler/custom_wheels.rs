//! Issue 4: custom mlx and mlx-lm wheels (a project's `scripts/`, `MLX_WHEEL`, `MLX_LM_WHEEL`)
//! replace the PyPI pins, and one that cannot be imported fails the sanity check.

use std::fs;
use std::process::Command;

use crate::harness::*;

#[test]
fn custom_wheels_override_pypi_pins() {
    let tree = project("custom-tree");
    let wh = wheelhouse();
    fs::create_dir_all(tree.join("scripts")).unwrap();
    fs::copy(&wh.custom_mlx, tree.join("scripts/mlx-custom.whl")).unwrap();
    fs::write(tree.join("requirements.txt"), "mlx==0.29.3  # the PyPI pin the custom wheel replaces\npthdemo>=1.0\n")
        .unwrap();
    // Auto-detected from scripts/ in the project (cwd).
    let r = run(quick(&tree).args(["--requirements", "requirements.txt"]));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let out = tree.join("dist-ext-python/msty-mlx-studio");
    let vendor = out.join("_vendor");
    let mlx_infos: Vec<String> = fs::read_dir(&vendor)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("mlx-"))
        .collect();
    assert_eq!(mlx_infos, ["mlx-0.30.0.dist-info"], "one dist-info for mlx");
    let m = manifest(&out);
    assert_eq!(m["custom_wheels"][0]["file"], "mlx-custom.whl");
    assert_eq!(m["custom_wheels"][0]["version"], "0.30.0");
    let sha = run_ok(Command::new("sha256sum").arg(&wh.custom_mlx)).stdout;
    assert_eq!(m["custom_wheels"][0]["sha256"], String::from_utf8_lossy(&sha).split_whitespace().next().unwrap());
    assert_eq!(fs::read_to_string(vendor.join("mlx/core.py")).unwrap(), "__version__ = \"0.30.0\"\n");

    // MLX_WHEEL from the environment, to a wheel that cannot be imported: the sanity check fails
    // the build and shows the report; nothing lands at the output path.
    let cwd = scratch("custom-env");
    let mut cmd = quick(&cwd);
    cmd.arg("--project").arg(&tree).env("MLX_WHEEL", &wh.raising_mlx);
    let r = run(&mut cmd);
    assert_bundler_error(&r, "the bundle fails --check-mlx-stack: import mlx.core: ImportError: libmlx.so");
    assert!(r.stderr().contains("\"checks\""), "the report is shown: {}", r.stderr());
    assert!(!cwd.join("dist-ext-python/msty-mlx-studio").exists());
}

#[test]
fn custom_mlx_lm_wheel_from_the_environment() {
    let cwd = scratch("custom-lm");
    let mut cmd = quick(&cwd);
    cmd.arg("--project").arg(project("custom-lm-tree")).env("MLX_LM_WHEEL", &wheelhouse().custom_mlx_lm);
    let r = run(&mut cmd);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let out = cwd.join("dist-ext-python/msty-mlx-studio");
    let infos: Vec<String> = fs::read_dir(out.join("_vendor"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("mlx_lm-"))
        .collect();
    assert_eq!(infos, ["mlx_lm-0.29.0.dist-info"]);
    assert_eq!(manifest(&out)["custom_wheels"][0]["project"], "mlx-lm");
    assert_eq!(manifest(&out)["custom_wheels"][0]["file"], "mlx-lm-custom.whl");
    let b = assemble(&out, "msty-mlx-studio");
    assert_eq!(run(b.launcher().arg("--check-mlx-stack")).json()["mlx_lm"]["version"], "0.29.0");
}

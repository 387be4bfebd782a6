//! Issue 4: the output path — `--clean` needed to replace a bundle and refused for dangerous
//! targets, a failed build that changes nothing there, leftovers of an interrupted one swept.

use std::fs;

use crate::harness::*;

#[test]
fn existing_output_needs_clean_and_clean_replaces_it() {
    let tree = project("clean-tree");
    let cwd = scratch("clean");
    assert_eq!(run(quick(&cwd).arg("--project").arg(&tree)).code, Some(0));
    let out = cwd.join("dist-ext-python/msty-mlx-studio");
    let before = contents(&out);
    let r = run(quick(&cwd).arg("--project").arg(&tree));
    assert_bundler_error(&r, "already exists; pass --clean");
    assert_eq!(contents(&out), before);
    let mut cmd = quick(&cwd);
    cmd.arg("--project").arg(&tree).args(["--version-stamp", "2.0.0"]).env("CLEAN", "1");
    let r = run(&mut cmd);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert_eq!(manifest(&out)["mlxk2_version"], "2.0.0");
}

#[test]
fn clean_refuses_dangerous_targets() {
    let tree = project("refuse-tree");
    let parent = tree.parent().unwrap().to_path_buf();
    // The project root itself.
    let r = run(quick(&parent)
        .arg("--project")
        .arg(&tree)
        .args(["--clean", "--dist-dir"])
        .arg(&parent)
        .args(["--bin-name", "mlx-knife"]));
    assert_bundler_error(&r, "refusing to --clean");
    assert!(tree.join("pyproject.toml").exists());
    // $HOME.
    let home = scratch("fake-home");
    let mut cmd = quick(&parent);
    cmd.arg("--project")
        .arg(&tree)
        .args(["--clean", "--dist-dir"])
        .arg(home.parent().unwrap())
        .arg("--bin-name")
        .arg(home.file_name().unwrap())
        .env("HOME", &home);
    assert_bundler_error(&run(&mut cmd), "it is $HOME");
    // A symlink in the dist dir that leads outside it.
    let dist = scratch("dist-link");
    let victim = scratch("victim");
    fs::write(victim.join("keep"), "x").unwrap();
    std::os::unix::fs::symlink(&victim, dist.join("msty-mlx-studio")).unwrap();
    let r = run(quick(&parent).arg("--project").arg(&tree).arg("--clean").arg("--dist-dir").arg(&dist));
    assert_bundler_error(&r, "is not inside the dist dir");
    assert!(victim.join("keep").exists());
}

#[test]
fn a_failed_build_changes_nothing_at_the_output_path() {
    let tree = project("atomic-tree");
    let cwd = scratch("atomic");
    assert_eq!(run(quick(&cwd).arg("--project").arg(&tree)).code, Some(0));
    let dist = cwd.join("dist-ext-python");
    let before = contents(&dist);
    fs::write(tree.join("reqs.txt"), "no-such-package-anywhere==1.0\n").unwrap();
    let r = run(quick(&cwd).arg("--project").arg(&tree).args(["--clean", "--requirements"]).arg(tree.join("reqs.txt")));
    assert_bundler_error(&r, "uv pip install failed");
    assert!(r.stderr().contains("no-such-package-anywhere"), "{}", r.stderr());
    assert_eq!(contents(&dist), before, "output or temporary files changed");
}

#[test]
fn leftovers_of_an_interrupted_build_are_swept() {
    let cwd = scratch("sweep");
    let dist = cwd.join("dist-ext-python");
    // pid 999999999 cannot exist (pid_max is at most 2^22).
    let stale = dist.join(".msty-mlx-studio.tmp-999999999");
    fs::create_dir_all(stale.join("_vendor")).unwrap();
    fs::write(stale.join("_vendor/half-written"), "x").unwrap();
    let r = run(quick(&cwd).arg("--project").arg(project("sweep-tree")));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert!(!stale.exists());
    let names: Vec<String> =
        fs::read_dir(&dist).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(names, ["msty-mlx-studio"]);
}

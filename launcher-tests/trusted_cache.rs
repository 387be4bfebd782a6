//! Issue 21: nothing outside the signed bundle puts code into the launcher. Another local user
//! (here: root, the test process) plants a pyc for `_vendor/mlxk2/cli.py` whose header matches
//! the real source, in every way the per-user bytecode cache could be reached; the launcher runs
//! as `nobody` (uid 65534). The planted code never runs, mlxk2 runs normally, the debug log,
//! `--python-info` and the children's environment say there is no cache and why. A control
//! run shows the same plant does run from a cache the launcher trusts. Needs root (setpriv,
//! chown); fails, never skips, without it (CI runs as root).

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::harness::*;

const NOBODY: u32 = 65534;
const PLANTED: &str = "PLANTED-CODE-RAN";

/// Why these tests need root.
const AS_NOBODY: &str = "the trusted-cache tests plant files as another user and run the launcher as `nobody`";

/// `cmd` (a clean command) run as `nobody`, with `XDG_CACHE_HOME` = `cache_root`.
fn as_nobody(cmd: &Command, cache_root: &Path) -> Command {
    let mut w = Command::new("setpriv");
    w.args([format!("--reuid={NOBODY}"), format!("--regid={NOBODY}"), "--clear-groups".into(), "--".into()]);
    w.arg(cmd.get_program()).args(cmd.get_args()).env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            w.env(k, v);
        }
    }
    w.env("XDG_CACHE_HOME", cache_root);
    if let Some(dir) = cmd.get_current_dir() {
        w.current_dir(dir);
    }
    w
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid)).unwrap();
}

/// The leaf name (`<bundle id>-py3.X`) of `b`'s cache, as `--python-info` plans it.
fn leaf_name(b: &Bundle) -> String {
    let root = scratch("trusted-leaf");
    let j = run(b.launcher().env("XDG_CACHE_HOME", &root).arg("--python-info")).json();
    let prefix = PathBuf::from(j["bytecode"]["pycache_prefix"].as_str().expect("a planned prefix"));
    prefix.file_name().unwrap().to_str().unwrap().to_string()
}

/// Writes into `prefix` (a pycache prefix) a valid pyc for `b`'s `_vendor/mlxk2/cli.py`: its
/// header carries the real source's mtime and size, its code prints [`PLANTED`] and replaces
/// `main`. Compiled by the bundle's own CPython (the magic number is per X.Y).
fn plant(b: &Bundle, prefix: &Path) -> PathBuf {
    const PLANT: &str = r#"
import importlib._bootstrap_external as be, importlib.util, os, sys
prefix, src, marker = sys.argv[1:4]
sys.pycache_prefix = prefix
target = importlib.util.cache_from_source(src)
st = os.stat(src)
code = compile("import sys\nprint(%r, flush=True)\nsys.stderr.write(%r)\ndef main():\n    print(%r)\n    return 0\n" % (marker, marker + "\n", marker), src, "exec")
os.makedirs(os.path.dirname(target), exist_ok=True)
with open(target, "wb") as f:
    f.write(be._code_to_timestamp_pyc(code, st.st_mtime, st.st_size))
print(target, end="")
"#;
    let out = run_ok(
        clean_command(&b.python3())
            .args(["-I", "-B", "-c", PLANT])
            .arg(prefix)
            .arg(b.vendor().join("mlxk2/cli.py"))
            .arg(PLANTED),
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap())
}

/// Every directory from `top` down to (and including) `to` gets `uid` as owner and `mode`.
fn own_chain(top: &Path, to: &Path, uid: u32, mode: u32) {
    let mut dir = to.to_path_buf();
    loop {
        chown(&dir, uid);
        chmod(&dir, mode);
        if dir == top {
            break;
        }
        assert!(dir.pop() && dir.starts_with(top));
    }
}

/// Runs the launcher (as `nobody` unless `as_root`) with cache root `root`; asserts mlxk2 ran
/// normally, the planted code did not (or did, for the control), and returns the debug log and
/// `report`'s JSON.
fn observe(b: &Bundle, root: &Path, as_root: bool, planted_runs: bool) -> (String, Value) {
    let command = |args: &[&str]| {
        let mut c = b.launcher();
        c.args(args).env("MLXK2_LAUNCHER_LOG", "debug");
        if as_root {
            c.env("XDG_CACHE_HOME", root);
            c
        } else {
            as_nobody(&c, root)
        }
    };
    let r = run(&mut command(&["print", "hello ✓"]));
    let text = format!("{}{}", r.stdout(), r.stderr());
    if planted_runs {
        assert!(text.contains(PLANTED), "control: the plant did not run from a trusted cache:\n{text}");
        return (text, Value::Null);
    }
    assert!(!text.contains(PLANTED), "the planted pyc ran:\n{text}");
    assert_eq!((r.code, r.stdout()), (Some(0), "hello ✓\n".to_string()), "{}", r.stderr());
    let report = run(&mut command(&["report"]));
    assert!(!report.stdout().contains(PLANTED) && !report.stderr().contains(PLANTED));
    assert_eq!(report.code, Some(0), "{}", report.stderr());
    (r.stderr(), report.json())
}

/// The decision "no cache, and why", everywhere it shows: debug log, `sys.pycache_prefix`,
/// the environment of children (the serve-worker pattern: a new session, `os.environ` copied)
/// and `--python-info`.
fn assert_no_cache(b: &Bundle, root: &Path, log: &str, report: &Value, why: &str) {
    let line =
        log.lines().find(|l| l.contains("bytecode cache untrusted")).unwrap_or_else(|| panic!("no debug line:\n{log}"));
    assert!(line.contains(why) && line.contains("running without a bytecode cache"), "{why:?} not in: {line}");
    assert_eq!(log.lines().filter(|l| l.contains("bytecode cache")).count(), 1, "one line:\n{log}");
    assert_eq!(report["pycache_prefix"], Value::Null);
    assert_eq!(report["dont_write_bytecode"], true);
    assert_eq!(report["env"]["PYTHONDONTWRITEBYTECODE"], "1");
    assert!(report["env"].get("PYTHONPYCACHEPREFIX").is_none(), "{}", report["env"]);
    let worker = run(&mut as_nobody(b.launcher().arg("worker"), root));
    assert_eq!(worker.code, Some(0), "{}", worker.stderr());
    assert!(!worker.stdout().contains(PLANTED));
    let w = worker.json();
    assert_eq!(w["env"]["PYTHONDONTWRITEBYTECODE"], "1", "the worker follows the launcher's decision");
    assert!(w["env"].get("PYTHONPYCACHEPREFIX").is_none() && w["pycache_prefix"] == Value::Null, "{}", w["env"]);
    let info = run(&mut as_nobody(b.launcher().arg("--python-info"), root));
    assert_eq!(info.code, Some(0), "{}", info.stderr());
    let bytecode = &info.json()["bytecode"];
    assert_eq!(bytecode["pycache_prefix"], Value::Null, "{bytecode}");
    let reason = bytecode["no_cache_reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("bytecode cache untrusted: ") && reason.contains(why), "{bytecode}");
}

/// A cache root every user shares (`1777`, like `/tmp`), readable by nobody's launcher.
fn shared_sticky_root(name: &str) -> PathBuf {
    let root = scratch(name).join("shared");
    fs::create_dir(&root).unwrap();
    chmod(&root, 0o1777);
    root
}

/// A cache root that belongs to `nobody`.
fn nobody_root(name: &str) -> PathBuf {
    let root = scratch(name).join("nobody-cache");
    fs::create_dir(&root).unwrap();
    own_chain(&root, &root, NOBODY, 0o700);
    root
}

fn chain(root: &Path, leaf: &str) -> PathBuf {
    root.join("msty-mlx-studio/pycache").join(leaf)
}

/// Control: the plant is a valid attack. Put in a chain the launcher trusts (root's own,
/// 0700, run as root), it runs.
#[test]
fn control_the_plant_runs_from_a_trusted_cache() {
    require_root(AS_NOBODY);
    let b = Bundle::copy("trusted-control");
    let root = scratch("trusted-control-root");
    let prefix = chain(&root, &leaf_name(&b));
    plant(&b, &prefix);
    own_chain(&root.join("msty-mlx-studio"), &prefix, 0, 0o700);
    observe(&b, &root, true, true);
}

/// Another user pre-creates the whole chain in a shared sticky cache root and plants a pyc.
#[test]
fn a_planted_chain_in_a_shared_sticky_root() {
    require_root(AS_NOBODY);
    let b = Bundle::copy("trusted-sticky");
    let root = shared_sticky_root("trusted-sticky-root");
    let prefix = chain(&root, &leaf_name(&b));
    plant(&b, &prefix);
    own_chain(&root.join("msty-mlx-studio"), &prefix, 0, 0o755);
    let (log, report) = observe(&b, &root, false, false);
    let why =
        format!("`{}` is owned by uid 0, not by this user (uid {NOBODY})", root.join("msty-mlx-studio").display());
    assert_no_cache(&b, &root, &log, &report, &why);
}

/// A symlink in the chain pointing into a directory another user owns (which holds a planted
/// chain): at the top of the chain in a shared root, and at the leaf of nobody's own chain.
#[test]
fn a_symlink_in_the_chain() {
    require_root(AS_NOBODY);
    let b = Bundle::copy("trusted-symlink");
    let leaf = leaf_name(&b);
    let elsewhere = scratch("trusted-symlink-attacker");
    let attacker_prefix = chain(&elsewhere, &leaf);
    plant(&b, &attacker_prefix);
    chmod(&elsewhere, 0o755);

    let shared = shared_sticky_root("trusted-symlink-shared");
    std::os::unix::fs::symlink(elsewhere.join("msty-mlx-studio"), shared.join("msty-mlx-studio")).unwrap();
    let (log, report) = observe(&b, &shared, false, false);
    assert_no_cache(
        &b,
        &shared,
        &log,
        &report,
        &format!("`{}` is a symlink (not followed)", shared.join("msty-mlx-studio").display()),
    );

    let own = nobody_root("trusted-symlink-own");
    let prefix = chain(&own, &leaf);
    fs::create_dir_all(prefix.parent().unwrap()).unwrap();
    own_chain(&own, prefix.parent().unwrap(), NOBODY, 0o700);
    std::os::unix::fs::symlink(&attacker_prefix, &prefix).unwrap();
    let (log, report) = observe(&b, &own, false, false);
    assert_no_cache(&b, &own, &log, &report, &format!("`{}` is a symlink (not followed)", prefix.display()));
    assert!(fs::symlink_metadata(&prefix).unwrap().file_type().is_symlink(), "the launcher replaced nothing");
}

/// nobody's own chain, but one directory of it is group-writable: a group member could have
/// planted the pyc.
#[test]
fn a_group_writable_chain_of_our_own() {
    require_root(AS_NOBODY);
    let b = Bundle::copy("trusted-group");
    let root = nobody_root("trusted-group-root");
    let prefix = chain(&root, &leaf_name(&b));
    plant(&b, &prefix);
    own_chain(&root, &prefix, NOBODY, 0o700);
    chmod(&root.join("msty-mlx-studio/pycache"), 0o770);
    let (log, report) = observe(&b, &root, false, false);
    let why = format!("`{}` is group- or world-writable (mode 0770)", root.join("msty-mlx-studio/pycache").display());
    assert_no_cache(&b, &root, &log, &report, &why);
}

/// A world-writable cache root without the sticky bit: anyone may rename nobody's chain away
/// and put another in its place, so even a chain that is nobody's own, 0700, is not used.
#[test]
fn a_world_writable_root_that_is_not_sticky() {
    require_root(AS_NOBODY);
    let b = Bundle::copy("trusted-nonsticky");
    let root = scratch("trusted-nonsticky-root").join("open");
    fs::create_dir(&root).unwrap();
    let prefix = chain(&root, &leaf_name(&b));
    plant(&b, &prefix);
    own_chain(&root.join("msty-mlx-studio"), &prefix, NOBODY, 0o700);
    chmod(&root, 0o777);
    let (log, report) = observe(&b, &root, false, false);
    let why = format!("`{}` is group- or world-writable and not sticky (mode 0777)", root.display());
    assert_no_cache(&b, &root, &log, &report, &why);
}

/// Modes and owners of every directory from `top` down, and the files below.
fn dirs_and_files(top: &Path) -> (Vec<(PathBuf, u32, u32)>, Vec<PathBuf>) {
    let all = tree(top);
    let dirs = all.iter().filter(|p| p.is_dir()).map(|p| {
        let m = fs::metadata(p).unwrap();
        (p.clone(), m.mode() & 0o7777, m.uid())
    });
    (dirs.collect(), all.iter().filter(|p| p.is_file()).cloned().collect())
}

/// A healthy cache still works, for a root of nobody's own and for a shared sticky one: the
/// chain is created 0700 and owned by nobody, pycs are cached, the children share the prefix,
/// and writability is proved once (a marker), not on every run.
#[test]
fn a_healthy_cache_works_with_0700_dirs_and_is_probed_once() {
    require_root(AS_NOBODY);
    let b = Bundle::copy("trusted-healthy");
    for root in [nobody_root("trusted-healthy-own"), shared_sticky_root("trusted-healthy-shared")] {
        let (log, report) = observe(&b, &root, false, false);
        assert!(!log.contains("without a bytecode cache"), "{log}");
        let prefix = PathBuf::from(report["pycache_prefix"].as_str().expect("caching"));
        assert_eq!(prefix, chain(&root, &leaf_name(&b)));
        assert_eq!(report["env"]["PYTHONPYCACHEPREFIX"], prefix.to_str().unwrap());
        let worker = run(&mut as_nobody(b.launcher().arg("worker"), &root)).json();
        assert_eq!(worker["pycache_prefix"], prefix.to_str().unwrap(), "the worker shares the cache");
        let ours = root.join("msty-mlx-studio");
        let (dirs, files) = dirs_and_files(&ours);
        for d in [&ours, &ours.join("pycache"), &prefix] {
            let m = fs::metadata(d).unwrap();
            assert_eq!((m.mode() & 0o7777, m.uid()), (0o700, NOBODY), "{}", d.display());
        }
        assert!(dirs.iter().all(|(_, _, uid)| *uid == NOBODY), "{dirs:?}");
        assert!(
            files.iter().any(|f| f.ends_with(format!("_vendor/mlxk2/cli.{}.pyc", cache_tag()))),
            "mlxk2 was not cached: {files:?}"
        );
        let marker = prefix.join(".msty-mlx-studio-cache");
        assert!(files.contains(&marker), "{files:?}");
        // The next runs: the same files, untouched; no probe file comes and goes.
        let before: Vec<_> = files.iter().map(|f| (f.clone(), fs::metadata(f).unwrap().modified().unwrap())).collect();
        let inode = fs::metadata(&marker).unwrap().ino();
        observe(&b, &root, false, false);
        let after: Vec<_> =
            dirs_and_files(&ours).1.iter().map(|f| (f.clone(), fs::metadata(f).unwrap().modified().unwrap())).collect();
        assert_eq!(after, before, "a cached run wrote or removed files");
        assert_eq!(fs::metadata(&marker).unwrap().ino(), inode);
    }
}

fn cache_tag() -> String {
    format!("cpython-{}", XY.replace('.', ""))
}

/// MLX's CPU JIT loads `<temp dir>/mlx/<version>/cpu/lib*.so` by name. Another user owns
/// `mlx` in a shared sticky temp dir: nobody's launcher gives itself (and its children)
/// `TMPDIR=<its cache>/msty-mlx-studio/tmp` instead, created 0700; without a cache directory,
/// `MLX_DISABLE_COMPILE=1`. A private temp dir is kept, its `mlx` created 0700.
#[test]
fn mlx_kernels_are_never_loaded_from_a_directory_another_user_owns() {
    require_root(AS_NOBODY);
    let b = Bundle::copy("trusted-jit");
    let temp = shared_sticky_root("trusted-jit-temp");
    fs::create_dir(temp.join("mlx")).unwrap(); // root's: another user, seen from nobody
    let cache = nobody_root("trusted-jit-cache");
    let mut cmd = b.launcher();
    cmd.env("TMPDIR", &temp).args(["env", "TMPDIR", "MLX_DISABLE_COMPILE"]);
    let r = run(&mut as_nobody(&cmd, &cache));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let own = cache.join("msty-mlx-studio/tmp");
    assert_eq!(r.json(), serde_json::json!({ "TMPDIR": own.to_str().unwrap(), "MLX_DISABLE_COMPILE": null }));
    assert_eq!(fs::metadata(&own).unwrap().permissions().mode() & 0o777, 0o700);
    let mut info = b.launcher();
    info.env("TMPDIR", &temp).arg("--python-info");
    let plan = run(&mut as_nobody(&info, &cache)).json()["plan"]["mlx_jit"].clone();
    assert!(plan["reason"].as_str().unwrap().contains(&format!("`{}`", temp.join("mlx").display())), "{plan}");

    // No cache directory for our own temp dir either: no JIT at all.
    let mut bare = b.launcher();
    bare.env("TMPDIR", &temp).env_remove("HOME").args(["env", "TMPDIR", "MLX_DISABLE_COMPILE"]);
    let mut bare = as_nobody(&bare, &cache);
    bare.env_remove("XDG_CACHE_HOME");
    let r = run(&mut bare);
    assert_eq!(r.json(), serde_json::json!({ "TMPDIR": temp.to_str().unwrap(), "MLX_DISABLE_COMPILE": "1" }));

    // nobody's own private temp dir: kept, `mlx` created 0700 for MLX to fill.
    let private = nobody_root("trusted-jit-private");
    let mut cmd = b.launcher();
    cmd.env("TMPDIR", &private).args(["env", "TMPDIR", "MLX_DISABLE_COMPILE"]);
    let r = run(&mut as_nobody(&cmd, &cache));
    assert_eq!(r.json(), serde_json::json!({ "TMPDIR": private.to_str().unwrap(), "MLX_DISABLE_COMPILE": null }));
    let mlx = fs::metadata(private.join("mlx")).unwrap();
    assert_eq!((mlx.uid(), mlx.permissions().mode() & 0o777), (NOBODY, 0o700));
}

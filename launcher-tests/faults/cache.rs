//! The per-user bytecode cache under faults: unusable, full, filling up, raced, torn.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;

use crate::harness::*;

use super::*;

/// Every file under a pycache prefix must be a complete pyc of its current source; returns how
/// many there are. Checked by the bundle's own Python (the magic number is per X.Y).
fn assert_cache_consistent(b: &Bundle, prefix: &Path) -> usize {
    const CHECK: &str = r#"
import importlib.util, marshal, os, sys
prefix, tag, n, bad = sys.argv[1], sys.implementation.cache_tag, 0, []
for root, dirs, files in os.walk(prefix):
    for f in files:
        p = os.path.join(root, f)
        if root == prefix and f == ".msty-mlx-studio-cache": continue  # the launcher's marker
        suffix = "." + tag + ".pyc"
        if not f.endswith(suffix):
            bad.append("stray file " + p); continue
        src = os.path.join("/" + os.path.relpath(root, prefix), f[: -len(suffix)] + ".py")
        data = open(p, "rb").read()
        n += 1
        try:
            st = os.stat(src)
        except OSError:
            bad.append("no source for " + p); continue
        if data[:4] != importlib.util.MAGIC_NUMBER or int.from_bytes(data[4:8], "little") != 0:
            bad.append("bad header " + p); continue
        if int.from_bytes(data[8:12], "little") != int(st.st_mtime) & 0xFFFFFFFF or int.from_bytes(data[12:16], "little") != st.st_size & 0xFFFFFFFF:
            bad.append("stale " + p); continue
        try:
            marshal.loads(data[16:])
        except Exception as e:
            bad.append("corrupt %s: %s" % (p, e))
print(n)
for line in bad:
    print(line)
"#;
    let out = run_ok(clean_command(&b.python3()).args(["-I", "-B", "-c", CHECK]).arg(prefix));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let n: usize = lines.next().unwrap().parse().unwrap();
    let bad: Vec<&str> = lines.collect();
    assert!(bad.is_empty(), "inconsistent bytecode cache {}:\n{}", prefix.display(), bad.join("\n"));
    n
}

/// The per-user cache is an optimisation: unusable, it is skipped, and only the debug log says
/// so. Five ways to break it: a file where its directory should be, a directory the user may
/// not write, a read-only file system, a full one (tmpfs filled before the start), and one that
/// fills up while pycs are written.
#[test]
fn an_unusable_bytecode_cache_changes_nothing_but_a_debug_line() {
    require_root("the bytecode-cache fault test needs a private mount namespace with a tmpfs");
    let b = Bundle::copy("fault-cache");
    let before = b.snapshot();
    let healthy_home = scratch("fault-cache-healthy");
    let healthy = observe_probes(&|args| {
        let mut c = b.launcher();
        c.env("HOME", &healthy_home).args(args);
        c
    });
    assert!(healthy_home.join(".cache/msty-mlx-studio/pycache").is_dir(), "the healthy run caches");
    assert_eq!(healthy[0], (Some(0), "hello ✓\n".into(), String::new()));

    for fault in ["file in the way", "no permission", "read-only", "full", "fills up"] {
        let home = scratch("fault-cache-home");
        let cache = home.join(".cache");
        fs::create_dir_all(&cache).unwrap();
        let (setup, mount_ns) = match fault {
            "file in the way" => {
                fs::write(cache.join("msty-mlx-studio"), b"not a directory").unwrap();
                ("true".to_string(), false)
            }
            // Root ignores permission bits: run the launcher as `nobody` (uid 65534) with a
            // cache directory only root may write.
            "no permission" => {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(&cache, fs::Permissions::from_mode(0o555)).unwrap();
                ("exec setpriv --reuid=65534 --regid=65534 --clear-groups -- \"$@\"".to_string(), false)
            }
            "read-only" => (format!("mount -t tmpfs -o ro,size=64k tmpfs {c}", c = quote(&cache)), true),
            "full" => (
                format!(
                    "mount -t tmpfs -o size=64k tmpfs {c} && (head -c 1M /dev/zero > {c}/filler 2>/dev/null; true)",
                    c = quote(&cache)
                ),
                true,
            ),
            // Room for the probe and a few pycs, not for all of them.
            _ => (format!("mount -t tmpfs -o size=64k tmpfs {c}", c = quote(&cache)), true),
        };
        let launcher = |args: &[&str]| {
            let mut c = b.launcher();
            c.env("HOME", &home).args(args);
            wrapped(&c, &setup, mount_ns)
        };
        let observed = observe_probes(&launcher);
        assert_eq!(observed, healthy, "{fault}: status or output differs from a run with a working cache");

        let mut debug = launcher(&["report"]);
        debug.env("MLXK2_LAUNCHER_LOG", "debug");
        let r = run(&mut debug);
        assert_no_panic(&r);
        assert_eq!(r.code, Some(0), "{fault}: {}", r.stderr());
        let j = r.json();
        let err = r.stderr();
        if fault == "fills up" {
            // The probe fits, so the launcher caches; CPython skips each pyc that does not fit.
            assert!(j["pycache_prefix"].is_string(), "{fault}: {j}");
            assert!(!err.contains("without a bytecode cache"), "{fault}:\n{err}");
        } else {
            assert_eq!(j["pycache_prefix"], Value::Null, "{fault}");
            assert_eq!(j["dont_write_bytecode"], true, "{fault}");
            assert_eq!(j["env"]["PYTHONDONTWRITEBYTECODE"], "1", "{fault}: children write none either");
            assert!(j["env"].get("PYTHONPYCACHEPREFIX").is_none(), "{fault}");
            assert!(
                err.contains("bytecode cache unusable") && err.contains("running without a bytecode cache"),
                "{fault}: no debug line:\n{err}"
            );
        }
        if fault == "file in the way" {
            assert_eq!(
                fs::read(cache.join("msty-mlx-studio")).unwrap(),
                b"not a directory",
                "the file in the way was touched"
            );
        }
    }
    assert_eq!(b.snapshot(), before, "written inside the bundle");
}

/// A consistent cache after a tmpfs filled up mid-run: checked inside the same namespace.
#[test]
fn a_cache_that_fills_up_holds_only_complete_pycs() {
    require_root("the full-cache consistency test needs a private mount namespace with a tmpfs");
    let b = Bundle::copy("fault-fill");
    let home = scratch("fault-fill-home");
    let cache = home.join(".cache");
    fs::create_dir_all(&cache).unwrap();
    // Inside the namespace: run the launcher on a 64 KiB tmpfs, then copy what it left out.
    let kept = scratch("fault-fill-kept");
    let setup = format!(
        "mount -t tmpfs -o size=64k tmpfs {c} && {l} import json email.message >/dev/null && df -k {c} | tail -1 && cp -a {c}/. {k}",
        c = quote(&cache),
        l = quote(&b.exe()),
        k = quote(&kept)
    );
    let mut c = clean_command(Path::new("/bin/true"));
    c.env("HOME", &home);
    let r = run(&mut wrapped(&c, &setup, true));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let df: Vec<&str> =
        r.stdout.split(|&c| c == b' ').filter(|f| !f.is_empty()).map(|f| std::str::from_utf8(f).unwrap()).collect();
    assert_eq!(df.get(3).copied(), Some("0"), "the tmpfs did not fill up (df: {})", r.stdout());
    let prefixes: Vec<PathBuf> =
        fs::read_dir(kept.join("msty-mlx-studio/pycache")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(prefixes.len(), 1);
    let n = assert_cache_consistent(&b, &prefixes[0]);
    assert!(n > 0, "nothing was cached before the file system filled up");
}

/// `HOME` and the cache variables unset (a service, a stripped environment): no cache, no
/// guess from the passwd database, output as python3's.
#[test]
fn no_home_and_no_cache_variables() {
    let b = Bundle::copy("fault-nohome");
    // Where the passwd fallback (dirs, CPython's expanduser) would have put it.
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    let passwd = fs::read_to_string("/etc/passwd").unwrap();
    let passwd_home = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 5 && f[2] == uid)
        .map(|f| PathBuf::from(f[5]));
    let described = |home: &Path| {
        let r = run(b.launcher().env("HOME", home).arg("--python-info"));
        PathBuf::from(r.json()["bytecode"]["pycache_prefix"].as_str().unwrap())
    };
    let would_be = passwd_home.as_deref().map(described);

    let launcher = |args: &[&str]| {
        let mut c = b.launcher();
        c.env_remove("HOME").env_remove("XDG_CACHE_HOME").args(args);
        c
    };
    let reference = |args: &[&str]| {
        let mut c = b.reference();
        c.env_remove("HOME").env_remove("XDG_CACHE_HOME").args(args);
        c
    };
    assert_eq!(normalised(observe_probes(&launcher)), normalised(observe_probes(&reference)));
    let r = run(launcher(&["report"]).env("MLXK2_LAUNCHER_LOG", "debug"));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let j = r.json();
    assert_eq!(j["pycache_prefix"], Value::Null);
    assert_eq!(j["env"]["PYTHONDONTWRITEBYTECODE"], "1");
    assert!(r.stderr().contains("no per-user cache directory"), "{}", r.stderr());
    let info = run(&mut launcher(&["--python-info"]));
    assert_eq!(info.code, Some(0), "{}", info.stderr());
    assert_eq!(info.json()["bytecode"]["pycache_prefix"], Value::Null, "--python-info describes the same plan");
    if let Some(would_be) = would_be {
        assert!(!would_be.exists(), "the launcher wrote into the passwd home: {}", would_be.display());
    }

    // XDG_CACHE_HOME alone (absolute) names a cache; a relative one does not.
    let xdg = scratch("fault-xdg");
    let j = run(launcher(&["report"]).env("XDG_CACHE_HOME", &xdg)).json();
    assert!(
        j["pycache_prefix"].as_str().unwrap().starts_with(xdg.join("msty-mlx-studio/pycache").to_str().unwrap()),
        "{j}"
    );
    let j = run(launcher(&["report"]).env("XDG_CACHE_HOME", "relative/cache")).json();
    assert_eq!(j["pycache_prefix"], Value::Null);
}

/// N launchers start at once on an empty cache: all succeed with the same output, the cache is
/// consistent afterwards (every pyc complete and current, no probe or temporary file left), and
/// the next start finds everything and writes nothing.
#[test]
fn launchers_racing_to_create_the_cache() {
    let b = Bundle::copy("fault-race");
    let home = scratch("fault-race-home");
    const N: usize = 8;
    let args = ["import", "json", "email.message", "mlxk2.child"];
    let children: Vec<_> = (0..N)
        .map(|_| {
            let mut c = b.launcher();
            c.env("HOME", &home).args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned()
            ),
            (Some(0), "imported json email.message mlxk2.child\n".to_string(), String::new())
        );
    }
    let root = home.join(".cache/msty-mlx-studio/pycache");
    let prefixes: Vec<PathBuf> = fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(prefixes.len(), 1, "{prefixes:?}");
    let n = assert_cache_consistent(&b, &prefixes[0]);
    assert!(n > 20, "only {n} pycs");
    for (pyc, _) in pyc_files(&prefixes[0]) {
        age(&pyc);
    }
    let files = pyc_files(&prefixes[0]);
    let r = run(b.launcher().env("HOME", &home).args(args));
    assert_eq!(r.code, Some(0));
    assert_eq!(pyc_files(&prefixes[0]), files, "the next start rewrote or added pycs");
}

/// A torn pyc in the cache (its header matches the source, the code is cut short: what
/// CPython's own writer leaves when a file system fills up, e.g. from a python3 child) is
/// removed and the source compiled, instead of failing every later start.
#[test]
fn a_torn_pyc_in_the_cache_is_recompiled() {
    let b = Bundle::copy("fault-torn");
    let home = scratch("fault-torn-home");
    let first = run(b.launcher().env("HOME", &home).args(["import", "json"]));
    assert_eq!(first.code, Some(0), "{}", first.stderr());
    let pyc = tree(&home.join(".cache/msty-mlx-studio/pycache"))
        .into_iter()
        .find(|p| p.ends_with(format!("json/decoder.cpython-{}.pyc", XY.replace('.', ""))))
        .expect("json/decoder was cached");
    let whole = fs::read(&pyc).unwrap();
    fs::write(&pyc, &whole[..whole.len() / 2]).unwrap();
    let r = run(b.launcher().env("HOME", &home).args(["import", "json"]));
    assert_no_panic(&r);
    assert_eq!((r.code, r.stdout(), r.stderr()), (Some(0), "imported json\n".to_string(), String::new()));
    let prefix: Vec<PathBuf> =
        fs::read_dir(home.join(".cache/msty-mlx-studio/pycache")).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(assert_cache_consistent(&b, &prefix[0]) > 0);
    // And the start after that caches it again.
    assert_eq!(run(b.launcher().env("HOME", &home).args(["import", "json"])).code, Some(0));
    assert_eq!(fs::read(&pyc).unwrap(), whole);
}

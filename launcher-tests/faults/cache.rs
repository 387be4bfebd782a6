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

/// The importlib repairs (crates/runtime/src/python/importlib_repairs.py) replace private
/// attributes, so they check them first. Run by this X.Y's own python3 (run-all.sh runs every
/// launcher test on CPython 3.10–3.13): the real importlib passes the check; one that lacks or
/// changed what the repairs use, or an unknown X.Y, gets a reason and is left unchanged; and a
/// pyc cut short at any byte raises, from `_compile_bytecode` itself, the `EOFError` that the
/// torn-pyc repair (and nothing else) handles.
#[test]
fn the_importlib_repairs_check_what_they_replace() {
    const CHECK: &str = r#"
import copy, marshal, runpy, sys, types
import _frozen_importlib_external as bx
repairs = runpy.run_path(sys.argv[1])
unexpected, install, torn_pyc = repairs["unexpected"], repairs["install"], repairs["torn_pyc"]
assert unexpected(bx, sys.version_info) is None, unexpected(bx, sys.version_info)

def fake(**changes):
    module = types.ModuleType("_frozen_importlib_external")
    module.__dict__.update({k: getattr(bx, k) for k in ("_write_atomic", "_compile_bytecode", "_os", "_io")})
    module.SourceLoader = type("SourceLoader", (), {"get_code": bx.SourceLoader.get_code})
    for name, value in changes.items():
        if value is None:
            delattr(module, name)
        else:
            setattr(module, name, value)
    return module

cases = [
    (fake(), (3, 14), "CPython 3.14: they are written against the importlib of 3.10-3.13"),
    (fake(_write_atomic=None), sys.version_info, "_write_atomic is missing or not a Python function"),
    (fake(_compile_bytecode=lambda data: data), sys.version_info, "_compile_bytecode takes (data), not (data, name, bytecode_path, source_path)"),
    (fake(SourceLoader=type("SourceLoader", (), {})), sys.version_info, "SourceLoader.get_code is missing"),
    (fake(_os=types.SimpleNamespace(open=1)), sys.version_info, "_os lacks replace, unlink, O_EXCL, O_CREAT, O_WRONLY"),
]
for module, version, reason in cases:
    before = dict(module.__dict__), dict(vars(module.SourceLoader))
    why = install(module, version)
    assert why is not None and reason in why, (why, reason)
    assert (dict(module.__dict__), dict(vars(module.SourceLoader))) == before, "changed although skipped"

import json.decoder
data = marshal.dumps(compile(open(json.decoder.__file__).read(), json.decoder.__file__, "exec"))
code = bx._compile_bytecode.__code__
for cut in range(len(data)):
    try:
        bx._compile_bytecode(data[:cut], "json.decoder", "/c/decoder.pyc", json.decoder.__file__)
    except EOFError as error:
        assert torn_pyc(error, code) == ("/c/decoder.pyc", json.decoder.__file__), cut
    else:
        raise AssertionError("a pyc cut at byte %d loaded" % cut)
try:
    bx._compile_bytecode(data[:100], "json.decoder", "/c/decoder.pyc", None)
except EOFError as error:
    assert torn_pyc(error, code) is None, "a sourceless pyc is not the repair's"
print("checked", len(cases), "importlibs and", len(data), "cuts")
"#;
    let b = base();
    let repairs = Path::new(REPO).join("crates/runtime/src/python/importlib_repairs.py");
    let r = run(clean_command(&b.python3()).args(["-I", "-B", "-c", CHECK]).arg(&repairs));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert!(r.stdout().starts_with("checked 5 importlibs and "), "{}", r.stdout());
}

/// An importlib the repairs do not expect (here a `.pth` in `_vendor` replaced `_write_atomic`
/// with a function of other parameters, before the repairs run): they step aside, the debug
/// log says why in one line, and the start goes on (caching with CPython's own writer). The
/// control, without that `.pth`: installed.
#[test]
fn the_importlib_repairs_step_aside_for_an_importlib_they_do_not_know() {
    let b = Bundle::copy("fault-repairs-guard");
    let start = |b: &Bundle| {
        let home = scratch("fault-repairs-home");
        let r = run(b.launcher().env("HOME", &home).env("MLXK2_LAUNCHER_LOG", "debug").args(["import", "json"]));
        assert_no_panic(&r);
        assert_eq!((r.code, r.stdout()), (Some(0), "imported json\n".to_string()), "{}", r.stderr());
        let cached = pyc_files(&home.join(".cache/msty-mlx-studio/pycache")).len();
        (r.stderr(), cached)
    };
    let (log, cached) = start(&b);
    assert!(log.contains("importlib repairs installed"), "{log}");
    assert!(cached > 1, "the control caches");
    fs::write(
        b.vendor().join("zz_other_importlib.pth"),
        "import _frozen_importlib_external as b; b._write_atomic = lambda target, data, mode=0o666, _w=b._write_atomic: _w(target, data, mode)\n",
    )
    .unwrap();
    let (log, cached) = start(&b);
    let skipped: Vec<&str> = log.lines().filter(|l| l.contains("importlib repairs")).collect();
    assert_eq!(skipped.len(), 1, "{log}");
    assert!(
        skipped[0].contains("importlib repairs skipped, running without them: _frozen_importlib_external._write_atomic takes (target, data, mode, _w), not (path, data, mode)"),
        "{log}"
    );
    assert!(cached > 1, "CPython's own writer still caches");
}

/// The torn-pyc repair handles nothing else: an import hook's loader (a `SourceFileLoader`
/// subclass, as typeguard's or beartype's) whose `source_to_code` fails for its own reasons
/// sees its error propagate once, exactly as under python3, and the module's cached pyc is left
/// alone. (Before issue 27 the repair caught any EOFError, ValueError or TypeError from
/// `get_code`, removed the pyc and compiled again.)
#[test]
fn an_unrelated_error_in_get_code_removes_no_pyc() {
    let b = Bundle::copy("fault-repairs-narrow");
    let home = scratch("fault-repairs-narrow-home");
    fs::write(b.vendor().join("hooked.py"), "VALUE = 1\n").unwrap();
    fs::write(
        b.vendor().join("install_hook.py"),
        r#"import importlib.machinery, sys

class Failing(importlib.machinery.SourceFileLoader):
    def source_to_code(self, data, path, *, _optimize=-1):
        print("source_to_code", path.rsplit("/", 1)[-1], file=sys.stderr)
        raise TypeError("an import hook failed")

class Finder:
    def find_spec(self, name, path=None, target=None):
        if name != "hooked":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        spec.loader = Failing(spec.loader.name, spec.loader.path)
        return spec

sys.meta_path.insert(0, Finder())
"#,
    )
    .unwrap();
    let first = run(b.launcher().env("HOME", &home).args(["import", "hooked"]));
    assert_eq!(first.code, Some(0), "{}", first.stderr());
    let pyc = tree(&home.join(".cache/msty-mlx-studio/pycache"))
        .into_iter()
        .find(|p| p.ends_with(format!("hooked.cpython-{}.pyc", XY.replace('.', ""))))
        .expect("hooked was cached");
    let cached = fs::read(&pyc).unwrap();
    // A new source (another size: the pyc is stale), imported through the failing hook.
    fs::remove_file(b.vendor().join("hooked.py")).unwrap();
    fs::write(b.vendor().join("hooked.py"), "VALUE = 22\n").unwrap();
    let r = run(b.launcher().env("HOME", &home).args(["import", "install_hook", "hooked"]));
    assert_no_panic(&r);
    let err = r.stderr();
    assert_eq!(r.code, Some(1), "{err}");
    assert_eq!(err.matches("source_to_code hooked.py").count(), 1, "the hook ran again:\n{err}");
    assert_eq!(err.lines().last(), Some("TypeError: an import hook failed"), "{err}");
    assert_eq!(fs::read(&pyc).ok(), Some(cached), "the cached pyc was removed or rewritten");
}

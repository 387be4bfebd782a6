//! Issue 12 §3: the machine misbehaves. Each fault runs the real launcher in a real relocated
//! bundle and compares with a healthy run or with `python3 -m mlxk2.cli` on the same bundle
//! (README, "Faults"). Tests that need mount namespaces require root and fail, never skip,
//! without it (CI runs as root).

use std::ffi::OsString;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;

/// Never a panic or a Rust backtrace, whatever the fault.
fn assert_no_panic(r: &Run) {
    let err = r.stderr();
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "the launcher panicked:\n{err}");
}

/// Fails (never skips) when not root: mount namespaces and tmpfs mounts need it.
fn require_root(what: &str) {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or("?")
        .to_string();
    assert_eq!(
        uid, "0",
        "{what} needs root (a private mount namespace with a tmpfs); CI runs as root: run the tests as root"
    );
}

/// `cmd` (a clean command) run by `/bin/sh -c "<setup> && exec …"`, optionally inside a new
/// private mount namespace (`unshare -m`): mounts made by `setup` vanish with the process.
fn wrapped(cmd: &Command, setup: &str, mount_ns: bool) -> Command {
    let mut w = if mount_ns {
        let mut u = Command::new("unshare");
        u.args(["--mount", "--propagation", "private", "/bin/sh"]);
        u
    } else {
        Command::new("/bin/sh")
    };
    w.arg("-c").arg(format!("{setup} && exec \"$@\"")).arg("sh").arg(cmd.get_program()).args(cmd.get_args());
    w.env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            w.env(k, v);
        }
    }
    if let Some(dir) = cmd.get_current_dir() {
        w.current_dir(dir);
    }
    w.stdin(Stdio::null());
    w
}

fn quote(p: &Path) -> String {
    let s = p.to_str().expect("scratch paths are UTF-8");
    assert!(!s.contains('\''));
    format!("'{s}'")
}

/// The invocations whose observable result (status, stdout, stderr) a fault must not change.
const PROBES: &[&[&str]] =
    &[&["print", "hello ✓"], &["args-hex", "a", "", "--help"], &["exit", "3"], &["raise"], &["stderr", "to stderr"]];

/// Status, stdout and stderr of each probe, with `home` as HOME.
fn observe_probes(make: &dyn Fn(&[&str]) -> Command) -> Vec<(Option<i32>, String, String)> {
    PROBES
        .iter()
        .map(|args| {
            let r = run(&mut make(args));
            assert_no_panic(&r);
            (r.code, r.stdout(), r.stderr())
        })
        .collect()
}

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

fn pyc_files(dir: &Path) -> Vec<(PathBuf, std::time::SystemTime)> {
    if !dir.exists() {
        return Vec::new();
    }
    tree(dir)
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| (p.clone(), fs::metadata(&p).unwrap().modified().unwrap()))
        .collect()
}

/// The per-user cache is an optimisation: unusable, it is skipped, and only the debug log says
/// so. Five ways to break it: a file where its directory should be, a directory the user may
/// not write, a read-only file system, a full one (tmpfs filled before the start), and one that
/// fills up while pycs are written.
#[test]
fn an_unusable_bytecode_cache_changes_nothing_but_a_debug_line() {
    require_root("the bytecode-cache fault test");
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
    require_root("the full-cache consistency test");
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

/// python3's traceback names `runpy` frames and `-m`; the launcher's does not (README,
/// "Behaviour compared"): keep only the last line of a traceback.
fn normalised(v: Vec<(Option<i32>, String, String)>) -> Vec<(Option<i32>, String, String)> {
    v.into_iter()
        .map(|(c, o, e)| {
            (c, o, if e.starts_with("Traceback") { e.lines().last().unwrap_or("").to_string() + "\n" } else { e })
        })
        .collect()
}

/// stdout or stderr closed before the start (`>&-`): the same statuses and the same bytes on
/// the other stream as python3, with two intended differences. Rust's runtime reopens a closed
/// 0/1/2 on `/dev/null` before `main` (so no file the launcher or Python opens later can become
/// "stdout" or "stderr"); python3 instead sets `sys.stdout`/`sys.stderr` to `None`, so there
/// (1) `print(..., file=sys.stderr)` with stderr closed prints to **stdout** (`file=None`
/// means stdout), mixing text into what may be JSON, and (2) a direct `sys.stdout.write` with
/// stdout closed raises. The launcher drops both silently.
#[test]
fn stdout_or_stderr_closed_before_start() {
    let b = base();
    for redirect in ["1>&-", "2>&-"] {
        let launcher = |args: &[&str]| {
            let mut c = b.launcher();
            c.args(args);
            wrapped(&c, &format!("exec {redirect}"), false)
        };
        let reference = |args: &[&str]| {
            let mut c = b.reference();
            c.args(args);
            wrapped(&c, &format!("exec {redirect}"), false)
        };
        let l = normalised(observe_probes(&launcher));
        let mut r = normalised(observe_probes(&reference));
        let closed_is_empty = l.iter().all(|(_, o, e)| if redirect == "1>&-" { o.is_empty() } else { e.is_empty() });
        assert!(closed_is_empty, "{redirect}: output on a closed stream: {l:?}");
        if redirect == "2>&-" {
            // Difference (1): python3 prints stderr text on stdout.
            let i = PROBES.iter().position(|p| p[0] == "stderr").unwrap();
            assert_eq!(r[i].1, "to stderr\n", "python3 changed: update README");
            assert_eq!(l[i].1, "", "the launcher put stderr text on stdout");
            r[i].1.clear();
        }
        assert_eq!(l, r, "{redirect}");
        // The launcher's own failures still end with their code (the line goes nowhere).
        let mut broken = b.launcher();
        broken.env("RESOURCES_PATH", "relative");
        let f = run(&mut wrapped(&broken, &format!("exec {redirect}"), false));
        assert_eq!(f.code, Some(80), "{redirect}");
        if redirect == "1>&-" {
            assert!(f.stderr().starts_with("msty-mlx-studio: error: RESOURCES_PATH"), "{}", f.stderr());
        }
    }
    // Difference (2).
    let direct = |mut c: Command| run(&mut wrapped(c.args(["write", "x"]), "exec 1>&-", false));
    let l = direct(b.launcher());
    let r = direct(b.reference());
    assert_eq!((l.code, l.stderr()), (Some(0), String::new()), "the launcher's stdout is /dev/null");
    assert_eq!(r.code, Some(1));
    assert!(r.stderr().contains("'NoneType' object has no attribute 'write'"), "{}", r.stderr());
}

/// The kernel's name for where a process sleeps.
fn wchan(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default()
}

/// stdout or stderr a pipe that is full when the process starts (nobody reads yet): the
/// process blocks in its first write, exactly as python3 does, and once the reader drains the
/// pipe every byte arrives and the status is unchanged.
#[test]
fn a_full_pipe_before_start_blocks_then_delivers() {
    let b = base();
    for stream in [1, 2] {
        let mut results = Vec::new();
        for launcher in [true, false] {
            let (mut reader, writer) = std::io::pipe().unwrap();
            // Fill it with non-blocking writes from another process (O_NONBLOCK is restored
            // before it exits; the pipe description is shared with the process under test).
            let fill = "import fcntl, os, sys\nfd = 1\nfl = fcntl.fcntl(fd, fcntl.F_GETFL)\nfcntl.fcntl(fd, fcntl.F_SETFL, fl | os.O_NONBLOCK)\nn = 0\ntry:\n    while True:\n        n += os.write(fd, b'f' * 4096)\nexcept BlockingIOError:\n    pass\nfcntl.fcntl(fd, fcntl.F_SETFL, fl)\nprint(n, file=sys.stderr)\n";
            let filled = Command::new(&host_python().executable)
                .args(["-I", "-c", fill])
                .stdout(writer.try_clone().unwrap())
                .output()
                .unwrap();
            assert!(filled.status.success(), "{}", String::from_utf8_lossy(&filled.stderr));
            let filler: usize = String::from_utf8_lossy(&filled.stderr).trim().parse().unwrap();
            assert!(filler >= 4096);
            let mut cmd = if launcher { b.launcher() } else { b.reference() };
            let args: &[&str] =
                if stream == 1 { &["print", "after the filler"] } else { &["stderr", "after the filler"] };
            cmd.args(args);
            if stream == 1 {
                cmd.stdout(writer).stderr(Stdio::piped());
            } else {
                cmd.stderr(writer).stdout(Stdio::piped());
            }
            let mut child = cmd.spawn().unwrap();
            drop(cmd);
            // Blocked in the write, not failed, not spinning.
            let start = Instant::now();
            while !wchan(child.id()).contains("pipe_write") {
                assert!(
                    child.try_wait().unwrap().is_none(),
                    "stream {stream}, launcher {launcher}: exited without waiting for the reader"
                );
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "stream {stream}: never blocked in a pipe write (wchan {:?})",
                    wchan(child.id())
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            let mut all = Vec::new();
            reader.read_to_end(&mut all).unwrap();
            let status =
                wait_timeout(&mut child, Duration::from_secs(30)).expect("still running after the pipe was drained");
            let mut other = Vec::new();
            if stream == 1 {
                child.stderr.take().unwrap().read_to_end(&mut other).unwrap();
            } else {
                child.stdout.take().unwrap().read_to_end(&mut other).unwrap();
            }
            assert_eq!(all.len(), filler + "after the filler\n".len(), "stream {stream}, launcher {launcher}");
            assert!(all[..filler].iter().all(|&c| c == b'f'));
            results.push((
                status.code(),
                String::from_utf8_lossy(&all[filler..]).into_owned(),
                String::from_utf8_lossy(&other).into_owned(),
            ));
        }
        assert_eq!(results[0], (Some(0), "after the filler\n".to_string(), String::new()), "stream {stream}");
        assert_eq!(results[0], results[1], "stream {stream}: launcher vs python3");
    }
}

/// Deterministic bytes without NUL (an exec argument cannot hold one), many not UTF-8.
fn noise(seed: &mut u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((*seed >> 33) % 255) as u8 + 1
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn args_hex(b: &Bundle, args: &[OsString], reference: bool) -> Run {
    let mut cmd = if reference { b.reference() } else { b.launcher() };
    cmd.arg("args-hex").args(args);
    let r = run(&mut cmd);
    assert_no_panic(&r);
    r
}

/// What `args-hex` prints: every argument after argv[0] (its own name first), as hex.
fn expected_hex(args: &[OsString]) -> String {
    std::iter::once(hex(b"args-hex")).chain(args.iter().map(|a| hex(a.as_bytes()))).collect::<Vec<_>>().join(" ") + "\n"
}

/// An argument list a few KiB under the kernel's limit (`ARG_MAX` counts argv, envp and their
/// pointers; one string may hold at most 128 KiB), passed to mlxk2 byte-exact.
#[test]
fn an_argument_list_near_arg_max() {
    let b = base();
    let arg_max: usize =
        String::from_utf8(run_ok(Command::new("getconf").arg("ARG_MAX")).stdout).unwrap().trim().parse().unwrap();
    let probe = b.launcher();
    let fixed: usize = std::iter::once(probe.get_program())
        .chain(probe.get_args())
        .chain([std::ffi::OsStr::new("args-hex")])
        .map(|a| a.len() + 1 + 8)
        .sum::<usize>()
        + probe.get_envs().map(|(k, v)| k.len() + v.map_or(0, |v| v.len()) + 2 + 8).sum::<usize>()
        + 16;
    const MARGIN: usize = 8 * 1024;
    let mut budget = arg_max - fixed - MARGIN;
    let mut seed = 12;
    let mut args = Vec::new();
    while budget > 9 {
        let len = (budget - 9).min(128 * 1024 - 1);
        args.push(OsString::from_vec(noise(&mut seed, len)));
        budget -= len + 1 + 8;
    }
    let total: usize = args.iter().map(|a| a.len()).sum();
    assert!(total > arg_max * 9 / 10, "{total} of {arg_max}");
    let r = args_hex(b, &args, false);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert!(
        r.stdout() == expected_hex(&args),
        "the arguments did not arrive byte-exact ({} bytes of output)",
        r.stdout.len()
    );
    // Near the limit indeed: 16 KiB more and the kernel refuses the exec.
    let mut more = args.clone();
    more.push(OsString::from_vec(noise(&mut seed, 16 * 1024)));
    let err = b.launcher().arg("args-hex").args(&more).output().expect_err("the exec should exceed ARG_MAX");
    assert_eq!(err.raw_os_error(), Some(libc::E2BIG), "{err}");
}

/// 10 000 arguments (empty ones, option look-alikes, non-UTF-8): byte-exact, as python3 gets them.
#[test]
fn ten_thousand_arguments() {
    let b = base();
    let mut seed = 7;
    let args: Vec<OsString> = (0..10_000)
        .map(|i| match i % 7 {
            0 => OsString::new(),
            1 => OsString::from(["--help", "-c", "--mlx-info", "-", "--"][i % 5]),
            _ => {
                let len = (i * 31) % 24 + 1;
                OsString::from_vec(noise(&mut seed, len))
            }
        })
        .collect();
    let l = args_hex(b, &args, false);
    assert_eq!(l.code, Some(0), "{}", l.stderr());
    assert!(l.stdout() == expected_hex(&args), "not byte-exact");
    let r = args_hex(b, &args, true);
    assert_eq!((r.code, &r.stdout), (l.code, &l.stdout), "python3 got other bytes");
}

/// A copy of the base bundle whose `Resources` directory is `resources` (parents created).
fn bundle_at(resources: &Path) -> Bundle {
    fs::create_dir_all(resources).unwrap();
    link_tree(&base().resources(), resources);
    Bundle { root: resources.parent().unwrap().to_path_buf() }
}

/// `paths-hex`: the interpreter's paths as bytes, the same for the launcher and python3; then
/// the probes, compared with python3. python3 is the oracle for what CPython can do from such
/// a path (`must_run`: it must be able to).
fn assert_runs_from(b: &Bundle, lang: Option<&str>, must_run: bool) {
    let make = |launcher: bool| {
        let mut c = if launcher { b.launcher() } else { b.reference() };
        if let Some(lang) = lang {
            c.env("LANG", lang);
        } else {
            c.env_remove("LANG");
        }
        c
    };
    let r = run(make(true).args(["paths-hex"]));
    assert_no_panic(&r);
    let reference = run(make(false).args(["paths-hex"]));
    if reference.code != Some(0) {
        assert!(!must_run, "python3 cannot run from this path (LANG={lang:?}):\n{}", reference.stderr());
        // CPython itself cannot (3.12: extension modules from a non-UTF-8 path): the launcher
        // fails the same way, with CPython's own error, not one of its own.
        let last = |r: &Run| r.stderr().lines().last().unwrap_or("").to_string();
        assert_eq!((r.code, last(&r)), (reference.code, last(&reference)), "LANG={lang:?}: launcher vs python3");
        return;
    }
    assert_eq!(r.code, Some(0), "LANG={lang:?}: {}", r.stderr());
    let lines: Vec<String> = r.stdout().lines().map(String::from).collect();
    let home = b.home();
    let want = [
        ("executable", home.join("bin/python3")),
        ("prefix", home.clone()),
        ("path0", b.vendor()),
        ("mlxk2_file", b.vendor().join("mlxk2/__init__.py")),
        ("argv0", b.exe()),
    ];
    assert_eq!(lines.len(), want.len());
    for ((name, path), line) in want.iter().zip(&lines) {
        assert_eq!(line, &format!("{name} {}", hex(path.as_os_str().as_bytes())), "LANG={lang:?}");
    }
    // python3 -m has the cwd as sys.path[0] and the module's file as argv[0].
    let pick = |lines: Vec<String>| [0, 1, 3].map(|i| lines[i].clone());
    assert_eq!(pick(reference.stdout().lines().map(String::from).collect()), pick(lines.clone()), "LANG={lang:?}");
    let ours = observe_probes(&|args| {
        let mut c = make(true);
        c.args(args);
        c
    });
    let theirs = observe_probes(&|args| {
        let mut c = make(false);
        c.args(args);
        c
    });
    assert_eq!(normalised(ours), normalised(theirs), "LANG={lang:?}");
}

fn json_path(p: &Path) -> Value {
    match p.to_str() {
        Some(s) => Value::from(s),
        None => serde_json::json!({ "bytes": p.as_os_str().as_bytes() }),
    }
}

fn assert_diagnostics_from(b: &Bundle) {
    let r = run(b.launcher().arg("--python-info"));
    assert_no_panic(&r);
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let j = r.json();
    assert_eq!(j["ok"], true, "{j}");
    assert_eq!(j["home"], json_path(&b.home()));
    assert_eq!(j["vendor"], json_path(&b.vendor()));
    assert_eq!(j["launcher"], json_path(&b.exe()));
    let m = run(b.launcher().arg("--mlx-info"));
    assert_eq!(m.code, Some(0), "{}", m.stderr());
    let m = m.json();
    assert_eq!(m["version"], "0.29.3");
    assert_eq!(m["module_file"], json_path(&b.vendor().join("mlx")), "{m}");
    assert_eq!(m["dist_info"], json_path(&b.vendor().join("mlx-0.29.3.dist-info")));
    // With RESOURCES_PATH naming it too.
    let r = run(b.launcher().env("RESOURCES_PATH", b.resources()).arg("--python-info"));
    assert_eq!(r.json()["home_rule"], "RESOURCES_PATH");
}

/// The bundle's `Resources` path exactly 4 000 bytes long (the launcher itself at 4 022, a
/// stdlib file near PATH_MAX): diagnostics and runs work; pycs whose cache path would exceed
/// PATH_MAX are simply not cached.
#[test]
fn a_bundle_path_of_4000_bytes() {
    let mut resources = scratch("fault-long");
    let mut n = 0;
    while resources.as_os_str().len() < 4000 - "/Resources".len() {
        let room = 4000 - "/Resources".len() - resources.as_os_str().len() - 1;
        resources.push("d".repeat(room.min(200)));
        n += 1;
    }
    resources.push("Resources");
    assert_eq!(resources.as_os_str().len(), 4000, "{n} components");
    let b = bundle_at(&resources);
    assert_diagnostics_from(&b);
    assert_runs_from(&b, Some("C.UTF-8"), true);
}

/// Whether CPython X.Y can run mlxk2 from a bundle path with non-UTF-8 bytes (measured with
/// python3 itself): `Err` says why not.
fn cpython_runs_from_a_non_utf8_path() -> Result<(), &'static str> {
    const SURROGATES: &str = "it cannot import an extension module from such a path \
        (`UnicodeEncodeError: 'utf-8' codec can't encode character '\\udce9' … surrogates not allowed`)";
    match &*XY {
        "3.10" | "3.11" => Ok(()),
        "3.12" | "3.13" => Err(SURROGATES),
        other => panic!("no recorded expectation for CPython {other} from a non-UTF-8 path: run python3 and add one"),
    }
}

/// Non-UTF-8 bytes in the bundle path, under a UTF-8 locale, `LANG=C` and no `LANG`. The
/// launcher and its diagnostics handle them everywhere. Where CPython itself can run from such
/// a path, the run's paths are byte-exact and its probes equal python3's; where it cannot
/// ([`cpython_runs_from_a_non_utf8_path`], said on stderr), python3 must fail and the run must
/// fail exactly as python3's does (and the test fails when a CPython starts to cope).
#[test]
fn a_bundle_path_with_non_utf8_bytes() {
    let mut resources = scratch("fault-bytes");
    resources.push(OsString::from_vec(b"Caf\xe9 \xff\xfe app".to_vec()));
    resources.push("Resources");
    let b = bundle_at(&resources);
    assert_diagnostics_from(&b);
    let expected = cpython_runs_from_a_non_utf8_path();
    if let Err(why) = expected {
        eprintln!("CPython {XY}: runs from a non-UTF-8 path are compared as failures: {why}");
    }
    for lang in [Some("C.UTF-8"), Some("C"), None] {
        assert_runs_from(&b, lang, expected.is_ok());
        if expected.is_err() {
            let reference = run(b.reference().args(["paths-hex"]));
            assert_ne!(reference.code, Some(0), "CPython {XY} now runs from a non-UTF-8 path: update the expectation");
            assert!(reference.stderr().contains("surrogates not allowed"), "{}", reference.stderr());
        }
    }
}

/// `_vendor` with 5 000 more dist-infos: the native answers are still right (their speed is
/// `cargo bench --bench perf`'s P7, never a timed assertion).
#[test]
fn five_thousand_dist_infos() {
    let b = Bundle::copy("fault-dists");
    let before = run(base().launcher().arg("--mlx-info")).json();
    add_dist_infos(&b.vendor(), 5000);
    let r = run(b.launcher().arg("--mlx-info"));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let j = r.json();
    for key in ["package", "version", "requires_dist", "requires_python", "installer"] {
        assert_eq!(j[key], before[key], "{key}");
    }
    assert_eq!(j["backends"]["mlx-cpu"]["version"], "0.29.3");
    assert_eq!(j["backends"].as_object().unwrap().len(), 1, "{j}");
    assert_eq!(j["dist_info"], b.vendor().join("mlx-0.29.3.dist-info").to_str().unwrap());
    let r = run(b.launcher().args(["--pkg-info", "MLX.LM"]));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert_eq!(r.json()["version"], "0.28.1");
    let r = run(b.launcher().args(["--pkg-info", "Filler_Dist.4999"]));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    assert_eq!(r.json()["version"], "1.0.4999");
    let r = run(b.launcher().args(["--pkg-info", "not-installed"]));
    assert_eq!(r.code, Some(2));
    assert!(r.json()["error"].is_string());
    let r = run(b.launcher().arg("print").arg("still runs"));
    assert_eq!((r.code, r.stdout()), (Some(0), "still runs\n".into()));
}

/// The app was updated while it ran: the first launcher still runs from bundle A when the next
/// start names bundle B in RESOURCES_PATH. Each uses its own home, `_vendor`, runtime and
/// bytecode cache; nothing of one appears in the other, before or after.
#[test]
fn resources_path_changed_between_two_starts() {
    let a = Bundle::copy("fault-app-a");
    let bb = Bundle::copy("fault-app-b");
    let home = scratch("fault-app-home");
    let mut first = a.launcher();
    first
        .env("HOME", &home)
        .env("RESOURCES_PATH", a.resources())
        .arg("report-wait")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = first.spawn().unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    let a1: Value = serde_json::from_str(&line).unwrap();

    let second = run(bb.launcher().env("HOME", &home).env("RESOURCES_PATH", bb.resources()).arg("report"));
    assert_eq!(second.code, Some(0), "{}", second.stderr());
    let b1 = second.json();

    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    line.clear();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    let a2: Value = serde_json::from_str(&line).unwrap();
    assert!(wait_timeout(&mut child, Duration::from_secs(30)).unwrap().success());

    let owns = |j: &Value, own: &Bundle, other: &Bundle, label: &str| {
        let own_root = own.root.to_str().unwrap().to_string() + "/";
        let other_root = other.root.to_str().unwrap().to_string() + "/";
        for key in ["executable", "prefix", "base_prefix", "mlxk2_file"] {
            assert!(j[key].as_str().unwrap().starts_with(&own_root), "{label}: {key} = {}", j[key]);
        }
        assert!(j["path"][0].as_str().unwrap().starts_with(&own_root), "{label}");
        assert_eq!(j["env"]["PYTHONPATH"], own.vendor().to_str().unwrap(), "{label}");
        let text = j.to_string();
        assert!(!text.contains(&other_root), "{label} mentions the other bundle: {text}");
        let maps: Vec<&str> = j["maps"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
        assert!(maps.iter().any(|m| m.starts_with(&own_root) && m.contains("libpython")), "{label}: {maps:?}");
        assert!(
            maps.iter().any(|m| m.starts_with(&own_root) && m.contains("libmsty_mlx_runtime")),
            "{label}: {maps:?}"
        );
    };
    owns(&a1, &a, &bb, "A before B started");
    owns(&a2, &a, &bb, "A after B ran");
    owns(&b1, &bb, &a, "B");
    assert_eq!((&a1["pycache_prefix"], &a1["maps"]), (&a2["pycache_prefix"], &a2["maps"]));
    let (pa, pb) = (a1["pycache_prefix"].as_str().unwrap(), b1["pycache_prefix"].as_str().unwrap());
    assert_ne!(pa, pb, "the two bundles share a bytecode cache");
    let a_root = a.root.to_str().unwrap().trim_start_matches('/').to_string();
    let b_root = bb.root.to_str().unwrap().trim_start_matches('/').to_string();
    for (prefix, own, other) in [(pa, &a_root, &b_root), (pb, &b_root, &a_root)] {
        let files = pyc_files(Path::new(prefix));
        assert!(files.iter().any(|(p, _)| p.to_str().unwrap().contains(own.as_str())));
        assert!(
            !files.iter().any(|(p, _)| p.to_str().unwrap().contains(other.as_str())),
            "{prefix} holds pycs of the other bundle"
        );
    }
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

//! Issue 5: the real product, end to end. A bundle built by build-external-python from PyPI
//! (mlx-knife 2.0.8 + mlx[cpu] 0.32.0, wheels cached outside the repo), laid out as
//! `Resources/{python, mlxk2/{_vendor, msty-mlx-studio}}`, a tiny deterministic llama model
//! generated locally in a temporary HF_HOME, and Node's child_process driving the server the
//! way Electron's main process does (launcher-tests/real/electron.js). `electron_module.rs`
//! runs the Electron module's own Node tests (`electron/test/`) against the same stack.
//!
//! Run by `launcher-tests/run-all.sh` for CPython 3.11 and 3.12 (`MLXK2_SKIP_REAL=1` opts out).
//! Tests share one bundle and run one at a time (each starts servers).

#[path = "../harness/mod.rs"]
mod harness;
#[path = "../schema.rs"]
mod schema;

mod browser;
mod chaos;
mod electron_module;
mod guard;
mod http;
mod openai_sdk;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use harness::*;
use serde_json::{Value, json};

struct Stack {
    /// The assembled app bundle (hard links into `dist`).
    app: Bundle,
    /// The bundler's output, `dist-ext-python/msty-mlx-studio/` (no Python near it).
    dist: PathBuf,
    manifest: Value,
    hf_home: PathBuf,
    tmpdir: PathBuf,
    model: String,
    expected: String,
}

/// One test at a time: each starts mlx-knife servers on a 2-core machine.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn timing(line: impl AsRef<str>) {
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("real-timings-py{XY}.txt"));
    let mut f = fs::OpenOptions::new().create(true).append(true).open(file).unwrap();
    writeln!(f, "{}", line.as_ref()).unwrap();
}

fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        kept(|| {
            let _ = fs::remove_file(Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("real-timings-py{XY}.txt")));
            let start = Instant::now();
            let wheels = real_wheel_cache();
            timing(format!("wheel cache ready: {:.1} s", start.elapsed().as_secs_f64()));

            let work = scratch("real");
            fs::copy(Path::new(REPO).join("launcher-tests/real/requirements.txt"), work.join("requirements.txt"))
                .unwrap();
            let start = Instant::now();
            let cargo_bin = Path::new(env!("CARGO")).parent().unwrap().to_path_buf();
            let host_bin = host_python().executable.parent().unwrap().to_path_buf();
            let out = Command::new(bundler())
                .current_dir(&work)
                .env_clear()
                .env("PATH", format!("{}:{}:/usr/local/bin:/usr/bin:/bin", host_bin.display(), cargo_bin.display()))
                .env("HOME", dirs::home_dir().unwrap())
                .env("LANG", "C.UTF-8")
                .env("CARGO", env!("CARGO"))
                .args([
                    "--quiet",
                    "--from-source",
                    "--project",
                    "mlx-knife==2.0.8",
                    "--requirements",
                    "requirements.txt",
                    "--python",
                ])
                .arg(&host_python().executable)
                .arg("--pip-args")
                .arg(format!("--no-index --find-links {}", wheels.display()))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "bundler failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            timing(format!(
                "bundle built (uv install, precompile, launcher, sanity check): {:.1} s",
                start.elapsed().as_secs_f64()
            ));
            let dist = work.join("dist-ext-python/msty-mlx-studio");
            let manifest: Value =
                serde_json::from_slice(&fs::read(dist.join("bundle-manifest.json")).unwrap()).unwrap();

            let root = work.join("MyApp.app/Contents");
            link_tree(&base().home(), &root.join("Resources/python"));
            link_tree(&dist, &root.join("Resources/mlxk2"));
            let app = Bundle { root };

            let hf_home = work.join("hf");
            let tmpdir = work.join("tmp");
            fs::create_dir_all(&tmpdir).unwrap();
            let (model, expected) = tiny_model(&app, &hf_home);
            Stack { app, dist, manifest, hf_home, tmpdir, model, expected }
        })
    })
}

impl Stack {
    /// The environment both options share: the model cache, no hub access, MLX's JIT cache.
    fn env(&self, cmd: &mut Command) {
        cmd.env("HF_HOME", &self.hf_home).env("HF_HUB_OFFLINE", "1").env("TMPDIR", &self.tmpdir);
    }
    fn launcher(&self, app: &Bundle) -> Command {
        let mut cmd = app.launcher();
        self.env(&mut cmd);
        cmd.env("RESOURCES_PATH", app.resources());
        cmd
    }
    fn python_m(&self, app: &Bundle) -> Command {
        let mut cmd = clean_command(&app.python3());
        self.env(&mut cmd);
        cmd.args(["-m", "mlxk2.cli"]).env("PYTHONPATH", app.vendor()).env("PYTHONNOUSERSITE", "1");
        cmd
    }
    fn node(&self, app: &Bundle, mode: &str, config: Value) -> Command {
        let mut cmd = clean_command(Path::new("node"));
        self.env(&mut cmd);
        let mut config = config;
        config["resources"] = json!(app.resources());
        config["model"] = json!(self.model);
        config["expected"] = json!(self.expected);
        cmd.arg(Path::new(REPO).join("launcher-tests/real/electron.js")).arg(mode).arg(config.to_string());
        cmd
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn serve(s: &Stack, app: &Bundle, option: &str, signal: &str, load: bool) -> Value {
    let port = free_port();
    let out =
        run_ok(&mut s.node(app, "serve", json!({ "option": option, "port": port, "signal": signal, "load": load })));
    let r: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("node said: {e}\n{}", String::from_utf8_lossy(&out.stdout)));
    assert!(
        r.get("error").is_none(),
        "option {option}: {}\nserver stderr:\n{}",
        r["error"],
        r["stderrTail"].as_str().unwrap_or("")
    );
    r
}

/// Items 4 and 5 for one option and signal.
fn check_serve(s: &Stack, r: &Value, signal: &str) {
    let tail = r["stderrTail"].as_str().unwrap_or("");
    assert_eq!(r["models"], json!([s.model]), "{tail}");
    assert_eq!(r["chat"], json!({ "status": 200, "text": s.expected }));
    assert_eq!(r["chatStream"]["status"], 200);
    assert_eq!(r["chatStream"]["text"], s.expected.as_str());
    assert_eq!(r["chatStream"]["done"], true, "stream ends with [DONE]");
    assert!(r["chatStream"]["chunks"].as_u64().unwrap() >= 3, "{}", r["chatStream"]);
    assert!(r["chatStream"]["contentType"].as_str().unwrap().starts_with("text/event-stream"));
    assert_eq!(r["completion"], json!({ "status": 200, "text": s.expected }));
    assert!(r["exit"].is_object(), "no exit within 15 s of {signal}: {tail}");
    assert!(r["exitMs"].as_f64().unwrap() < 10_000.0, "{signal}: exit took {} ms", r["exitMs"]);
    assert!(r["worker"].is_number(), "no server worker found: {r}");
    assert_eq!(r["workerGone"], true, "the server worker outlived {signal}");
    assert_eq!(r["portFree"], true, "port still bound after {signal}");
}

fn launcher_json(s: &Stack, app: &Bundle, args: &[&str]) -> Value {
    let r = run(s.launcher(app).args(args));
    assert_eq!(r.code, Some(0), "{args:?}: {}", r.stderr());
    r.json()
}

/// Item 1.
fn check_diagnostics(s: &Stack, app: &Bundle) {
    let dists = s.manifest["distributions"].as_array().unwrap();
    let version = |name: &str| {
        dists.iter().find(|d| d["name"] == name).unwrap_or_else(|| panic!("{name} not in manifest"))["version"].clone()
    };
    let stack = launcher_json(s, app, &["--check-mlx-stack"]);
    assert_eq!(stack["ok"], true, "{stack}");
    schema::assert_valid("check-mlx-stack", &stack);
    assert_eq!(stack["mlx"]["version"], version("mlx"));
    assert_eq!(stack["mlx_lm"]["version"], version("mlx-lm"));
    assert!(stack["mlx"]["file"].as_str().unwrap().starts_with(app.vendor().to_str().unwrap()));
    let mlx = launcher_json(s, app, &["--mlx-info"]);
    schema::assert_valid("pkg-info", &mlx);
    assert_eq!(mlx["version"], version("mlx"));
    assert_eq!(mlx["backends"]["mlx-cpu"]["version"], version("mlx-cpu"));
    assert_eq!(launcher_json(s, app, &["--pkg-info", "mlx_lm"])["version"], version("mlx-lm"));
    let info = launcher_json(s, app, &["--python-info"]);
    assert_eq!(info["ok"], true, "{info}");
    schema::assert_valid("python-info", &info);
    assert_eq!(info["python_version"], s.manifest["python"]["version"]);
    assert_eq!(info["runtime"]["python"], s.manifest["runtime"]["python"]);
    assert_eq!(info["runtime"]["plan_format"], s.manifest["runtime"]["plan_format"]);
    assert_eq!(info["prefix"], app.home().to_str().unwrap());
}

/// Item 3.
fn check_run(s: &Stack, app: &Bundle) {
    let r = run(s.launcher(app).args(["run", &s.model, "hi"]));
    assert_eq!((r.code, r.stdout()), (Some(0), format!("{}\n", s.expected)), "{}", r.stderr());
}

#[test]
fn diagnostics_agree_with_the_manifest() {
    let _g = serial();
    let s = stack();
    check_diagnostics(s, &s.app);
    assert_eq!(s.manifest["mlxk2_version"], "2.0.8");
    schema::assert_valid("bundle-manifest", &s.manifest);
}

#[test]
fn cli_json_is_the_same_as_python_m() {
    let _g = serial();
    let s = stack();
    for args in [&["list", "--json"][..], &["show", s.model.as_str(), "--json"], &["health", "--json"]] {
        let a = run(s.launcher(&s.app).args(args));
        let b = run(s.python_m(&s.app).args(args));
        assert_eq!(a.code, Some(0), "{args:?}: {}", a.stderr());
        assert_eq!((a.code, a.json()), (b.code, b.json()), "{args:?}");
    }
    // argv[0] is the only difference, and it is the launcher's name.
    let v = run(s.launcher(&s.app).arg("--version"));
    assert_eq!(v.stdout(), "msty-mlx-studio 2.0.8\n");
}

#[test]
fn run_prints_the_deterministic_reply() {
    let _g = serial();
    let s = stack();
    check_run(s, &s.app);
    let b = run(s.python_m(&s.app).args(["run", &s.model, "hi"]));
    assert_eq!(b.stdout(), format!("{}\n", s.expected));
}

#[test]
fn serve_via_node_option_a_and_b_then_sigterm_and_sigint() {
    let _g = serial();
    let s = stack();
    for signal in ["SIGTERM", "SIGINT"] {
        let a = serve(s, &s.app, "A", signal, false);
        check_serve(s, &a, signal);
        let b = serve(s, &s.app, "B", signal, false);
        check_serve(s, &b, signal);
        assert_eq!(
            a["exit"], b["exit"],
            "{signal}: the launcher's exit status differs from python3 -m mlxk2.cli serve"
        );
        timing(format!(
            "serve time-to-ready ({signal} run): launcher {:.0} ms, python3 -m {:.0} ms; exit after {signal}: launcher {} in {:.0} ms, python3 -m {} in {:.0} ms",
            a["readyMs"].as_f64().unwrap(),
            b["readyMs"].as_f64().unwrap(),
            a["exit"],
            a["exitMs"].as_f64().unwrap(),
            b["exit"],
            b["exitMs"].as_f64().unwrap()
        ));
    }
}

/// Issue 10: the bundler's dist dir, with no Python near it, runs against the app's
/// `Resources/` named by `RESOURCES_PATH` (and the interpreter named by `MLXK_PYTHON`).
#[test]
fn the_dist_dir_runs_against_resources_path() {
    let _g = serial();
    let s = stack();
    let launcher = s.dist.join("msty-mlx-studio");
    for (var, value) in [("RESOURCES_PATH", s.app.resources()), ("MLXK_PYTHON", s.app.python3())] {
        let mut cmd = clean_command(&launcher);
        s.env(&mut cmd);
        let info = run(cmd.arg("--python-info").env(var, &value)).json();
        assert_eq!(info["ok"], true, "{var}: {info}");
        assert_eq!(info["home"], s.app.home().to_str().unwrap());
        let mut cmd = clean_command(&launcher);
        s.env(&mut cmd);
        let stack_check = run(cmd.arg("--check-mlx-stack").env(var, &value));
        assert_eq!(stack_check.code, Some(0), "{var}: {}\n{}", stack_check.stdout(), stack_check.stderr());
        let mut cmd = clean_command(&launcher);
        s.env(&mut cmd);
        let version = run(cmd.arg("--version").env(var, &value));
        assert_eq!(version.stdout(), "msty-mlx-studio 2.0.8\n", "{}", version.stderr());
    }
    let port = free_port();
    let out = run_ok(&mut s.node(
        &s.app,
        "serve",
        json!({ "option": "A", "port": port, "signal": "SIGTERM", "load": false, "launcher": launcher }),
    ));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(r.get("error").is_none(), "{}\n{}", r["error"], r["stderrTail"].as_str().unwrap_or(""));
    check_serve(s, &r, "SIGTERM");
}

fn check_parent_sigkill(s: &Stack, app: &Bundle) {
    let port = free_port();
    let mut node =
        s.node(app, "orphan", json!({ "option": "A", "port": port })).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(node.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let r: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    let (launcher, worker) = (r["pid"].as_i64().unwrap() as i32, r["worker"].as_i64().expect("worker pid") as i32);
    node.kill().unwrap(); // SIGKILL: Electron crashed
    node.wait().unwrap();
    let start = Instant::now();
    while (pid_alive(launcher) || pid_alive(worker)) && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!pid_alive(launcher) && !pid_alive(worker), "launcher or worker outlived the SIGKILLed parent by 10 s");
    timing(format!("parent SIGKILL → launcher and worker gone in {:.0} ms", start.elapsed().as_secs_f64() * 1e3));
    assert!(TcpListener::bind(("127.0.0.1", port)).is_ok(), "port still bound");
}

#[test]
fn parent_sigkill_takes_launcher_and_worker_down() {
    let _g = serial();
    let s = stack();
    check_parent_sigkill(s, &s.app);
}

#[test]
fn load_through_the_launcher() {
    let _g = serial();
    let s = stack();
    let r = serve(s, &s.app, "A", "SIGTERM", true);
    check_serve(s, &r, "SIGTERM");
    for key in ["loadModels", "loadChat"] {
        assert_eq!(r[key]["errors"], 0, "{key}: {}", r[key]);
    }
    timing(format!(
        "load: 500 GET /v1/models at 16 in {} ms, 50 chat completions at 4 in {} ms, 0 errors",
        r["loadModels"]["ms"], r["loadChat"]["ms"]
    ));
}

/// Every file (and its bytes) and directory under `dir`, for "byte-identical" checks.
fn fingerprint(dir: &Path) -> Vec<(PathBuf, u32, String)> {
    use sha2::Digest;
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    for p in tree(dir) {
        let meta = fs::symlink_metadata(&p).unwrap();
        let hash = if meta.is_file() {
            sha2::Sha256::digest(fs::read(&p).unwrap()).iter().map(|b| format!("{b:02x}")).collect()
        } else {
            String::new()
        };
        out.push((p, meta.permissions().mode(), hash));
    }
    out
}

/// A `chmod -R a-w` copy of the stack's app (a real copy: hard links would share the chmod with
/// the other tests' bundle) and its [`fingerprint`] before anything ran.
fn read_only_copy(s: &Stack, name: &str) -> (Bundle, Vec<(PathBuf, u32, String)>) {
    let root = scratch(name).join("MyApp.app/Contents");
    fs::create_dir_all(&root).unwrap();
    run_ok(Command::new("cp").arg("-a").arg(s.app.resources()).arg(&root));
    let app = Bundle { root };
    run_ok(Command::new("chmod").args(["-R", "a-w"]).arg(app.resources()));
    let before = fingerprint(&app.resources());
    (app, before)
}

#[test]
fn read_only_bundle_works_and_stays_byte_identical() {
    let _g = serial();
    let s = stack();
    let (app, before) = read_only_copy(s, "readonly");

    check_diagnostics(s, &app);
    check_run(s, &app);
    let start = Instant::now();
    let r = serve(s, &app, "A", "SIGTERM", false);
    check_serve(s, &r, "SIGTERM");
    timing(format!("read-only bundle: serve time-to-ready via launcher {:.0} ms", r["readyMs"].as_f64().unwrap()));
    let r = serve(s, &app, "A", "SIGINT", false);
    check_serve(s, &r, "SIGINT");
    check_parent_sigkill(s, &app);
    timing(format!("read-only bundle: items 1-6 in {:.1} s", start.elapsed().as_secs_f64()));

    let after = fingerprint(&app.resources());
    run_ok(Command::new("chmod").args(["-R", "u+w"]).arg(app.resources()));
    assert_eq!(before.len(), after.len(), "files appeared or vanished in the read-only bundle");
    assert!(before == after, "the read-only bundle changed");
}

/// Issue 12 §3: `serve` on a port another process already holds. mlx-knife's own answer (exit
/// 3, its message) passes through the launcher unchanged, as with `python3 -m mlxk2.cli`, and
/// no process of either is left behind.
#[test]
fn serve_on_a_port_already_bound_exits_3_like_python_m() {
    let _g = serial();
    let s = stack();
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let mut results = Vec::new();
    for (label, mut cmd) in [("launcher", s.launcher(&s.app)), ("python3 -m mlxk2.cli", s.python_m(&s.app))] {
        let child = cmd
            .args(["serve", "--host", "127.0.0.1", "--port", &port])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let (status, out) = output_within(child, Duration::from_secs(60));
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(status.is_some(), "{label}: still running 60 s after `serve` on a bound port:\n{stderr}");
        assert!(!stderr.contains("panicked"), "{label}: {stderr}");
        // Nothing it started listens on the port: only this test's own socket does.
        let listeners =
            String::from_utf8_lossy(&run_ok(Command::new("ss").args(["-Hltnp", &format!("sport = :{port}")])).stdout)
                .into_owned();
        let ours = format!("pid={},", std::process::id());
        assert!(listeners.lines().all(|l| l.contains(&ours)), "{label} (pid {pid}) left a listener: {listeners}");
        // The worker uvicorn started (its own session) is gone too.
        let worker: Option<i32> = stderr
            .split("Started server process [")
            .nth(1)
            .and_then(|rest| rest.split(']').next())
            .and_then(|n| n.parse().ok());
        let worker = worker.unwrap_or_else(|| panic!("{label}: no \"Started server process [PID]\" in:\n{stderr}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while pid_alive(worker) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!pid_alive(worker), "{label}: the serve worker {worker} outlived its supervisor");
        // Addresses and times vary between runs; the words and the status must not.
        let message: Vec<String> = stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.chars().map(|c| if c.is_ascii_digit() { '0' } else { c }).collect())
            .collect();
        results.push((label, out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), message));
    }
    drop(holder);
    assert_eq!(results[0].1, Some(3), "the launcher: {:?}", results[0]);
    assert!(results[0].3.iter().any(|l| l.contains("address already in use")), "{:?}", results[0].3);
    assert_eq!(
        (&results[0].1, &results[0].2, &results[0].3),
        (&results[1].1, &results[1].2, &results[1].3),
        "launcher vs python3 -m mlxk2.cli"
    );
    timing(format!("serve on a bound port: exit {:?}, message {:?}", results[0].1, results[0].3));
}

/// Issue 21: the serve worker (a plain `python3` child, its own session) follows the
/// launcher's bytecode-cache decision. A copy of the real bundle without shipped pycs: with a
/// trusted cache root the worker gets the launcher's `PYTHONPYCACHEPREFIX`; with a cache root
/// anyone may write (0777, not sticky) it gets `PYTHONDONTWRITEBYTECODE=1` and no prefix.
/// Read from the running worker's `/proc/<pid>/environ`.
#[test]
fn serve_worker_environment_follows_the_cache_decision() {
    use std::os::unix::fs::PermissionsExt;
    let _g = serial();
    let s = stack();
    let root = scratch("real-nopyc").join("App");
    link_tree(&s.app.root, &root);
    let app = Bundle { root };
    for dir in tree(&app.vendor()).into_iter().filter(|p| p.ends_with("__pycache__")) {
        let _ = fs::remove_dir_all(dir);
    }
    for trusted in [true, false] {
        let cache = scratch("real-cache-root");
        if !trusted {
            fs::set_permissions(&cache, fs::Permissions::from_mode(0o777)).unwrap();
        }
        let mut described = s.launcher(&app);
        let described = run(described.env("XDG_CACHE_HOME", &cache).arg("--python-info")).json();
        let bytecode = &described["bytecode"];
        assert_eq!(bytecode["shipped_pycs"], false, "{bytecode}");
        let port = free_port().to_string();
        let mut child = s
            .launcher(&app)
            .env("XDG_CACHE_HOME", &cache)
            .args(["serve", "--host", "127.0.0.1", "--port", &port])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let seen =
            String::from_utf8_lossy(&read_until(&mut stderr, b"Started server process [", Duration::from_secs(120)))
                .into_owned();
        let pid = String::from_utf8_lossy(&read_until(&mut stderr, b"]", Duration::from_secs(10)))
            .trim_end_matches(']')
            .to_string();
        let environ =
            fs::read(format!("/proc/{pid}/environ")).unwrap_or_else(|e| panic!("worker {pid:?} ({e}):\n{seen}"));
        let vars: Vec<(String, String)> = environ
            .split(|&b| b == 0)
            .filter_map(|kv| String::from_utf8_lossy(kv).split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
        let var = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        sigterm(child.id());
        let status = wait_timeout(&mut child, Duration::from_secs(30));
        assert!(status.is_some(), "the launcher did not stop after SIGTERM");
        if trusted {
            let prefix = bytecode["pycache_prefix"].as_str().expect("a trusted cache is used").to_string();
            assert_eq!(var("PYTHONPYCACHEPREFIX").as_deref(), Some(prefix.as_str()), "worker environment: {vars:?}");
            assert_eq!(var("PYTHONDONTWRITEBYTECODE"), None);
            assert!(
                tree(Path::new(&prefix)).iter().any(|p| p.to_string_lossy().contains("/uvicorn/")),
                "the worker cached nothing"
            );
        } else {
            assert_eq!(bytecode["pycache_prefix"], Value::Null, "{bytecode}");
            assert!(bytecode["no_cache_reason"].as_str().unwrap().contains("not sticky (mode 0777)"), "{bytecode}");
            assert_eq!(var("PYTHONDONTWRITEBYTECODE").as_deref(), Some("1"), "worker environment: {vars:?}");
            assert_eq!(var("PYTHONPYCACHEPREFIX"), None);
            assert!(tree(&cache).is_empty(), "something was written into the untrusted cache root");
        }
        timing(format!("serve worker env (cache {}): ok", if trusted { "trusted" } else { "untrusted" }));
    }
}

/// SIGTERM to the launcher (mlx-knife stops its worker).
fn sigterm(pid: u32) {
    run_ok(Command::new("kill").args(["-TERM", &pid.to_string()]));
}

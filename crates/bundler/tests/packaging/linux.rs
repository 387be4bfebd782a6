//! The Linux wheel as a packager uses it: the real mlx-knife 2.0.8 bundle built from a fresh
//! venv with no compiler (traced), serving a chat through its launcher; `uv tool install`; and
//! bad kits refused with exit 3 and no bundle left behind; the wheel's manylinux tag against the
//! glibc symbol versions its binaries use.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::*;

/// The syscalls traced: every program run, every path created, written, renamed or removed.
const TRACED: &str =
    "trace=execve,openat,creat,mkdir,mkdirat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,unlink,unlinkat";

/// What a traced build ran and wrote, from `strace -f -y -o FILE`'s lines.
struct Trace {
    programs: BTreeSet<String>,
    written: BTreeSet<PathBuf>,
}

fn quoted(line: &str) -> Vec<String> {
    line.split('"').skip(1).step_by(2).map(String::from).collect()
}

/// `openat(5</dir>, "name", …)` or `openat(AT_FDCWD</dir>, …)`: the directory the first
/// argument names, as `strace -y` shows it.
fn fd_dir(line: &str) -> Option<PathBuf> {
    let start = line.find('(')? + 1;
    let rest = &line[start..];
    let open = rest.find('<')?;
    let close = rest.find('>')?;
    let fd = &rest[..open];
    (open < close && (fd == "AT_FDCWD" || (!fd.is_empty() && fd.chars().all(|c| c.is_ascii_digit()))))
        .then(|| PathBuf::from(&rest[open + 1..close]))
}

/// `… = 3</abs/path>`: the file a successful open returned, as `strace -y` shows it.
fn opened(line: &str) -> Option<PathBuf> {
    let (_, result) = line.rsplit_once(" = ")?;
    let open = result.find('<')?;
    let close = result.rfind('>')?;
    (open < close).then(|| PathBuf::from(&result[open + 1..close]))
}

/// The programs run and the paths written. A relative path without a directory fd (`mkdir`,
/// `rename`, `unlink`) is taken relative to `cwd`: the bundler's children keep its cwd.
fn read_trace(file: &Path, cwd: &Path) -> Trace {
    let text = fs::read_to_string(file).unwrap();
    let mut trace = Trace { programs: BTreeSet::new(), written: BTreeSet::new() };
    for line in text.lines() {
        let call = line.split_whitespace().nth(1).unwrap_or("");
        if line.contains(" = -1 ") || call.starts_with("---") || call.starts_with("+++") {
            continue;
        }
        let paths = quoted(line);
        if call.starts_with("execve(") {
            trace.programs.extend(paths.first().cloned());
            continue;
        }
        if call.starts_with("openat(") || call.starts_with("creat(") {
            let writes =
                call.starts_with("creat(") || ["O_WRONLY", "O_RDWR", "O_CREAT"].iter().any(|f| line.contains(f));
            if writes {
                let base = fd_dir(line).unwrap_or_else(|| cwd.to_path_buf());
                trace
                    .written
                    .insert(opened(line).unwrap_or_else(|| base.join(paths.first().cloned().unwrap_or_default())));
            }
            continue;
        }
        let base = fd_dir(line).unwrap_or_else(|| cwd.to_path_buf());
        for p in paths {
            trace.written.insert(base.join(p));
        }
    }
    trace
}

/// Builds the real stack's Linux bundle with the packager's bundler under strace.
fn traced_build(cwd: &Path, extra: &[&str]) -> (Run, Trace) {
    let wheels = real_wheel_cache();
    let trace_file = cwd.join(".trace");
    let mut cmd = Command::new("strace");
    packager().env(&mut cmd, cwd);
    cmd.args(["-f", "-qq", "-y", "-e", TRACED, "-e", "signal=none", "-o"])
        .arg(&trace_file)
        .arg(packager().bin.join("build-external-python"))
        .args(["--quiet", "--project", "mlx-knife==2.0.8", "--requirements"])
        .arg(Path::new(REPO).join("launcher-tests/real/requirements.txt"))
        .arg("--pip-args")
        .arg(format!("--no-index --find-links {}", wheels.display()))
        .args(extra);
    let r = run(&mut cmd);
    assert!(!r.stderr().contains("strace: "), "strace itself failed (install strace): {}", r.stderr());
    (r, read_trace(&trace_file, cwd))
}

/// A Resources folder: the relocated test Python and the dist dir, as an app lays them out.
fn app(dist: &Path, name: &str) -> Bundle {
    let root = scratch(name);
    link_tree(python_tree(), &root.join("Resources/python"));
    link_tree(dist, &root.join("Resources/mlxk2"));
    Bundle { root }
}

/// The real stack's Linux bundle built once by the packager's bundler under strace, laid out
/// as an app's Resources.
pub struct LinuxBuild {
    pub cwd: PathBuf,
    pub dist: PathBuf,
    trace: Trace,
    pub app: Bundle,
}

pub fn linux_build() -> &'static LinuxBuild {
    static BUILD: OnceLock<LinuxBuild> = OnceLock::new();
    BUILD.get_or_init(|| {
        kept(|| {
            let cwd = scratch("packager-linux");
            let python = python_tree().join("bin/python3");
            let (r, trace) = traced_build(&cwd, &["--python", python.to_str().unwrap()]);
            assert_eq!(r.code, Some(0), "{}", r.stderr());
            let dist = cwd.join("dist-ext-python/msty-mlx-studio");
            let app = app(&dist, "packager-linux-app");
            LinuxBuild { cwd, dist, trace, app }
        })
    })
}

#[test]
fn linux_bundle_from_the_pip_installed_wheel_runs_no_compiler_and_writes_only_output_and_caches() {
    let b = linux_build();
    let ran: Vec<&String> = b
        .trace
        .programs
        .iter()
        .filter(|p| COMPILERS.contains(&Path::new(p).file_name().unwrap_or_default().to_str().unwrap_or("")))
        .collect();
    assert!(ran.is_empty(), "compilers ran: {ran:?} (all programs: {:?})", b.trace.programs);
    assert!(b.trace.programs.iter().any(|p| p.ends_with("/uv")), "uv ran: {:?}", b.trace.programs);

    // Nothing written outside the output dir (the build's TMPDIR is inside the cwd) and the
    // documented caches: uv's, and the bundler's (tools, bytecode, the launcher's pycache).
    let home = dirs::home_dir().unwrap();
    // pip's cache: when the pinned uv is installed (--require-hashes) on a machine without it.
    let allowed = [
        b.cwd.clone(),
        home.join(".cache/uv"),
        home.join(".cache/msty-mlx-studio"),
        home.join(".cache/pip"),
        PathBuf::from("/dev"),
    ];
    let outside: Vec<&PathBuf> = b.trace.written.iter().filter(|p| !allowed.iter().any(|a| p.starts_with(a))).collect();
    assert!(outside.is_empty(), "written outside the output and the documented caches: {outside:?}");
    let at_top: Vec<String> = fs::read_dir(&b.cwd)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(at_top, ["dist-ext-python"], "the cwd holds only the output");

    // The kit's files, checked, and the manifest says so.
    let m: Value = serde_json::from_slice(&fs::read(b.dist.join("bundle-manifest.json")).unwrap()).unwrap();
    let kit = &m["kit"];
    assert_eq!(kit["target"], "x86_64-unknown-linux-gnu");
    assert!(kit["dir"].as_str().unwrap().starts_with(packager().venv.to_str().unwrap()), "{kit}");
    assert_eq!(m["mlxk2_version"], "2.0.8");
    assert!(m["sanity_check"].as_str().unwrap().starts_with("ok: "), "{}", m["sanity_check"]);
    for file in kit["files"].as_array().unwrap() {
        let bytes = fs::read(b.dist.join(file["dest"].as_str().unwrap())).unwrap();
        assert_eq!(file["sha256"], msty_mlx_bundler::digest::sha256_hex(&bytes), "{file}");
    }
}

#[test]
fn linux_bundle_from_the_pip_installed_wheel_serves_a_chat() {
    let b = linux_build();
    let hf_home = b.cwd.join(".hf");
    let (model, expected_reply) = tiny_model(&b.app, &hf_home);
    assert_eq!(chat(&b.app, &hf_home, &b.cwd.join(".tmp"), &model), expected_reply);
}

/// `serve` through the launcher, one chat completion, SIGTERM; the reply's text.
fn chat(app: &Bundle, hf_home: &Path, tmp: &Path, model: &str) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = app
        .launcher()
        .args(["serve", "--host", "127.0.0.1", "--port", &port.to_string()])
        .env("RESOURCES_PATH", app.resources())
        .env("HF_HOME", hf_home)
        .env("HF_HUB_OFFLINE", "1")
        .env("TMPDIR", tmp)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while http(port, "GET", "/health", None).is_none_or(|(status, _)| status != 200) {
        if let Ok(Some(status)) = server.try_wait() {
            let mut err = String::new();
            server.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            panic!("the server exited ({status}) before /health answered:\n{err}");
        }
        assert!(start.elapsed() < Duration::from_secs(180), "/health did not answer within 180 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    let body = json!({ "model": model, "messages": [{ "role": "user", "content": "hi" }] });
    let (status, text) =
        http(port, "POST", "/v1/chat/completions", Some(&body)).expect("the chat request got no answer");
    terminate(&server);
    let exit =
        wait_timeout(&mut server, Duration::from_secs(30)).expect("the server did not stop within 30 s of SIGTERM");
    // mlx-knife stops its worker and exits 128 + SIGTERM (docs/electron.md).
    assert_eq!(exit.code(), Some(143), "{exit}");
    assert_eq!(status, 200, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    answer["choices"][0]["message"]["content"].as_str().unwrap_or_default().to_string()
}

/// SIGTERM, as Electron's `child.kill()` sends it.
fn terminate(child: &std::process::Child) {
    run_ok(Command::new("kill").args(["-TERM", &child.id().to_string()]));
}

/// One HTTP/1.0 request to 127.0.0.1:`port`: (status, body), or `None` when nothing answers.
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(120))).ok()?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

#[test]
fn uv_tool_install_gives_the_same_bundler_and_kit() {
    let uv = uv_program();
    let root = scratch("uv-tool");
    let (tools, bin) = (root.join("tools"), root.join("bin"));
    let mut cmd = Command::new(&uv);
    cmd.args(["tool", "install", "--offline", "--no-config"])
        .arg(linux_wheel())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", dirs::home_dir().unwrap())
        .env("UV_TOOL_DIR", &tools)
        .env("UV_TOOL_BIN_DIR", &bin)
        .env("UV_PYTHON", &host_python().executable)
        .env("UV_PYTHON_DOWNLOADS", "never");
    run_ok(&mut cmd);
    let bundler = bin.join("build-external-python");
    assert!(
        bundler.is_symlink() || bundler.is_file(),
        "uv tool install put no build-external-python into {}",
        bin.display()
    );
    let cwd = scratch("uv-tool-build");
    let mut cmd = Command::new(&bundler);
    packager().env(&mut cmd, &cwd);
    cmd.env("PATH", format!("{}:/usr/bin:/bin", bin.display()));
    let check = run(cmd.args(["kit", "check"]));
    assert_eq!(check.code, Some(0), "{}", check.stderr());
    assert!(
        // Per target: the launcher, four runtimes, the served port's guard (three files).
        check.stdout().contains("16 files for aarch64-apple-darwin, x86_64-unknown-linux-gnu match"),
        "{}",
        check.stdout()
    );
    // The real bundle, from the kit beside uv's tool environment (the PATH entry is a symlink).
    let mut cmd = Command::new(&bundler);
    packager().env(&mut cmd, &cwd);
    let wheels = real_wheel_cache();
    let r = run(cmd
        .args(["--quiet", "--python"])
        .arg(python_tree().join("bin/python3"))
        .args(["--project", "mlx-knife==2.0.8", "--requirements"])
        .arg(Path::new(REPO).join("launcher-tests/real/requirements.txt"))
        .arg("--pip-args")
        .arg(format!("--no-index --find-links {}", wheels.display())));
    assert_eq!(r.code, Some(0), "{}", r.stderr());
    let m: Value =
        serde_json::from_slice(&fs::read(cwd.join("dist-ext-python/msty-mlx-studio/bundle-manifest.json")).unwrap())
            .unwrap();
    assert!(m["kit"]["dir"].as_str().unwrap().starts_with(tools.to_str().unwrap()), "{}", m["kit"]);
    assert!(m["sanity_check"].as_str().unwrap().starts_with("ok: "), "{}", m["sanity_check"]);
}

/// The pinned uv (the bundler's own choice: on PATH or in its tool cache).
fn uv_program() -> PathBuf {
    msty_mlx_bundler::uv::find_or_install(msty_mlx_bundler::uv::tools_dir().as_deref(), &|l| eprintln!("{l}"))
        .unwrap()
        .program
}

/// The installed kit, copied to be broken.
fn kit_copy(name: &str) -> PathBuf {
    let installed = packager().venv.join("share/msty-mlx-studio/kit");
    let copy = scratch(name).join("kit");
    fs::create_dir_all(&copy).unwrap();
    run_ok(Command::new("cp").arg("-a").arg(format!("{}/.", installed.display())).arg(&copy));
    copy
}

#[test]
fn bad_kits_are_refused_with_exit_3_and_leave_no_bundle() {
    let xy = &*XY;
    let changed = kit_copy("kit-changed-byte");
    let runtime = changed.join(format!("x86_64-unknown-linux-gnu/py{xy}/libmsty_mlx_runtime.so"));
    let mut bytes = fs::read(&runtime).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(&runtime, bytes).unwrap();
    let cases: Vec<(PathBuf, Vec<String>, String)> = vec![
        (
            changed,
            vec!["--python".into(), python_tree().join("bin/python3").to_string_lossy().into_owned()],
            format!("py{xy}/libmsty_mlx_runtime.so` does not match its SHA-256 in kit-manifest.json"),
        ),
        (
            packager().venv.join("share/msty-mlx-studio/kit"),
            ["--wheels-only", "--target-platform", "linux_x86_64", "--target-python-version", "3.9"]
                .map(String::from)
                .to_vec(),
            "has no runtime for Python 3.9 on x86_64-unknown-linux-gnu (it has: 3.10, 3.11, 3.12, 3.13)".into(),
        ),
    ];
    for (kit, args, needle) in cases {
        let cwd = scratch("bad-kit");
        let r = run(packager()
            .bundler(&cwd)
            .arg("--launcher-kit")
            .arg(&kit)
            .args(&args)
            .args(["--project", "mlx-knife==2.0.8", "--pip-args"])
            .arg(format!("--no-index --find-links {}", real_wheel_cache().display())));
        assert_eq!(r.code, Some(3), "{needle}: {}", r.stderr());
        let last = r.stderr().lines().last().unwrap_or("").to_string();
        assert!(last.starts_with("build-external-python: error: ") && last.contains(&needle), "{last}");
        assert!(!r.stderr().contains("Compiling") && !r.stderr().contains("Placing"), "{}", r.stderr());
        let left: Vec<String> = files_under(&cwd).into_iter().filter(|f| !f.starts_with(".tmp")).collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}

/// The Linux wheel's `manylinux_2_N` tag is the newest glibc symbol version its ELF files use
/// (the bundler, and the Linux kit's launcher and runtimes): newer would refuse systems it runs
/// on, older would install where a symbol is missing.
#[test]
fn the_linux_wheels_manylinux_tag_is_the_newest_glibc_its_binaries_use() {
    let wheel = linux_wheel();
    let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
    let tag: u32 = name
        .strip_suffix("_x86_64.whl")
        .and_then(|n| n.rsplit("-manylinux_2_").next())
        .and_then(|minor| minor.parse().ok())
        .unwrap_or_else(|| panic!("{name}: not a manylinux_2_N_x86_64 wheel"));
    let dir = scratch("linux-wheel-elf");
    let mut newest = 0;
    let mut elves = 0;
    for (member, bytes) in wheel_members(&wheel) {
        if !bytes.starts_with(b"\x7fELF") {
            continue;
        }
        elves += 1;
        let file = dir.join(member.replace('/', "_"));
        fs::write(&file, &bytes).unwrap();
        let out = run_ok(Command::new("objdump").arg("-T").arg(&file));
        let used = String::from_utf8_lossy(&out.stdout)
            .split("GLIBC_2.")
            .skip(1)
            .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse::<u32>().ok())
            .max()
            .unwrap_or_else(|| panic!("{member}: no GLIBC_2.* symbol versions"));
        newest = newest.max(used);
    }
    // The bundler, the Linux launcher and its four runtimes.
    assert_eq!(elves, 6, "ELF files in {name}");
    assert_eq!(tag, newest, "{name}: tagged manylinux_2_{tag}, its binaries need glibc 2.{newest}");
}

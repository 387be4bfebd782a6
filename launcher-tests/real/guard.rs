//! Issue 26: the served port's guard on the real stack (mlx-knife 2.0.8 served by the launcher),
//! request by request with raw HTTP: foreign origins, DNS rebinding, `Origin: null`, no Origin,
//! an allowed origin, missing/wrong/right tokens, IPv6 loopback, binds beyond loopback, the
//! embed server, the opt-out, and the guard failing closed when it cannot attach.

use std::net::TcpStream;
use std::process::Command;

use super::http::{Reply, Served, hmac_sha256, request};
use super::*;

pub const TOKEN: &str = "guard-test-token_0123456789.abcdefghijklmnop";
const ALLOWED: &str = "http://127.0.0.2:5173";
const EVIL: &str = "https://evil.example";

/// The launcher with the guard's settings in its environment.
pub fn guarded(s: &Stack, app: &Bundle, token: Option<&str>, origins: Option<&str>) -> Command {
    let mut cmd = s.launcher(app);
    if let Some(token) = token {
        cmd.env("MLXK2_SERVE_TOKEN", token);
    }
    if let Some(origins) = origins {
        cmd.env("MLXK2_ALLOWED_ORIGINS", origins);
    }
    cmd
}

fn chat_body(s: &Stack) -> String {
    json!({ "model": s.model, "messages": [{ "role": "user", "content": "hi" }] }).to_string()
}

fn reply_text(r: &Reply) -> String {
    let v: Value = serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body));
    v["choices"][0]["message"]["content"].as_str().unwrap_or_default().to_string()
}

/// A 403 or 401 of the guard's: an OpenAI-style error with `code`, and no CORS grant.
fn denied(r: &Reply, status: u16, code: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: {r:?}");
    let v: Value = serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{what}: {e}: {}", r.body));
    assert_eq!(v["error"]["code"], code, "{what}: {r:?}");
    if status == 403 {
        assert!(!r.has_cors(), "{what}: a denied origin got CORS headers: {r:?}");
    }
}

#[test]
fn the_guard_answers_the_app_not_every_web_page() {
    let _g = serial();
    let s = stack();
    let start = Instant::now();
    let served = Served::start(guarded(s, &s.app, Some(TOKEN), Some(ALLOWED)), "127.0.0.1", Some(TOKEN));
    let ready = start.elapsed();
    let a = served.addr;
    let port = a.port().to_string();
    let bearer = format!("Bearer {TOKEN}");
    let auth = ("Authorization", bearer.as_str());
    let body = chat_body(s);
    let chat = |headers: &[(&str, &str)]| request(a, "POST", "/v1/chat/completions", headers, Some(&body));
    let preflight = |origin: &str| {
        request(
            a,
            "OPTIONS",
            "/v1/chat/completions",
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "authorization, content-type"),
            ],
            None,
        )
    };

    // No Origin (SDKs, curl) with the token: mlx-knife answers, and no CORS header is added.
    let models = request(a, "GET", "/v1/models", &[auth], None);
    assert_eq!(models.status, 200, "{models:?}");
    assert!(models.body.contains(&s.model) && !models.has_cors(), "{models:?}");
    let r = chat(&[auth]);
    assert_eq!((r.status, reply_text(&r)), (200, s.expected.clone()), "{r:?}");
    assert_eq!(request(a, "GET", "/health", &[auth], None).status, 200);

    // Missing, wrong and non-bearer tokens: 401 on every route, /health included.
    let basic = format!("Basic {TOKEN}");
    for (what, headers) in [
        ("no token, /health", vec![]),
        ("wrong token", vec![("Authorization", "Bearer guard-test-token_0123456789.abcdefghijklmnoX")]),
        ("the token as Basic", vec![("Authorization", basic.as_str())]),
        ("bearer without a token", vec![("Authorization", "Bearer")]),
    ] {
        let r = request(a, "GET", "/health", &headers, None);
        denied(&r, 401, "invalid_api_key", what);
        assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{what}");
    }
    denied(&request(a, "GET", "/v1/models", &[], None), 401, "invalid_api_key", "models without a token");
    denied(&chat(&[]), 401, "invalid_api_key", "chat without a token");

    // A foreign origin: the preflight, a GET and a POST are refused, with no CORS grant.
    denied(&preflight(EVIL), 403, "origin_not_allowed", "foreign preflight");
    denied(&request(a, "GET", "/v1/models", &[("Origin", EVIL), auth], None), 403, "origin_not_allowed", "foreign GET");
    denied(&chat(&[("Origin", EVIL), auth]), 403, "origin_not_allowed", "foreign POST");
    // `Origin: null` (sandboxed frames, file: pages, redirects): refused too.
    denied(&preflight("null"), 403, "origin_not_allowed", "null preflight");
    denied(&chat(&[("Origin", "null"), auth]), 403, "origin_not_allowed", "null POST");

    // DNS rebinding: the attacker's name as Host, same-origin (no Origin on a GET) or with it.
    let rebound = format!("attacker.example:{port}");
    let rebound_origin = format!("http://attacker.example:{port}");
    denied(
        &request(a, "GET", "/v1/models", &[("Host", &rebound), auth], None),
        403,
        "host_not_allowed",
        "rebinding GET",
    );
    denied(&chat(&[("Host", &rebound), ("Origin", &rebound_origin), auth]), 403, "host_not_allowed", "rebinding POST");
    for host in ["evil.localhost", "127.0.0.1.nip.io", "localhost.attacker.example", ""] {
        let what = format!("Host {host:?}");
        denied(&request(a, "GET", "/health", &[("Host", host), auth], None), 403, "host_not_allowed", &what);
    }
    // Loopback in every spelling passes, on any port.
    for host in ["localhost", "LOCALHOST:1", "localhost.", "127.0.0.1", "127.0.0.5:80", "[::1]", "[::ffff:127.0.0.1]"] {
        assert_eq!(request(a, "GET", "/health", &[("Host", host), auth], None).status, 200, "Host {host}");
    }

    // The allowed origin: the guard answers the preflight (no token needed there), and the
    // request gets its own CORS answer — never mlx-knife's credentials grant.
    let pre = preflight(ALLOWED);
    assert_eq!(pre.status, 204, "{pre:?}");
    assert_eq!(pre.header("access-control-allow-origin"), Some(ALLOWED));
    assert_eq!(pre.header("access-control-allow-headers"), Some("authorization, content-type"));
    assert_eq!(pre.header("access-control-allow-methods"), Some("POST"));
    assert_eq!(pre.header("access-control-allow-credentials"), None);
    let r = chat(&[("Origin", ALLOWED), auth]);
    assert_eq!((r.status, reply_text(&r)), (200, s.expected.clone()), "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), Some(ALLOWED), "{r:?}");
    assert_eq!(r.header("access-control-allow-credentials"), None, "mlx-knife's grant must go: {r:?}");
    let varies = r.headers.iter().filter(|(n, v)| n == "vary" && v.to_ascii_lowercase().contains("origin")).count();
    assert_eq!(varies, 1, "one Vary: Origin: {r:?}");
    let r = request(a, "GET", "/v1/models", &[("Origin", ALLOWED)], None);
    denied(&r, 401, "invalid_api_key", "allowed origin without the token");
    assert_eq!(r.header("access-control-allow-origin"), Some(ALLOWED), "the app can read its 401");

    // Two Authorization headers: which one counts is not defined, so neither does.
    let dup = request(a, "GET", "/health", &[auth, ("Authorization", "Bearer x")], None);
    denied(&dup, 400, "duplicate_header", "duplicate Authorization");

    // Readiness proof: HMAC(token, context + challenge), with or without the token; none for a
    // challenge of the wrong shape.
    let challenge = "cHJvb2Ytb2YtdGhlLWd1YXJk_0123456789";
    let expected = hmac_sha256(TOKEN.as_bytes(), format!("msty-mlx-studio guard proof v1\n{challenge}").as_bytes());
    let r = request(a, "GET", "/health", &[("X-Msty-Guard-Challenge", challenge)], None);
    assert_eq!((r.status, r.header("x-msty-guard-proof")), (401, Some(expected.as_str())), "{r:?}");
    let r = request(a, "GET", "/health", &[("X-Msty-Guard-Challenge", challenge), auth], None);
    assert_eq!((r.status, r.header("x-msty-guard-proof")), (200, Some(expected.as_str())), "{r:?}");
    let r = request(a, "GET", "/health", &[("X-Msty-Guard-Challenge", "short"), auth], None);
    assert_eq!(r.header("x-msty-guard-proof"), None);

    let log = served.stderr();
    assert_eq!(served.stop(), Some(143), "{log}");
    assert!(!log.contains("Traceback"), "{log}");
    timing(format!(
        "guard matrix: ready in {:.0} ms, 40 requests, {:.1} s in all",
        ready.as_secs_f64() * 1e3,
        start.elapsed().as_secs_f64()
    ));
}

#[test]
fn ipv6_loopback_is_guarded() {
    let _g = serial();
    let s = stack();
    let served = Served::start(guarded(s, &s.app, Some(TOKEN), None), "::1", Some(TOKEN));
    let a = served.addr;
    let bearer = format!("Bearer {TOKEN}");
    let r = request(a, "GET", "/v1/models", &[("Authorization", &bearer)], None);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains(&s.model));
    denied(&request(a, "GET", "/v1/models", &[], None), 401, "invalid_api_key", "[::1] without a token");
    let rebound = format!("attacker.example:{}", a.port());
    denied(
        &request(a, "GET", "/health", &[("Host", &rebound), ("Authorization", &bearer)], None),
        403,
        "host_not_allowed",
        "[::1] rebinding",
    );
    denied(
        &request(a, "GET", "/health", &[("Origin", EVIL), ("Authorization", &bearer)], None),
        403,
        "origin_not_allowed",
        "[::1] foreign origin",
    );
    assert_eq!(served.stop(), Some(143));
}

/// Live processes whose environment holds `tag` (`NAME=value`), this test's own excepted.
fn tagged(tag: &str) -> Vec<i32> {
    let needle = format!("\0{tag}\0");
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != std::process::id() as i32)
        .filter(|&pid| {
            let environ = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            pid_alive(pid) && format!("\0{}\0", String::from_utf8_lossy(&environ)).contains(&needle)
        })
        .collect()
}

/// Runs `serve` to its end (it must end by itself): status, the launcher's error lines, and
/// that nothing it started is left or listening.
fn refused(mut cmd: Command, host: &str, what: &str) -> (Option<i32>, Vec<String>) {
    let tag = format!("MLXK2_GUARD_TEST_TAG={}-{}", std::process::id(), free_port());
    let (k, v) = tag.split_once('=').unwrap();
    let port = free_port();
    let started = Instant::now();
    let child = cmd
        .env(k, v)
        .args(["serve", "--host", host, "--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, out) = output_within(child, Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(status.is_some(), "{what}: still running after 120 s:\n{stderr}");
    let errors: Vec<String> =
        stderr.lines().filter(|l| l.starts_with("msty-mlx-studio: error: ")).map(String::from).collect();
    assert!(!stderr.contains("Traceback"), "{what}: {stderr}");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "{what}: something listens on {port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !tagged(&tag).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(tagged(&tag), Vec::<i32>::new(), "{what}: processes left behind");
    timing(format!("{what}: exit {:?} after {:.0} ms", out.status.code(), started.elapsed().as_secs_f64() * 1e3));
    (out.status.code(), errors)
}

#[test]
fn beyond_loopback_needs_a_token() {
    let _g = serial();
    let s = stack();
    let (code, errors) = refused(guarded(s, &s.app, None, None), "0.0.0.0", "0.0.0.0 without a token");
    assert_eq!(code, Some(89), "{errors:?}");
    assert_eq!(errors.len(), 1, "one line: {errors:?}");
    assert!(errors[0].contains("serve was told to bind `0.0.0.0`, beyond loopback, without a token"), "{errors:?}");

    // With the token: the wildcard answers an IP literal (no DNS rebinding can produce one),
    // never a name.
    let served = Served::start(guarded(s, &s.app, Some(TOKEN), None), "0.0.0.0", Some(TOKEN));
    let (a, port) = (served.addr, served.addr.port());
    let bearer = format!("Bearer {TOKEN}");
    for host in [format!("192.0.2.10:{port}"), format!("[2001:db8::1]:{port}"), format!("127.0.0.1:{port}")] {
        assert_eq!(
            request(a, "GET", "/health", &[("Host", &host), ("Authorization", &bearer)], None).status,
            200,
            "{host}"
        );
    }
    let name = format!("mymac.attacker.example:{port}");
    denied(
        &request(a, "GET", "/health", &[("Host", &name), ("Authorization", &bearer)], None),
        403,
        "host_not_allowed",
        "a name on 0.0.0.0",
    );
    denied(&request(a, "GET", "/health", &[], None), 401, "invalid_api_key", "0.0.0.0 without the token");
    assert_eq!(served.stop(), Some(143));
}

#[test]
fn the_opt_out_is_mlx_knifes_own_behaviour() {
    let _g = serial();
    let s = stack();
    let mut off = s.launcher(&s.app);
    off.env("MLXK2_GUARD", "off");
    let served = Served::start(off, "127.0.0.1", None);
    let a = served.addr;
    let pre = request(a, "OPTIONS", "/v1/models", &[("Origin", EVIL), ("Access-Control-Request-Method", "GET")], None);
    assert_eq!(
        (pre.status, pre.header("access-control-allow-origin"), pre.header("access-control-allow-credentials")),
        (200, Some(EVIL), Some("true")),
        "mlx-knife's own CORS: {pre:?}"
    );
    let rebound = format!("attacker.example:{}", a.port());
    assert_eq!(request(a, "GET", "/v1/models", &[("Host", &rebound)], None).status, 200);
    assert_eq!(served.stop(), Some(143));

    // Off together with a token is refused at once: the app would believe it is protected.
    let r = run(s.launcher(&s.app).env("MLXK2_GUARD", "off").env("MLXK2_SERVE_TOKEN", TOKEN).args(["serve"]));
    assert_eq!(r.code, Some(80), "{}", r.stderr());
    assert_eq!(
        r.stderr().trim_end(),
        "msty-mlx-studio: error: MLXK2_SERVE_TOKEN is set, but MLXK2_GUARD=off turns off the guard that would use it; unset MLXK2_SERVE_TOKEN, or unset MLXK2_GUARD"
    );
}

/// A copy of the app (hard links) whose `_vendor` file `rel` is rewritten by `change` (a new
/// file, not the shared inode) and its shipped pyc removed: an mlx-knife stack that serves
/// differently.
fn changed_copy(s: &Stack, name: &str, rel: &str, change: impl Fn(String) -> String) -> Bundle {
    let root = scratch(name).join("App");
    link_tree(&s.app.root, &root);
    let app = Bundle { root };
    let file = app.vendor().join(rel);
    let text = change(fs::read_to_string(&file).unwrap());
    fs::remove_file(&file).unwrap();
    fs::write(&file, text).unwrap();
    let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
    for pyc in fs::read_dir(file.parent().unwrap().join("__pycache__")).unwrap().flatten() {
        if pyc.file_name().to_string_lossy().starts_with(&format!("{stem}.")) {
            fs::remove_file(pyc.path()).unwrap();
        }
    }
    app
}

#[test]
fn the_guard_fails_closed_when_it_cannot_attach() {
    let _g = serial();
    let s = stack();
    // A server that never loads the app through uvicorn's Config (as if mlx-knife served with
    // something else): the first TCP listener without the guard ends the worker, and serve.
    let other_server = changed_copy(s, "guard-other-server", "uvicorn/main.py", |text| {
        text + "\n\ndef run(app, host='127.0.0.1', port=8000, **kwargs):  # not through Config.load\n    import http.server\n    http.server.HTTPServer((host, port), http.server.BaseHTTPRequestHandler).serve_forever()\n"
    });
    let (code, errors) =
        refused(guarded(s, &other_server, Some(TOKEN), None), "127.0.0.1", "a server outside uvicorn's Config");
    assert_eq!(code, Some(89), "{errors:?}");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("but the served port's guard did not attach"), "{errors:?}");
    // The opt-out serves it, unguarded: mlx-knife's (here: the changed stack's) own behaviour.
    let mut off = s.launcher(&other_server);
    off.env("MLXK2_GUARD", "off");
    let port = free_port();
    let mut child = off.args(["serve", "--port", &port.to_string()]).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline && child.try_wait().unwrap().is_none(), "MLXK2_GUARD=off did not serve");
        std::thread::sleep(Duration::from_millis(100));
    }
    sigterm(child.id());
    assert!(wait_timeout(&mut child, Duration::from_secs(30)).is_some());

    // A uvicorn whose Config.load() keeps the app elsewhere: the guard has nothing to wrap.
    let moved_app = changed_copy(s, "guard-moved-app", "uvicorn/config.py", |text| {
        text.replace(
            "        self.loaded = True\n",
            "        self.served_app = self.__dict__.pop('loaded_app')\n        self.loaded = True\n",
        )
    });
    let (code, errors) = refused(guarded(s, &moved_app, None, None), "127.0.0.1", "a uvicorn without loaded_app");
    assert_eq!(code, Some(89), "{errors:?}");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("uvicorn's Config.load() set no loaded_app"), "{errors:?}");
}

#[test]
fn the_embed_server_is_guarded_too() {
    let _g = serial();
    let s = stack();
    // mlx-knife's embed-serve (its own app, `mlxk2.core.embed_server_base`) runs a causal model
    // whose name says "embed": the tiny model, under that name, in an HF_HOME of its own.
    let hf = scratch("guard-embed-hf");
    let model = "mlx-community/tiny-embed-deterministic";
    let from = fs::read_dir(s.hf_home.join("hub"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("models--"))
        .unwrap();
    link_tree(&from.path(), &hf.join("hub/models--mlx-community--tiny-embed-deterministic"));
    let port = free_port();
    let mut cmd = guarded(s, &s.app, Some(TOKEN), None);
    cmd.env("HF_HOME", &hf).env("MLXK2_ENABLE_ALPHA_FEATURES", "1");
    let mut child = cmd
        .args(["embed-serve", model, "--cpu", "--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let a: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let bearer = format!("Bearer {TOKEN}");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !(TcpStream::connect(a).is_ok()
        && request(a, "GET", "/health", &[("Authorization", &bearer)], None).status == 200)
    {
        assert!(Instant::now() < deadline && child.try_wait().unwrap().is_none(), "embed-serve did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    let body = json!({ "model": model, "input": "hi" }).to_string();
    let r = request(a, "POST", "/v1/embeddings", &[("Authorization", &bearer)], Some(&body));
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("\"embedding\""), "{r:?}");
    denied(&request(a, "POST", "/v1/embeddings", &[], Some(&body)), 401, "invalid_api_key", "embed without a token");
    let rebound = format!("attacker.example:{port}");
    denied(
        &request(a, "POST", "/v1/embeddings", &[("Host", &rebound), ("Authorization", &bearer)], Some(&body)),
        403,
        "host_not_allowed",
        "embed rebinding",
    );
    denied(
        &request(a, "POST", "/v1/embeddings", &[("Origin", EVIL), ("Authorization", &bearer)], Some(&body)),
        403,
        "origin_not_allowed",
        "embed foreign origin",
    );
    sigterm(child.id());
    let status = wait_timeout(&mut child, Duration::from_secs(30));
    assert_eq!(status.and_then(|s| s.code()), Some(143));
}

//! The served port's guard, what it costs (issue 26): two servers of the same real bundle
//! (mlx-knife 2.0.8 + mlx[cpu] 0.32.0, shipped pycs, the release launcher, the tiny local
//! model), A with the guard and a token, B with `MLXK2_GUARD=off`, running side by side and
//! asked in alternation, so both see the same machine. Prints medians and ratios of one run;
//! asserts nothing about time.
//!
//! `cargo bench --bench guard [-- --requests N --streams M --runs R]`
//!
//! G1 p50 of `GET /v1/models` (a new connection each, as a polling client); G2 p50 time to the
//! first streamed token of a chat completion; G3 a python3 child's start (the guard's
//! `sitecustomize` on its PYTHONPATH, or not); G4 the launcher's own start (`--version`); G5
//! the guard's own work per request, in-process, without the noise of a server around it.

#[path = "../launcher-tests/harness/mod.rs"]
mod harness;
// Each is shared with another target and used here in part.
#[allow(dead_code)]
#[path = "../launcher-tests/real/http.rs"]
mod http;

#[allow(dead_code)]
#[path = "perf/fixtures.rs"]
mod fixtures;
#[allow(dead_code)]
#[path = "perf/measure.rs"]
mod measure;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use fixtures::*;
use harness::*;
use http::{Served, request};
use measure::{alternate_cpu, median};
use serde_json::Value;

const TOKEN: &str = "guard-bench-token-0123456789abcdefghij";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str, default: usize| {
        args.iter().skip_while(|a| *a != flag).nth(1).and_then(|n| n.parse().ok()).unwrap_or(default)
    };
    let (requests, streams, runs) = (value("--requests", 400), value("--streams", 100), value("--runs", 40));

    let real = real_vendor();
    let b = bundle_with_vendor("guard-bench", &compiled_copy(&real));
    // The guard with pycs, as build-external-python ships it beside the launcher.
    run_ok(
        clean_command(&b.python3())
            .args(["-I", "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash"])
            .arg(b.guard()),
    );
    let home = scratch("guard-bench-home");
    let hf = scratch("guard-bench-hf");
    let (model, _) = tiny_model(&b, &hf);
    let server = |guard: bool| {
        let mut c = b.launcher_in(&home, &[]);
        c.env("HF_HOME", &hf).env("HF_HUB_OFFLINE", "1").env("TMPDIR", scratch("guard-bench-tmp"));
        if guard {
            c.env("MLXK2_SERVE_TOKEN", TOKEN)
        } else {
            c.env("MLXK2_GUARD", "off")
        };
        c
    };
    let on = Served::start(server(true), "127.0.0.1", Some(TOKEN));
    let off = Served::start(server(false), "127.0.0.1", None);
    let bearer = format!("Bearer {TOKEN}");
    let auth_on = [("Authorization", bearer.as_str())];
    let models = |a: SocketAddr, auth: &[(&str, &str)]| {
        let start = Instant::now();
        let r = request(a, "GET", "/v1/models", auth, None);
        assert_eq!(r.status, 200, "{r:?}");
        start.elapsed().as_secs_f64() * 1e3
    };
    let first_token = |a: SocketAddr, auth: &[(&str, &str)]| first_token_ms(a, auth, &model);
    for _ in 0..20 {
        models(on.addr, &auth_on);
        models(off.addr, &[]);
    }
    for _ in 0..3 {
        first_token(on.addr, &auth_on);
        first_token(off.addr, &[]);
    }

    println!("guard cost, CPython {XY}, one run; A = guard on with a token, B = MLXK2_GUARD=off");
    println!("{:<4} {:<58} {:>10} {:>10} {:>7} {:>9}", "id", "A vs B (medians)", "A", "B", "A/B", "A-B");
    let row = |id: &str, what: String, a: f64, b: f64| {
        println!("{id:<4} {what:<58} {a:>8.3}ms {b:>8.3}ms {:>7.3} {:>+7.3}ms", a / b, a - b);
    };
    // Alternating, and which one goes first alternates too.
    let pairs = |n: usize, a: &dyn Fn() -> f64, b: &dyn Fn() -> f64| {
        let (mut ta, mut tb) = (Vec::new(), Vec::new());
        for i in 0..n {
            if i % 2 == 0 {
                ta.push(a());
                tb.push(b());
            } else {
                tb.push(b());
                ta.push(a());
            }
        }
        (median(&mut ta), median(&mut tb))
    };
    let (a, bb) = pairs(requests, &|| models(on.addr, &auth_on), &|| models(off.addr, &[]));
    row("G1", format!("GET /v1/models, p50 of {requests}"), a, bb);
    let (a, bb) = pairs(streams, &|| first_token(on.addr, &auth_on), &|| first_token(off.addr, &[]));
    row("G2", format!("chat stream, time to first token, p50 of {streams}"), a, bb);
    drop((on, off));

    // What every python3 child pays at start: the guard's sitecustomize (B: _vendor alone).
    let child = |pythonpath: String| {
        let mut c = clean_command(&b.python3());
        c.args(["-c", "pass"]).env("PYTHONPATH", pythonpath).env("PYTHONNOUSERSITE", "1").env("PYTHONSAFEPATH", "1");
        c.env("PYTHONDONTWRITEBYTECODE", "1").env("MLXK2_SERVE_TOKEN", TOKEN);
        c
    };
    let ((a, bb), (ca, cb)) =
        alternate_cpu(runs, &mut child(b.pythonpath()), &mut child(b.vendor().display().to_string()));
    row("G3", format!("python3 child start, guard's sitecustomize vs none ({runs})"), a, bb);
    row("G3c", "  the same, CPU time (user + system)".into(), ca, cb);
    let mut off = b.launcher_in(&home, &["--version"]);
    off.env("MLXK2_GUARD", "off");
    let ((a, bb), (ca, cb)) = alternate_cpu(runs, &mut b.launcher_in(&home, &["--version"]), &mut off);
    row("G4", format!("launcher --version, guard loaded vs off ({runs})"), a, bb);
    row("G4c", "  the same, CPU time (user + system)".into(), ca, cb);
    // The guard's own work per request, without the server around it: one ASGI call of the
    // guard (Host, Origin, token checked) around an app that answers at once, vs that app alone.
    let out = run_ok(
        clean_command(&b.python3())
            .args(["-c", PER_REQUEST])
            .arg(TOKEN)
            .env("PYTHONPATH", b.pythonpath())
            .env("PYTHONDONTWRITEBYTECODE", "1"),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut micros = text.split_whitespace().map(|n| n.parse::<f64>().unwrap());
    let (a, bb) = (micros.next().unwrap(), micros.next().unwrap());
    let what = "one ASGI call, guard around a trivial app vs the app alone";
    println!("G5   {what:<58} {a:>8.2}µs {bb:>8.2}µs {:>7.3} {:>+7.2}µs", a / bb, a - bb);
}

/// G5's measurement (prints the two medians in µs): 50 rounds of 2 000 calls each way.
const PER_REQUEST: &str = r#"
import asyncio, statistics, sys, time
import msty_mlx_guard
from msty_mlx_guard_app import Guard
token = sys.argv[1].encode()
async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
async def send(message):
    pass
async def receive():
    return {"type": "http.request"}
scope = {"type": "http", "method": "GET", "path": "/v1/models", "headers": [
    (b"host", b"127.0.0.1:8000"), (b"user-agent", b"OpenAI/Python"), (b"accept", b"application/json"),
    (b"authorization", b"Bearer " + token)]}
guarded = Guard(app, "127.0.0.1", token, frozenset())
async def rounds(target):
    times = []
    for _ in range(50):
        start = time.perf_counter()
        for _ in range(2000):
            await target(scope, receive, send)
        times.append((time.perf_counter() - start) / 2000 * 1e6)
    return statistics.median(times)
print(asyncio.run(rounds(guarded)), asyncio.run(rounds(app)))
"#;

/// Sends a streamed chat completion and returns the time until the first event whose delta
/// carries text; reads the rest of the stream before returning.
fn first_token_ms(a: SocketAddr, auth: &[(&str, &str)], model: &str) -> f64 {
    let body = serde_json::json!({ "model": model, "stream": true, "messages": [{ "role": "user", "content": "hi" }] })
        .to_string();
    let mut text = format!("POST /v1/chat/completions HTTP/1.1\r\nHost: {a}\r\nConnection: close\r\n");
    for (name, value) in auth {
        text += &format!("{name}: {value}\r\n");
    }
    text += &format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    let start = Instant::now();
    let mut stream = TcpStream::connect(a).unwrap();
    stream.write_all(text.as_bytes()).unwrap();
    let (mut seen, mut buf, mut first) = (String::new(), [0u8; 8192], None);
    loop {
        let n = stream.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        if first.is_none() && has_text_event(&seen) {
            first = Some(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    first.unwrap_or_else(|| panic!("no streamed token from {a}: {seen}"))
}

fn has_text_event(seen: &str) -> bool {
    seen.split("data: ").skip(1).filter_map(|event| event.lines().next()).any(|line| {
        serde_json::from_str::<Value>(line)
            .ok()
            .and_then(|v| v["choices"][0]["delta"]["content"].as_str().map(|t| !t.is_empty()))
            .unwrap_or(false)
    })
}

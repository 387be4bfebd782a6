//! Issue 26: a real browser against the guarded server. Headless Chromium (Debian's package)
//! opens a page served from another origin whose script fetches the server with the token (a
//! GET and a JSON POST, both preflighted): from an origin the app did not allow the fetches
//! fail; from the allowed one they read the models and a reply. And the browser, told that
//! `attacker.example` is 127.0.0.1 (what DNS rebinding achieves), is refused by the Host check.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::sync::mpsc;

use super::guard::{TOKEN, guarded};
use super::http::Served;
use super::*;

/// Debian's chromium, or the test fails saying how to get it (run-all.sh installs it as root).
fn chromium() -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("chromium"))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!("chromium is missing: apt-get install chromium (launcher-tests/run-all.sh does as root)")
    })
}

/// Headless Chromium with a fresh profile, in a process group of its own.
fn chromium_on(url: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-breakpad",
        "--disable-crash-reporter",
    ])
    .arg(format!("--user-data-dir={}", scratch("chromium-profile").display()))
    .args(extra)
    .arg(url)
    .stderr(Stdio::null())
    .process_group(0);
    cmd
}

/// Runs Chromium on `url` until `done` says so, then kills its whole process group.
fn browse(url: &str, done: impl FnOnce() -> bool) {
    let mut child = chromium_on(url, &[]).stdout(Stdio::null()).spawn().unwrap();
    let finished = done();
    let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status();
    let _ = child.wait();
    assert!(finished, "chromium on {url}: no report within 90 s");
}

/// The DOM Chromium ends up with for `url` (`--dump-dom`; it exits by itself).
fn dump_dom(url: &str, extra: &[&str]) -> String {
    let mut child = chromium_on(url, &[&["--dump-dom"], extra].concat()).stdout(Stdio::piped()).spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = out.read_to_string(&mut text);
        text
    });
    let status = wait_timeout(&mut child, Duration::from_secs(90));
    let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status();
    assert!(status.is_some(), "chromium --dump-dom {url}: still running after 90 s");
    reader.join().unwrap()
}

/// Serves the test page on `listener` (its origin is the page's) and sends every report the
/// page POSTs to `/report`.
fn page_server(listener: TcpListener, server: String, model: String) -> mpsc::Receiver<Value> {
    let (tx, rx) = mpsc::channel();
    let page = format!(
        r#"<!doctype html><title>guard</title><script>
const server = {server:?}, auth = {{ Authorization: "Bearer {TOKEN}" }};
const attempt = (p) => p.then(async (r) => ({{ status: r.status, body: await r.json() }}), (e) => ({{ error: String(e) }}));
Promise.all([
  attempt(fetch(server + "/v1/models", {{ headers: auth }})),
  attempt(fetch(server + "/v1/chat/completions", {{ method: "POST", headers: {{ ...auth, "content-type": "application/json" }},
    body: JSON.stringify({{ model: {model:?}, messages: [{{ role: "user", content: "hi" }}] }}) }})),
]).then(([models, chat]) => fetch("/report", {{ method: "POST", body: JSON.stringify({{ models, chat }}) }}));
</script>"#
    );
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = answer(stream, &page, &tx);
        }
    });
    rx
}

fn answer(mut stream: TcpStream, page: &str, tx: &mpsc::Sender<Value>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        if header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let (status, body) = if line.starts_with("GET / ") {
        ("200 OK", page.to_string())
    } else if line.starts_with("POST /report ") {
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let _ = tx.send(serde_json::from_slice(&body).unwrap_or(Value::Null));
        ("204 No Content", String::new())
    } else {
        ("404 Not Found", String::new())
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn a_page_from_another_origin_cannot_read_the_server() {
    let _g = serial();
    let s = stack();
    let allowed = TcpListener::bind("127.0.0.2:0").unwrap();
    let other = TcpListener::bind("127.0.0.3:0").unwrap();
    let origin = |l: &TcpListener| format!("http://{}", l.local_addr().unwrap());
    let (allowed_origin, other_origin) = (origin(&allowed), origin(&other));
    let start = Instant::now();
    let served = Served::start(guarded(s, &s.app, Some(TOKEN), Some(&allowed_origin)), "127.0.0.1", Some(TOKEN));
    let server = format!("http://{}", served.addr);
    let visit = |listener: TcpListener, page_origin: &str| -> Value {
        let reports = page_server(listener, server.clone(), s.model.clone());
        let mut report = Value::Null;
        browse(&format!("{page_origin}/"), || match reports.recv_timeout(Duration::from_secs(90)) {
            Ok(r) => {
                report = r;
                true
            }
            Err(_) => false,
        });
        report
    };

    let denied = visit(other, &other_origin);
    for key in ["models", "chat"] {
        let error = denied[key]["error"].as_str().unwrap_or_else(|| panic!("{other_origin} read {key}: {denied}"));
        assert!(error.starts_with("TypeError: Failed to fetch"), "{key}: {denied}");
    }
    let read = visit(allowed, &allowed_origin);
    assert_eq!(read["models"]["status"], 200, "{read}");
    assert_eq!(read["models"]["body"]["data"][0]["id"], s.model.as_str(), "{read}");
    assert_eq!(read["chat"]["status"], 200, "{read}");
    assert_eq!(read["chat"]["body"]["choices"][0]["message"]["content"], s.expected.as_str(), "{read}");

    // DNS rebinding, as the browser sees it: attacker.example resolves to our server.
    let port = served.addr.port();
    let rules = "--host-resolver-rules=MAP attacker.example 127.0.0.1";
    let dom = dump_dom(&format!("http://attacker.example:{port}/v1/models"), &[rules]);
    assert!(dom.contains("host_not_allowed") && !dom.contains(&s.model), "{dom}");
    let log = served.stderr();
    assert!(log.contains("\"GET /v1/models HTTP/1.1\" 403"), "no 403 for the rebound request: {log}");
    assert_eq!(served.stop(), Some(143));
    timing(format!("chromium: three pages in {:.1} s", start.elapsed().as_secs_f64()));
}

//! Raw HTTP/1.1 for the guard's tests: every header as written (a rebinding `Host`, `Origin:
//! null`, two `Authorization` headers), one request per connection, the answer read to its end;
//! and a guarded `serve` through the launcher that these requests go to.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;

/// An answer: status, headers (names in lower case, in order), body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
    /// Whether any `access-control-*` header is present.
    pub fn has_cors(&self) -> bool {
        self.headers.iter().any(|(n, _)| n.starts_with("access-control-"))
    }
}

/// One request to `addr`; `Host: <addr>` unless `headers` has one; `Connection: close`.
pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Reply {
    let mut text = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        text += &format!("Host: {addr}\r\n");
    }
    for (name, value) in headers {
        text += &format!("{name}: {value}\r\n");
    }
    if let Some(body) = body {
        text += &format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len());
    }
    text += "Connection: close\r\n\r\n";
    text += body.unwrap_or("");
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    stream.write_all(text.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    parse(&raw).unwrap_or_else(|| panic!("{method} {path}: not an HTTP answer: {:?}", String::from_utf8_lossy(&raw)))
}

fn parse(raw: &[u8]) -> Option<Reply> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect::<Vec<_>>();
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    Some(Reply { status, headers, body: if chunked { dechunk(body) } else { body.to_string() } })
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out += &rest[..n];
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// HMAC-SHA256 (RFC 2104), for the guard's readiness proof.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::digest([pad(0x36), message.to_vec()].concat());
    Sha256::digest([pad(0x5c), inner.to_vec()].concat()).iter().map(|b| format!("{b:02x}")).collect()
}

/// `serve --host <host> --port <free>` through the launcher, ready (`/health` answered 200 to
/// `token`, or to no token) or the test fails with its stderr; one SIGTERM when dropped.
pub struct Served {
    child: Child,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl Served {
    pub fn start(mut cmd: Command, host: &str, token: Option<&str>) -> Served {
        let ip: std::net::IpAddr = host.parse().unwrap();
        let port = std::net::TcpListener::bind((ip, 0)).unwrap().local_addr().unwrap().port();
        let mut child = cmd
            .args(["serve", "--host", host, "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let (mut pipe, sink) = (child.stderr.take().unwrap(), stderr.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let addr = SocketAddr::new(if ip.is_unspecified() { "127.0.0.1".parse().unwrap() } else { ip }, port);
        let mut served = Served { child, addr, stderr };
        let bearer = token.map(|t| format!("Bearer {t}"));
        let auth: Vec<(&str, &str)> = bearer.iter().map(|b| ("Authorization", b.as_str())).collect();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
                && request(addr, "GET", "/health", &auth, None).status == 200
            {
                return served;
            }
            let exited = served.child.try_wait().unwrap();
            assert!(exited.is_none(), "serve exited with {exited:?} before it was ready:\n{}", served.stderr());
            assert!(Instant::now() < deadline, "serve not ready within 120 s:\n{}", served.stderr());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// One SIGTERM; the launcher's exit status (mlx-knife's 143 when it stopped its worker).
    pub fn stop(mut self) -> Option<i32> {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let status = wait_timeout(&mut self.child, Duration::from_secs(30));
        assert!(status.is_some(), "serve did not stop within 30 s of SIGTERM:\n{}", self.stderr());
        status.and_then(|s| s.code())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        if wait_timeout(&mut self.child, Duration::from_secs(30)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

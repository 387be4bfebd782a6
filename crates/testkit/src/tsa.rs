//! A local RFC 3161 time-stamp server standing in for Apple's: `crates/testkit/tsa.py`
//! (`openssl ts -reply` behind Python's `http.server`, its TSA certificate made at start with
//! the critical extended key usage timeStamping). The server exits with the test process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::{REPO, host_python, kept, scratch};

/// A running server: its URL (rcodesign's `--timestamp-url`) and the queries it answered.
pub struct TimeStamper {
    pub url: String,
    dir: PathBuf,
    child: Mutex<Child>,
}

impl TimeStamper {
    /// Starts a server of the test's own (one whose count no other test moves).
    pub fn start() -> TimeStamper {
        let dir = scratch("tsa");
        let script = Path::new(REPO).join("crates/testkit/tsa.py");
        let mut child = Command::new(&host_python().executable)
            .arg("-I")
            .arg(&script)
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{}`: {e}", script.display()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let url = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default().trim().to_string();
        if !url.starts_with("http://127.0.0.1:") {
            let _ = child.kill();
            let err = child.wait_with_output().map(|o| String::from_utf8_lossy(&o.stderr).into_owned());
            panic!("the local time-stamp server did not start (it needs python3 and openssl): {err:?}");
        }
        TimeStamper { url, dir, child: Mutex::new(child) }
    }

    /// How many time-stamp queries it has answered.
    pub fn answered(&self) -> usize {
        std::fs::read_to_string(self.dir.join("requests.log")).map_or(0, |log| log.lines().count())
    }
}

impl Drop for TimeStamper {
    fn drop(&mut self) {
        if let Ok(child) = self.child.get_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The server every test of the process may share (started on first use, never dropped: it
/// exits with the process).
pub fn time_stamper() -> &'static TimeStamper {
    static TSA: OnceLock<TimeStamper> = OnceLock::new();
    TSA.get_or_init(|| kept(TimeStamper::start))
}

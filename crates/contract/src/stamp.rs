//! The runtime library's identity, readable without loading it.
//!
//! The runtime (`crates/runtime`, pyo3) is built per Python X.Y because `PyConfig`'s layout is, and it
//! reads launch plans of one format. It carries one NUL-terminated ASCII line,
//! `msty-mlx-runtime-stamp:plan=1;python=3.11;version=0.2.0`, returned by its exported
//! `msty_mlx_runtime_stamp()`. The launcher finds that line in the file's bytes, so
//! `--python-info` can describe a runtime (and refuse a mismatched one) without `dlopen`.

use std::fmt;
use std::path::Path;

use serde::Serialize;

use crate::python::PyVersion;

/// The runtime's file name next to the launcher.
pub const FILE_NAME: &str = if cfg!(target_os = "macos") { DYLIB } else { SO };

/// The runtime's file name on macOS.
pub const DYLIB: &str = "libmsty_mlx_runtime.dylib";
/// The runtime's file name on Linux.
pub const SO: &str = "libmsty_mlx_runtime.so";

/// The runtime's file name in a bundle for a wheel platform tag (`macosx_…`: `.dylib`), which
/// need not be this machine's ([`FILE_NAME`]): the bundler builds macOS bundles on Linux.
pub fn file_name_for(platform_tag: &str) -> &'static str {
    if platform_tag.starts_with("macosx") { DYLIB } else { SO }
}

/// What every stamp starts with.
pub const PREFIX: &str = "msty-mlx-runtime-stamp:";

/// A stamp's fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuntimeStamp {
    /// The launch-plan format it reads ([`crate::plan::FORMAT`] of its build).
    pub plan_format: u32,
    /// The Python X.Y it was built for.
    pub python: PyVersion,
    /// The package version it was built from.
    pub version: String,
}

/// Why a file is not a usable runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StampError {
    Missing,
    Unreadable(String),
    /// The file holds no stamp: not a runtime library, or a corrupt one.
    NoStamp,
    Malformed(String),
}

impl fmt::Display for StampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StampError::Missing => f.write_str("does not exist"),
            StampError::Unreadable(e) => write!(f, "cannot be read ({e})"),
            StampError::NoStamp => f.write_str(
                "is not a msty-mlx-studio runtime library (no runtime stamp inside; corrupt or another file)",
            ),
            StampError::Malformed(line) => write!(f, "has a malformed runtime stamp `{line}`"),
        }
    }
}

impl RuntimeStamp {
    /// The stamp line, as the runtime writes it.
    pub fn line(&self) -> String {
        format!("{PREFIX}plan={};python={};version={}", self.plan_format, self.python, self.version)
    }

    /// Parses a stamp line (with its prefix).
    pub fn parse(line: &str) -> Result<RuntimeStamp, StampError> {
        let malformed = || StampError::Malformed(line.to_string());
        let fields = line.strip_prefix(PREFIX).ok_or_else(malformed)?;
        let (mut plan, mut python, mut version) = (None, None, None);
        for field in fields.split(';') {
            match field.split_once('=').ok_or_else(malformed)? {
                ("plan", v) => plan = Some(v.parse::<u32>().map_err(|_| malformed())?),
                ("python", v) => python = Some(v.parse::<PyVersion>().map_err(|_| malformed())?),
                ("version", v) => version = Some(v.to_string()),
                _ => {} // fields of later stamps
            }
        }
        match (plan, python, version) {
            (Some(plan_format), Some(python), Some(version)) => Ok(RuntimeStamp { plan_format, python, version }),
            _ => Err(malformed()),
        }
    }

    /// The first stamp in a library's bytes (every slice of a universal binary carries the
    /// same): its line runs from [`PREFIX`] to a NUL within 256 bytes.
    pub fn find(bytes: &[u8]) -> Result<RuntimeStamp, StampError> {
        let start = memchr::memmem::find(bytes, PREFIX.as_bytes()).ok_or(StampError::NoStamp)?;
        let line = &bytes[start..];
        let end = line.iter().take(256).position(|&b| b == 0).ok_or(StampError::NoStamp)?;
        RuntimeStamp::parse(std::str::from_utf8(&line[..end]).map_err(|_| StampError::NoStamp)?)
    }

    /// Reads the stamp of the runtime file at `path` (the first one: every slice of a universal
    /// binary carries the same). Scanned in 64 KiB windows: reading the whole library into
    /// memory would add its size to every run's peak RSS.
    pub fn read(path: &Path) -> Result<RuntimeStamp, StampError> {
        use std::io::Read;
        let unreadable = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::NotFound => StampError::Missing,
            _ => StampError::Unreadable(e.to_string()),
        };
        let mut file = std::fs::File::open(path).map_err(unreadable)?;
        if file.metadata().map_err(unreadable)?.is_dir() {
            return Err(StampError::Unreadable("it is a directory".into()));
        }
        const WINDOW: usize = 64 * 1024;
        const KEEP: usize = 512; // longer than any stamp line, so one never straddles unseen
        let finder = memchr::memmem::Finder::new(PREFIX.as_bytes());
        let mut buffer = vec![0u8; WINDOW + KEEP];
        let mut filled = 0;
        loop {
            let n = file.read(&mut buffer[filled..]).map_err(unreadable)?;
            filled += n;
            if let Some(start) = finder.find(&buffer[..filled]) {
                // Move the line to the front and make sure all of it is read before parsing.
                buffer.copy_within(start..filled, 0);
                filled -= start;
                while filled < KEEP && !buffer[..filled].contains(&0) {
                    let more = file.read(&mut buffer[filled..]).map_err(unreadable)?;
                    if more == 0 {
                        break;
                    }
                    filled += more;
                }
                return RuntimeStamp::find(&buffer[..filled]);
            }
            if n == 0 {
                return Err(StampError::NoStamp);
            }
            if filled == buffer.len() {
                buffer.copy_within(filled - KEEP.., 0);
                filled = KEEP;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_and_are_found_in_bytes() {
        let stamp = RuntimeStamp { plan_format: 1, python: PyVersion::new(3, 12), version: "0.2.0".into() };
        assert_eq!(stamp.line(), "msty-mlx-runtime-stamp:plan=1;python=3.12;version=0.2.0");
        assert_eq!(RuntimeStamp::parse(&stamp.line()).unwrap(), stamp);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(FILE_NAME);
        let mut bytes = b"\x7fELF junk\0".to_vec();
        bytes.extend(stamp.line().as_bytes());
        bytes.extend(b"\0more");
        std::fs::write(&file, &bytes).unwrap();
        assert_eq!(RuntimeStamp::read(&file).unwrap(), stamp);
        // A stamp across the boundary of two read windows, far into a big file.
        let mut big = vec![b'x'; 64 * 1024 - 7];
        big.extend(stamp.line().as_bytes());
        big.push(0);
        big.extend(vec![b'y'; 200_000]);
        std::fs::write(&file, &big).unwrap();
        assert_eq!(RuntimeStamp::read(&file).unwrap(), stamp);
        let mut edge = vec![b'x'; 64 * 1024 + 512 - 10]; // the prefix starts 10 bytes before a full buffer ends
        edge.extend(stamp.line().as_bytes());
        edge.push(0);
        std::fs::write(&file, &edge).unwrap();
        assert_eq!(RuntimeStamp::read(&file).unwrap(), stamp);
        let mut far = vec![b'x'; 300_001];
        far.extend(stamp.line().as_bytes());
        far.push(0);
        std::fs::write(&file, &far).unwrap();
        assert_eq!(RuntimeStamp::read(&file).unwrap(), stamp);
        std::fs::write(&file, b"\x7fELF no stamp").unwrap();
        assert_eq!(RuntimeStamp::read(&file), Err(StampError::NoStamp));
        assert_eq!(RuntimeStamp::read(&dir.path().join("absent")), Err(StampError::Missing));
    }

    #[test]
    fn malformed_stamps() {
        for line in [
            "msty-mlx-runtime-stamp:plan=x;python=3.11;version=1",
            "msty-mlx-runtime-stamp:plan=1;python=3;version=1",
            "msty-mlx-runtime-stamp:plan=1",
            "other",
        ] {
            assert!(matches!(RuntimeStamp::parse(line), Err(StampError::Malformed(_))), "{line}");
        }
    }
}

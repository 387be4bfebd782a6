//! Issue 25, item 5: the release artefacts tested the way a new packager works. A fresh venv
//! whose PATH has no compiler, the Linux wheel installed with pip (and once with `uv tool
//! install`); the real mlx-knife 2.0.8 bundle for Linux built with no compiler run (every
//! `execve` traced) and nothing written outside the output and the documented caches, serving a
//! chat through its launcher; a macOS bundle from the same install whose launcher and runtime
//! are the macOS wheel's kit files byte for byte; the macOS wheel read by verify's own readers;
//! the npm tarball in a fresh npm project; `python -m msty_mlx_studio` from the venv and from a
//! `pip install --target` directory.
//!
//! The artefacts are one `bash packaging/release.sh OUT_DIR`, built once by run-all.sh and
//! named by `MSTY_RELEASE_DIR`. Tests run one at a time (`--test-threads=1`): they share the
//! packager's venv and start servers.

mod harness;
mod linux;
mod macos;
mod npm;
mod python_m;

//! verify's checks on Mach-O trees made by hand — synthetic files, files linked by zig,
//! Apple-built mlx wheels, trees signed by rcodesign — through its front end,
//! `build-external-python verify` (built by msty_mlx_testkit), and its library API; and
//! packaging/sign.js, electron-builder's `mac.sign`, which signs by verify's sign list and
//! reads the signatures back with it. Bundles built by the bundler are verified in the
//! bundler's tests.
//!
//! Run by `launcher-tests/run-all.sh` on CPython 3.11 and 3.12 (`MLXK2_TEST_PYTHON`: the
//! interpreter that installs zig and whose libpython stands in for macOS's).

mod harness;

mod macho;
mod release;
mod sign_function;
mod signed;
mod synthetic;

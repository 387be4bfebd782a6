//! build-external-python's integration tests: the real binary, offline against a local
//! wheelhouse, building bundles that the real launcher then runs; its `verify` command on the
//! bundles it built; its docs' option tables against its `--help`; and the packaging kit
//! (packaging/) that signs its output.
//!
//! Run by `launcher-tests/run-all.sh` on CPython 3.11 and 3.12 (`MLXK2_TEST_PYTHON`).

mod harness;

mod build;
mod custom_wheels;
mod docs;
mod electron_builder;
mod errors;
mod kits;
mod output;
mod verify;
mod wheels_only;

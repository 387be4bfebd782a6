//! Integration tests: the real launcher binary inside real, relocated bundles. The bundler's
//! and verify's tests are in their packages (crates/bundler/tests, crates/verify/tests).

mod harness;
mod schema;

mod bad_input;
mod behaviour;
mod binary;
mod children;
mod diagnostics;
mod docs;
mod faults;
mod guard;
mod interrupt;
mod isolation;
mod locate;
mod parent_death;
mod schemas;
mod trusted_cache;
mod two_stage;

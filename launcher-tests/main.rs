//! Integration tests: the real launcher binary inside real, relocated bundles.

mod harness;
mod schema;

mod bad_input;
mod behaviour;
mod binary;
mod bundler;
mod children;
mod diagnostics;
mod docs;
mod docs_bundler;
mod faults;
mod guard;
mod interrupt;
mod isolation;
mod locate;
mod parent_death;
mod schemas;
mod trusted_cache;
mod two_stage;
mod verify;

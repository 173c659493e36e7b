//! End-to-end tests of the `rocforge-ci` binary. One test binary; the shared [`TestContext`]
//! gives each test its own workspace.

mod bad_input;
mod cache;
mod clamp;
mod common;
mod github;
mod harness;
mod help;
mod live;
mod offline;
mod provenance;
mod sigstore;
mod update;

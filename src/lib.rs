//! rocforge-ci: keeps the container images of ROCm CI pinned, verified and fresh.
//!
//! The library holds every check; the `rocforge-ci` binary only parses arguments, calls one
//! function per command and renders what comes back. Layout:
//!
//! - [`config`]: the matrix and policy files, parsed with spans and validated.
//! - [`findings`]: the one outcome model (codes, severities, exit status).
//! - [`reference`](mod@reference), [`version`]: image references and release versions.
//! - [`resolve`], [`verify`], [`bootstrap`]: the resolver → verifier flow; [`live`] adds the
//!   registry, [`followup`] the auto_update dispatch and webhooks, [`diagnostics`] reachability.
//! - [`registry`]: the OCI distribution client (auth, retries, manifests, blobs, tags).
//! - [`update`]: the updater; [`config::edit`] keeps the matrix's bytes while editing it.
//! - [`archive`], [`cache`]: reproducible docker-archive tarballs, cache-build, cache-verify.
//! - [`provenance`]: signatures and attestations.
//! - [`state`]: the files a run leaves behind (snapshot, run record, `.ci_mode`).
//! - [`report`]: human text, JSON, GitHub annotations, step outputs and summary.
//! - [`snapi`], [`clamp`]: the extension interface and the ROCm environment capture.
//! - [`fsutil`], [`hashing`], [`progress`]: atomic writes, locks, safe paths, streaming
//!   SHA-256, progress reports.

pub mod archive;
pub mod bootstrap;
pub mod cache;
pub mod clamp;
pub mod config;
pub mod diagnostics;
pub mod findings;
pub mod followup;
pub mod fsutil;
pub mod hashing;
pub mod live;
pub mod progress;
pub mod provenance;
pub mod reference;
pub mod registry;
pub mod report;
pub mod resolve;
pub mod snapi;
pub mod state;
pub mod update;
pub mod verify;
pub mod version;

/// The calendar day (UTC) that digest ages are counted to.
pub fn today(now: jiff::Timestamp) -> jiff::civil::Date {
    jiff::tz::TimeZone::UTC.to_datetime(now).date()
}

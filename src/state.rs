//! The files a run leaves for the steps after it. Each format is documented on its type;
//! every write is atomic.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::{Mode, Workspace};
use crate::fsutil::{FsError, write_json_atomic};

/// Where the image comes from in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheMode {
    /// The entry's tarball exists and verifies; no network is needed.
    Local,
    /// No tarball, but the mirror holds the image.
    Mirror,
    /// No cache; the job pulls the upstream image by digest.
    Live,
    /// Neither cache nor registry could be used.
    Offline,
}

impl CacheMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheMode::Local => "local",
            CacheMode::Mirror => "mirror",
            CacheMode::Live => "live",
            CacheMode::Offline => "offline",
        }
    }
}

/// `build/rocm_snapshot.json`: what the resolver chose. The keys of SPEC.md's sample are kept
/// (`mode`, `timestamp`, `image`, `canonical`, `digest`, `resolved_at`, `policy_mode`,
/// `tarball`, `sha256`); `timestamp` equals `resolved_at`. `digest` is `""` while none is
/// recorded, `canonical`, `tarball` and `sha256` are `null` when the matrix has none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub mode: CacheMode,
    pub timestamp: String,
    /// The reference the job should use: `registry/repo:tag@digest` (the mirror's in mirror mode).
    pub image: String,
    pub canonical: Option<String>,
    pub digest: String,
    pub resolved_at: String,
    pub policy_mode: Mode,
    pub tarball: Option<String>,
    pub sha256: Option<String>,
    pub registry: String,
    pub repository: String,
    pub tag: String,
    pub version: String,
    pub os: String,
    /// `true` when the registry was asked during this run.
    pub network: bool,
    pub release_notes: Option<String>,
}

/// `build/run.json`: run telemetry for downstream steps. `verify_status` and
/// `verify_message` are the Clamp verification's (`pass`, `fail` or `skipped`); `status` and
/// `exit_code` are the run's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub command: String,
    pub mode: Option<CacheMode>,
    pub clamp_manifest_path: Option<String>,
    pub verify_status: String,
    pub verify_message: String,
    pub status: String,
    pub exit_code: u8,
    pub image: Option<String>,
    pub digest: Option<String>,
    pub errors: usize,
    pub warnings: usize,
    pub timestamp: String,
}

/// `.ci_mode`: the mode of the last run, `{"mode", "snapshot", "timestamp"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeRecord {
    pub mode: Option<CacheMode>,
    pub snapshot: Option<String>,
    pub timestamp: Option<String>,
}

/// What `mode reset` reports: `{mode: null, snapshot: null, status: "reset" | "noop", timestamp}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModeReset {
    pub mode: Option<CacheMode>,
    pub snapshot: Option<String>,
    pub status: &'static str,
    pub timestamp: String,
}

#[derive(Debug, Error)]
pub enum StateError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{} is not valid JSON ({source}); delete it or run `rocforge-ci mode reset`", path.display())]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// A UTC timestamp with whole seconds, as every file here writes it.
pub fn format_timestamp(at: Timestamp) -> String {
    at.round(jiff::Unit::Second)
        .unwrap_or(at)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub fn write_snapshot(workspace: &Workspace, snapshot: &Snapshot) -> Result<(), FsError> {
    write_json_atomic(&workspace.snapshot_path(), snapshot)
}

pub fn read_snapshot(workspace: &Workspace) -> Result<Option<Snapshot>, StateError> {
    read_json(&workspace.snapshot_path())
}

pub fn write_run_record(workspace: &Workspace, record: &RunRecord) -> Result<(), FsError> {
    write_json_atomic(&workspace.run_record_path(), record)
}

pub fn read_mode(workspace: &Workspace) -> Result<ModeRecord, StateError> {
    Ok(read_json(&workspace.ci_mode_path())?.unwrap_or(ModeRecord {
        mode: None,
        snapshot: None,
        timestamp: None,
    }))
}

/// Records this run's mode and returns the previous one when it differs.
/// An unreadable `.ci_mode` counts as "nothing recorded" and is overwritten.
pub fn record_mode(
    workspace: &Workspace,
    mode: CacheMode,
    now: Timestamp,
) -> Result<Option<CacheMode>, FsError> {
    let previous = read_mode(workspace).ok().and_then(|r| r.mode);
    let record = ModeRecord {
        mode: Some(mode),
        snapshot: Some(relative_display(workspace, &workspace.snapshot_path())),
        timestamp: Some(format_timestamp(now)),
    };
    write_json_atomic(&workspace.ci_mode_path(), &record)?;
    Ok(previous.filter(|p| *p != mode))
}

pub fn reset_mode(workspace: &Workspace, now: Timestamp) -> Result<ModeReset, FsError> {
    let path = workspace.ci_mode_path();
    let status = match fs::remove_file(&path) {
        Ok(()) => "reset",
        Err(e) if e.kind() == io::ErrorKind::NotFound => "noop",
        Err(e) => return Err(FsError::new("removing", path, e)),
    };
    Ok(ModeReset {
        mode: None,
        snapshot: None,
        status,
        timestamp: format_timestamp(now),
    })
}

/// A workspace path as shown to users and written into records: relative to the root.
pub fn relative_display(workspace: &Workspace, path: &Path) -> String {
    path.strip_prefix(&workspace.root)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, StateError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(FsError::new("reading", path, e).into()),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| StateError::Corrupt {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_record_detects_changes_and_reset_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::new(dir.path());
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        assert_eq!(read_mode(&ws).unwrap().mode, None);
        assert_eq!(record_mode(&ws, CacheMode::Offline, now).unwrap(), None);
        assert_eq!(record_mode(&ws, CacheMode::Offline, now).unwrap(), None);
        assert_eq!(
            record_mode(&ws, CacheMode::Local, now).unwrap(),
            Some(CacheMode::Offline)
        );
        let shown = read_mode(&ws).unwrap();
        assert_eq!(shown.snapshot.as_deref(), Some("build/rocm_snapshot.json"));
        assert_eq!(shown.timestamp.as_deref(), Some("2023-11-14T22:13:20Z"));
        assert_eq!(reset_mode(&ws, now).unwrap().status, "reset");
        assert_eq!(reset_mode(&ws, now).unwrap().status, "noop");
    }

    #[test]
    fn corrupt_mode_file_is_reported_and_then_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::new(dir.path());
        fs::write(ws.ci_mode_path(), "{not json").unwrap();
        assert!(matches!(read_mode(&ws), Err(StateError::Corrupt { .. })));
        let now = Timestamp::from_second(0).unwrap();
        assert_eq!(record_mode(&ws, CacheMode::Live, now).unwrap(), None);
        assert_eq!(read_mode(&ws).unwrap().mode, Some(CacheMode::Live));
    }
}

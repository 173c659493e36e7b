//! `build/clamp/manifest.json`, the capture of a ROCm installation.
//!
//! ```json
//! {
//!   "format": 1,
//!   "captured_at": "2026-12-03T12:00:00Z",
//!   "target_path": "/opt/rocm",
//!   "root": "/opt/rocm-6.4.4",
//!   "symlink_chain": ["/opt/rocm", "/etc/alternatives/rocm", "/opt/rocm-6.4.4"],
//!   "rocm_version": "6.4.4",
//!   "version_sources": [{"source": ".info/version", "value": "6.4.4-129"}],
//!   "libraries": [{"name": "libamdhip64", "path": "lib/libamdhip64.so", "resolved": "lib/libamdhip64.so.6.4.60404", "sha256": "…"}],
//!   "agents": [{"name": "gfx90a", "marketing_name": "AMD Instinct MI210", "device_type": "GPU"}],
//!   "agents_source": "rocminfo",
//!   "environment": {"ROCM_PATH": "/opt/rocm"},
//!   "path_entries": {"PATH": ["/opt/rocm/bin"], "LD_LIBRARY_PATH": ["/opt/rocm/lib"]},
//!   "image": {"reference": "ghcr.io/rocm/dev:…@sha256:…", "digest": "sha256:…"},
//!   "files": [{"path": "bin/hipcc", "type": "file", "mode": "0755", "size": 812, "sha256": "…"},
//!             {"path": "lib/libamdhip64.so", "type": "symlink", "mode": "0777", "target": "libamdhip64.so.6"}],
//!   "file_count": 2, "total_bytes": 812,
//!   "root_hash": "…",
//!   "archive": "archive"
//! }
//! ```
//!
//! `files` is sorted by path; `root_hash` is the SHA-256 of one line per file
//! (`type NUL path NUL mode NUL size NUL sha256 NUL target LF`), so two captures of the same
//! tree have the same root hash whatever the order they were walked in. Directory sizes and
//! timestamps are not recorded: they change without the content changing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::hashing::hex;

pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileType {
    File,
    Dir,
    Symlink,
    Other,
}

impl FileType {
    pub fn as_str(self) -> &'static str {
        match self {
            FileType::File => "file",
            FileType::Dir => "dir",
            FileType::Symlink => "symlink",
            FileType::Other => "other",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRecord {
    /// Relative to the root, `/`-separated.
    pub path: String,
    #[serde(rename = "type")]
    pub kind: FileType,
    /// Permission bits in octal, e.g. `0755`.
    pub mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionSource {
    pub source: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Library {
    pub name: String,
    pub path: String,
    pub resolved: String,
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    pub name: String,
    pub marketing_name: Option<String>,
    pub device_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagePin {
    pub reference: String,
    pub digest: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub captured_at: String,
    pub target_path: String,
    pub root: String,
    pub symlink_chain: Vec<String>,
    pub rocm_version: Option<String>,
    pub version_sources: Vec<VersionSource>,
    pub libraries: Vec<Library>,
    pub agents: Vec<Agent>,
    pub agents_source: Option<String>,
    /// Scalar variables, compared exactly.
    pub environment: BTreeMap<String, String>,
    /// ROCm entries of list variables (PATH, LD_LIBRARY_PATH); each must still be present.
    pub path_entries: BTreeMap<String, Vec<String>>,
    pub image: Option<ImagePin>,
    pub files: Vec<FileRecord>,
    pub file_count: usize,
    pub total_bytes: u64,
    pub root_hash: String,
    /// Directory of content kept for repair, relative to the manifest's directory.
    pub archive: Option<String>,
}

/// The hash over a sorted file list; see the module documentation for the line format.
pub fn root_hash(files: &[FileRecord]) -> String {
    let mut hasher = Sha256::new();
    for f in files {
        for part in [
            f.kind.as_str(),
            &f.path,
            &f.mode,
            &f.size.map(|s| s.to_string()).unwrap_or_default(),
            f.sha256.as_deref().unwrap_or(""),
            f.target.as_deref().unwrap_or(""),
        ] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        hasher.update(b"\n");
    }
    hex(&hasher.finalize())
}

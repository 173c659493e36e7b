//! Cached image tarballs (`images/*.tar.gz`): is the file there, and is it the one recorded?

pub mod build;
pub mod verify;

use std::path::PathBuf;

use serde::Serialize;

use crate::config::{Entry, Workspace};
use crate::hashing::sha256_file;

/// What is known about an entry's cached tarball.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TarballState {
    /// The entry names no tarball.
    None,
    /// Named, but not on disk.
    Missing { path: PathBuf },
    /// On disk, but no `sha256` is recorded to check it against.
    Unpinned { path: PathBuf, sha256: String },
    /// On disk but damaged (not gzip, truncated, corrupt): the run falls back.
    Damaged { path: PathBuf, problem: String },
    /// On disk and its SHA-256 is the recorded one.
    Verified { path: PathBuf, sha256: String },
    /// On disk, intact, but a different file than recorded.
    Mismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    /// On disk but could not be read.
    Unreadable { path: PathBuf, error: String },
}

impl TarballState {
    pub fn is_verified(&self) -> bool {
        matches!(self, TarballState::Verified { .. })
    }
}

/// Hashes the entry's tarball, if it names one, and compares it with the matrix.
pub fn check_tarball(workspace: &Workspace, entry: &Entry) -> TarballState {
    let Some(relative) = &entry.tarball else {
        return TarballState::None;
    };
    let path = relative.value.clone();
    let full = workspace.path(&path);
    if !full.is_file() {
        return TarballState::Missing { path };
    }
    let actual = match sha256_file(&full) {
        Ok(hex) => hex,
        Err(e) => {
            return TarballState::Unreadable {
                path,
                error: e.to_string(),
            };
        }
    };
    match &entry.sha256 {
        None => TarballState::Unpinned {
            path,
            sha256: actual,
        },
        Some(expected) if expected.value == actual => TarballState::Verified {
            path,
            sha256: actual,
        },
        Some(expected) => {
            // A different hash: damage in transit, or a different image? Only a full pass tells.
            let damage = verify::verify_tarball(&full, &crate::progress::Silent)
                .ok()
                .and_then(|check| check.problems.into_iter().find(verify::Problem::is_damage));
            match damage {
                Some(problem) => TarballState::Damaged {
                    path,
                    problem: problem.describe(),
                },
                None => TarballState::Mismatch {
                    path,
                    expected: expected.value.clone(),
                    actual,
                },
            }
        }
    }
}

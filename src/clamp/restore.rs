//! `clamp.restore`: re-applies the captured environment and, where the capture kept an
//! archive, repairs drifted or missing files.
//!
//! Repair never writes outside the captured root: every path from the manifest must be
//! relative without `..`, every directory on the way must be a real directory (a symlink there
//! is refused, whatever it points at), archive objects are checked against their hash before
//! use, and files are replaced by rename so that nothing is written through a link.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::compare::{self, Reason};
use super::envfile::{Lists, Scalars};
use super::manifest::{FileRecord, FileType, Manifest};
use super::tree;
use crate::fsutil::{FsError, contained_path, copy_atomic};
use crate::hashing::sha256_file;
use crate::snapi::Session;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    pub path: String,
    /// `mkdir`, `write`, `symlink`, `chmod`, `keep` (an added file is left alone).
    pub action: &'static str,
    pub reason: &'static str,
    /// `done`, `planned` (dry run), or why it was refused.
    pub outcome: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Applied {
    pub environment: BTreeMap<String, String>,
    /// Files of the runner that were appended to (`$GITHUB_ENV`, `$GITHUB_PATH`).
    pub github_files: Vec<String>,
}

/// Applies scalars and prepends list entries, in the session and (inside GitHub Actions) for
/// the steps after this one.
pub fn apply_environment(
    session: &Session,
    scalars: &Scalars,
    lists: &Lists,
    dry_run: bool,
) -> Result<Applied, FsError> {
    let mut applied = Applied::default();
    let mut env_lines = String::new();
    let mut path_lines = String::new();
    for (name, value) in scalars {
        applied.environment.insert(name.clone(), value.clone());
        env_lines.push_str(&github_env_line(name, value));
    }
    for (name, entries) in lists {
        let current = session.var(name).unwrap_or_default();
        let mut merged: Vec<&str> = entries.iter().map(String::as_str).collect();
        merged.extend(
            current
                .split(':')
                .filter(|e| !e.is_empty() && !entries.iter().any(|x| x == e)),
        );
        let value = merged.join(":");
        applied.environment.insert(name.clone(), value.clone());
        if name == "PATH" {
            // $GITHUB_PATH prepends each line; the last line ends up first.
            for entry in entries.iter().rev() {
                path_lines.push_str(entry);
                path_lines.push('\n');
            }
        } else {
            env_lines.push_str(&github_env_line(name, &value));
        }
    }
    if dry_run {
        return Ok(applied);
    }
    for (name, value) in &applied.environment {
        session.set_var(name, value);
    }
    for (variable, text) in [("GITHUB_ENV", env_lines), ("GITHUB_PATH", path_lines)] {
        if let Some(file) = session.var(variable).filter(|f| !f.is_empty())
            && !text.is_empty()
        {
            let path = PathBuf::from(&file);
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| FsError::new("opening", &path, e))?;
            f.write_all(text.as_bytes())
                .map_err(|e| FsError::new("appending to", &path, e))?;
            applied.github_files.push(file);
        }
    }
    Ok(applied)
}

fn github_env_line(name: &str, value: &str) -> String {
    if value.contains('\n') {
        let delimiter = format!(
            "ghadelimiter_{}",
            &crate::hashing::sha256_bytes(value.as_bytes())[..32]
        );
        format!("{name}<<{delimiter}\n{value}\n{delimiter}\n")
    } else {
        format!("{name}={value}\n")
    }
}

/// Plans (and unless `dry_run`, carries out) the repair of every drifted file.
pub fn repair(manifest: &Manifest, archive: &Path, dry_run: bool) -> Result<Vec<Action>, FsError> {
    let root = PathBuf::from(&manifest.root);
    let live_root = fs::canonicalize(&manifest.target_path).ok();
    if live_root.as_deref() != Some(root.as_path()) {
        return Ok(vec![Action {
            path: manifest.target_path.clone(),
            action: "keep",
            reason: "link_changed",
            outcome: format!(
                "refused: {} no longer resolves to the captured root {}; not repairing another tree",
                manifest.target_path, manifest.root
            ),
        }]);
    }
    let live = tree::scan(&root)?;
    let wanted: BTreeMap<&str, &FileRecord> = manifest
        .files
        .iter()
        .map(|f| (f.path.as_str(), f))
        .collect();
    let mut drift = compare::files(&manifest.files, &live);
    // Parents before children: directories are created before what goes in them.
    drift.sort_by(|a, b| a.file_path().cmp(&b.file_path()));
    let mut actions = Vec::new();
    for mismatch in drift {
        let path = mismatch.file_path().expect("file mismatches").to_owned();
        let reason = mismatch.reason.as_str();
        if mismatch.reason == Reason::Added {
            actions.push(Action {
                path,
                action: "keep",
                reason,
                outcome: "left in place (not in the capture)".into(),
            });
            continue;
        }
        let record = wanted[path.as_str()];
        let action = match (record.kind, mismatch.reason) {
            (FileType::Dir, Reason::ModeChanged) | (FileType::File, Reason::ModeChanged) => "chmod",
            (FileType::Dir, _) => "mkdir",
            (FileType::File, _) => "write",
            (FileType::Symlink, _) => "symlink",
            (FileType::Other, _) => {
                actions.push(Action {
                    path,
                    action: "keep",
                    reason,
                    outcome: "refused: special files are not restored".into(),
                });
                continue;
            }
        };
        let outcome = if dry_run {
            match check_destination(&root, &path) {
                Ok(_) => "planned".to_owned(),
                Err(why) => format!("refused: {why}"),
            }
        } else {
            match apply(&root, archive, record, action) {
                Ok(()) => "done".to_owned(),
                Err(why) => format!("refused: {why}"),
            }
        };
        actions.push(Action {
            path,
            action,
            reason,
            outcome,
        });
    }
    Ok(actions)
}

/// The absolute destination of a manifest path, after checking that it stays in `root`:
/// relative, no `..`, and every existing ancestor below the root a real directory.
fn check_destination(root: &Path, relative: &str) -> Result<PathBuf, String> {
    let clean = contained_path(relative).map_err(|e| format!("`{relative}`: {e}"))?;
    let mut at = root.to_path_buf();
    let components: Vec<_> = clean.components().collect();
    for component in &components[..components.len() - 1] {
        at.push(component);
        match fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_dir() => {}
            Ok(_) => {
                return Err(format!(
                    "{} is not a real directory (a link or a file); refusing to write through it",
                    at.display()
                ));
            }
            Err(_) => {} // Created by an earlier `mkdir` action, or missing: checked again when written.
        }
    }
    Ok(root.join(clean))
}

fn apply(root: &Path, archive: &Path, record: &FileRecord, action: &str) -> Result<(), String> {
    let dest = check_destination(root, &record.path)?;
    let parent = dest.parent().expect("below the root");
    if !parent.is_dir() {
        return Err(format!(
            "{} does not exist; its directory is missing from the capture",
            parent.display()
        ));
    }
    let mode =
        u32::from_str_radix(&record.mode, 8).map_err(|_| format!("bad mode `{}`", record.mode))?;
    let existing = fs::symlink_metadata(&dest).ok();
    let remove_existing = |dest: &Path| -> Result<(), String> {
        match existing.as_ref().map(|m| m.file_type()) {
            Some(t) if t.is_dir() => fs::remove_dir_all(dest).map_err(|e| e.to_string()),
            _ => Ok(()),
        }
    };
    match action {
        "chmod" => {
            fs::set_permissions(&dest, fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())
        }
        "mkdir" => {
            if existing.is_some() {
                fs::remove_file(&dest).map_err(|e| e.to_string())?;
            }
            fs::create_dir(&dest).map_err(|e| e.to_string())?;
            fs::set_permissions(&dest, fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())
        }
        "write" => {
            let sha = record.sha256.as_deref().ok_or("no hash recorded")?;
            if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("recorded hash `{sha}` is not a SHA-256"));
            }
            let object = archive.join("objects").join(sha);
            match sha256_file(&object) {
                Ok(actual) if actual == sha => {}
                Ok(actual) => {
                    return Err(format!(
                        "archive object {} has sha256 {actual}, not {sha}",
                        object.display()
                    ));
                }
                Err(e) => return Err(format!("archive object {}: {e}", object.display())),
            }
            remove_existing(&dest)?;
            copy_atomic(&object, &dest, Some(mode)).map_err(|e| e.to_string())
        }
        "symlink" => {
            let target = record.target.as_deref().ok_or("no link target recorded")?;
            remove_existing(&dest)?;
            let tmp = parent.join(format!(".rocforge-link-{}", std::process::id()));
            let _ = fs::remove_file(&tmp);
            std::os::unix::fs::symlink(target, &tmp).map_err(|e| e.to_string())?;
            fs::rename(&tmp, &dest).map_err(|e| e.to_string())
        }
        other => Err(format!("unknown action {other}")),
    }
}

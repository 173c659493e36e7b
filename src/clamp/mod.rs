//! Clamp: capture, verify and restore a ROCm installation, offered as the SNAPI extension
//! `clamp` (`clamp.capture`, `clamp.verify`, `clamp.restore`).
//!
//! Payloads (unknown keys are rejected):
//! - `clamp.capture {target_path = "/opt/rocm", output_dir = "build/clamp", archive = false}`
//! - `clamp.verify {manifest_path = "build/clamp/manifest.json"}`
//! - `clamp.restore {manifest_path | env_path, dry_run = false}`
//!
//! Results carry `status` (`pass` / `fail`), `message` and the command's own fields.
//! A command that cannot run at all (no manifest, unreadable target) is a SNAPI error.

pub mod capture;
pub mod compare;
pub mod envfile;
pub mod handoff;
pub mod manifest;
pub mod probe;
pub mod restore;
pub mod tree;

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::snapi::{CommandSpec, Extension, Session, SnapiError, decode_payload};
use manifest::Manifest;

pub const DEFAULT_MANIFEST: &str = "build/clamp/manifest.json";

pub struct ClampExtension;

const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "capture",
        summary: "record a ROCm tree, its versions, libraries, GPU agents and environment",
    },
    CommandSpec {
        name: "restore",
        summary: "re-apply the captured environment; repair drifted files from the archive",
    },
    CommandSpec {
        name: "verify",
        summary: "compare the live tree and environment with the manifest",
    },
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CapturePayload {
    target_path: Option<String>,
    output_dir: Option<String>,
    #[serde(default)]
    archive: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyPayload {
    manifest_path: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestorePayload {
    manifest_path: Option<String>,
    env_path: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

impl Extension for ClampExtension {
    fn name(&self) -> &'static str {
        "clamp"
    }

    fn commands(&self) -> &'static [CommandSpec] {
        COMMANDS
    }

    fn call(&self, command: &str, payload: Value, session: &Session) -> Result<Value, SnapiError> {
        let name = format!("clamp.{command}");
        let failed = |message: String| SnapiError::Failed {
            command: name.clone(),
            message,
        };
        match command {
            "capture" => {
                let p: CapturePayload = decode_payload(&name, payload)?;
                let target = p
                    .target_path
                    .unwrap_or_else(|| capture::DEFAULT_TARGET.to_owned());
                let output =
                    session.path(p.output_dir.as_deref().unwrap_or(capture::DEFAULT_OUTPUT));
                let captured = capture::capture(session, &target, &output, p.archive, session.now)
                    .map_err(|e| failed(e.to_string()))?;
                let m = &captured.manifest;
                Ok(json!({
                    "status": "pass",
                    "message": format!(
                        "captured {} entries ({} bytes) of ROCm {} at {}",
                        m.file_count, m.total_bytes, m.rocm_version.as_deref().unwrap_or("(version unknown)"), m.root
                    ),
                    "manifest_path": captured.manifest_path,
                    "env_path": captured.env_path,
                    "root": m.root,
                    "rocm_version": m.rocm_version,
                    "file_count": m.file_count,
                    "root_hash": m.root_hash,
                    "archive": m.archive,
                }))
            }
            "verify" => {
                let p: VerifyPayload = decode_payload(&name, payload)?;
                let path = session.path(p.manifest_path.as_deref().unwrap_or(DEFAULT_MANIFEST));
                let manifest = load_manifest(&path).map_err(failed)?;
                let comparison =
                    compare::compare(&manifest, session).map_err(|e| failed(e.to_string()))?;
                let count = comparison.mismatches.len();
                let (status, message) = if count == 0 {
                    (
                        "pass",
                        format!(
                            "{} matches its capture ({} entries)",
                            manifest.root, manifest.file_count
                        ),
                    )
                } else {
                    (
                        "fail",
                        format!(
                            "{} differs from its capture: {count} mismatch{}",
                            manifest.root,
                            if count == 1 { "" } else { "es" }
                        ),
                    )
                };
                Ok(json!({
                    "status": status,
                    "message": message,
                    "manifest_path": path,
                    "mismatches": comparison.mismatches,
                    "checked_files": comparison.live_files,
                    "root_hash": manifest.root_hash,
                    "live_root_hash": comparison.live_root_hash,
                }))
            }
            "restore" => {
                let p: RestorePayload = decode_payload(&name, payload)?;
                restore_call(session, p).map_err(failed)
            }
            other => unreachable!("SNAPI checked that {other} is a clamp command"),
        }
    }
}

fn restore_call(session: &Session, p: RestorePayload) -> Result<Value, String> {
    let (manifest, manifest_path, scalars, lists) = match (&p.manifest_path, &p.env_path) {
        (Some(_), Some(_)) => return Err("give manifest_path or env_path, not both".to_owned()),
        (None, Some(env_path)) => {
            let path = session.path(env_path);
            let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let (scalars, lists) =
                envfile::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            (None, None, scalars, lists)
        }
        (manifest_path, None) => {
            let path = session.path(manifest_path.as_deref().unwrap_or(DEFAULT_MANIFEST));
            let m = load_manifest(&path)?;
            let (s, l) = (m.environment.clone(), m.path_entries.clone());
            (Some(m), Some(path), s, l)
        }
    };
    let applied = restore::apply_environment(session, &scalars, &lists, p.dry_run)
        .map_err(|e| e.to_string())?;
    let mut actions = Vec::new();
    if let (Some(m), Some(path)) = (&manifest, &manifest_path)
        && let Some(archive) = &m.archive
    {
        let archive_dir = archive_dir(path, archive)?;
        actions = restore::repair(m, &archive_dir, p.dry_run).map_err(|e| e.to_string())?;
    }
    let refused = actions
        .iter()
        .filter(|a| a.outcome.starts_with("refused"))
        .count();
    let repaired = actions.iter().filter(|a| a.outcome == "done").count();
    let verb = if p.dry_run { "would apply" } else { "applied" };
    let mut message = format!("{verb} {} environment variables", applied.environment.len());
    match &manifest {
        Some(m) if m.archive.is_none() => {
            message.push_str("; no archive in the capture, files not repaired")
        }
        Some(_) if p.dry_run => {
            message.push_str(&format!("; {} file actions planned", actions.len()))
        }
        Some(_) => message.push_str(&format!("; repaired {repaired} files")),
        None => {}
    }
    if refused > 0 {
        message.push_str(&format!("; {refused} refused"));
    }
    Ok(json!({
        "status": if refused == 0 { "pass" } else { "fail" },
        "message": message,
        "manifest_path": manifest_path,
        "env_path": p.env_path.map(|e| session.path(&e)),
        "dry_run": p.dry_run,
        "environment": applied.environment,
        "github_files": applied.github_files,
        "actions": actions,
    }))
}

/// The archive directory named by a manifest, which must stay beside the manifest.
fn archive_dir(manifest_path: &Path, archive: &str) -> Result<PathBuf, String> {
    let relative = crate::fsutil::contained_path(archive)
        .map_err(|e| format!("manifest `archive: {archive}`: {e}"))?;
    Ok(manifest_path
        .parent()
        .unwrap_or(Path::new("."))
        .join(relative))
}

pub fn load_manifest(path: &Path) -> Result<Manifest, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a Clamp manifest: {e}", path.display()))?;
    if manifest.format != manifest::FORMAT {
        return Err(format!(
            "{} has format {}, this rocforge-ci reads format {}",
            path.display(),
            manifest.format,
            manifest::FORMAT
        ));
    }
    Ok(manifest)
}

//! The Clamp hand-off of the bootstraps: when a capture exists, restore it and require a
//! passing verification, both through SNAPI.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::compare::Mismatch;
use crate::config::{Entry, Workspace};
use crate::findings::{Code, Finding, Findings};
use crate::snapi::Snapi;
use crate::state::relative_display;

/// What the hand-off did, for `build/run.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    pub manifest_path: Option<String>,
    /// `pass`, `fail` or `skipped`.
    pub verify_status: String,
    pub verify_message: String,
}

/// `build/clamp/manifest.json`, else the entry's `clamp_manifest` hint when that file exists.
pub fn find_manifest(workspace: &Workspace, entry: Option<&Entry>) -> Option<PathBuf> {
    let live = workspace.clamp_manifest_path();
    if live.is_file() {
        return Some(live);
    }
    entry
        .and_then(|e| e.clamp_manifest.as_ref())
        .map(|hint| workspace.path(&hint.value))
        .filter(|p| p.is_file())
}

pub fn run(
    workspace: &Workspace,
    snapi: &Snapi,
    entry: Option<&Entry>,
    findings: &mut Findings,
) -> Handoff {
    let Some(path) = find_manifest(workspace, entry) else {
        return Handoff {
            manifest_path: None,
            verify_status: "skipped".to_owned(),
            verify_message: "no Clamp manifest in this workspace".to_owned(),
        };
    };
    let shown = relative_display(workspace, &path);
    findings.push(
        Finding::new(
            Code::ClampManifestFound,
            format!("Clamp: manifest found at {shown}"),
        )
        .about(shown.clone()),
    );
    let payload = json!({"manifest_path": path});
    match snapi.call("clamp.restore", payload.clone()) {
        Ok(result) if result["status"] == "pass" => {}
        Ok(result) => findings.push(
            Finding::new(
                Code::ClampRestoreFailed,
                format!("clamp.restore: {}", text(&result["message"])),
            )
            .about(shown.clone()),
        ),
        Err(e) => findings
            .push(Finding::new(Code::ClampRestoreFailed, e.to_string()).about(shown.clone())),
    }
    let (status, message) = match snapi.call("clamp.verify", payload) {
        Ok(result) => {
            let mismatches: Vec<Mismatch> =
                serde_json::from_value(result["mismatches"].clone()).unwrap_or_default();
            findings.extend(mismatches.iter().map(Mismatch::finding));
            (text(&result["status"]), text(&result["message"]))
        }
        Err(e) => {
            findings
                .push(Finding::new(Code::ClampVerifyFailed, e.to_string()).about(shown.clone()));
            ("fail".to_owned(), e.to_string())
        }
    };
    Handoff {
        manifest_path: Some(shown),
        verify_status: status,
        verify_message: message,
    }
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

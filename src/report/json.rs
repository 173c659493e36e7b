//! `--json`: one object on stdout.
//!
//! ```json
//! {
//!   "command": "verify",
//!   "status": "warning",          // ok | warning | failure | signature-failure
//!   "exit_code": 1,
//!   "policy_mode": "warn",
//!   "findings": [{"code": "digest-stale", "severity": "warning", "message": "…",
//!                 "subject": "ghcr.io/rocm/dev:6.4.4-ubuntu-22.04@sha256:…",
//!                 "location": {"file": "ci/rocm_matrix.yml", "line": 9, "column": 14}}],
//!   "outputs": {"image": "…", "digest": "…", "mode": "local"},
//!   "entries": [ … per-image checks … ],
//!   "data": { … the command's own result … }
//! }
//! ```

use serde::Serialize;

use super::Report;
use crate::config::Mode;
use crate::findings::{ExitStatus, Finding};
use crate::verify::EntryCheck;

#[derive(Serialize)]
struct Document<'a> {
    command: &'a str,
    status: ExitStatus,
    exit_code: u8,
    policy_mode: Mode,
    findings: &'a [Finding],
    outputs: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    entries: &'a [EntryCheck],
    data: &'a serde_json::Value,
}

pub fn render(report: &Report) -> String {
    let status = report.exit_status();
    let document = Document {
        command: report.command,
        status,
        exit_code: status.code(),
        policy_mode: report.findings.mode(),
        findings: report.findings.as_slice(),
        outputs: report
            .outputs
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
        entries: &report.entries,
        data: &report.data,
    };
    let mut text = serde_json::to_string_pretty(&document).expect("report serialises");
    text.push('\n');
    text
}

//! What a command hands to the renderers, and the renderers themselves. Every renderer reads
//! the same [`Report`]: human text, JSON, GitHub annotations, step outputs and step summary.

pub mod github;
pub mod human;
pub mod json;

use serde::Serialize;

use crate::findings::{ExitStatus, Findings};
use crate::verify::EntryCheck;

/// The result of one command.
#[derive(Debug, Clone)]
pub struct Report {
    pub command: &'static str,
    pub findings: Findings,
    /// The command's answer on stdout in human mode (the resolved reference, a JSON record).
    pub headline: Option<String>,
    /// GitHub step outputs, in order.
    pub outputs: Vec<(String, String)>,
    /// Per-image rows for the summary table.
    pub entries: Vec<EntryCheck>,
    /// The command's own result, under `data` in `--json`.
    pub data: serde_json::Value,
    /// Extra markdown for the step summary (the updater's PR body).
    pub markdown: Option<String>,
}

impl Report {
    pub fn new(command: &'static str, findings: Findings) -> Self {
        Self {
            command,
            findings,
            headline: None,
            outputs: Vec::new(),
            entries: Vec::new(),
            data: serde_json::Value::Null,
            markdown: None,
        }
    }

    pub fn exit_status(&self) -> ExitStatus {
        self.findings.exit_status()
    }

    pub fn with_data(mut self, data: &impl Serialize) -> Self {
        self.data = serde_json::to_value(data).expect("report data serialises");
        self
    }

    pub fn output(&mut self, name: &str, value: impl Into<String>) {
        self.outputs.push((name.to_owned(), value.into()));
    }
}

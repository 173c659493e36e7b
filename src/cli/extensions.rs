//! `snapi` and `clamp` commands: thin wrappers over in-process SNAPI calls.

use std::io;

use anyhow::{Context as _, Result};
use jiff::Timestamp;
use serde_json::{Value, json};

use rocforge_ci::clamp::compare::Mismatch;
use rocforge_ci::config::{Mode, Workspace};
use rocforge_ci::findings::{Code, Finding, Findings};
use rocforge_ci::report::Report;
use rocforge_ci::snapi::{Session, Snapi, rpc};

use super::args::{ClampAction, SnapiAction};

fn interface(workspace: &Workspace, now: Timestamp) -> Snapi {
    Snapi::with_builtins(Session::new(&workspace.root, now))
}

pub fn snapi(workspace: &Workspace, action: &SnapiAction, now: Timestamp) -> Result<Report> {
    let snapi = interface(workspace, now);
    match action {
        SnapiAction::List => {
            let commands = snapi.list();
            let mut report = Report::new("snapi list", Findings::new(Mode::default()));
            let width = commands.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
            report.headline = Some(
                commands
                    .iter()
                    .map(|(name, summary)| format!("{name:width$}  {summary}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
            let data: Vec<Value> = commands
                .iter()
                .map(|(n, s)| json!({"name": n, "summary": s}))
                .collect();
            Ok(report.with_data(&data))
        }
        SnapiAction::Call { name, payload } => {
            let text = match payload.strip_prefix('@') {
                Some(file) => std::fs::read_to_string(file)
                    .with_context(|| format!("reading payload file {file}"))?,
                None => payload.clone(),
            };
            let payload: Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => {
                    let mut report = Report::new("snapi call", Findings::new(Mode::default()));
                    report.findings.push(Finding::new(
                        Code::UsageError,
                        format!("--payload is not JSON: {e}"),
                    ));
                    return Ok(report);
                }
            };
            Ok(call(&snapi, "snapi call", name, payload))
        }
        SnapiAction::Serve => {
            rpc::serve(&snapi, io::stdin().lock(), io::stdout().lock())
                .context("serving JSON-RPC on stdio")?;
            Ok(Report::new("snapi serve", Findings::new(Mode::default())))
        }
    }
}

pub fn clamp(workspace: &Workspace, action: &ClampAction, now: Timestamp) -> Result<Report> {
    let snapi = interface(workspace, now);
    let (command, name, payload) = match action {
        ClampAction::Capture {
            target,
            output,
            archive,
        } => (
            "clamp capture",
            "clamp.capture",
            json!({"target_path": target, "output_dir": output, "archive": archive}),
        ),
        ClampAction::Verify { manifest } => (
            "clamp verify",
            "clamp.verify",
            json!({"manifest_path": manifest}),
        ),
        ClampAction::Restore {
            manifest,
            env,
            dry_run,
        } => {
            let mut payload = json!({"dry_run": dry_run});
            if let Some(m) = manifest {
                payload["manifest_path"] = json!(m);
            }
            if let Some(e) = env {
                payload["env_path"] = json!(e);
            }
            ("clamp restore", "clamp.restore", payload)
        }
    };
    Ok(call(&snapi, command, name, payload))
}

/// Runs one call and turns its result into findings: each verify mismatch, each refused
/// restore action, and any `status: fail`, are errors.
fn call(snapi: &Snapi, command: &'static str, name: &str, payload: Value) -> Report {
    let mut report = Report::new(command, Findings::new(Mode::default()));
    let result = match snapi.call(name, payload) {
        Ok(result) => result,
        Err(e) => {
            report
                .findings
                .push(Finding::new(Code::UsageError, e.to_string()).about(name));
            return report;
        }
    };
    let mismatches: Vec<Mismatch> =
        serde_json::from_value(result["mismatches"].clone()).unwrap_or_default();
    report
        .findings
        .extend(mismatches.iter().map(Mismatch::finding));
    if let Some(actions) = result["actions"].as_array() {
        for action in actions {
            let outcome = action["outcome"].as_str().unwrap_or_default();
            if outcome.starts_with("refused") {
                let path = action["path"].as_str().unwrap_or_default();
                report.findings.push(
                    Finding::new(Code::ClampRestoreFailed, format!("{path}: {outcome}"))
                        .about(path),
                );
            }
        }
    }
    if result["status"] == "fail" && report.findings.as_slice().is_empty() {
        let message = result["message"].as_str().unwrap_or("failed").to_owned();
        report
            .findings
            .push(Finding::new(Code::ClampVerifyFailed, message).about(name));
    }
    report.headline = Some(match command {
        "snapi call" => serde_json::to_string_pretty(&result).expect("JSON values serialise"),
        _ => result["message"].as_str().unwrap_or_default().to_owned(),
    });
    report.output("status", result["status"].as_str().unwrap_or_default());
    report.with_data(&result)
}

//! `offline-bootstrap`: everything a job needs before it starts, with no network at all.
//! Validate the matrix and pinned data, resolve, record the mode, hand off to Clamp, and leave
//! `build/run.json` for the steps after.

use jiff::Timestamp;
use serde::Serialize;

use crate::clamp::handoff;
use crate::config::{self, Workspace};
use crate::findings::{Code, Finding, Findings, Severity};
use crate::fsutil::FsError;
use crate::resolve::{Resolution, Selection, resolve_offline};
use crate::snapi::{Session, Snapi};
use crate::state::{self, RunRecord, format_timestamp};
use crate::verify::{EntryCheck, verify_offline};

#[derive(Debug, Clone, Serialize)]
pub struct BootstrapOutcome {
    pub resolution: Option<Resolution>,
    pub run: RunRecord,
    #[serde(skip)]
    pub findings: Findings,
    #[serde(skip)]
    pub entries: Vec<EntryCheck>,
}

/// Runs the offline bootstrap. Only failures to write the state files are errors here;
/// everything else is a finding.
pub fn offline_bootstrap(
    workspace: &Workspace,
    selection: &Selection,
    now: Timestamp,
) -> Result<BootstrapOutcome, FsError> {
    let (config, loaded) = config::load(workspace);
    let mut findings = Findings::new(config.as_ref().map(|c| c.policy.mode).unwrap_or_default());
    findings.extend(loaded);
    let Some(config) = config else {
        // Unusable input changes nothing on disk, not even the run record.
        let run = run_record("offline-bootstrap", None, &findings, now);
        return Ok(BootstrapOutcome {
            resolution: None,
            run,
            findings,
            entries: Vec::new(),
        });
    };
    let entries = verify_offline(workspace, &config, None, crate::today(now), &mut findings);
    let resolution = resolve_offline(workspace, &config, selection, now, &mut findings);
    if let Some(resolution) = &resolution {
        state::write_snapshot(workspace, &resolution.snapshot)?;
        if let Some(previous) = state::record_mode(workspace, resolution.snapshot.mode, now)? {
            findings.push(Finding::new(
                Code::ModeChanged,
                format!(
                    "⚠️ Detected mode change: previous={}, current={}",
                    previous.as_str(),
                    resolution.snapshot.mode.as_str()
                ),
            ));
        }
    }
    let entry = resolution
        .as_ref()
        .and_then(|r| config.matrix.find(&r.snapshot.version, &r.snapshot.os));
    let snapi = Snapi::with_builtins(Session::new(&workspace.root, now));
    let handoff = handoff::run(workspace, &snapi, entry, &mut findings);
    let mut run = run_record("offline-bootstrap", resolution.as_ref(), &findings, now);
    run.clamp_manifest_path = handoff.manifest_path;
    run.verify_status = handoff.verify_status;
    run.verify_message = handoff.verify_message;
    state::write_run_record(workspace, &run)?;
    Ok(BootstrapOutcome {
        resolution,
        run,
        findings,
        entries,
    })
}

pub(crate) fn run_record(
    command: &str,
    resolution: Option<&Resolution>,
    findings: &Findings,
    now: Timestamp,
) -> RunRecord {
    let status = findings.exit_status();
    RunRecord {
        command: command.to_owned(),
        mode: resolution.map(|r| r.snapshot.mode),
        clamp_manifest_path: None,
        verify_status: "skipped".to_owned(),
        verify_message: "no Clamp manifest in this workspace".to_owned(),
        status: status.as_str().to_owned(),
        exit_code: status.code(),
        image: resolution.map(|r| r.reference.clone()),
        digest: resolution
            .map(|r| r.snapshot.digest.clone())
            .filter(|d| !d.is_empty()),
        errors: findings.count(Severity::Error),
        warnings: findings.count(Severity::Warning),
        timestamp: format_timestamp(now),
    }
}

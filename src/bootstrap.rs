//! The bootstraps: everything a job needs before it starts.
//!
//! `offline-bootstrap` makes no network call: it validates the matrix and pinned data,
//! resolves from caches, records the mode, hands off to Clamp and writes `build/run.json`.
//! `smart-bootstrap` first runs diagnostics; when the registry answers (HTTP 200 or 401) it
//! resolves and verifies live (with the auto_update dispatch and webhooks), otherwise it
//! continues exactly like the offline bootstrap.

use jiff::Timestamp;
use serde::Serialize;

use crate::clamp::handoff;
use crate::config::{self, Config, Workspace};
use crate::diagnostics::{Diagnostics, diagnose};
use crate::findings::{Code, Finding, Findings, Severity};
use crate::followup::{GitHub, dispatch_if_needed, notify_if_needed};
use crate::fsutil::FsError;
use crate::live::{resolve_live, verify_live};
use crate::registry::Client;
use crate::resolve::{Resolution, Selection, candidates, resolve_offline};
use crate::snapi::{Session, Snapi};
use crate::state::{self, RunRecord, format_timestamp};
use crate::verify::{EntryCheck, verify_offline};

/// How much network a bootstrap may use.
pub enum Network<'a> {
    Offline,
    /// Diagnose the registry with this client, then go live if it answers.
    Smart {
        client: &'a Client,
        github: &'a GitHub,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct BootstrapOutcome {
    pub resolution: Option<Resolution>,
    pub run: RunRecord,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<Diagnostics>,
    #[serde(skip)]
    pub findings: Findings,
    #[serde(skip)]
    pub entries: Vec<EntryCheck>,
}

/// Runs a bootstrap. Only failures to write the state files are errors here; everything else
/// is a finding. Unusable configuration writes nothing at all.
pub async fn bootstrap(
    command: &str,
    workspace: &Workspace,
    selection: &Selection,
    network: Network<'_>,
    now: Timestamp,
) -> Result<BootstrapOutcome, FsError> {
    let (config, loaded) = config::load(workspace);
    let mut findings = Findings::new(config.as_ref().map(|c| c.policy.mode).unwrap_or_default());
    findings.extend(loaded);
    let Some(config) = config else {
        let run = run_record(command, None, &findings, now);
        return Ok(BootstrapOutcome {
            resolution: None,
            run,
            diagnostics: None,
            findings,
            entries: Vec::new(),
        });
    };
    let today = crate::today(now);
    let mut diagnostics = None;
    let (entries, resolution) = match network {
        Network::Smart { client, github } if let Some(host) = upstream_host(&config, selection) => {
            let report = diagnose(client, &host, now).await;
            let reachable = report.reachable();
            if !reachable {
                findings.push(Finding::new(
                    Code::LiveUnavailable,
                    format!(
                        "{host} is unreachable ({}); continuing offline",
                        report
                            .error
                            .clone()
                            .unwrap_or_else(|| format!("HTTP {:?}", report.ghcr_code))
                    ),
                ));
            }
            diagnostics = Some(report);
            if reachable {
                let entries =
                    verify_live(workspace, &config, client, None, today, &mut findings).await;
                let all: Vec<&crate::config::Entry> = config.matrix.images.iter().collect();
                crate::provenance::check(workspace, &config, client, &all, now, &mut findings)
                    .await?;
                let resolution =
                    resolve_live(workspace, &config, client, selection, now, &mut findings).await;
                dispatch_if_needed(&config.policy, github, &mut findings).await;
                notify_if_needed(&config.policy, command, &mut findings).await;
                (entries, resolution)
            } else {
                offline(workspace, &config, selection, now, &mut findings)
            }
        }
        _ => offline(workspace, &config, selection, now, &mut findings),
    };
    let run = finish(
        command,
        workspace,
        &config,
        resolution.as_ref(),
        &mut findings,
        now,
    )?;
    Ok(BootstrapOutcome {
        resolution,
        run,
        diagnostics,
        findings,
        entries,
    })
}

fn offline(
    workspace: &Workspace,
    config: &Config,
    selection: &Selection,
    now: Timestamp,
    findings: &mut Findings,
) -> (Vec<EntryCheck>, Option<Resolution>) {
    let entries = verify_offline(workspace, config, None, crate::today(now), findings);
    for entry in &config.matrix.images {
        crate::provenance::check_offline(workspace, config, entry, findings);
    }
    let resolution = resolve_offline(workspace, config, selection, now, findings);
    (entries, resolution)
}

/// The registry host of the image the resolver would pick.
pub fn upstream_host(config: &Config, selection: &Selection) -> Option<String> {
    let first = candidates(&config.matrix, &config.policy, selection)
        .into_iter()
        .next()?;
    Some(config.matrix.upstream(first).api_host().to_owned())
}

/// Snapshot, mode record, Clamp hand-off and run record.
fn finish(
    command: &str,
    workspace: &Workspace,
    config: &Config,
    resolution: Option<&Resolution>,
    findings: &mut Findings,
    now: Timestamp,
) -> Result<RunRecord, FsError> {
    if let Some(resolution) = resolution {
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
    let entry = resolution.and_then(|r| config.matrix.find(&r.snapshot.version, &r.snapshot.os));
    let snapi = Snapi::with_builtins(Session::new(&workspace.root, now));
    let handoff = handoff::run(workspace, &snapi, entry, findings);
    let mut run = run_record(command, resolution, findings, now);
    run.clamp_manifest_path = handoff.manifest_path;
    run.verify_status = handoff.verify_status;
    run.verify_message = handoff.verify_message;
    state::write_run_record(workspace, &run)?;
    Ok(run)
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

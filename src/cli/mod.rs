//! CLI glue: one function per command, each returning a [`Report`] for `main` to render.

pub mod args;
mod extensions;
mod output;

use anyhow::{Context as _, Result};
use jiff::Timestamp;

use rocforge_ci::bootstrap::offline_bootstrap;
use rocforge_ci::config::{self, Workspace};
use rocforge_ci::findings::{Code, Finding, Findings};
use rocforge_ci::reference::Reference;
use rocforge_ci::report::Report;
use rocforge_ci::resolve::{Selection, report_tarball, resolve_offline};
use rocforge_ci::state;
use rocforge_ci::verify::verify_offline;

use args::{Cli, Command, MatrixAction, ModeAction, NetworkArgs, SelectionArgs};
pub use output::emit;

/// The clock. `ROCFORGE_NOW` (RFC 3339) pins it, for reproducible runs and tests.
fn now() -> Result<Timestamp> {
    match std::env::var("ROCFORGE_NOW") {
        Ok(text) => text
            .parse()
            .with_context(|| format!("ROCFORGE_NOW={text:?} is not an RFC 3339 timestamp")),
        Err(_) => Ok(Timestamp::now()),
    }
}

pub fn run(cli: &Cli) -> Result<Report> {
    let workspace = Workspace {
        root: cli.global.root.clone(),
        matrix: cli.global.matrix.clone(),
        policy: cli.global.policy.clone(),
    };
    let now = now()?;
    match &cli.command {
        Command::Resolve { network, selection } => resolve(&workspace, network, selection, now),
        Command::Verify { reference, network } => {
            verify(&workspace, reference.as_deref(), network, now)
        }
        Command::OfflineBootstrap { selection } => bootstrap(&workspace, selection, now),
        Command::Mode { action } => mode(&workspace, action, now),
        Command::Matrix {
            action: MatrixAction::Check,
        } => matrix_check(&workspace),
        Command::Snapi { action } => extensions::snapi(&workspace, action, now),
        Command::Clamp { action } => extensions::clamp(&workspace, action, now),
    }
}

fn selection(args: &SelectionArgs) -> Selection {
    Selection {
        os: args.os.clone(),
        version: args.rocm_version.clone(),
    }
}

/// Live registry access is not part of this build yet: `--auto` falls back to offline and
/// says so; without `--offline` or `--auto` the command refuses rather than pretend.
fn network_mode(network: &NetworkArgs, findings: &mut Findings) -> bool {
    if network.offline {
        return true;
    }
    if network.auto {
        findings.push(Finding::new(
            Code::LiveUnavailable,
            "--auto: this build has no registry client yet, so the run is offline",
        ));
        return true;
    }
    findings.push(Finding::new(
        Code::UsageError,
        "live registry access is not available in this build; pass --offline (or --auto)",
    ));
    false
}

fn load(workspace: &Workspace, command: &'static str) -> (Option<config::Config>, Report) {
    let (config, loaded) = config::load(workspace);
    let mut findings = Findings::new(config.as_ref().map(|c| c.policy.mode).unwrap_or_default());
    findings.extend(loaded);
    (config, Report::new(command, findings))
}

fn resolve(
    workspace: &Workspace,
    network: &NetworkArgs,
    args: &SelectionArgs,
    now: Timestamp,
) -> Result<Report> {
    let (config, mut report) = load(workspace, "resolve");
    let Some(config) = config else {
        return Ok(report);
    };
    if !network_mode(network, &mut report.findings) {
        return Ok(report);
    }
    let Some(resolution) = resolve_offline(
        workspace,
        &config,
        &selection(args),
        now,
        &mut report.findings,
    ) else {
        return Ok(report);
    };
    let entry = config
        .matrix
        .find(&resolution.snapshot.version, &resolution.snapshot.os)
        .expect("the resolver picked a matrix entry");
    report_tarball(
        &config.matrix,
        entry,
        &resolution.tarball,
        &mut report.findings,
    );
    state::write_snapshot(workspace, &resolution.snapshot)?;
    report.headline = Some(resolution.reference.clone());
    report.output("image", &resolution.reference);
    report.output("digest", &resolution.snapshot.digest);
    report.output("mode", resolution.snapshot.mode.as_str());
    Ok(report.with_data(&resolution))
}

fn verify(
    workspace: &Workspace,
    reference: Option<&str>,
    network: &NetworkArgs,
    now: Timestamp,
) -> Result<Report> {
    let (config, mut report) = load(workspace, "verify");
    let target = match reference.map(Reference::parse).transpose() {
        Ok(target) => target,
        Err(e) => {
            report
                .findings
                .push(Finding::new(Code::UsageError, e.to_string()));
            return Ok(report);
        }
    };
    let Some(config) = config else {
        return Ok(report);
    };
    if !network_mode(network, &mut report.findings) {
        return Ok(report);
    }
    report.entries = verify_offline(
        workspace,
        &config,
        target.as_ref(),
        rocforge_ci::today(now),
        &mut report.findings,
    );
    report.output("status", report.exit_status().as_str());
    Ok(report)
}

fn bootstrap(workspace: &Workspace, args: &SelectionArgs, now: Timestamp) -> Result<Report> {
    let outcome = offline_bootstrap(workspace, &selection(args), now)?;
    let mut report = Report::new("offline-bootstrap", outcome.findings.clone());
    report.entries = outcome.entries.clone();
    if let Some(resolution) = &outcome.resolution {
        report.headline = Some(resolution.reference.clone());
        report.output("image", &resolution.reference);
        report.output("digest", &resolution.snapshot.digest);
        report.output("mode", resolution.snapshot.mode.as_str());
    }
    Ok(report.with_data(&outcome))
}

fn mode(workspace: &Workspace, action: &ModeAction, now: Timestamp) -> Result<Report> {
    let findings = Findings::new(config::Mode::default());
    let (command, data) = match action {
        ModeAction::Show => (
            "mode show",
            serde_json::to_value(state::read_mode(workspace)?)?,
        ),
        ModeAction::Reset => (
            "mode reset",
            serde_json::to_value(state::reset_mode(workspace, now)?)?,
        ),
    };
    let mut report = Report::new(command, findings);
    report.headline = Some(serde_json::to_string(&data)?);
    Ok(report.with_data(&data))
}

fn matrix_check(workspace: &Workspace) -> Result<Report> {
    let (config, mut report) = load(workspace, "matrix check");
    if let Some(config) = &config {
        report.headline = Some(format!(
            "{}: {} images, {} with a recorded digest",
            workspace.matrix.display(),
            config.matrix.images.len(),
            config
                .matrix
                .images
                .iter()
                .filter(|e| e.digest.is_some())
                .count()
        ));
    }
    Ok(report)
}

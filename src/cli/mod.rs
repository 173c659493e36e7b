//! CLI glue: one function per command, each returning a [`Report`] for `main` to render.

pub mod args;
mod cache;
mod extensions;
mod output;
mod progress;
mod update;

use anyhow::{Context as _, Result};
use jiff::Timestamp;

use rocforge_ci::bootstrap::{self, BootstrapOutcome, Network, upstream_host};
use rocforge_ci::config::{self, Config, Workspace};
use rocforge_ci::diagnostics::diagnose;
use rocforge_ci::findings::{Code, Finding, Findings};
use rocforge_ci::followup::{GitHub, dispatch_if_needed, notify_if_needed};
use rocforge_ci::live::{resolve_live, verify_live};
use rocforge_ci::reference::Reference;
use rocforge_ci::registry::{Client, RegistryOptions};
use rocforge_ci::report::Report;
use rocforge_ci::resolve::{Selection, report_tarball, resolve_offline};
use rocforge_ci::state;
use rocforge_ci::verify::verify_offline;

use args::{Cli, Command, MatrixAction, ModeAction, NetworkArgs, SelectionArgs};
pub use output::{emit, mask_secrets};

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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match &cli.command {
        Command::Resolve { network, selection } => {
            runtime.block_on(resolve(&workspace, network, selection, now))
        }
        Command::Verify { reference, network } => {
            runtime.block_on(verify(&workspace, reference.as_deref(), network, now))
        }
        Command::OfflineBootstrap { selection } => runtime.block_on(run_bootstrap(
            "offline-bootstrap",
            &workspace,
            selection,
            false,
            now,
        )),
        Command::SmartBootstrap { selection } => runtime.block_on(run_bootstrap(
            "smart-bootstrap",
            &workspace,
            selection,
            true,
            now,
        )),
        Command::Update {
            oses,
            dry_run,
            pr_body,
            network,
        } => runtime.block_on(update::update(
            &workspace, oses, *dry_run, pr_body, network, now,
        )),
        Command::CacheBuild {
            release,
            os,
            platform,
            push,
            dockerfile,
            output,
        } => runtime.block_on(cache::build(
            &workspace,
            cache::BuildArgs {
                release,
                os,
                platform,
                push: *push,
                dockerfile: dockerfile.as_deref(),
                output: output.as_deref(),
                json: cli.global.json,
            },
            now,
        )),
        Command::CacheVerify { files, load } => {
            cache::verify(&workspace, files, *load, cli.global.json)
        }
        Command::Diagnostics { ci, registry } => {
            runtime.block_on(diagnostics(&workspace, *ci, registry.as_deref(), now))
        }
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

pub(crate) fn client() -> Result<Client> {
    Ok(Client::new(RegistryOptions::from_env()?)?)
}

/// `--offline`: no client. `--auto`: a client if the registry answers. Default: a client.
pub(crate) async fn choose_network(
    network: &NetworkArgs,
    config: &Config,
    selection: &Selection,
    now: Timestamp,
    findings: &mut Findings,
) -> Result<Option<Client>> {
    if network.offline {
        return Ok(None);
    }
    let client = client()?;
    if network.auto
        && let Some(host) = upstream_host(config, selection)
    {
        let report = diagnose(&client, &host, now).await;
        if !report.reachable() {
            let why = report
                .error
                .unwrap_or_else(|| format!("HTTP {:?}", report.ghcr_code));
            findings.push(Finding::new(
                Code::LiveUnavailable,
                format!("--auto: {host} is unreachable ({why}); running offline"),
            ));
            return Ok(None);
        }
    }
    Ok(Some(client))
}

pub(crate) fn load(workspace: &Workspace, command: &'static str) -> (Option<Config>, Report) {
    let (config, loaded) = config::load(workspace);
    let mut findings = Findings::new(config.as_ref().map(|c| c.policy.mode).unwrap_or_default());
    findings.extend(loaded);
    (config, Report::new(command, findings))
}

async fn resolve(
    workspace: &Workspace,
    network: &NetworkArgs,
    args: &SelectionArgs,
    now: Timestamp,
) -> Result<Report> {
    let (config, mut report) = load(workspace, "resolve");
    let Some(config) = config else {
        return Ok(report);
    };
    let selection = selection(args);
    let client = choose_network(network, &config, &selection, now, &mut report.findings).await?;
    let resolution = match &client {
        Some(client) => {
            resolve_live(
                workspace,
                &config,
                client,
                &selection,
                now,
                &mut report.findings,
            )
            .await
        }
        None => resolve_offline(workspace, &config, &selection, now, &mut report.findings),
    };
    let Some(resolution) = resolution else {
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

async fn verify(
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
    let client = choose_network(
        network,
        &config,
        &Selection::default(),
        now,
        &mut report.findings,
    )
    .await?;
    let today = rocforge_ci::today(now);
    report.entries = match &client {
        Some(client) => {
            let mut entries = verify_live(
                workspace,
                &config,
                client,
                target.as_ref(),
                today,
                &mut report.findings,
            )
            .await;
            let checked: Vec<&rocforge_ci::config::Entry> = match &target {
                Some(reference) => rocforge_ci::verify::find_entry(&config.matrix, reference)
                    .into_iter()
                    .collect(),
                None => config.matrix.images.iter().collect(),
            };
            let provenance = rocforge_ci::provenance::check(
                workspace,
                &config,
                client,
                &checked,
                now,
                &mut report.findings,
            )
            .await?;
            for image in provenance.iter().flat_map(|p| &p.images) {
                for check in entries
                    .iter_mut()
                    .filter(|c| c.digest.as_deref() == Some(image.digest.as_str()))
                {
                    check.signature = Some(image.signature_status.to_owned());
                }
            }
            dispatch_if_needed(&config.policy, &GitHub::from_env(), &mut report.findings).await;
            entries
        }
        None => {
            let entries = verify_offline(
                workspace,
                &config,
                target.as_ref(),
                today,
                &mut report.findings,
            );
            let checked: Vec<&rocforge_ci::config::Entry> = match &target {
                Some(reference) => rocforge_ci::verify::find_entry(&config.matrix, reference)
                    .into_iter()
                    .collect(),
                None => config.matrix.images.iter().collect(),
            };
            for entry in checked {
                rocforge_ci::provenance::check_offline(
                    workspace,
                    &config,
                    entry,
                    &mut report.findings,
                );
            }
            entries
        }
    };
    notify_if_needed(&config.policy, "verify", &mut report.findings).await;
    report.output("status", report.exit_status().as_str());
    Ok(report)
}

async fn run_bootstrap(
    command: &'static str,
    workspace: &Workspace,
    args: &SelectionArgs,
    smart: bool,
    now: Timestamp,
) -> Result<Report> {
    let github = GitHub::from_env();
    let client = if smart { Some(client()?) } else { None };
    let network = match &client {
        Some(client) => Network::Smart {
            client,
            github: &github,
        },
        None => Network::Offline,
    };
    let outcome: BootstrapOutcome =
        bootstrap::bootstrap(command, workspace, &selection(args), network, now).await?;
    let mut report = Report::new(command, outcome.findings.clone());
    report.entries = outcome.entries.clone();
    if let Some(resolution) = &outcome.resolution {
        report.headline = Some(resolution.reference.clone());
        report.output("image", &resolution.reference);
        report.output("digest", &resolution.snapshot.digest);
        report.output("mode", resolution.snapshot.mode.as_str());
    }
    Ok(report.with_data(&outcome))
}

async fn diagnostics(
    workspace: &Workspace,
    ci: bool,
    registry: Option<&str>,
    now: Timestamp,
) -> Result<Report> {
    let (config, mut report) = load(workspace, "diagnostics");
    let host = match registry {
        Some(host) => host.to_owned(),
        None => match config
            .as_ref()
            .and_then(|c| upstream_host(c, &Selection::default()))
        {
            Some(host) => host,
            None => return Ok(report),
        },
    };
    // Diagnostics report; they do not judge the matrix.
    report.findings = Findings::new(report.findings.mode());
    let result = diagnose(&client()?, &host, now).await;
    report.headline = Some(if ci {
        serde_json::to_string(&result)?
    } else {
        let code = result
            .ghcr_code
            .map_or("none".to_owned(), |c| c.to_string());
        format!(
            "registry {}: {} (HTTP {code}, DNS {}, {} ms)\ncredentials: GHCR_USER {}, GHCR_TOKEN {}, GITHUB_TOKEN {}, docker config {}{}",
            result.registry,
            result.ghcr_status,
            result.dns_status,
            result.latency_ms.map_or("–".to_owned(), |l| l.to_string()),
            present(result.ghcr_user),
            present(result.ghcr_token_present),
            present(result.github_token_present),
            present(result.docker_config_present),
            result
                .error
                .as_ref()
                .map(|e| format!("\nerror: {e}"))
                .unwrap_or_default()
        )
    });
    for (key, value) in [
        ("ghcr_status", result.ghcr_status.to_owned()),
        (
            "ghcr_code",
            result.ghcr_code.map(|c| c.to_string()).unwrap_or_default(),
        ),
    ] {
        report.output(key, value);
    }
    Ok(report.with_data(&result))
}

fn present(set: bool) -> &'static str {
    if set { "set" } else { "not set" }
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

//! `update`: the registry's tags into the matrix, in place, with a PR body.

use anyhow::{Context as _, Result};
use jiff::Timestamp;

use rocforge_ci::config::Workspace;
use rocforge_ci::findings::{Code, Finding};
use rocforge_ci::report::Report;
use rocforge_ci::resolve::Selection;

use super::args::NetworkArgs;
use super::{choose_network, load};

pub async fn update(
    workspace: &Workspace,
    oses: &[String],
    dry_run: bool,
    pr_body: &std::path::Path,
    network: &NetworkArgs,
    now: Timestamp,
) -> Result<Report> {
    let (config, mut report) = load(workspace, "update");
    let Some(config) = config else {
        return Ok(report);
    };
    report.output("changed", "false");
    let oses: Vec<String> = if !oses.is_empty() {
        oses.to_vec()
    } else if !config.policy.preferred_os.is_empty() {
        config.policy.preferred_os.clone()
    } else {
        let mut all: Vec<String> = config
            .matrix
            .images
            .iter()
            .map(|e| e.os.value.clone())
            .collect();
        all.dedup();
        all
    };
    let Some(client) = choose_network(
        network,
        &config,
        &Selection::default(),
        now,
        &mut report.findings,
    )
    .await?
    else {
        report.findings.push(Finding::new(
            Code::LiveUnavailable,
            "update reads the registry; offline, the matrix stays as it is",
        ));
        return Ok(report);
    };
    let matrix_path = workspace.path(&workspace.matrix);
    let original = std::fs::read_to_string(&matrix_path)
        .with_context(|| format!("reading {}", matrix_path.display()))?;
    let plan = match rocforge_ci::update::plan(&config, &client, &oses).await {
        Ok(plan) => plan,
        Err(rocforge_ci::update::UpdateError::Registry { repository, source }) => {
            let code = if source.is_unreachable() {
                Code::RegistryUnreachable
            } else {
                Code::RegistryError
            };
            report.findings.push(
                Finding::new(code, format!("{source}; the matrix is unchanged")).about(repository),
            );
            return Ok(report);
        }
        Err(e) => return Err(e.into()),
    };
    let plan = if config.policy.require_signature {
        rocforge_ci::update::keep_signed(workspace, &config, &client, plan, &mut report.findings)
            .await
    } else {
        plan
    };
    for change in &plan.added {
        report.findings.push(Finding::new(
            Code::EntryAdded,
            format!(
                "{}/{}: new tag {} at {}",
                change.version, change.os, change.tag, change.new
            ),
        ));
    }
    for change in &plan.refreshed {
        let old = change.old.as_deref().unwrap_or("nothing");
        report.findings.push(Finding::new(
            Code::EntryRefreshed,
            format!("{}/{}: {old} → {}", change.version, change.os, change.new),
        ));
    }
    for label in &plan.vanished {
        report.findings.push(Finding::new(
            Code::TagVanished,
            format!("{label}: the registry no longer has this tag"),
        ));
    }
    let image = config.matrix.image.as_str().to_owned();
    let body = rocforge_ci::update::pr_body(&plan, &image);
    let body_path = workspace.path(pr_body);
    rocforge_ci::fsutil::write_atomic(&body_path, body.as_bytes())?;
    if plan.changed() && !dry_run {
        rocforge_ci::update::apply(workspace, &original, &plan, rocforge_ci::today(now))?;
    } else if plan.changed() {
        // Prove the edit would validate, without writing it.
        rocforge_ci::update::edited(&original, &workspace.matrix, &plan, rocforge_ci::today(now))?;
    }
    report.outputs.retain(|(k, _)| k != "changed");
    report.output(
        "changed",
        if plan.changed() && !dry_run {
            "true"
        } else {
            "false"
        },
    );
    report.output("pr_body", body_path.display().to_string());
    report.headline = Some(format!(
        "{} added, {} refreshed, {} vanished, {} unchanged{}",
        plan.added.len(),
        plan.refreshed.len(),
        plan.vanished.len(),
        plan.unchanged,
        if dry_run {
            " (dry run: matrix not written)"
        } else {
            ""
        }
    ));
    report.markdown = Some(body);
    Ok(report.with_data(&plan))
}

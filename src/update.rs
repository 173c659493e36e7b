//! The updater: reads every tag of the upstream repository, keeps those that fit the tag
//! template for the chosen OSes, and brings the matrix up to date in place.
//!
//! New (version, os) pairs are added with their digest and today's date; entries whose tag
//! moved get the new digest and date (old → new in the report); entries whose tag is gone are
//! reported. Digests are read with one HEAD per tag, concurrently, after the tag list has
//! fetched the one token the repository scope needs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use jiff::civil::Date;
use serde::Serialize;

use crate::config::edit::{EditError, MatrixEdit};
use crate::config::{Config, Workspace};
use crate::fsutil::{FileLock, FsError, write_atomic};
use crate::reference::{Digest, Reference};
use crate::registry::{Client, RegistryError};
use crate::version::Version;

/// How many manifest requests are in flight at once.
const CONCURRENCY: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub version: String,
    pub os: String,
    pub tag: String,
    pub old: Option<String>,
    pub new: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct UpdatePlan {
    pub added: Vec<Change>,
    pub refreshed: Vec<Change>,
    /// `version/os` of entries whose tag the registry no longer has.
    pub vanished: Vec<String>,
    pub unchanged: usize,
    pub tags_seen: usize,
}

impl UpdatePlan {
    pub fn changed(&self) -> bool {
        !self.added.is_empty() || !self.refreshed.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("{repository}: {source}")]
    Registry {
        repository: String,
        #[source]
        source: RegistryError,
    },
    #[error(transparent)]
    Edit(#[from] EditError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{} changed while the updater ran; run it again", .0.display())]
    Raced(PathBuf),
}

/// Asks the registry what the matrix should say for `oses`.
pub async fn plan(
    config: &Config,
    client: &Client,
    oses: &[String],
) -> Result<UpdatePlan, UpdateError> {
    let matrix = &config.matrix;
    let mut plan = UpdatePlan::default();
    // One tag list per repository (the image may differ per OS: docker.io/rocm/dev-{os}).
    let mut by_repository: BTreeMap<String, (Reference, Vec<&String>)> = BTreeMap::new();
    for os in oses {
        let name = matrix.image.render("0", os);
        let repository = Reference::parse_repository(&name).expect("validated when loaded");
        by_repository
            .entry(repository.name())
            .or_insert_with(|| (repository, Vec::new()))
            .1
            .push(os);
    }
    let mut wanted: Vec<(Reference, String, String)> = Vec::new(); // (tagged reference, version, os)
    for (name, (repository, oses)) in &by_repository {
        let tags = client
            .tags(repository)
            .await
            .map_err(|source| UpdateError::Registry {
                repository: name.clone(),
                source,
            })?;
        plan.tags_seen += tags.len();
        for os in oses {
            let mut versions: Vec<Version> = tags
                .iter()
                .filter_map(|tag| matrix.tag.match_version(tag, os))
                .filter_map(|v| Version::parse(v).ok())
                .collect();
            versions.sort();
            versions.dedup();
            for version in versions {
                let tag = matrix.tag.render(version.as_str(), os);
                let reference = repository
                    .clone()
                    .with_tag(&tag)
                    .expect("rendered from a valid template");
                wanted.push((reference, version.as_str().to_owned(), (*os).clone()));
            }
            for entry in matrix.images.iter().filter(|e| e.os.value == **os) {
                let tag = matrix.tag_for(entry);
                if !tags.contains(&tag) {
                    plan.vanished.push(entry.label());
                }
            }
        }
    }
    let digests: Vec<Result<Digest, RegistryError>> = futures_util::stream::iter(
        wanted
            .iter()
            .map(|(reference, _, _)| client.manifest_digest(reference)),
    )
    .buffered(CONCURRENCY)
    .collect()
    .await;
    for ((reference, version, os), digest) in wanted.iter().zip(digests) {
        let digest = digest.map_err(|source| UpdateError::Registry {
            repository: reference.to_string(),
            source,
        })?;
        let tag = reference.tag().unwrap_or_default().to_owned();
        match matrix.find(version, os) {
            None => plan.added.push(Change {
                version: version.clone(),
                os: os.clone(),
                tag,
                old: None,
                new: digest.to_string(),
            }),
            Some(entry) if entry.digest.as_ref().map(|d| &d.value) != Some(&digest) => {
                plan.refreshed.push(Change {
                    version: version.clone(),
                    os: os.clone(),
                    tag,
                    old: entry.digest.as_ref().map(|d| d.value.to_string()),
                    new: digest.to_string(),
                })
            }
            Some(_) => plan.unchanged += 1,
        }
    }
    Ok(plan)
}

/// Writes the plan into the matrix file, under a lock, atomically. The file must still be the
/// one the plan was made from (`original`), or nothing is written.
pub fn apply(
    workspace: &Workspace,
    original: &str,
    plan: &UpdatePlan,
    today: Date,
) -> Result<(), UpdateError> {
    let path = workspace.path(&workspace.matrix);
    let _lock = FileLock::acquire(&path)?;
    let current = std::fs::read_to_string(&path).map_err(|e| FsError::new("reading", &path, e))?;
    if current != original {
        return Err(UpdateError::Raced(path));
    }
    let text = edited(original, &workspace.matrix, plan, today)?;
    write_atomic(&path, text.as_bytes())?;
    Ok(())
}

/// The matrix text with the plan applied (validated).
pub fn edited(
    original: &str,
    relative: &Path,
    plan: &UpdatePlan,
    today: Date,
) -> Result<String, UpdateError> {
    let mut edit = MatrixEdit::new(original)?;
    let date = today.to_string();
    for change in &plan.refreshed {
        edit.set(&change.version, &change.os, "digest", &change.new)?;
        edit.set(&change.version, &change.os, "added", &date)?;
    }
    for change in &plan.added {
        // The new release keeps the signer its predecessor named (the one `signed` checked).
        edit.add_entry(
            &[
                ("version", &change.version),
                ("os", &change.os),
                ("digest", &change.new),
                ("added", &date),
            ],
            &["provenance"],
        )?;
    }
    Ok(edit.finish(relative)?)
}

/// The pull-request body: what was added, refreshed (old → new) and what vanished.
pub fn pr_body(plan: &UpdatePlan, image: &str) -> String {
    let mut out = format!(
        "## Auto-update ROCm matrix\n\nRefreshed from `{image}` by `rocforge-ci update`.\n\n"
    );
    if !plan.changed() && plan.vanished.is_empty() {
        out.push_str("Nothing changed.\n");
        return out;
    }
    let row = |c: &Change| {
        format!(
            "| {} | {} | `{}` | {} | `{}` |\n",
            c.version,
            c.os,
            c.tag,
            c.old
                .as_deref()
                .map_or("–".to_owned(), |o| format!("`{o}`")),
            c.new
        )
    };
    if !plan.refreshed.is_empty() {
        out.push_str("### Refreshed (the tag moved)\n\n| Version | OS | Tag | Old digest | New digest |\n|---|---|---|---|---|\n");
        plan.refreshed.iter().for_each(|c| out.push_str(&row(c)));
        out.push('\n');
    }
    if !plan.added.is_empty() {
        out.push_str("### Added\n\n| Version | OS | Tag | Old digest | New digest |\n|---|---|---|---|---|\n");
        plan.added.iter().for_each(|c| out.push_str(&row(c)));
        out.push('\n');
    }
    if !plan.vanished.is_empty() {
        out.push_str("### Vanished (no longer tagged upstream; review and remove)\n\n");
        for label in &plan.vanished {
            let _ = writeln!(out, "- {label}");
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "{} tags read, {} entries unchanged.",
        plan.tags_seen, plan.unchanged
    );
    out
}

/// Where signatures are required, drops every new digest whose signature does not verify
/// (the finding says why). A new version inherits the signer of the newest entry of its OS.
pub async fn keep_signed(
    workspace: &Workspace,
    config: &Config,
    client: &Client,
    mut plan: UpdatePlan,
    findings: &mut crate::findings::Findings,
) -> UpdatePlan {
    let mut added = Vec::new();
    for change in std::mem::take(&mut plan.added) {
        if signed(workspace, config, client, &change, findings).await {
            added.push(change);
        }
    }
    let mut refreshed = Vec::new();
    for change in std::mem::take(&mut plan.refreshed) {
        if signed(workspace, config, client, &change, findings).await {
            refreshed.push(change);
        }
    }
    plan.added = added;
    plan.refreshed = refreshed;
    plan
}

async fn signed(
    workspace: &Workspace,
    config: &Config,
    client: &Client,
    change: &Change,
    findings: &mut crate::findings::Findings,
) -> bool {
    let template = config
        .matrix
        .find(&change.version, &change.os)
        .cloned()
        .or_else(|| {
            let mut same_os: Vec<&crate::config::Entry> = config
                .matrix
                .images
                .iter()
                .filter(|e| e.os.value == change.os)
                .collect();
            same_os.sort_by(|a, b| b.version.value.cmp(&a.version.value));
            same_os.first().map(|e| (*e).clone())
        });
    let verified = match (
        template,
        change.new.parse::<Digest>(),
        Version::parse(&change.version),
    ) {
        (Some(mut entry), Ok(digest), Ok(version)) => {
            entry.version = crate::config::Spanned::new(version, entry.version.span);
            entry.digest = Some(crate::config::Spanned::new(digest, Default::default()));
            let mut local = crate::findings::Findings::new(findings.mode());
            let result =
                crate::provenance::check_entry(workspace, config, client, &entry, &mut local).await;
            let ok = result.is_some_and(|r| r.decision != "fail");
            if !ok {
                findings.extend(local.iter().cloned());
            }
            ok
        }
        _ => false,
    };
    if !verified {
        findings.push(crate::findings::Finding::new(
            crate::findings::Code::SignatureUnverifiable,
            format!(
                "{}/{}: {} is not recorded: its signature does not verify",
                change.version, change.os, change.new
            ),
        ));
    }
    verified
}

//! The verifier's checks that need no registry: the reference names a matrix entry and carries
//! its pinned digest, the pin is younger than `digest_ttl`, and cached tarballs are the
//! recorded files. The live digest comparison joins these when the registry client does.

use jiff::civil::Date;
use serde::Serialize;

use crate::cache::{TarballState, check_tarball};
use crate::config::{Config, Entry, Matrix, Workspace};
use crate::findings::{Code, Finding, Findings, Location};
use crate::reference::Reference;
use crate::resolve::report_tarball;

/// What was checked for one matrix entry (the rows of the summary table).
#[derive(Debug, Clone, Serialize)]
pub struct EntryCheck {
    pub entry: String,
    pub reference: String,
    pub digest: Option<String>,
    pub added: Option<String>,
    pub age_days: Option<i64>,
    pub tarball: TarballState,
    /// `verified`, `unverified` or `failed` when signatures were checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The digest the registry has for the tag now (live verification only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_notes: Option<String>,
}

/// Checks `target` (a reference from the resolver) or, without one, every entry.
pub fn verify_offline(
    workspace: &Workspace,
    config: &Config,
    target: Option<&Reference>,
    today: Date,
    findings: &mut Findings,
) -> Vec<EntryCheck> {
    let matrix = &config.matrix;
    let entries: Vec<&Entry> = match target {
        None => matrix.images.iter().collect(),
        Some(reference) => match find_entry(matrix, reference) {
            Some(entry) => {
                compare_pin(workspace, matrix, entry, reference, findings);
                vec![entry]
            }
            None => {
                findings.push(
                    Finding::new(
                        Code::EntryNotFound,
                        format!(
                            "{reference} is not an image of {}",
                            workspace.matrix.display()
                        ),
                    )
                    .about(reference.to_string()),
                );
                return Vec::new();
            }
        },
    };
    entries
        .into_iter()
        .map(|entry| {
            let age_days = check_age(workspace, config, entry, today, findings);
            let tarball = check_tarball(workspace, entry);
            report_tarball(matrix, entry, &tarball, findings);
            EntryCheck {
                entry: entry.label(),
                reference: matrix.upstream(entry).to_string(),
                digest: entry.digest.as_ref().map(|d| d.value.to_string()),
                added: entry.added.as_ref().map(|d| d.value.to_string()),
                age_days,
                tarball,
                signature: None,
                live_digest: None,
                release_notes: entry.release_notes.clone(),
            }
        })
        .collect()
}

/// The entry a reference names: same repository (upstream or mirror) and tag, or, for a
/// digest-only reference, the entry pinned to that digest.
pub fn find_entry<'m>(matrix: &'m Matrix, reference: &Reference) -> Option<&'m Entry> {
    matrix.images.iter().find(|entry| {
        let names = std::iter::once(matrix.upstream(entry)).chain(matrix.mirror(entry));
        names.into_iter().any(|candidate| match reference.tag() {
            Some(tag) => candidate.name() == reference.name() && candidate.tag() == Some(tag),
            None => {
                candidate.name() == reference.name() && candidate.digest() == reference.digest()
            }
        })
    })
}

fn compare_pin(
    workspace: &Workspace,
    matrix: &Matrix,
    entry: &Entry,
    reference: &Reference,
    findings: &mut Findings,
) {
    let recorded = entry.digest.as_ref().map(|d| &d.value);
    let given = reference.digest();
    if given.is_none() || recorded == given {
        return;
    }
    let location = entry.digest.as_ref().map(|d| Location {
        file: workspace.matrix.clone(),
        line: d.span.line,
        column: d.span.column,
    });
    let recorded = recorded.map_or_else(|| "no digest".to_owned(), ToString::to_string);
    findings.push(
        Finding::new(
            Code::DigestMismatch,
            format!(
                "{}: the resolver's digest {} differs from the matrix ({recorded})",
                entry.label(),
                given.expect("checked above")
            ),
        )
        .about(matrix.upstream(entry).to_string())
        .at(location),
    );
}

/// Age in days of the entry's pin; a warning when it reaches `digest_ttl`.
fn check_age(
    workspace: &Workspace,
    config: &Config,
    entry: &Entry,
    today: Date,
    findings: &mut Findings,
) -> Option<i64> {
    let added = entry.added.as_ref()?;
    let location = Some(Location {
        file: workspace.matrix.clone(),
        line: added.span.line,
        column: added.span.column,
    });
    let age = i64::from((today - added.value).get_days());
    let subject = config.matrix.upstream(entry).to_string();
    let ttl = i64::from(config.policy.digest_ttl_days);
    if age < 0 {
        findings.push(
            Finding::new(
                Code::DateInFuture,
                format!(
                    "{}: `added: {}` is in the future (today is {today})",
                    entry.label(),
                    added.value
                ),
            )
            .about(subject)
            .at(location),
        );
    } else if age >= ttl {
        findings.push(
            Finding::new(
                Code::DigestStale,
                format!(
                    "{}: digest recorded {age} days ago, at or past the {ttl}-day TTL; run the updater \
                     or review the pin",
                    entry.label()
                ),
            )
            .about(subject)
            .at(location),
        );
    }
    Some(age)
}

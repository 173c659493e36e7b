//! The resolver and verifier with the registry: live digests, mirror presence, drift.

use jiff::Timestamp;

use crate::cache::check_tarball;
use crate::config::{Config, Entry, Workspace};
use crate::findings::{Code, Finding, Findings, Location};
use crate::reference::Reference;
use crate::registry::{Client, RegistryError};
use crate::resolve::{Choice, Resolution, Selection, candidates, no_candidate_message};
use crate::state::CacheMode;
use crate::verify::{EntryCheck, find_entry, verify_offline};

/// Resolves with the registry: `local` when the tarball verifies (no network), `mirror` when
/// the mirror serves the pinned manifest, else `live` with the digest the upstream tag has
/// now. An unreachable registry falls back to the offline answer with a finding.
pub async fn resolve_live(
    workspace: &Workspace,
    config: &Config,
    client: &Client,
    selection: &Selection,
    now: Timestamp,
    findings: &mut Findings,
) -> Option<Resolution> {
    let ordered = candidates(&config.matrix, &config.policy, selection);
    let Some(entry) = ordered.first().copied() else {
        findings.push(Finding::new(
            Code::EntryNotFound,
            no_candidate_message(&config.matrix, selection),
        ));
        return None;
    };
    let fallbacks = ordered[1..].iter().map(|e| e.label()).collect();
    let matrix = &config.matrix;
    let upstream = matrix.upstream(entry);
    let tarball = check_tarball(workspace, entry);
    let pinned = entry.digest.as_ref().map(|d| d.value.clone());
    let mirror_ok = match (matrix.mirror(entry), &pinned) {
        (Some(mirror), Some(pin)) if !tarball.is_verified() => {
            let repo_tag = matrix.archive_repo_tag(entry);
            mirror_serves(client, entry, &repo_tag, &mirror, pin, findings)
                .await
                .then_some(mirror)
        }
        _ => None,
    };
    let (mode, image) = if tarball.is_verified() {
        (CacheMode::Local, upstream.clone())
    } else if let Some(mirror) = mirror_ok {
        (CacheMode::Mirror, mirror.with_digest(pinned.clone()))
    } else {
        match client
            .manifest_digest(&upstream.clone().with_digest(None))
            .await
        {
            Ok(live) => (CacheMode::Live, upstream.clone().with_digest(Some(live))),
            Err(error) => {
                findings.push(registry_finding(entry, &upstream, &error));
                (CacheMode::Offline, upstream.clone())
            }
        }
    };
    let choice = Choice {
        entry,
        image,
        mode,
        tarball,
        network: true,
    };
    Some(choice.into_resolution(config, fallbacks, now))
}

/// Whether the mirror serves the pinned image. With a recorded tarball hash, the archive is
/// regenerated from the mirror (in memory, not on disk) and must hash to it; otherwise the
/// mirror must serve the pinned manifest (whose bytes are checked against the digest).
async fn mirror_serves(
    client: &Client,
    entry: &Entry,
    repo_tag: &str,
    mirror: &Reference,
    pin: &crate::reference::Digest,
    findings: &mut Findings,
) -> bool {
    let pinned = mirror.clone().with_digest(Some(pin.clone()));
    let Some(expected) = entry.sha256.as_ref().map(|s| s.value.clone()) else {
        return client.manifest(&pinned).await.is_ok();
    };
    let platform = entry
        .platform
        .as_deref()
        .unwrap_or(crate::cache::build::DEFAULT_PLATFORM);
    match crate::cache::build::write_archive(
        client,
        &pinned,
        platform,
        repo_tag,
        std::io::sink(),
        &crate::progress::Silent,
    )
    .await
    {
        Ok((_, built)) if built.sha256 == expected => true,
        Ok((_, built)) => {
            findings.push(
                Finding::new(
                    Code::MirrorMismatch,
                    format!("{}: the mirror's image archives to sha256 {}, the matrix records {expected}", entry.label(), built.sha256),
                )
                .about(pinned.to_string()),
            );
            false
        }
        Err(crate::cache::build::BuildError::Registry(RegistryError::NotFound { .. })) => false,
        Err(error) => {
            findings.push(
                Finding::new(
                    Code::RegistryError,
                    format!("{}: mirror {pinned}: {error}", entry.label()),
                )
                .about(pinned.to_string()),
            );
            false
        }
    }
}

/// Verifies `target` (or every entry, concurrently) against the registry: the matrix digest
/// must equal the resolver's and the live one; plus the offline checks (age, tarballs).
pub async fn verify_live(
    workspace: &Workspace,
    config: &Config,
    client: &Client,
    target: Option<&Reference>,
    today: jiff::civil::Date,
    findings: &mut Findings,
) -> Vec<EntryCheck> {
    let mut checks = verify_offline(workspace, config, target, today, findings);
    let entries: Vec<&Entry> = match target {
        Some(reference) => find_entry(&config.matrix, reference).into_iter().collect(),
        None => config.matrix.images.iter().collect(),
    };
    let lookups = entries.iter().map(|entry| {
        let tagged = config.matrix.upstream(entry).with_digest(None);
        async move { client.manifest_digest(&tagged).await }
    });
    let answers = futures_util::future::join_all(lookups).await;
    for ((entry, answer), check) in entries.iter().zip(answers).zip(checks.iter_mut()) {
        let upstream = config.matrix.upstream(entry);
        let location = entry.digest.as_ref().map(|d| Location {
            file: workspace.matrix.clone(),
            line: d.span.line,
            column: d.span.column,
        });
        let live = match answer {
            Ok(live) => live,
            Err(error) => {
                findings.push(registry_finding(entry, &upstream, &error));
                continue;
            }
        };
        check.live_digest = Some(live.to_string());
        let subject = upstream.clone().with_digest(None).to_string();
        match &entry.digest {
            None => findings.push(
                Finding::new(
                    Code::DigestUnpinned,
                    format!(
                        "{}: no digest is pinned; the registry has {live}",
                        entry.label()
                    ),
                )
                .about(subject.clone())
                .at(Some(Location {
                    file: workspace.matrix.clone(),
                    line: entry.span.line,
                    column: entry.span.column,
                })),
            ),
            Some(pinned) if pinned.value != live => findings.push(
                Finding::new(
                    Code::DigestDrift,
                    format!(
                        "{}: the tag moved: the matrix pins {}, the registry has {live}",
                        entry.label(),
                        pinned.value
                    ),
                )
                .about(subject.clone())
                .at(location.clone()),
            ),
            Some(_) => {}
        }
        // A resolver digest that differs from the registry while the matrix agrees with it
        // (a stale snapshot) is drift of its own; otherwise the drift above says it all.
        let pinned_is_live = entry.digest.as_ref().is_some_and(|p| p.value == live);
        if let Some(resolved) = target.and_then(Reference::digest)
            && *resolved != live
            && pinned_is_live
        {
            findings.push(
                Finding::new(
                    Code::DigestDrift,
                    format!("{}: the resolver's digest {resolved} is not what the registry has now ({live})", entry.label()),
                )
                .about(subject)
                .at(location),
            );
        }
    }
    checks
}

/// A registry failure, classified: a registry that lies about content is tampering, one that
/// cannot be reached is graded by mode, a missing tag is drift.
pub fn registry_finding(entry: &Entry, reference: &Reference, error: &RegistryError) -> Finding {
    let code = match error {
        RegistryError::DigestMismatch { .. } => Code::RegistryLied,
        RegistryError::NotFound { .. } => Code::TagMissing,
        e if e.is_unreachable() => Code::RegistryUnreachable,
        _ => Code::RegistryError,
    };
    Finding::new(code, format!("{}: {error}", entry.label()))
        .about(reference.clone().with_digest(None).to_string())
}

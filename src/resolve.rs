//! The resolver: picks the image a job runs on and writes `build/rocm_snapshot.json`.
//!
//! Candidates are ordered by the policy's `preferred_os`, then every other OS as the default
//! fallback, newest version first within each OS. The mode says where the image comes from:
//! `local` when the entry's tarball exists and verifies, otherwise (offline) `offline`.

use jiff::Timestamp;
use serde::Serialize;

use crate::cache::{TarballState, check_tarball};
use crate::config::{Config, Entry, Matrix, Policy, Workspace};
use crate::findings::{Code, Finding, Findings};
use crate::reference::Reference;
use crate::state::{CacheMode, Snapshot, format_timestamp};

/// Narrows the choice: `--os` and `--version` on the command line.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub os: Option<String>,
    pub version: Option<String>,
}

/// The entries in the order the resolver tries them.
pub fn candidates<'m>(
    matrix: &'m Matrix,
    policy: &Policy,
    selection: &Selection,
) -> Vec<&'m Entry> {
    let rank = |entry: &Entry| {
        policy
            .preferred_os
            .iter()
            .position(|os| *os == entry.os.value)
            .unwrap_or(policy.preferred_os.len())
    };
    let mut entries: Vec<&Entry> = matrix
        .images
        .iter()
        .filter(|e| selection.os.as_ref().is_none_or(|os| *os == e.os.value))
        .filter(|e| {
            selection
                .version
                .as_ref()
                .is_none_or(|v| v == e.version.as_str())
        })
        .collect();
    entries.sort_by(|a, b| {
        rank(a)
            .cmp(&rank(b))
            .then_with(|| a.os.value.cmp(&b.os.value))
            .then_with(|| b.version.value.cmp(&a.version.value))
    });
    entries
}

/// What the resolver chose.
#[derive(Debug, Clone, Serialize)]
pub struct Resolution {
    /// The reference to run: upstream (or mirror) with tag and pinned digest.
    pub reference: String,
    pub snapshot: Snapshot,
    pub tarball: TarballState,
    /// Other candidates, in order, for reports.
    pub fallbacks: Vec<String>,
}

/// Resolves without any network: the first candidate, `local` if its tarball verifies.
/// What is wrong with the tarball is left to the caller ([`report_tarball`]), which may have
/// checked every entry already.
pub fn resolve_offline(
    workspace: &Workspace,
    config: &Config,
    selection: &Selection,
    now: Timestamp,
    findings: &mut Findings,
) -> Option<Resolution> {
    let ordered = candidates(&config.matrix, &config.policy, selection);
    let Some(entry) = ordered.first() else {
        findings.push(Finding::new(
            Code::EntryNotFound,
            no_candidate_message(&config.matrix, selection),
        ));
        return None;
    };
    let tarball = check_tarball(workspace, entry);
    let mode = if tarball.is_verified() {
        CacheMode::Local
    } else {
        CacheMode::Offline
    };
    let upstream = config.matrix.upstream(entry);
    let fallbacks = ordered[1..].iter().map(|e| e.label()).collect();
    let choice = Choice {
        entry,
        image: upstream,
        mode,
        tarball,
        network: false,
    };
    Some(choice.into_resolution(config, fallbacks, now))
}

/// Turns a tarball state into findings about `entry`.
pub fn report_tarball(
    matrix: &Matrix,
    entry: &Entry,
    state: &TarballState,
    findings: &mut Findings,
) {
    let label = entry.label();
    let subject = matrix.upstream(entry).to_string();
    let finding = match state {
        TarballState::None | TarballState::Verified { .. } => return,
        TarballState::Missing { path } => Finding::new(
            Code::TarballMissing,
            format!("{label}: tarball {} is not cached here", path.display()),
        ),
        TarballState::Unpinned { path, sha256 } => Finding::new(
            Code::TarballUnpinned,
            format!(
                "{label}: tarball {} has no `sha256` in the matrix, so it is not used (its sha256 is {sha256})",
                path.display()
            ),
        ),
        TarballState::Mismatch {
            path,
            expected,
            actual,
        } => Finding::new(
            Code::TarballMismatch,
            format!(
                "{label}: tarball {} is a different file than recorded: sha256 expected {expected}, got {actual}",
                path.display()
            ),
        ),
        TarballState::Damaged { path, problem } => Finding::new(
            Code::TarballCorrupt,
            format!(
                "{label}: tarball {} is damaged ({problem}); falling back",
                path.display()
            ),
        ),
        TarballState::Unreadable { path, error } => Finding::new(
            Code::TarballUnreadable,
            format!(
                "{label}: tarball {} cannot be read: {error}",
                path.display()
            ),
        ),
    };
    findings.push(finding.about(subject));
}

pub(crate) fn no_candidate_message(matrix: &Matrix, selection: &Selection) -> String {
    let available: Vec<String> = matrix.images.iter().map(Entry::label).collect();
    let wanted = match (&selection.version, &selection.os) {
        (Some(v), Some(os)) => format!("version {v} on {os}"),
        (Some(v), None) => format!("version {v}"),
        (None, Some(os)) => format!("OS {os}"),
        (None, None) => "any image".to_owned(),
    };
    format!(
        "the matrix has no entry for {wanted}; it has: {}",
        available.join(", ")
    )
}

/// What the resolver picked, before it becomes a [`Resolution`].
pub(crate) struct Choice<'m> {
    pub entry: &'m Entry,
    /// The reference to run, with the digest the resolver stands behind.
    pub image: Reference,
    pub mode: CacheMode,
    pub tarball: TarballState,
    /// Whether the registry was asked.
    pub network: bool,
}

impl Choice<'_> {
    pub(crate) fn into_resolution(
        self,
        config: &Config,
        fallbacks: Vec<String>,
        now: Timestamp,
    ) -> Resolution {
        let snapshot = snapshot(&config.matrix, &config.policy, &self, now);
        Resolution {
            reference: self.image.to_string(),
            snapshot,
            tarball: self.tarball,
            fallbacks,
        }
    }
}

fn snapshot(matrix: &Matrix, policy: &Policy, choice: &Choice<'_>, now: Timestamp) -> Snapshot {
    let Choice {
        entry,
        image,
        mode,
        tarball,
        network,
    } = choice;
    let (entry, mode, network) = (*entry, *mode, *network);
    let at = format_timestamp(now);
    let (tarball_path, sha256) = match tarball {
        TarballState::Verified { path, sha256 } => {
            (Some(path.display().to_string()), Some(sha256.clone()))
        }
        _ => (
            entry
                .tarball
                .as_ref()
                .map(|t| t.value.display().to_string()),
            entry.sha256.as_ref().map(|s| s.value.clone()),
        ),
    };
    Snapshot {
        mode,
        timestamp: at.clone(),
        image: image.to_string(),
        canonical: matrix.canonical(entry),
        digest: image.digest().map(ToString::to_string).unwrap_or_default(),
        resolved_at: at,
        policy_mode: policy.mode,
        tarball: tarball_path,
        sha256,
        registry: image.registry().to_owned(),
        repository: image.repository().to_owned(),
        tag: image.tag().unwrap_or_default().to_owned(),
        version: entry.version.as_str().to_owned(),
        os: entry.os.value.clone(),
        network,
        release_notes: entry.release_notes.clone(),
    }
}

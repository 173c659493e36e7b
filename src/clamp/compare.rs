//! `clamp.verify`: the live tree and environment against the manifest.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::Serialize;

use super::manifest::{FileRecord, FileType, Manifest};
use super::{probe, tree};
use crate::findings::{Code, Finding};
use crate::fsutil::FsError;
use crate::snapi::Session;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Missing,
    Added,
    ContentChanged,
    ModeChanged,
    TypeChanged,
    LinkChanged,
    VersionMismatch,
    EnvChanged,
    AgentsChanged,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Missing => "missing",
            Reason::Added => "added",
            Reason::ContentChanged => "content_changed",
            Reason::ModeChanged => "mode_changed",
            Reason::TypeChanged => "type_changed",
            Reason::LinkChanged => "link_changed",
            Reason::VersionMismatch => "version_mismatch",
            Reason::EnvChanged => "env_changed",
            Reason::AgentsChanged => "agents_changed",
        }
    }
}

/// One difference: `field` is `root`, `file:<path>`, `version:<source>`, `env:<NAME>` or
/// `agents`; `expected` / `actual` are `null` where there is nothing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct Mismatch {
    pub field: String,
    pub expected: Option<String>,
    pub actual: Option<String>,
    pub reason: Reason,
}

impl Mismatch {
    fn new(
        field: String,
        expected: Option<String>,
        actual: Option<String>,
        reason: Reason,
    ) -> Self {
        Self {
            field,
            expected,
            actual,
            reason,
        }
    }

    /// The finding this mismatch is, for reports.
    pub fn finding(&self) -> Finding {
        let code = match self.reason {
            Reason::Missing => Code::ClampMissing,
            Reason::Added => Code::ClampAdded,
            Reason::ContentChanged => Code::ClampContentChanged,
            Reason::ModeChanged => Code::ClampModeChanged,
            Reason::TypeChanged => Code::ClampTypeChanged,
            Reason::LinkChanged => Code::ClampLinkChanged,
            Reason::VersionMismatch => Code::ClampVersionMismatch,
            Reason::EnvChanged => Code::ClampEnvChanged,
            Reason::AgentsChanged => Code::ClampAgentsChanged,
        };
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(nothing)".to_owned());
        Finding::new(
            code,
            format!(
                "{}: {}: expected {}, found {}",
                self.field,
                self.reason.as_str(),
                show(&self.expected),
                show(&self.actual)
            ),
        )
        .about(self.field.clone())
    }

    /// The file path of a `file:` mismatch.
    pub fn file_path(&self) -> Option<&str> {
        self.field.strip_prefix("file:")
    }
}

pub struct Comparison {
    pub mismatches: Vec<Mismatch>,
    pub live_files: usize,
    pub live_root_hash: Option<String>,
}

/// Every difference between the manifest and what is there now, sorted.
pub fn compare(manifest: &Manifest, session: &Session) -> Result<Comparison, FsError> {
    let mut mismatches = Vec::new();
    let target = Path::new(&manifest.target_path);
    let root = match fs::canonicalize(target) {
        Ok(root) => root,
        Err(_) => {
            mismatches.push(Mismatch::new(
                "root".into(),
                Some(manifest.root.clone()),
                None,
                Reason::Missing,
            ));
            mismatches.extend(environment(manifest, session));
            mismatches.sort();
            return Ok(Comparison {
                mismatches,
                live_files: 0,
                live_root_hash: None,
            });
        }
    };
    if root.display().to_string() != manifest.root {
        mismatches.push(Mismatch::new(
            "root".into(),
            Some(manifest.root.clone()),
            Some(root.display().to_string()),
            Reason::LinkChanged,
        ));
    }
    let live = tree::scan(&root)?;
    mismatches.extend(files(&manifest.files, &live));
    mismatches.extend(versions(manifest, &root));
    mismatches.extend(environment(manifest, session));
    if manifest.agents_source.is_some() {
        let now: Vec<String> = probe::agents(&root, session)
            .map(|(agents, _)| agents.into_iter().map(|a| a.name).collect())
            .unwrap_or_default();
        let then: Vec<String> = manifest.agents.iter().map(|a| a.name.clone()).collect();
        if now != then {
            mismatches.push(Mismatch::new(
                "agents".into(),
                Some(then.join(",")),
                Some(now.join(",")),
                Reason::AgentsChanged,
            ));
        }
    }
    mismatches.sort();
    Ok(Comparison {
        live_files: live.len(),
        live_root_hash: Some(super::manifest::root_hash(&live)),
        mismatches,
    })
}

/// File differences; both lists are sorted by path.
pub fn files(expected: &[FileRecord], live: &[FileRecord]) -> Vec<Mismatch> {
    let live_by_path: BTreeMap<&str, &FileRecord> =
        live.iter().map(|f| (f.path.as_str(), f)).collect();
    let expected_paths: std::collections::HashSet<&str> =
        expected.iter().map(|f| f.path.as_str()).collect();
    let mut out = Vec::new();
    for want in expected {
        let field = format!("file:{}", want.path);
        let Some(have) = live_by_path.get(want.path.as_str()) else {
            out.push(Mismatch::new(
                field,
                Some(describe(want)),
                None,
                Reason::Missing,
            ));
            continue;
        };
        if want.kind != have.kind {
            out.push(Mismatch::new(
                field,
                Some(want.kind.as_str().into()),
                Some(have.kind.as_str().into()),
                Reason::TypeChanged,
            ));
            continue;
        }
        match want.kind {
            FileType::Symlink if want.target != have.target => {
                out.push(Mismatch::new(
                    field.clone(),
                    want.target.clone(),
                    have.target.clone(),
                    Reason::LinkChanged,
                ));
            }
            FileType::File if want.sha256 != have.sha256 || want.size != have.size => {
                out.push(Mismatch::new(
                    field.clone(),
                    Some(describe(want)),
                    Some(describe(have)),
                    Reason::ContentChanged,
                ));
            }
            _ => {}
        }
        if want.kind != FileType::Symlink && want.mode != have.mode {
            out.push(Mismatch::new(
                field,
                Some(want.mode.clone()),
                Some(have.mode.clone()),
                Reason::ModeChanged,
            ));
        }
    }
    for have in live
        .iter()
        .filter(|f| !expected_paths.contains(f.path.as_str()))
    {
        out.push(Mismatch::new(
            format!("file:{}", have.path),
            None,
            Some(describe(have)),
            Reason::Added,
        ));
    }
    out
}

fn describe(f: &FileRecord) -> String {
    match f.kind {
        FileType::File => format!(
            "sha256:{} ({} bytes)",
            f.sha256.as_deref().unwrap_or("?"),
            f.size.unwrap_or(0)
        ),
        FileType::Symlink => format!("symlink -> {}", f.target.as_deref().unwrap_or("?")),
        other => other.as_str().to_owned(),
    }
}

fn versions(manifest: &Manifest, root: &Path) -> Vec<Mismatch> {
    let now: BTreeMap<String, String> = probe::version_sources(root)
        .into_iter()
        .map(|s| (s.source, s.value))
        .collect();
    let then: BTreeMap<&str, &str> = manifest
        .version_sources
        .iter()
        .map(|s| (s.source.as_str(), s.value.as_str()))
        .collect();
    let mut out = Vec::new();
    for (source, value) in &then {
        if now.get(*source).map(String::as_str) != Some(*value) {
            out.push(Mismatch::new(
                format!("version:{source}"),
                Some((*value).to_owned()),
                now.get(*source).cloned(),
                Reason::VersionMismatch,
            ));
        }
    }
    for (source, value) in now.iter().filter(|(s, _)| !then.contains_key(s.as_str())) {
        out.push(Mismatch::new(
            format!("version:{source}"),
            None,
            Some(value.clone()),
            Reason::VersionMismatch,
        ));
    }
    out
}

fn environment(manifest: &Manifest, session: &Session) -> Vec<Mismatch> {
    let mut out = Vec::new();
    for (name, value) in &manifest.environment {
        let actual = session.var(name);
        if actual.as_deref() != Some(value) {
            out.push(Mismatch::new(
                format!("env:{name}"),
                Some(value.clone()),
                actual,
                Reason::EnvChanged,
            ));
        }
    }
    for (name, entries) in &manifest.path_entries {
        let actual = session.var(name);
        let present: Vec<&str> = actual
            .as_deref()
            .map(|v| v.split(':').collect())
            .unwrap_or_default();
        for entry in entries.iter().filter(|e| !present.contains(&e.as_str())) {
            out.push(Mismatch::new(
                format!("env:{name}"),
                Some(entry.clone()),
                actual.clone(),
                Reason::EnvChanged,
            ));
        }
    }
    out
}

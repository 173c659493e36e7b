//! `cache-build` and `cache-verify`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;
use jiff::Timestamp;

use rocforge_ci::cache::build::{build_to_file, default_path, push_mirror};
use rocforge_ci::cache::verify::{Problem, TarballCheck, verify_tarball};
use rocforge_ci::config::Workspace;
use rocforge_ci::config::edit::edit_matrix_file;
use rocforge_ci::findings::{Code, Finding};
use rocforge_ci::report::Report;

use super::progress::Bar;
use super::{client, load};

pub struct BuildArgs<'a> {
    pub release: &'a str,
    pub os: &'a str,
    pub platform: &'a str,
    pub push: bool,
    pub dockerfile: Option<&'a Path>,
    pub output: Option<&'a Path>,
    pub json: bool,
}

pub async fn build(workspace: &Workspace, args: BuildArgs<'_>, _now: Timestamp) -> Result<Report> {
    let (config, mut report) = load(workspace, "cache-build");
    let Some(config) = config else {
        return Ok(report);
    };
    let Some(entry) = config.matrix.find(args.release, args.os) else {
        report.findings.push(Finding::new(
            Code::EntryNotFound,
            format!("the matrix has no entry {}/{}", args.release, args.os),
        ));
        return Ok(report);
    };
    if let Some(dockerfile) = args.dockerfile {
        return build_with_docker(workspace, &config, entry, args, dockerfile, report);
    }
    let Some(pinned) = entry.digest.as_ref().map(|d| d.value.clone()) else {
        report.findings.push(Finding::new(
            Code::UsageError,
            format!(
                "{} has no digest recorded; run `rocforge-ci update` first",
                entry.label()
            ),
        ));
        return Ok(report);
    };
    let client = client()?;
    let source = config.matrix.upstream(entry);
    let tag = config.matrix.tag_for(entry);
    let repo_tag = config.matrix.archive_repo_tag(entry);
    let name = repo_tag
        .rsplit_once(':')
        .map_or(repo_tag.as_str(), |(n, _)| n)
        .to_owned();
    let relative = args
        .output
        .map_or_else(|| default_path(&name, &tag), Path::to_path_buf);
    let path = workspace.path(&relative);
    let built = match build_to_file(
        &client,
        &source,
        args.platform,
        &repo_tag,
        &path,
        &Bar::new(args.json),
    )
    .await
    {
        Ok(built) => built,
        Err(e) => {
            report.findings.push(
                Finding::new(Code::RegistryError, format!("{}: {e}", entry.label()))
                    .about(source.to_string()),
            );
            return Ok(report);
        }
    };
    let shown = relative.display().to_string();
    edit_matrix_file(workspace, |edit| {
        edit.set(args.release, args.os, "tarball", &shown)?;
        edit.set(args.release, args.os, "sha256", &built.sha256)?;
        if args.platform != rocforge_ci::cache::build::DEFAULT_PLATFORM || entry.platform.is_some()
        {
            edit.set(args.release, args.os, "platform", args.platform)?;
        }
        Ok(())
    })?;
    report.findings.push(Finding::new(
        Code::CacheBuilt,
        format!(
            "{shown}: {} bytes, sha256 {} ({} layers, manifest {})",
            built.archive_bytes,
            built.sha256,
            built.layers.len(),
            built.manifest
        ),
    ));
    if rocforge_ci::provenance::wanted(&config.policy, entry)
        && let Some(result) = rocforge_ci::provenance::check_entry(
            workspace,
            &config,
            &client,
            entry,
            &mut report.findings,
        )
        .await
        && let Some(stored) =
            rocforge_ci::provenance::store_material(workspace, &relative, &result)?
    {
        report.output("provenance", stored.display().to_string());
    }
    report.output("tarball", &shown);
    report.output("sha256", &built.sha256);
    if args.push {
        match config.matrix.mirror(entry) {
            None => report.findings.push(Finding::new(
                Code::UsageError,
                "--push needs `mirror:` in the matrix",
            )),
            Some(mirror) => {
                match push_mirror(
                    &client,
                    &source,
                    &mirror.clone().with_digest(None),
                    &Bar::new(args.json),
                )
                .await
                {
                    Ok(digest) => report.findings.push(Finding::new(
                        Code::MirrorPushed,
                        format!("{} now serves {digest}", mirror.clone().with_digest(None)),
                    )),
                    Err(e) => report.findings.push(
                        Finding::new(
                            Code::RegistryError,
                            format!("pushing to {}: {e}", mirror.with_digest(None)),
                        )
                        .about(pinned.to_string()),
                    ),
                }
            }
        }
    }
    report.headline = Some(shown);
    Ok(report.with_data(&built))
}

pub fn verify(
    workspace: &Workspace,
    files: &[PathBuf],
    load_verified: bool,
    json: bool,
) -> Result<Report> {
    let (config, mut report) = load(workspace, "cache-verify");
    if !files.is_empty() && config.is_none() {
        // Files named on the command line can be checked without a matrix to compare with;
        // a config that exists but is broken is still reported.
        let kept: Vec<Finding> = report
            .findings
            .iter()
            .filter(|f| f.code != Code::ConfigMissing)
            .cloned()
            .collect();
        report.findings = rocforge_ci::findings::Findings::new(report.findings.mode());
        report.findings.extend(kept);
    }
    // (path shown, full path, expected sha256, entry label)
    let mut targets: Vec<(String, PathBuf, Option<String>, Option<String>)> = Vec::new();
    let entries = config
        .as_ref()
        .map(|c| c.matrix.images.as_slice())
        .unwrap_or_default();
    if files.is_empty() {
        if config.is_none() {
            return Ok(report);
        }
        for entry in entries {
            if let Some(tarball) = &entry.tarball {
                targets.push((
                    tarball.value.display().to_string(),
                    workspace.path(&tarball.value),
                    entry.sha256.as_ref().map(|s| s.value.clone()),
                    Some(entry.label()),
                ));
            }
        }
    } else {
        for file in files {
            let full = workspace.path(file);
            let shown = std::fs::canonicalize(&full)
                .ok()
                .zip(std::fs::canonicalize(&workspace.root).ok())
                .and_then(|(f, root)| f.strip_prefix(root).ok().map(|p| p.display().to_string()))
                .unwrap_or_else(|| file.display().to_string());
            let recorded = entries.iter().find(|e| {
                e.tarball.as_ref().is_some_and(|t| {
                    workspace.path(&t.value) == workspace.path(file) || t.value == *file
                })
            });
            targets.push((
                shown,
                full,
                recorded.and_then(|e| e.sha256.as_ref().map(|s| s.value.clone())),
                recorded.map(|e| e.label()),
            ));
        }
    }
    let mut checks: Vec<TarballCheck> = Vec::new();
    for (shown, full, expected, label) in targets {
        let prefix = label.map_or_else(|| shown.clone(), |l| format!("{l}: {shown}"));
        if !full.is_file() {
            report.findings.push(
                Finding::new(Code::TarballMissing, format!("{prefix} is not cached here"))
                    .about(shown),
            );
            continue;
        }
        let check = match verify_tarball(&full, &Bar::new(json)) {
            Ok(check) => check,
            Err(e) => {
                report.findings.push(
                    Finding::new(Code::TarballUnreadable, format!("{prefix}: {e}")).about(shown),
                );
                continue;
            }
        };
        let damaged = check.problems.iter().any(Problem::is_damage);
        for problem in &check.problems {
            let code = match problem {
                Problem::NotGzip { .. } | Problem::Truncated { .. } | Problem::Corrupt { .. } => {
                    Code::TarballCorrupt
                }
                Problem::Unsafe { .. } => Code::TarballUnsafe,
                Problem::Structure { .. } => Code::TarballStructure,
                Problem::BlobMismatch { .. } => Code::TarballLayerMismatch,
            };
            report.findings.push(
                Finding::new(code, format!("{prefix}: {}", problem.describe()))
                    .about(shown.clone()),
            );
        }
        match &expected {
            Some(expected) if !damaged && *expected != check.sha256 => report.findings.push(
                Finding::new(Code::TarballMismatch, format!("{prefix}: file hash mismatch: the matrix records sha256 {expected}, the file is {}", check.sha256)).about(shown.clone()),
            ),
            None if !damaged => report.findings.push(Finding::new(Code::TarballUnpinned, format!("{prefix}: no sha256 recorded to compare with (it is {})", check.sha256)).about(shown.clone())),
            _ => {}
        }
        let clean =
            check.problems.is_empty() && expected.as_ref().is_none_or(|e| *e == check.sha256);
        if clean && load_verified {
            load_into_engine(&mut report, &full, &prefix);
        }
        checks.push(check);
    }
    let verified = checks.iter().filter(|c| c.problems.is_empty()).count();
    report.headline = Some(format!("{verified} of {} tarballs verified", checks.len()));
    Ok(report.with_data(&checks))
}

/// `docker load` (or `podman load`) where an engine answers.
fn load_into_engine(report: &mut Report, path: &Path, prefix: &str) {
    for engine in ["docker", "podman"] {
        let info = Command::new(engine).arg("info").output();
        if !info.is_ok_and(|o| o.status.success()) {
            continue;
        }
        match Command::new(engine)
            .arg("load")
            .arg("-i")
            .arg(path)
            .output()
        {
            Ok(o) if o.status.success() => return,
            Ok(o) => {
                report.findings.push(Finding::new(
                    Code::TarballUnreadable,
                    format!(
                        "{prefix}: {engine} load failed: {}",
                        String::from_utf8_lossy(&o.stderr).trim()
                    ),
                ));
                return;
            }
            Err(e) => {
                report.findings.push(Finding::new(
                    Code::TarballUnreadable,
                    format!("{prefix}: {engine} load: {e}"),
                ));
                return;
            }
        }
    }
    report.findings.push(Finding::new(Code::EngineMissing, format!("{prefix}: --load needs Docker or Podman, and neither engine runs here; the tarball is verified")));
}

/// `--dockerfile`: build with an engine where one runs; explain where none does.
fn build_with_docker(
    workspace: &Workspace,
    config: &rocforge_ci::config::Config,
    entry: &rocforge_ci::config::Entry,
    args: BuildArgs<'_>,
    dockerfile: &Path,
    mut report: Report,
) -> Result<Report> {
    let engine = Command::new("docker").arg("info").output();
    let missing = match engine {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .next()
                .unwrap_or("docker info failed")
                .to_owned(),
        ),
        Err(e) => Some(format!("docker: {e}")),
    };
    if let Some(why) = missing {
        report.findings.push(Finding::new(
            Code::EngineMissing,
            format!(
                "--dockerfile {} needs a running Docker engine, and there is none here ({why}); \
                 without it, cache-build pulls the pinned digest instead (drop --dockerfile)",
                dockerfile.display()
            ),
        ));
        return Ok(report);
    }
    let repo_tag = config.matrix.archive_repo_tag(entry);
    let name = repo_tag
        .rsplit_once(':')
        .map_or(repo_tag.as_str(), |(n, _)| n)
        .to_owned();
    let relative = args.output.map_or_else(
        || default_path(&name, &config.matrix.tag_for(entry)),
        Path::to_path_buf,
    );
    let built = match rocforge_ci::cache::build::build_with_engine(
        &workspace.path(dockerfile),
        &repo_tag,
        &workspace.path(&relative),
    ) {
        Ok(built) => built,
        Err(e) => {
            report.findings.push(Finding::new(
                Code::EngineMissing,
                format!("--dockerfile {}: {e}", dockerfile.display()),
            ));
            return Ok(report);
        }
    };
    let shown = relative.display().to_string();
    edit_matrix_file(workspace, |edit| {
        edit.set(args.release, args.os, "tarball", &shown)?;
        edit.set(args.release, args.os, "sha256", &built.sha256)
    })?;
    report.findings.push(Finding::new(
        Code::CacheBuilt,
        format!("{shown}: built with docker from {} ({} bytes, sha256 {}); an engine build is not reproducible", dockerfile.display(), built.archive_bytes, built.sha256),
    ));
    report.output("tarball", &shown);
    report.output("sha256", &built.sha256);
    report.headline = Some(shown);
    Ok(report.with_data(&built))
}

//! `clamp.capture`: records a ROCm installation into `manifest.json` and `env.sh`.

use std::fs;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::manifest::{self, FileType, ImagePin, Manifest};
use super::{envfile, probe, tree};
use crate::fsutil::{FsError, copy_atomic, write_atomic, write_json_atomic};
use crate::hashing::sha256_file;
use crate::snapi::Session;
use crate::state::format_timestamp;

pub const DEFAULT_TARGET: &str = "/opt/rocm";
pub const DEFAULT_OUTPUT: &str = "build/clamp";
pub const ARCHIVE_DIR: &str = "archive";

pub struct Captured {
    pub manifest: Manifest,
    pub manifest_path: PathBuf,
    pub env_path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{}: {reason}", target.display())]
    Target { target: PathBuf, reason: String },
    #[error("output directory {} is inside the captured tree {}; choose one outside it", output.display(), root.display())]
    OutputInside { output: PathBuf, root: PathBuf },
    #[error(transparent)]
    Fs(#[from] FsError),
}

pub fn capture(
    session: &Session,
    target: &str,
    output: &Path,
    archive: bool,
    now: Timestamp,
) -> Result<Captured, CaptureError> {
    let target_path = Path::new(target);
    let target_error = |reason: String| CaptureError::Target {
        target: target_path.to_path_buf(),
        reason,
    };
    let chain = tree::symlink_chain(target_path).map_err(|e| target_error(e.to_string()))?;
    let root = fs::canonicalize(target_path).map_err(|e| target_error(e.to_string()))?;
    if !root.is_dir() {
        return Err(target_error("not a directory".to_owned()));
    }
    fs::create_dir_all(output).map_err(|e| FsError::new("creating directory", output, e))?;
    let output_real = fs::canonicalize(output).map_err(|e| FsError::new("resolving", output, e))?;
    if output_real.starts_with(&root) {
        return Err(CaptureError::OutputInside {
            output: output_real,
            root,
        });
    }

    let files = tree::scan(&root)?;
    let version_sources = probe::version_sources(&root);
    let root_text = root.display().to_string();
    let (environment, path_entries) = probe::environment(session, target, &root_text);
    let (agents, agents_source) = match probe::agents(&root, session) {
        Some((agents, source)) => (agents, Some(source)),
        None => (Vec::new(), None),
    };
    let archive_name = if archive {
        store_archive(&root, &files, &output.join(ARCHIVE_DIR))?;
        Some(ARCHIVE_DIR.to_owned())
    } else {
        None
    };
    let manifest = Manifest {
        format: manifest::FORMAT,
        captured_at: format_timestamp(now),
        target_path: target.to_owned(),
        root: root_text,
        symlink_chain: chain.iter().map(|p| p.display().to_string()).collect(),
        rocm_version: probe::rocm_version(&version_sources),
        version_sources,
        libraries: probe::libraries(&files),
        agents,
        agents_source,
        environment,
        path_entries,
        image: image_pin(session),
        file_count: files.len(),
        total_bytes: files.iter().filter_map(|f| f.size).sum(),
        root_hash: manifest::root_hash(&files),
        files,
        archive: archive_name,
    };
    let manifest_path = output.join("manifest.json");
    let env_path = output.join("env.sh");
    write_json_atomic(&manifest_path, &manifest)?;
    write_atomic(
        &env_path,
        envfile::render(target, &manifest.environment, &manifest.path_entries).as_bytes(),
    )?;
    Ok(Captured {
        manifest,
        manifest_path,
        env_path,
    })
}

/// Content-addressed copies of every regular file: `objects/<sha256>`, each stored once.
fn store_archive(
    root: &Path,
    files: &[manifest::FileRecord],
    archive: &Path,
) -> Result<(), FsError> {
    let objects = archive.join("objects");
    fs::create_dir_all(&objects).map_err(|e| FsError::new("creating directory", &objects, e))?;
    for file in files.iter().filter(|f| f.kind == FileType::File) {
        let sha = file.sha256.as_deref().expect("files are hashed");
        let object = objects.join(sha);
        if object.is_file() && sha256_file(&object).is_ok_and(|h| h == sha) {
            continue;
        }
        copy_atomic(&root.join(&file.path), &object, Some(0o644))?;
    }
    Ok(())
}

/// The pinned image of this run, from the resolver's snapshot when there is one.
fn image_pin(session: &Session) -> Option<ImagePin> {
    let text = fs::read_to_string(session.path("build/rocm_snapshot.json")).ok()?;
    let snapshot: crate::state::Snapshot = serde_json::from_str(&text).ok()?;
    (!snapshot.digest.is_empty()).then_some(ImagePin {
        reference: snapshot.image,
        digest: snapshot.digest,
    })
}

//! Walking a tree into [`FileRecord`]s, hashing file contents on every core.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::manifest::{FileRecord, FileType};
use crate::fsutil::FsError;
use crate::hashing::sha256_file;

/// One entry found by the walk, before its content is hashed.
struct Found {
    relative: String,
    kind: FileType,
    mode: u32,
    size: u64,
}

/// Every entry below `root` (not `root` itself), sorted by path. Symlinks are recorded, never
/// followed; regular files are hashed in parallel.
pub fn scan(root: &Path) -> Result<Vec<FileRecord>, FsError> {
    let mut found = Vec::new();
    walk(root, root, &mut found)?;
    found.sort_by(|a, b| a.relative.cmp(&b.relative));
    found.into_par_iter().map(|f| record(root, f)).collect()
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<Found>) -> Result<(), FsError> {
    let entries = fs::read_dir(dir).map_err(|e| FsError::new("listing", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| FsError::new("listing", dir, e))?;
        let path = entry.path();
        let meta = fs::symlink_metadata(&path)
            .map_err(|e| FsError::new("reading metadata of", &path, e))?;
        let kind = file_type(&meta);
        let relative = relative(root, &path);
        out.push(Found {
            relative,
            kind,
            mode: meta.permissions().mode() & 0o7777,
            size: meta.size(),
        });
        if kind == FileType::Dir {
            walk(root, &path, out)?;
        }
    }
    Ok(())
}

fn record(root: &Path, found: Found) -> Result<FileRecord, FsError> {
    let path = root.join(&found.relative);
    let (size, sha256, target) = match found.kind {
        FileType::File => {
            let sha = sha256_file(&path).map_err(|e| FsError::new("hashing", &path, e))?;
            (Some(found.size), Some(sha), None)
        }
        FileType::Symlink => {
            let target =
                fs::read_link(&path).map_err(|e| FsError::new("reading link", &path, e))?;
            (None, None, Some(target.to_string_lossy().into_owned()))
        }
        FileType::Dir | FileType::Other => (None, None, None),
    };
    Ok(FileRecord {
        path: found.relative,
        kind: found.kind,
        // Symlink permission bits mean nothing on Linux and differ between file systems.
        mode: if found.kind == FileType::Symlink {
            "0777".to_owned()
        } else {
            format!("{:04o}", found.mode)
        },
        size,
        sha256,
        target,
    })
}

pub fn file_type(meta: &fs::Metadata) -> FileType {
    let t = meta.file_type();
    if t.is_symlink() {
        FileType::Symlink
    } else if t.is_dir() {
        FileType::Dir
    } else if t.is_file() {
        FileType::File
    } else {
        FileType::Other
    }
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Follows a chain of symlinks from `start`, recording every hop, up to a limit.
pub fn symlink_chain(start: &Path) -> io::Result<Vec<PathBuf>> {
    let mut chain = vec![start.to_path_buf()];
    let mut current = start.to_path_buf();
    for _ in 0..40 {
        let meta = fs::symlink_metadata(&current)?;
        if !meta.file_type().is_symlink() {
            return Ok(chain);
        }
        let target = fs::read_link(&current)?;
        let next = if target.is_absolute() {
            target
        } else {
            current.parent().unwrap_or(Path::new("/")).join(target)
        };
        current = normalize(&next);
        chain.push(current.clone());
    }
    Err(io::Error::other(format!(
        "{}: too many levels of symbolic links",
        start.display()
    )))
}

/// Removes `.` and resolves `..` lexically (the hops of a chain are symlinks, so this is how
/// the kernel reads a link target relative to the link's directory).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

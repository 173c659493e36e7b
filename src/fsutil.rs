//! File-system helpers every writer goes through: atomic replacement, an advisory lock, and
//! workspace-relative path checks so that nothing is written outside the directory we were given.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use thiserror::Error;

/// An I/O failure that names the path it happened on.
#[derive(Debug, Error)]
#[error("{action} {}: {source}", path.display())]
pub struct FsError {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl FsError {
    pub fn new(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Writes `bytes` to `path` so that a reader (or a killed run) sees the old file or the new one,
/// never half of either: a temp file in the same directory, fsync, then rename over the target.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    let mut tmp = temp_beside(path)?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| FsError::new("writing", tmp.path().to_path_buf(), e))?;
    keep_permissions(tmp.path(), path);
    tmp.persist(path)
        .map_err(|e| FsError::new("replacing", path, e.error))?;
    Ok(())
}

/// A temporary file in `target`'s directory (created if missing), to be renamed over `target`
/// once complete; dropped unrenamed, it disappears.
pub fn temp_beside(target: &Path) -> Result<tempfile::NamedTempFile, FsError> {
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(|e| FsError::new("creating directory", dir, e))?;
    tempfile::Builder::new()
        .prefix(".rocforge-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| FsError::new("creating temporary file in", dir, e))
}

/// Temporary files are created 0600; the result should look like any other file: the
/// permissions of the file it replaces (a matrix may be group-writable), else 0644.
pub fn keep_permissions(tmp: &Path, target: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let permissions = fs::metadata(target)
        .map_or_else(|_| fs::Permissions::from_mode(0o644), |m| m.permissions());
    let _ = fs::set_permissions(tmp, permissions);
}

/// Copies `source` to `dest` atomically, streaming (files may be large), with `mode` when given.
pub fn copy_atomic(source: &Path, dest: &Path, mode: Option<u32>) -> Result<(), FsError> {
    use std::os::unix::fs::PermissionsExt;
    let mut tmp = temp_beside(dest)?;
    let mut input = File::open(source).map_err(|e| FsError::new("opening", source, e))?;
    io::copy(&mut input, tmp.as_file_mut())
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| FsError::new("copying", source, e))?;
    match mode {
        Some(mode) => fs::set_permissions(tmp.path(), fs::Permissions::from_mode(mode))
            .map_err(|e| FsError::new("setting permissions of", dest, e))?,
        None => keep_permissions(tmp.path(), dest),
    }
    tmp.persist(dest)
        .map_err(|e| FsError::new("replacing", dest, e.error))?;
    Ok(())
}

/// Serialises `value` as pretty JSON with a final newline and writes it atomically.
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), FsError> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| FsError::new("serialising JSON for", path, io::Error::other(e)))?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// An exclusive advisory lock on `<path>.lock`, held until dropped. Serialises concurrent
/// runs that rewrite the same file (two updaters on one matrix).
#[derive(Debug)]
pub struct FileLock {
    _file: File,
    path: PathBuf,
}

impl FileLock {
    pub fn acquire(target: &Path) -> Result<Self, FsError> {
        let mut name = target.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| FsError::new("opening lock file", &path, e))?;
        file.lock().map_err(|e| FsError::new("locking", &path, e))?;
        Ok(Self { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Why a path taken from a config file or an archive was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum UnsafePath {
    #[error("path is empty")]
    Empty,
    #[error("absolute paths are not allowed")]
    Absolute,
    #[error("`..` would leave the workspace")]
    ParentDir,
}

/// Checks that `relative` stays inside whatever directory it is joined to: not empty, not
/// absolute, no `..`. Returns it normalised (no `.` components).
pub fn contained_path(relative: &str) -> Result<PathBuf, UnsafePath> {
    if relative.trim().is_empty() {
        return Err(UnsafePath::Empty);
    }
    let mut out = PathBuf::new();
    for component in Path::new(relative).components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(UnsafePath::ParentDir),
            Component::RootDir | Component::Prefix(_) => return Err(UnsafePath::Absolute),
        }
    }
    if out.as_os_str().is_empty() {
        return Err(UnsafePath::Empty);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub/out.json");
        write_atomic(&target, b"one").unwrap();
        write_atomic(&target, b"two").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(target.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.json")]);
    }

    #[test]
    fn contained_path_refuses_escapes() {
        assert_eq!(contained_path("../x"), Err(UnsafePath::ParentDir));
        assert_eq!(contained_path("a/../../x"), Err(UnsafePath::ParentDir));
        assert_eq!(contained_path("/etc/passwd"), Err(UnsafePath::Absolute));
        assert_eq!(contained_path(""), Err(UnsafePath::Empty));
        assert_eq!(contained_path("./"), Err(UnsafePath::Empty));
        assert_eq!(
            contained_path("./images/a.tar.gz").unwrap(),
            PathBuf::from("images/a.tar.gz")
        );
    }

    #[test]
    fn lock_is_exclusive_within_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("m.yml");
        let held = FileLock::acquire(&target).unwrap();
        let other = File::options().write(true).open(held.path()).unwrap();
        assert!(other.try_lock().is_err(), "second lock must not be granted");
        drop(held);
        assert!(other.try_lock().is_ok());
    }
}

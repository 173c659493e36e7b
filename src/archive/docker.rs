//! The docker-archive format (`docker save` / `docker load`, skopeo's `docker-archive:`):
//! a tar holding `manifest.json` (`[{Config, RepoTags, Layers}]`), the image config as
//! `<hex>.json` and each layer blob under its digest. Written deterministically: entries in a
//! fixed order, every header with mtime 0, uid/gid 0, mode 0644.

use std::io::{self, Write};

use serde::{Deserialize, Serialize};

use crate::reference::Digest;

/// An OCI / Docker content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// One entry of `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveManifest {
    #[serde(rename = "Config")]
    pub config: String,
    #[serde(rename = "RepoTags", default)]
    pub repo_tags: Vec<String>,
    #[serde(rename = "Layers")]
    pub layers: Vec<String>,
}

/// The file name of a blob inside the archive: `<hex>.json` for the config, `<hex>.tar.gz`,
/// `<hex>.tar.zst` or `<hex>.tar` for layers.
pub fn blob_name(descriptor: &Descriptor, config: bool) -> String {
    let extension = if config {
        ".json"
    } else if descriptor.media_type.ends_with("gzip") {
        ".tar.gz"
    } else if descriptor.media_type.ends_with("zstd") {
        ".tar.zst"
    } else {
        ".tar"
    };
    format!("{}{extension}", descriptor.digest.hex())
}

pub fn manifest_json(config: &Descriptor, layers: &[Descriptor], repo_tag: &str) -> Vec<u8> {
    let entry = ArchiveManifest {
        config: blob_name(config, true),
        repo_tags: vec![repo_tag.to_owned()],
        layers: layers.iter().map(|l| blob_name(l, false)).collect(),
    };
    serde_json::to_vec(&[entry]).expect("manifest serialises")
}

/// A streaming tar writer: header, content in any number of writes, padding.
pub struct TarWriter<W: Write> {
    inner: W,
    remaining: u64,
    written: u64,
}

impl<W: Write> TarWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            remaining: 0,
            written: 0,
        }
    }

    pub fn begin(&mut self, path: &str, size: u64) -> io::Result<()> {
        assert_eq!(self.remaining, 0, "previous entry unfinished");
        let mut header = tar::Header::new_ustar();
        header.set_path(path)?;
        header.set_size(size);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        self.inner.write_all(header.as_bytes())?;
        self.remaining = size;
        self.written = size;
        Ok(())
    }

    pub fn content(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.len() as u64 > self.remaining {
            return Err(io::Error::other(
                "more content than the entry's declared size",
            ));
        }
        self.remaining -= bytes.len() as u64;
        self.inner.write_all(bytes)
    }

    pub fn end(&mut self) -> io::Result<()> {
        if self.remaining != 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "entry shorter than its declared size",
            ));
        }
        let pad = (512 - (self.written % 512) as usize) % 512;
        self.inner.write_all(&vec![0u8; pad])
    }

    pub fn entry(&mut self, path: &str, bytes: &[u8]) -> io::Result<()> {
        self.begin(path, bytes.len() as u64)?;
        self.content(bytes)?;
        self.end()
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.inner.write_all(&[0u8; 1024])?;
        Ok(self.inner)
    }
}

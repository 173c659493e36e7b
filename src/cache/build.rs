//! `cache-build`: the pinned image as a docker-archive `images/<name>.tar.gz`, pulled by
//! digest without a Docker engine, byte-for-byte reproducible; and `--push` to the mirror.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::archive::HashingWriter;
use crate::archive::docker::{Descriptor, TarWriter, blob_name, manifest_json};
use crate::archive::gzip::MemberWriter;
use crate::progress::Progress;
use crate::reference::{Digest, Reference};
use crate::registry::{Client, RegistryError};

/// The platform taken from a multi-arch index unless the entry says otherwise.
pub const DEFAULT_PLATFORM: &str = "linux/amd64";

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Format(String),
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> BuildError {
    let what = what.into();
    move |source| BuildError::Io { what, source }
}

#[derive(Deserialize)]
struct Index {
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct ImageManifest {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

/// What went into an archive.
#[derive(Debug, Clone, Serialize)]
pub struct Built {
    /// The manifest of the chosen platform.
    pub manifest: Digest,
    pub config: Digest,
    pub layers: Vec<Digest>,
    pub archive_bytes: u64,
    pub sha256: String,
}

fn is_index(media_type: &str, bytes: &[u8]) -> bool {
    media_type.contains("index")
        || media_type.contains("manifest.list")
        || serde_json::from_slice::<serde_json::Value>(bytes)
            .is_ok_and(|v| v.get("manifests").is_some())
}

/// Picks `os/arch[/variant]` from an index, skipping attestation entries (`unknown/unknown`).
fn choose_platform(index: &Index, wanted: &str) -> Result<Descriptor, BuildError> {
    let mut parts = wanted.split('/');
    let (os, arch, variant) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next(),
    );
    let candidates: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| d.platform.as_ref().is_some_and(|p| p.os != "unknown"))
        .collect();
    candidates
        .iter()
        .find(|d| {
            let p = d.platform.as_ref().expect("filtered");
            p.os == os
                && p.architecture == arch
                && (variant.is_none() || p.variant.as_deref() == variant)
        })
        .map(|d| (*d).clone())
        .ok_or_else(|| {
            let available: Vec<String> = candidates
                .iter()
                .filter_map(|d| d.platform.as_ref())
                .map(|p| {
                    format!(
                        "{}/{}{}",
                        p.os,
                        p.architecture,
                        p.variant
                            .as_ref()
                            .map(|v| format!("/{v}"))
                            .unwrap_or_default()
                    )
                })
                .collect();
            BuildError::Format(format!(
                "the index has no {wanted} image; it has: {}",
                available.join(", ")
            ))
        })
}

/// Streams the image `source` (which carries its pinned digest) for `platform` into `out` as
/// a gzip-compressed docker-archive named `repo_tag`, and returns what went in plus the
/// SHA-256 of the bytes written.
pub async fn write_archive<W: Write>(
    client: &Client,
    source: &Reference,
    platform: &str,
    repo_tag: &str,
    out: W,
    progress: &dyn Progress,
) -> Result<(W, Built), BuildError> {
    let top = client.manifest(source).await?;
    let manifest = if is_index(&top.media_type, &top.bytes) {
        let index: Index = serde_json::from_slice(&top.bytes)
            .map_err(|e| BuildError::Format(format!("{source}: index is not valid: {e}")))?;
        let chosen = choose_platform(&index, platform)?;
        client
            .manifest(&source.clone().with_digest(Some(chosen.digest)))
            .await?
    } else {
        top
    };
    let image: ImageManifest = serde_json::from_slice(&manifest.bytes).map_err(|e| {
        BuildError::Format(format!("{source}: manifest is not an image manifest: {e}"))
    })?;

    let total = image.config.size + image.layers.iter().map(|l| l.size).sum::<u64>();
    progress.start(&format!("pulling {source}"), Some(total));
    let hashing = HashingWriter::new(out);
    let mut tar = TarWriter::new(MemberWriter::new(hashing));
    tar.entry(
        "manifest.json",
        &manifest_json(&image.config, &image.layers, repo_tag),
    )
    .map_err(io_error("writing the archive"))?;
    for (descriptor, is_config) in
        std::iter::once((&image.config, true)).chain(image.layers.iter().map(|l| (l, false)))
    {
        let name = blob_name(descriptor, is_config);
        tar.begin(&name, descriptor.size)
            .map_err(io_error(format!("writing {name}")))?;
        let mut blob = client.blob(source, &descriptor.digest).await?;
        while let Some(chunk) = blob.chunk().await? {
            progress.advance(chunk.len() as u64);
            tar.content(&chunk).map_err(|e| {
                BuildError::Format(format!(
                    "{name}: {e} (the registry sent more than the manifest's {} bytes)",
                    descriptor.size
                ))
            })?;
        }
        blob.finish()?;
        tar.end().map_err(|e| {
            BuildError::Format(format!(
                "{name}: {e} (the manifest says {} bytes)",
                descriptor.size
            ))
        })?;
    }
    progress.finish();
    let gzip = tar.finish().map_err(io_error("writing the archive"))?;
    let hashing = gzip.finish().map_err(io_error("compressing the archive"))?;
    let archive_bytes = hashing.bytes;
    let (out, sha256) = hashing.finish();
    Ok((
        out,
        Built {
            manifest: manifest.digest,
            config: image.config.digest.clone(),
            layers: image.layers.iter().map(|l| l.digest.clone()).collect(),
            archive_bytes,
            sha256,
        },
    ))
}

/// Writes the archive to `path` through a temporary file in the same directory; a failure
/// leaves nothing behind.
pub async fn build_to_file(
    client: &Client,
    source: &Reference,
    platform: &str,
    repo_tag: &str,
    path: &std::path::Path,
    progress: &dyn Progress,
) -> Result<Built, BuildError> {
    let tmp = crate::fsutil::temp_beside(path).map_err(|e| BuildError::Io {
        what: format!("{} {}", e.action, e.path.display()),
        source: e.source,
    })?;
    let (writer, built) = write_archive(
        client,
        source,
        platform,
        repo_tag,
        BufWriter::with_capacity(1 << 20, tmp),
        progress,
    )
    .await?;
    persist(writer, path)?;
    Ok(built)
}

/// Copies `source` (pinned by digest, every platform of an index) to `target`'s tag and
/// checks that the mirror reports the same digest.
pub async fn push_mirror(
    client: &Client,
    source: &Reference,
    target: &Reference,
    progress: &dyn Progress,
) -> Result<Digest, BuildError> {
    let pinned = source
        .digest()
        .cloned()
        .ok_or_else(|| BuildError::Format(format!("{source} has no pinned digest")))?;
    let top = client.manifest(source).await?;
    let children: Vec<Descriptor> = if is_index(&top.media_type, &top.bytes) {
        let index: Index = serde_json::from_slice(&top.bytes)
            .map_err(|e| BuildError::Format(format!("index: {e}")))?;
        index.manifests
    } else {
        Vec::new()
    };
    let mut images = vec![(top.clone(), None)];
    if !children.is_empty() {
        images.clear();
        for child in &children {
            let fetched = client
                .manifest(&source.clone().with_digest(Some(child.digest.clone())))
                .await?;
            images.push((fetched, Some(child.digest.clone())));
        }
    }
    progress.start(&format!("pushing to {target}"), None);
    for (manifest, by_digest) in &images {
        let image: ImageManifest = serde_json::from_slice(&manifest.bytes)
            .map_err(|e| BuildError::Format(format!("manifest {}: {e}", manifest.digest)))?;
        for blob in std::iter::once(&image.config).chain(&image.layers) {
            client
                .copy_blob(source, target, &blob.digest, blob.size)
                .await?;
        }
        if let Some(digest) = by_digest {
            client
                .put_manifest(
                    &target
                        .clone()
                        .with_digest(Some(digest.clone()))
                        .without_tag(),
                    &manifest.media_type,
                    &manifest.bytes,
                )
                .await?;
        }
    }
    let pushed = client
        .put_manifest(target, &top.media_type, &top.bytes)
        .await?;
    let live = client
        .manifest_digest(&target.clone().with_digest(None))
        .await?;
    if pushed != pinned || live != pinned {
        return Err(BuildError::Format(format!(
            "the mirror {target} reports {live}, not the pinned {pinned}"
        )));
    }
    Ok(live)
}

/// `images/<name>-<tag>.tar.gz`.
pub fn default_path(name: &str, tag: &str) -> PathBuf {
    let short = name.rsplit('/').next().unwrap_or(name);
    PathBuf::from(format!("images/{short}-{tag}.tar.gz"))
}

/// Flushes, syncs and renames a finished temporary archive over `path`.
fn persist(
    writer: BufWriter<tempfile::NamedTempFile>,
    path: &std::path::Path,
) -> Result<(), BuildError> {
    let tmp = writer.into_inner().map_err(|e| BuildError::Io {
        what: format!("writing {}", path.display()),
        source: e.into_error(),
    })?;
    tmp.as_file()
        .sync_all()
        .map_err(io_error(format!("writing {}", path.display())))?;
    crate::fsutil::keep_permissions(tmp.path(), path);
    tmp.persist(path).map_err(|e| BuildError::Io {
        what: format!("replacing {}", path.display()),
        source: e.error,
    })?;
    Ok(())
}

/// What `docker build` + `docker save` produced.
#[derive(Debug, Clone, Serialize)]
pub struct EngineBuilt {
    pub archive_bytes: u64,
    pub sha256: String,
}

/// Builds with a Docker engine (`docker build -f dockerfile -t repo_tag <its directory>`) and
/// compresses `docker save` into `path` like cache-build's own archives. Unlike a pull by
/// digest, this is not reproducible: the engine stamps times into the image.
pub fn build_with_engine(
    dockerfile: &std::path::Path,
    repo_tag: &str,
    path: &std::path::Path,
) -> Result<EngineBuilt, BuildError> {
    use std::process::{Command, Stdio};
    let context = dockerfile
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let built = Command::new("docker")
        .arg("build")
        .arg("-f")
        .arg(dockerfile)
        .arg("-t")
        .arg(repo_tag)
        .arg(context)
        .stdin(Stdio::null())
        .output()
        .map_err(io_error("running docker build"))?;
    if !built.status.success() {
        let tail: Vec<&str> = std::str::from_utf8(&built.stderr)
            .unwrap_or("")
            .lines()
            .rev()
            .take(5)
            .collect();
        return Err(BuildError::Format(format!(
            "docker build failed: {}",
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        )));
    }
    let tmp = crate::fsutil::temp_beside(path).map_err(|e| BuildError::Io {
        what: format!("{} {}", e.action, e.path.display()),
        source: e.source,
    })?;
    let mut save = Command::new("docker")
        .arg("save")
        .arg(repo_tag)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io_error("running docker save"))?;
    let mut stdout = save.stdout.take().expect("piped");
    let mut gzip = MemberWriter::new(HashingWriter::new(BufWriter::with_capacity(1 << 20, tmp)));
    io::copy(&mut stdout, &mut gzip).map_err(io_error(format!(
        "compressing docker save into {}",
        path.display()
    )))?;
    let status = save.wait().map_err(io_error("waiting for docker save"))?;
    if !status.success() {
        return Err(BuildError::Format(format!(
            "docker save {repo_tag} failed ({status})"
        )));
    }
    let hashing = gzip
        .finish()
        .map_err(io_error(format!("writing {}", path.display())))?;
    let archive_bytes = hashing.bytes;
    let (writer, sha256) = hashing.finish();
    persist(writer, path)?;
    Ok(EngineBuilt {
        archive_bytes,
        sha256,
    })
}

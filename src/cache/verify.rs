//! `cache-verify`: one streaming pass over an image tarball that checks the gzip stream, the
//! file's SHA-256, the archive's structure, and every blob inside against its digest.
//!
//! Three stages run at once: the reader hashes the file as it reads it, the inflater
//! decompresses (members of rocforge-ci's own multi-member files in parallel, any other gzip
//! on one core), and the tar stage hashes every entry. Nothing is written to disk, and nothing
//! assumes an order of entries (skopeo writes `manifest.json` last).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::archive::docker::ArchiveManifest;
use crate::archive::gzip::{HEADER_LEN, inflate_member, member_size};
use crate::hashing::hex;
use crate::progress::Progress;

const READ_CHUNK: usize = 1 << 20;
/// Chunks in flight between stages; with members of at most 1 MiB this bounds memory to a
/// few tens of MiB whatever the file size.
const QUEUE: usize = 4;
/// Members inflated at once (on every core).
const BATCH: usize = 4;
/// Uncompressed bytes per compressed byte beyond which the archive is refused.
const MAX_RATIO: u64 = 1000;
const MAX_ENTRY: u64 = 1 << 40;

/// What is wrong with a tarball, from "damaged in transit" to "a different image".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// Not gzip at all.
    NotGzip { first_bytes: String },
    /// Ends in the middle of the compressed stream.
    Truncated { at: u64 },
    /// The compressed stream is damaged at (or near) this offset.
    Corrupt { at: u64, detail: String },
    /// An entry that must never be extracted (absolute, `..`, escaping link, duplicate, huge).
    Unsafe { entry: String, why: String },
    /// The archive does not hold a loadable image.
    Structure { detail: String },
    /// A blob whose content does not match the digest it is filed under.
    BlobMismatch {
        entry: String,
        expected: String,
        actual: String,
    },
}

impl Problem {
    /// Damage (the file is not what anybody wrote) versus a readable but different image.
    pub fn is_damage(&self) -> bool {
        matches!(
            self,
            Problem::NotGzip { .. } | Problem::Truncated { .. } | Problem::Corrupt { .. }
        )
    }

    pub fn describe(&self) -> String {
        match self {
            Problem::NotGzip { first_bytes } => format!("not gzip (starts with {first_bytes})"),
            Problem::Truncated { at } => {
                format!("truncated: the gzip stream ends early at byte {at}")
            }
            Problem::Corrupt { at, detail } => format!("corrupt at byte {at}: {detail}"),
            Problem::Unsafe { entry, why } => format!("unsafe entry `{entry}`: {why}"),
            Problem::Structure { detail } => format!("not a loadable image: {detail}"),
            Problem::BlobMismatch {
                entry,
                expected,
                actual,
            } => {
                format!("{entry} mismatch: expected sha256:{expected}, content is sha256:{actual}")
            }
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TarballCheck {
    pub path: PathBuf,
    /// SHA-256 of the file (of what could be read).
    pub sha256: String,
    pub bytes: u64,
    pub entries: usize,
    pub blobs_checked: usize,
    pub problems: Vec<Problem>,
}

struct EntryInfo {
    sha256: String,
    /// Starts with gzip or zstd magic (a compressed layer).
    compressed: bool,
    link_target: Option<String>,
    /// The bytes of small JSON entries (`manifest.json`, configs), for the structure checks.
    json: Option<Vec<u8>>,
}

/// JSON entries up to this size are kept for the structure checks.
const MAX_JSON: u64 = 16 << 20;

/// Verifies one tarball in a single streaming pass.
pub fn verify_tarball(path: &Path, progress: &dyn Progress) -> io::Result<TarballCheck> {
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    progress.start(&format!("verifying {}", path.display()), Some(file_len));
    let (compressed_tx, compressed_rx) = sync_channel::<Vec<u8>>(QUEUE);
    let (plain_tx, plain_rx) = sync_channel::<Vec<u8>>(QUEUE);
    let (reader, inflater, tarred) = std::thread::scope(|scope| {
        let reader = scope.spawn(move || read_and_hash(file, compressed_tx, progress));
        let inflater = scope.spawn(move || inflate(compressed_rx, plain_tx));
        let tarred = scope.spawn(move || walk_tar(plain_rx, file_len));
        (reader.join(), inflater.join(), tarred.join())
    });
    let (sha256, bytes, read_error) =
        reader.map_err(|_| io::Error::other("reader thread panicked"))?;
    if let Some(e) = read_error {
        return Err(e);
    }
    let inflate_problem = inflater.map_err(|_| io::Error::other("inflate thread panicked"))?;
    let (entries, tar_problems) = tarred.map_err(|_| io::Error::other("tar thread panicked"))?;
    let mut problems = Vec::new();
    let damaged = inflate_problem.is_some();
    problems.extend(inflate_problem);
    // After damage the tar stage saw a cut stream; its complaints would only repeat that.
    if !damaged {
        problems.extend(tar_problems);
    }
    let mut blobs_checked = 0;
    if !damaged && !problems.iter().any(|p| matches!(p, Problem::Unsafe { .. })) {
        blobs_checked = check_contents(&entries, &mut problems);
    }
    Ok(TarballCheck {
        path: path.to_path_buf(),
        sha256,
        bytes,
        entries: entries.len(),
        blobs_checked,
        problems,
    })
}

fn read_and_hash(
    mut file: File,
    out: SyncSender<Vec<u8>>,
    progress: &dyn Progress,
) -> (String, u64, Option<io::Error>) {
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    loop {
        // `take` + `read_to_end` fills fresh capacity without zeroing it first.
        let mut buffer = Vec::with_capacity(READ_CHUNK);
        let n = match (&mut file).take(READ_CHUNK as u64).read_to_end(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return (hex(&hasher.finalize()), total, Some(e)),
        };
        hasher.update(&buffer[..n]);
        total += n as u64;
        progress.advance(n as u64);
        if out.send(buffer).is_err() {
            // Later stages stopped (damage found): still hash the rest for the report.
            let mut rest = Vec::new();
            let _ = file.read_to_end(&mut rest);
            hasher.update(&rest);
            total += rest.len() as u64;
            break;
        }
    }
    (hex(&hasher.finalize()), total, None)
}

/// Decompresses the stream; returns the damage found, if any.
fn inflate(input: Receiver<Vec<u8>>, output: SyncSender<Vec<u8>>) -> Option<Problem> {
    let mut pending: Vec<u8> = Vec::new();
    let mut offset = 0u64; // compressed offset of pending[0]
    // Wait for enough bytes to tell the format.
    while pending.len() < HEADER_LEN {
        match input.recv() {
            Ok(chunk) => pending.extend_from_slice(&chunk),
            Err(_) => break,
        }
    }
    if pending.len() < 2 || pending[0..2] != [0x1f, 0x8b] {
        if pending.is_empty() {
            return Some(Problem::Truncated { at: 0 });
        }
        let first_bytes = pending
            .iter()
            .take(4)
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ");
        return Some(Problem::NotGzip { first_bytes });
    }
    // Members that say their size: inflate batches of them on every core.
    let mut closed = false;
    while member_size(&pending).is_some() {
        let mut members = Vec::new();
        let mut used = 0;
        loop {
            match member_size(&pending[used..]) {
                Some(size) if used + size <= pending.len() => {
                    members.push((offset + used as u64, used..used + size));
                    used += size;
                    if members.len() >= BATCH {
                        break;
                    }
                }
                Some(_) | None if closed => break,
                Some(_) => match input.recv() {
                    Ok(chunk) => pending.extend_from_slice(&chunk),
                    Err(_) => closed = true,
                },
                None => break,
            }
        }
        if members.is_empty() {
            if closed {
                return Some(Problem::Truncated {
                    at: offset + pending.len() as u64,
                });
            }
            continue;
        }
        let inflated: Vec<(u64, io::Result<Vec<u8>>)> = members
            .par_iter()
            .map(|(at, range)| (*at, inflate_member(&pending[range.clone()])))
            .collect();
        for (at, result) in inflated {
            match result {
                Ok(plain) => {
                    if output.send(plain).is_err() {
                        return None;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Some(Problem::Truncated { at });
                }
                Err(e) => {
                    return Some(Problem::Corrupt {
                        at,
                        detail: e.to_string(),
                    });
                }
            }
        }
        pending.drain(..used);
        offset += used as u64;
        if pending.is_empty() && !closed {
            match input.recv() {
                Ok(chunk) => pending.extend_from_slice(&chunk),
                Err(_) => closed = true,
            }
        }
        if pending.is_empty() && closed {
            return None;
        }
    }
    // Any other gzip: one decoder over the rest of the stream.
    let source = ChannelReader {
        first: pending,
        position: 0,
        rx: Some(input),
    };
    let counted = CountingReader {
        inner: source,
        count: 0,
    };
    let mut decoder =
        flate2::bufread::MultiGzDecoder::new(io::BufReader::with_capacity(1 << 16, counted));
    loop {
        let mut buffer = vec![0u8; READ_CHUNK];
        match read_full(&mut decoder, &mut buffer) {
            Ok(0) => return None,
            Ok(n) => {
                buffer.truncate(n);
                if output.send(buffer).is_err() {
                    return None;
                }
            }
            Err(e) => {
                let buffered = decoder.get_ref().buffer().len() as u64;
                let at = offset + decoder.get_ref().get_ref().count - buffered;
                return Some(if e.kind() == io::ErrorKind::UnexpectedEof {
                    Problem::Truncated { at }
                } else {
                    Problem::Corrupt {
                        at,
                        detail: e.to_string(),
                    }
                });
            }
        }
    }
}

fn read_full(reader: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads the chunks a channel delivers, after some bytes already taken from it.
struct ChannelReader {
    first: Vec<u8>,
    position: usize,
    rx: Option<Receiver<Vec<u8>>>,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.position == self.first.len() {
            match self.rx.as_ref().map(Receiver::recv) {
                Some(Ok(chunk)) => {
                    self.first = chunk;
                    self.position = 0;
                }
                _ => {
                    self.rx = None;
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(self.first.len() - self.position);
        buf[..n].copy_from_slice(&self.first[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Walks the tar entries, hashing each; never writes anything.
fn walk_tar(
    input: Receiver<Vec<u8>>,
    file_len: u64,
) -> (BTreeMap<String, EntryInfo>, Vec<Problem>) {
    let mut entries = BTreeMap::new();
    let mut problems = Vec::new();
    let reader = ChannelReader {
        first: Vec::new(),
        position: 0,
        rx: Some(input),
    };
    let mut archive = tar::Archive::new(reader);
    let mut total = 0u64;
    let budget = file_len.saturating_mul(MAX_RATIO).max(1 << 30);
    let iter = match archive.entries() {
        Ok(iter) => iter,
        Err(e) => {
            problems.push(Problem::Structure {
                detail: format!("not a tar archive: {e}"),
            });
            return (entries, problems);
        }
    };
    let mut buffer = vec![0u8; 1 << 20];
    for entry in iter {
        let mut entry = match entry {
            Ok(e) => e,
            Err(e) => {
                problems.push(Problem::Structure {
                    detail: format!("bad tar entry: {e}"),
                });
                break;
            }
        };
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        let size = entry.header().size().unwrap_or(0);
        if let Some(why) = unsafe_path(&name) {
            problems.push(Problem::Unsafe { entry: name, why });
            continue;
        }
        if size > MAX_ENTRY {
            problems.push(Problem::Unsafe {
                entry: name,
                why: format!("declares an absurd size of {size} bytes"),
            });
            break;
        }
        let clean = normalize(&name);
        if entries.contains_key(&clean) {
            problems.push(Problem::Unsafe {
                entry: name,
                why: "appears twice; a loader would take either".into(),
            });
            continue;
        }
        let link_target = if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let resolved = if kind.is_symlink() {
                Path::new(&clean)
                    .parent()
                    .map_or_else(|| target.clone(), |p| format!("{}/{target}", p.display()))
            } else {
                target.clone()
            };
            if target.starts_with('/') || unsafe_path(&resolved).is_some() {
                problems.push(Problem::Unsafe {
                    entry: name,
                    why: format!("links to `{target}`, outside the archive"),
                });
                continue;
            }
            Some(normalize(&resolved))
        } else if !(kind.is_file() || kind.is_dir()) {
            problems.push(Problem::Unsafe {
                entry: name,
                why: format!("is a {kind:?} entry, which images never hold"),
            });
            continue;
        } else {
            None
        };
        let keep_json = name.ends_with(".json") && size <= MAX_JSON;
        let mut json = keep_json.then(Vec::new);
        let mut hasher = Sha256::new();
        let mut head = [0u8; 4];
        let mut seen = 0usize;
        loop {
            match entry.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    if seen < 4 {
                        let take = (4 - seen).min(n);
                        head[seen..seen + take].copy_from_slice(&buffer[..take]);
                    }
                    seen += n;
                    hasher.update(&buffer[..n]);
                    if let Some(json) = json.as_mut() {
                        json.extend_from_slice(&buffer[..n]);
                    }
                    total += n as u64;
                    if total > budget {
                        problems.push(Problem::Unsafe {
                            entry: name.clone(),
                            why: format!(
                                "expands beyond {MAX_RATIO}:1 of the file; refusing to read on"
                            ),
                        });
                        return (entries, problems);
                    }
                }
                Err(e) => {
                    problems.push(Problem::Structure {
                        detail: format!("{name}: {e}"),
                    });
                    return (entries, problems);
                }
            }
        }
        let compressed = head[..2] == [0x1f, 0x8b] || head == [0x28, 0xb5, 0x2f, 0xfd];
        entries.insert(
            clean,
            EntryInfo {
                sha256: hex(&hasher.finalize()),
                compressed,
                link_target,
                json,
            },
        );
    }
    (entries, problems)
}

fn unsafe_path(name: &str) -> Option<String> {
    if name.starts_with('/') {
        return Some("absolute path".into());
    }
    let mut depth = 0i32;
    for component in Path::new(name).components() {
        match component {
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return Some("`..` leaves the archive".into());
                }
            }
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Some("absolute path".into()),
        }
    }
    None
}

fn normalize(name: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// The digest a blob is filed under: `blobs/sha256/<hex>` or `<hex>[.json|.tar|.tar.gz|.tar.zst]`.
fn filed_digest(name: &str) -> Option<&str> {
    let base = name.strip_prefix("blobs/sha256/").unwrap_or(name);
    let hex = [".json", ".tar.gz", ".tar.zst", ".tar", ""]
        .iter()
        .find_map(|ext| base.strip_suffix(ext).filter(|h| h.len() == 64))?;
    hex.bytes().all(|b| b.is_ascii_hexdigit()).then_some(hex)
}

fn resolve<'e>(entries: &'e BTreeMap<String, EntryInfo>, name: &str) -> Option<&'e EntryInfo> {
    let mut current = entries.get(&normalize(name))?;
    for _ in 0..8 {
        match &current.link_target {
            Some(target) => current = entries.get(target)?,
            None => return Some(current),
        }
    }
    None
}

/// Blob digests, and `manifest.json` against what is there. Returns how many blobs were checked.
fn check_contents(entries: &BTreeMap<String, EntryInfo>, problems: &mut Vec<Problem>) -> usize {
    let mut checked = 0;
    for (name, info) in entries.iter().filter(|(_, i)| i.link_target.is_none()) {
        if let Some(expected) = filed_digest(name) {
            checked += 1;
            if info.sha256 != expected.to_ascii_lowercase() {
                problems.push(Problem::BlobMismatch {
                    entry: name.clone(),
                    expected: expected.to_owned(),
                    actual: info.sha256.clone(),
                });
            }
        }
    }
    let Some(manifest) = entries.get("manifest.json").and_then(|e| e.json.as_deref()) else {
        problems.push(Problem::Structure {
            detail: "no manifest.json".into(),
        });
        return checked;
    };
    let images: Vec<ArchiveManifest> = match serde_json::from_slice(manifest) {
        Ok(images) => images,
        Err(e) => {
            problems.push(Problem::Structure {
                detail: format!("manifest.json: {e}"),
            });
            return checked;
        }
    };
    if images.is_empty() {
        problems.push(Problem::Structure {
            detail: "manifest.json lists no image".into(),
        });
    }
    #[derive(serde::Deserialize)]
    struct Config {
        rootfs: RootFs,
    }
    #[derive(serde::Deserialize)]
    struct RootFs {
        diff_ids: Vec<String>,
    }
    for image in &images {
        let Some(config) = resolve(entries, &image.config).and_then(|e| e.json.as_deref()) else {
            problems.push(Problem::Structure {
                detail: format!(
                    "manifest.json names config {} which is not in the archive",
                    image.config
                ),
            });
            continue;
        };
        let diff_ids = match serde_json::from_slice::<Config>(config) {
            Ok(c) => c.rootfs.diff_ids,
            Err(e) => {
                problems.push(Problem::Structure {
                    detail: format!("{}: not an image config: {e}", image.config),
                });
                continue;
            }
        };
        if diff_ids.len() != image.layers.len() {
            problems.push(Problem::Structure {
                detail: format!(
                    "{} layers listed, but the config has {} diff_ids",
                    image.layers.len(),
                    diff_ids.len()
                ),
            });
        }
        for (layer, diff_id) in image.layers.iter().zip(&diff_ids) {
            let Some(info) = resolve(entries, layer) else {
                problems.push(Problem::Structure {
                    detail: format!(
                        "manifest.json names layer {layer} which is not in the archive"
                    ),
                });
                continue;
            };
            // An uncompressed layer is its diff_id; a compressed one was checked by its name.
            let expected = diff_id.strip_prefix("sha256:").unwrap_or(diff_id);
            let reported = problems.iter().any(
                |p| matches!(p, Problem::BlobMismatch { entry, .. } if *entry == normalize(layer)),
            );
            if !info.compressed && !reported {
                checked += 1;
                if info.sha256 != expected {
                    problems.push(Problem::BlobMismatch {
                        entry: layer.clone(),
                        expected: expected.to_owned(),
                        actual: info.sha256.clone(),
                    });
                }
            }
        }
    }
    checked
}

//! `ci/rocm_matrix.yml`: the catalog of pinned images.
//!
//! ```yaml
//! rocm:
//!   image: ghcr.io/rocm/dev            # upstream repository ({os} allowed: docker.io/rocm/dev-{os})
//!   tag: "{version}-{os}"              # tag template (the default)
//!   mirror: ghcr.io/zerkol83/rocm-dev  # optional mirror repository, same tag template
//!   canonical: rocforge/rocm-dev       # optional name given to loaded tarballs
//!   images:
//!     - version: "6.4.4"
//!       os: ubuntu-22.04
//!       digest: "sha256:…"             # pinned manifest (index) digest; empty = not recorded yet
//!       added: 2025-10-14              # date the digest was recorded
//!       tarball: images/rocm-dev-6.4.4-ubuntu-22.04.tar.gz
//!       sha256: "…"                    # SHA-256 of the tarball file
//!       clamp_manifest: build/clamp/manifest.json
//!       release_notes: https://rocm.docs.amd.com/…
//!       platform: linux/amd64          # what the tarball holds (cache-build --platform)
//!       provenance: {key: ci/provenance_keys/rocm.pub}   # or {identity: <regexp>, issuer: <url>}
//! ```

use std::collections::HashMap;
use std::path::PathBuf;

use jiff::civil::Date;

use super::decode::{Decoder, Fields, Spanned};
use super::template::{Placeholder, Template};
use super::yaml::{Node, Span, Value};
use crate::findings::Code;
use crate::fsutil::contained_path;
use crate::reference::{Digest, Reference, valid_tag};
use crate::version::Version;

pub const DEFAULT_TAG_TEMPLATE: &str = "{version}-{os}";

#[derive(Debug, Clone)]
pub struct Matrix {
    /// Upstream repository, possibly with an `{os}` slot.
    pub image: Spanned<Template>,
    pub tag: Spanned<Template>,
    pub mirror: Option<Spanned<Template>>,
    pub canonical: Option<Spanned<String>>,
    pub images: Vec<Entry>,
}

/// Who must have signed an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// A cosign public key (PEM) in the repository.
    Key(PathBuf),
    /// Keyless: certificate identity (a regular expression) and OIDC issuer.
    Keyless { identity: String, issuer: String },
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub version: Spanned<Version>,
    pub os: Spanned<String>,
    /// `None` when no digest is recorded yet.
    pub digest: Option<Spanned<Digest>>,
    pub added: Option<Spanned<Date>>,
    pub tarball: Option<Spanned<PathBuf>>,
    pub sha256: Option<Spanned<String>>,
    pub clamp_manifest: Option<Spanned<PathBuf>>,
    pub release_notes: Option<String>,
    /// `os/arch[/variant]` the tarball was built for (default linux/amd64).
    pub platform: Option<String>,
    pub provenance: Option<Signer>,
    /// The whole entry, for locations and edits.
    pub span: Span,
}

impl Entry {
    /// `6.4.4/ubuntu-22.04`, how entries are named in messages.
    pub fn label(&self) -> String {
        format!("{}/{}", self.version.value, self.os.value)
    }
}

impl Matrix {
    pub fn tag_for(&self, entry: &Entry) -> String {
        self.tag.render(entry.version.as_str(), &entry.os)
    }

    /// The upstream reference of an entry, with its pinned digest when one is recorded.
    pub fn upstream(&self, entry: &Entry) -> Reference {
        self.reference_in(&self.image, entry)
    }

    /// The mirror reference of an entry, if a mirror is configured.
    pub fn mirror(&self, entry: &Entry) -> Option<Reference> {
        self.mirror.as_ref().map(|m| self.reference_in(m, entry))
    }

    /// The name a loaded tarball carries: `canonical:tag`, or the upstream repository's.
    pub fn archive_repo_tag(&self, entry: &Entry) -> String {
        let name = self.canonical.as_ref().map_or_else(
            || self.upstream(entry).repository().to_owned(),
            |c| c.value.clone(),
        );
        format!("{name}:{}", self.tag_for(entry))
    }

    /// `canonical:tag`, the name a loaded tarball carries.
    pub fn canonical(&self, entry: &Entry) -> Option<String> {
        self.canonical
            .as_ref()
            .map(|c| format!("{}:{}", c.value, self.tag_for(entry)))
    }

    fn reference_in(&self, repository: &Template, entry: &Entry) -> Reference {
        let name = repository.render(entry.version.as_str(), &entry.os);
        Reference::parse_repository(&name)
            .and_then(|r| r.with_tag(&self.tag_for(entry)))
            .expect("validated when the matrix was loaded")
            .with_digest(entry.digest.as_ref().map(|d| d.value.clone()))
    }

    pub fn find(&self, version: &str, os: &str) -> Option<&Entry> {
        self.images
            .iter()
            .find(|e| e.version.as_str() == version && e.os.value == os)
    }
}

const ROOT_KEYS: &[&str] = &["image", "tag", "mirror", "canonical", "images"];
const ENTRY_KEYS: &[&str] = &[
    "version",
    "os",
    "digest",
    "added",
    "tarball",
    "sha256",
    "clamp_manifest",
    "release_notes",
    "platform",
    "provenance",
];

pub(super) fn decode(root: &Node, d: &mut Decoder) -> Option<Matrix> {
    let top = d.fields(root, "the matrix file", &["rocm"])?;
    let node = d.required(&top, "rocm", "the matrix file")?;
    let fields = d.fields(node, "`rocm`", ROOT_KEYS)?;
    let before = d.findings.len();

    let tag = match fields.get_set("tag") {
        Some(n) => d.text(n, "`tag`").and_then(|t| {
            template(
                d,
                &t,
                &[Placeholder::Version, Placeholder::Os],
                &[Placeholder::Version],
            )
        }),
        None => Some(Spanned::new(
            Template::parse(
                DEFAULT_TAG_TEMPLATE,
                &[Placeholder::Version, Placeholder::Os],
                &[],
            )
            .expect("the default template is valid"),
            fields.node.span,
        )),
    };
    let image = d
        .required(&fields, "image", "`rocm`")
        .and_then(|n| d.text(n, "`image`"))
        .and_then(|t| repository(d, &t, "`image`"));
    let mirror = d
        .optional_text(&fields, "mirror", "`mirror`")
        .and_then(|t| repository(d, &t, "`mirror`"));
    let canonical = d.optional_text(&fields, "canonical", "`canonical`");
    if let Some(c) = &canonical
        && Reference::parse_repository(&c.value).is_err()
    {
        d.problem(
            Code::ConfigInvalid,
            c.span,
            format!(
                "`canonical: {}` is not a repository name such as rocforge/rocm-dev",
                c.value
            ),
        );
    }

    let mut images = Vec::new();
    if let Some(list) = d
        .required(&fields, "images", "`rocm`")
        .and_then(|n| d.list(n, "`images`"))
    {
        if list.is_empty() {
            d.problem(
                Code::MatrixEmpty,
                fields.get("images").map_or(fields.node.span, |n| n.span),
                "`images` is empty: add at least one {version, os} entry",
            );
        }
        images.extend(list.iter().filter_map(|item| decode_entry(item, d)));
        check_duplicates(d, list);
    }
    if let (Some(tag), Some(image)) = (&tag, &image) {
        for entry in &images {
            check_tag(d, entry, tag);
        }
        let several_os = images.iter().any(|e| e.os.value != images[0].os.value);
        if several_os && !tag.uses(Placeholder::Os) && !image.uses(Placeholder::Os) {
            d.problem(
                Code::ConfigInvalid,
                tag.span,
                "neither `image` nor `tag` contains {os}, so entries for different OSes would \
                 name the same image",
            );
        }
    }
    check_shared_tarballs(d, &images);

    if d.findings.len() != before {
        return None;
    }
    Some(Matrix {
        image: image?,
        tag: tag?,
        mirror,
        canonical,
        images,
    })
}

fn template(
    d: &mut Decoder,
    text: &Spanned<String>,
    allowed: &[Placeholder],
    required: &[Placeholder],
) -> Option<Spanned<Template>> {
    match Template::parse(text, allowed, required) {
        Ok(t) => Some(Spanned::new(t, text.span)),
        Err(e) => {
            d.problem(Code::ConfigInvalid, text.span, e.to_string());
            None
        }
    }
}

fn repository(d: &mut Decoder, text: &Spanned<String>, what: &str) -> Option<Spanned<Template>> {
    let t = template(d, text, &[Placeholder::Os], &[])?;
    match Reference::parse_repository(&t.render("0", "os")) {
        Ok(_) => Some(t),
        Err(e) => {
            d.problem(Code::ConfigInvalid, text.span, format!("{what}: {e}"));
            None
        }
    }
}

fn decode_entry(node: &Node, d: &mut Decoder) -> Option<Entry> {
    let what = format!("the `images` entry at line {}", node.span.line);
    let fields = d.fields(node, &what, ENTRY_KEYS)?;
    let before = d.findings.len();

    let version = d
        .required(&fields, "version", &what)
        .and_then(|n| d.text(n, "`version`"))
        .and_then(|t| match Version::parse(&t) {
            Ok(v) => Some(Spanned::new(v, t.span)),
            Err(e) => {
                d.problem(Code::ConfigInvalid, t.span, e.to_string());
                None
            }
        });
    let os = d
        .required(&fields, "os", &what)
        .and_then(|n| d.text(n, "`os`"))
        .filter(|os| {
            let ok = valid_tag(os);
            if !ok {
                d.problem(
                    Code::ConfigInvalid,
                    os.span,
                    format!(
                        "`os: {}` may only use letters, digits, `.`, `_` and `-`",
                        os.value
                    ),
                );
            }
            ok
        });
    let digest = d.optional_text(&fields, "digest", "`digest`").and_then(|t| match t.parse::<Digest>() {
        Ok(digest) if digest.algorithm() == "sha256" => Some(Spanned::new(digest, t.span)),
        _ => {
            d.problem(
                Code::DigestMalformed,
                t.span,
                format!(
                    "`digest: {}` is not a pinned digest: expected `sha256:` and 64 lowercase hex digits",
                    t.value
                ),
            );
            None
        }
    });
    let added = d
        .optional_text(&fields, "added", "`added`")
        .and_then(|t| parse_date(d, &t));
    if digest.is_some() && added.is_none() && fields.get_set("added").is_none() {
        let span = fields.get("digest").map_or(node.span, |n| n.span);
        d.problem(
            Code::ConfigMissingKey,
            span,
            format!("{what} records a digest but no `added` date, so its age cannot be checked"),
        );
    }
    let tarball = path_field(d, &fields, "tarball");
    let sha256 = d.optional_text(&fields, "sha256", "`sha256`").filter(|t| {
        let hex = t.strip_prefix("sha256:").unwrap_or(&t.value);
        let ok = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !ok {
            d.problem(
                Code::DigestMalformed,
                t.span,
                format!("`sha256: {}` is not 64 lowercase hex digits", t.value),
            );
        }
        ok
    });
    if sha256.is_some() && tarball.is_none() && fields.get_set("tarball").is_none() {
        d.problem(
            Code::ConfigMissingKey,
            fields.key_span("sha256").unwrap_or(node.span),
            format!("{what} has a `sha256` but no `tarball` it belongs to"),
        );
    }
    let clamp_manifest = path_field(d, &fields, "clamp_manifest");
    let release_notes = d
        .optional_text(&fields, "release_notes", "`release_notes`")
        .filter(|t| {
            let ok = t.starts_with("https://") || t.starts_with("http://");
            if !ok {
                d.problem(
                    Code::ConfigInvalid,
                    t.span,
                    "`release_notes` must be an http(s) URL",
                );
            }
            ok
        });
    let platform = d
        .optional_text(&fields, "platform", "`platform`")
        .filter(|p| {
            let parts: Vec<&str> = p.split('/').collect();
            let ok = (2..=3).contains(&parts.len())
                && parts.iter().all(|s| {
                    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                });
            if !ok {
                d.problem(
                    Code::ConfigInvalid,
                    p.span,
                    format!(
                        "`platform: {}` is not os/arch[/variant], e.g. linux/amd64",
                        p.value
                    ),
                );
            }
            ok
        });
    let provenance = fields
        .get_set("provenance")
        .and_then(|n| decode_signer(n, d));

    if d.findings.len() != before {
        return None;
    }
    Some(Entry {
        version: version?,
        os: os?,
        digest,
        added,
        tarball,
        sha256: sha256.map(|s| Spanned::new(s.trim_start_matches("sha256:").to_owned(), s.span)),
        clamp_manifest,
        release_notes: release_notes.map(|t| t.value),
        platform: platform.map(|p| p.value),
        provenance,
        span: node.span,
    })
}

fn parse_date(d: &mut Decoder, text: &Spanned<String>) -> Option<Spanned<Date>> {
    let shaped = text.len() == 10 && text.as_bytes()[4] == b'-' && text.as_bytes()[7] == b'-';
    match text.parse::<Date>() {
        Ok(date) if shaped => Some(Spanned::new(date, text.span)),
        Ok(_) | Err(_) => {
            d.problem(
                Code::DateInvalid,
                text.span,
                format!(
                    "`added: {}` is not a calendar date (YYYY-MM-DD)",
                    text.value
                ),
            );
            None
        }
    }
}

fn path_field(d: &mut Decoder, fields: &Fields<'_>, key: &str) -> Option<Spanned<PathBuf>> {
    let text = d.optional_text(fields, key, &format!("`{key}`"))?;
    match contained_path(&text) {
        Ok(path) => Some(Spanned::new(path, text.span)),
        Err(e) => {
            d.problem(
                Code::PathUnsafe,
                text.span,
                format!(
                    "`{key}: {}`: {e}; paths are relative to the repository root",
                    text.value
                ),
            );
            None
        }
    }
}

fn decode_signer(node: &Node, d: &mut Decoder) -> Option<Signer> {
    let fields = d.fields(node, "`provenance`", &["key", "identity", "issuer"])?;
    let key = path_field(d, &fields, "key");
    let identity = d.optional_text(&fields, "identity", "`identity`");
    let issuer = d.optional_text(&fields, "issuer", "`issuer`");
    match (key, identity, issuer) {
        (Some(key), None, None) => Some(Signer::Key(key.value)),
        (None, Some(identity), Some(issuer)) => match identity_pattern(&identity.value) {
            Ok(_) => Some(Signer::Keyless {
                identity: identity.value,
                issuer: issuer.value,
            }),
            Err(e) => {
                d.problem(
                    Code::ConfigInvalid,
                    identity.span,
                    format!(
                        "`identity: {}` is not a regular expression: {e}",
                        identity.value
                    ),
                );
                None
            }
        },
        _ => {
            d.problem(
                Code::ConfigInvalid,
                node.span,
                "`provenance` takes either `key: <path to .pub>` or both `identity: <regexp>` and \
                 `issuer: <url>`",
            );
            None
        }
    }
}

/// A keyless `identity`, matched against the whole certificate identity (it is anchored: a
/// pattern that names one workflow must not also accept a longer URL that merely contains it).
pub fn identity_pattern(identity: &str) -> Result<regex_lite::Regex, regex_lite::Error> {
    regex_lite::Regex::new(&format!("^(?:{identity})$"))
}

/// An entry whose rendered tag is not a valid tag is reported against the entry.
fn check_tag(d: &mut Decoder, entry: &Entry, tag: &Template) {
    let rendered = tag.render(entry.version.as_str(), &entry.os);
    if !valid_tag(&rendered) {
        d.problem(
            Code::ConfigInvalid,
            entry.span,
            format!(
                "{} gives the tag `{rendered}`, which is not a valid tag",
                entry.label()
            ),
        );
    }
}

/// Two entries for one (version, os), found on the raw nodes so that an entry with other
/// errors still counts.
fn check_duplicates(d: &mut Decoder, list: &[Node]) {
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for node in list {
        let Value::Map(entries) = &node.value else {
            continue;
        };
        let field = |key: &str| {
            entries
                .iter()
                .find(|e| e.key.as_scalar() == Some(key))
                .and_then(|e| e.value.as_scalar())
                .map(str::to_owned)
        };
        let (Some(version), Some(os)) = (field("version"), field("os")) else {
            continue;
        };
        let label = format!("{version}/{os}");
        if let Some(line) = seen.insert((version, os), node.span.line) {
            d.problem(
                Code::EntryDuplicate,
                node.span,
                format!("{label} is listed twice (first at line {line})"),
            );
        }
    }
}

fn check_shared_tarballs(d: &mut Decoder, images: &[Entry]) {
    let mut by_hash: HashMap<&str, &Entry> = HashMap::new();
    for entry in images {
        let Some(sha) = &entry.sha256 else { continue };
        if let Some(first) = by_hash.insert(&sha.value, entry) {
            let message = format!(
                "{} and {} (line {}) record the same tarball sha256; one of them names the wrong \
                 tarball",
                entry.label(),
                first.label(),
                first.span.line
            );
            d.problem(Code::TarballShared, sha.span, message);
        }
    }
}

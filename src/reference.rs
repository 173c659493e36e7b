//! Image references and digests, normalised the way registries and Docker read them.
//!
//! `ubuntu` is `docker.io/library/ubuntu:latest`; `ghcr.io/rocm/dev:6.4.4-ubuntu-22.04@sha256:…`
//! keeps its registry. The first path segment names a registry only if it contains `.` or `:`
//! or is `localhost`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub const DOCKER_HUB: &str = "docker.io";

/// A content digest, `sha256:<64 lowercase hex>` (or `sha512:<128 hex>` in references).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: &'static str,
    hex: String,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DigestError {
    #[error("`{0}` is not a digest: expected `sha256:` followed by 64 lowercase hex digits")]
    Malformed(String),
}

impl Digest {
    pub fn sha256_from_bytes(bytes: [u8; 32]) -> Self {
        use std::fmt::Write;
        let mut hex = String::with_capacity(64);
        for b in bytes {
            let _ = write!(hex, "{b:02x}");
        }
        Self {
            algorithm: "sha256",
            hex,
        }
    }

    pub fn algorithm(&self) -> &str {
        self.algorithm
    }

    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = || DigestError::Malformed(s.to_owned());
        let (algorithm, hex) = s.split_once(':').ok_or_else(malformed)?;
        let (algorithm, len) = match algorithm {
            "sha256" => ("sha256", 64),
            "sha512" => ("sha512", 128),
            _ => return Err(malformed()),
        };
        let is_hex = hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if hex.len() != len || !is_hex {
            return Err(malformed());
        }
        Ok(Self {
            algorithm,
            hex: hex.to_owned(),
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

impl Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("image reference is empty")]
    Empty,
    #[error("`{reference}`: invalid registry host `{host}`")]
    Registry { reference: String, host: String },
    #[error(
        "`{reference}`: invalid repository `{repository}` (lowercase letters, digits and `._-` \
         separators, `/` between components)"
    )]
    Repository {
        reference: String,
        repository: String,
    },
    #[error(
        "`{reference}`: invalid tag `{tag}` (up to 128 of `A-Za-z0-9_.-`, not starting with `.` or `-`)"
    )]
    Tag { reference: String, tag: String },
    #[error("`{reference}`: {source}")]
    Digest {
        reference: String,
        source: DigestError,
    },
}

impl Reference {
    /// Parses and normalises a reference; no tag and no digest means `latest`.
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        let mut reference = Self::parse_repository_and_tag(input)?;
        if reference.tag.is_none() && reference.digest.is_none() {
            reference.tag = Some("latest".to_owned());
        }
        Ok(reference)
    }

    /// Parses a repository (`ghcr.io/rocm/dev`) with no implied `latest` tag.
    pub fn parse_repository(input: &str) -> Result<Self, ReferenceError> {
        let reference = Self::parse_repository_and_tag(input)?;
        if let Some(tag) = reference.tag {
            return Err(ReferenceError::Tag {
                reference: input.to_owned(),
                tag: format!("{tag} (a repository is expected here, without a tag)"),
            });
        }
        if reference.digest.is_some() {
            return Err(ReferenceError::Repository {
                reference: input.to_owned(),
                repository: "(a repository is expected here, without a digest)".to_owned(),
            });
        }
        Ok(reference)
    }

    fn parse_repository_and_tag(input: &str) -> Result<Self, ReferenceError> {
        let reference = input.to_owned();
        if input.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let (name_and_tag, digest) = match input.split_once('@') {
            Some((n, d)) => {
                let digest = d.parse().map_err(|source| ReferenceError::Digest {
                    reference: reference.clone(),
                    source,
                })?;
                (n, Some(digest))
            }
            None => (input, None),
        };
        // A tag follows the last `:` after the last `/` (a `:` before it is a registry port).
        let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&name_and_tag[..at], Some(&name_and_tag[at + 1..]))
            }
            None => (name_and_tag, None),
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_ascii_lowercase(), rest.to_owned())
            }
            _ => (DOCKER_HUB.to_owned(), name.to_owned()),
        };
        let registry = match registry.as_str() {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_owned(),
            _ => registry,
        };
        if !valid_host(&registry) {
            return Err(ReferenceError::Registry {
                reference,
                host: registry,
            });
        }
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        if !valid_repository(&repository) {
            return Err(ReferenceError::Repository {
                reference,
                repository,
            });
        }
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(ReferenceError::Tag {
                reference,
                tag: tag.to_owned(),
            });
        }
        Ok(Self {
            registry,
            repository,
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host the distribution API answers on (`docker.io` is served by `registry-1`).
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            &self.registry
        }
    }

    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    pub fn with_tag(mut self, tag: &str) -> Result<Self, ReferenceError> {
        if !valid_tag(tag) {
            return Err(ReferenceError::Tag {
                reference: self.to_string(),
                tag: tag.to_owned(),
            });
        }
        self.tag = Some(tag.to_owned());
        Ok(self)
    }

    pub fn with_digest(mut self, digest: Option<Digest>) -> Self {
        self.digest = digest;
        self
    }

    pub fn without_tag(mut self) -> Self {
        self.tag = None;
        self
    }

    /// `registry/repository` without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn valid_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host, None),
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let name_ok = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    port_ok && name_ok
}

/// `path-component ("/" path-component)*`, each `[a-z0-9]+ (separator [a-z0-9]+)*` where a
/// separator is `.`, `_`, `__` or one or more `-`.
fn valid_repository(repository: &str) -> bool {
    !repository.is_empty()
        && repository.len() <= 255
        && repository.split('/').all(valid_path_component)
}

fn valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

pub fn valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn docker_hub_rules() {
        for (input, expected) in [
            ("ubuntu", "docker.io/library/ubuntu:latest"),
            (
                "rocm/dev-ubuntu-22.04:6.4",
                "docker.io/rocm/dev-ubuntu-22.04:6.4",
            ),
            ("index.docker.io/rocm/dev:1", "docker.io/rocm/dev:1"),
            (
                "registry-1.docker.io/library/ubuntu",
                "docker.io/library/ubuntu:latest",
            ),
            ("docker.io/ubuntu:22.04", "docker.io/library/ubuntu:22.04"),
            ("localhost/a/b", "localhost/a/b:latest"),
            ("localhost:5000/a:t", "localhost:5000/a:t"),
            (
                "ghcr.io/rocm/dev:6.4.4-ubuntu-22.04",
                "ghcr.io/rocm/dev:6.4.4-ubuntu-22.04",
            ),
            ("127.0.0.1:5000/x/y", "127.0.0.1:5000/x/y:latest"),
        ] {
            assert_eq!(
                Reference::parse(input).unwrap().to_string(),
                expected,
                "{input}"
            );
        }
    }

    #[test]
    fn digest_only_has_no_implied_tag() {
        let r = Reference::parse(&format!("ghcr.io/rocm/dev@sha256:{HEX}")).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest().unwrap().hex(), HEX);
        let r = Reference::parse(&format!("ghcr.io/rocm/dev:6.4@sha256:{HEX}")).unwrap();
        assert_eq!(r.tag(), Some("6.4"));
    }

    #[test]
    fn rejects_bad_parts() {
        assert!(matches!(
            Reference::parse("Ghcr.io/ROCm/dev"),
            Err(ReferenceError::Repository { .. })
        ));
        assert!(matches!(
            Reference::parse("ghcr.io/rocm/dev:-x"),
            Err(ReferenceError::Tag { .. })
        ));
        assert!(matches!(
            Reference::parse("ghcr.io/rocm/dev@sha256:abc"),
            Err(ReferenceError::Digest { .. })
        ));
        assert!(matches!(
            Reference::parse("bad_host.io:x/a"),
            Err(ReferenceError::Registry { .. })
        ));
        assert!(Reference::parse("").is_err());
        assert!(Reference::parse_repository("ghcr.io/rocm/dev:1").is_err());
        assert_eq!(
            Reference::parse_repository("ghcr.io/rocm/dev")
                .unwrap()
                .tag(),
            None
        );
    }

    #[test]
    fn digests() {
        assert!(format!("sha256:{HEX}").parse::<Digest>().is_ok());
        assert!(HEX.parse::<Digest>().is_err());
        assert!(
            format!("sha256:{}", HEX.to_uppercase())
                .parse::<Digest>()
                .is_err()
        );
        assert!(format!("md5:{HEX}").parse::<Digest>().is_err());
        assert_eq!(
            Digest::sha256_from_bytes([0xab; 32]).to_string(),
            format!("sha256:{}", "ab".repeat(32))
        );
    }

    fn component() -> impl Strategy<Value = String> {
        "[a-z0-9]{1,6}([_-][a-z0-9]{1,6}){0,2}"
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(
            host in prop_oneof![Just(None), Just(Some("ghcr.io".to_owned())), Just(Some("localhost:5000".to_owned())), Just(Some("docker.io".to_owned()))],
            parts in proptest::collection::vec(component(), 1..4),
            tag in proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
            digest in proptest::option::of("[0-9a-f]{64}"),
        ) {
            let mut text = parts.join("/");
            if let Some(h) = &host { text = format!("{h}/{text}"); }
            if let Some(t) = &tag { text = format!("{text}:{t}"); }
            if let Some(d) = &digest { text = format!("{text}@sha256:{d}"); }
            let parsed = Reference::parse(&text).unwrap();
            // Normalisation is idempotent: printing and parsing again changes nothing.
            let again = Reference::parse(&parsed.to_string()).unwrap();
            prop_assert_eq!(&again, &parsed);
            prop_assert_eq!(parsed.tag().map(str::to_owned), tag.clone().or_else(|| digest.is_none().then(|| "latest".to_owned())));
            if host.is_none() || host.as_deref() == Some("docker.io") {
                prop_assert_eq!(parsed.registry(), "docker.io");
                prop_assert_eq!(parsed.repository().contains('/'), true);
            }
        }

        #[test]
        fn never_panics(input in "\\PC{0,80}") {
            let _ = Reference::parse(&input);
        }
    }
}

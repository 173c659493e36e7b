//! Signatures and attestations of pinned images, under `require_signature` and `attest_mode`.
//!
//! Discovery looks at the legacy cosign tags `sha256-<hex>.sig` / `.att`, the OCI referrers
//! API and its tag fallback `sha256-<hex>`. Keyed signatures (a PEM key from the repository,
//! named by the entry's `provenance: {key: …}`) are verified here: simple-signing payloads and
//! DSSE envelopes must verify and must name the pinned digest. "Nothing found", "found but
//! invalid" and "could not ask" are different findings. Results go to
//! `build/rocm_provenance.json`:
//!
//! ```json
//! {"timestamp": "…", "images": [{"image": "ghcr.io/rocm/dev:6.4.4-ubuntu-22.04", "digest": "sha256:…",
//!   "signature_status": "verified", "signer": "ci/provenance_keys/rocm.pub", "issuer": null,
//!   "log_index": null, "attestations": [{"predicate_type": "https://slsa.dev/provenance/v1",
//!   "digest": "sha256:…", "status": "verified"}], "decision": "pass", "details": []}]}
//! ```

pub mod keyed;
pub mod keyless;

use std::collections::BTreeMap;

use base64::Engine as _;
use p256::ecdsa::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::config::{AttestMode, Config, Entry, Policy, Signer, Workspace};
use crate::findings::{Code, Finding, Findings};
use crate::fsutil::{FsError, write_json_atomic};
use crate::reference::{Digest, Reference};
use crate::registry::{Client, RegistryError};

const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const DSSE: &str = "application/vnd.dsse.envelope.v1+json";
const BUNDLE: &str = "application/vnd.dev.sigstore.bundle";
const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The predicate type of `cosign sign` (v3): a DSSE bundle with it is a signature, not an attestation.
const COSIGN_SIGN: &str = "https://sigstore.dev/cosign/sign/v1";
const MAX_ARTEFACT: usize = 4 * 1024 * 1024;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

#[derive(Debug, Clone, Serialize)]
pub struct AttestationResult {
    pub predicate_type: Option<String>,
    pub digest: String,
    pub status: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImageProvenance {
    pub image: String,
    pub digest: String,
    /// `verified`, `unverified` (nothing verifiable found) or `failed` (found, invalid).
    pub signature_status: &'static str,
    /// The key file, or the verified certificate identity (the expected pattern until one verifies).
    pub signer: Option<String>,
    pub issuer: Option<String>,
    pub log_index: Option<u64>,
    pub attestations: Vec<AttestationResult>,
    /// `pass`, `fail` or `not-required`.
    pub decision: &'static str,
    pub details: Vec<String>,
    /// What verified, kept so that `cache-build` can store it beside the tarball.
    #[serde(skip)]
    pub material: Material,
}

/// Verified signature material, stored as `<tarball>.provenance.json` so that the offline
/// bootstrap can verify it again without a registry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Material {
    pub digest: String,
    /// (base64 payload, base64 DER signature) of keyed simple-signing signatures.
    pub signatures: Vec<(String, String)>,
    /// base64 keyed DSSE envelopes.
    pub attestations: Vec<String>,
    /// Sigstore bundles (keyless, or legacy keyless layers rewritten as bundles).
    #[serde(default)]
    pub bundles: Vec<StoredBundle>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Signature,
    Attestation,
}

/// One bundle and what it signs: the image digest, or (legacy `.sig`) a simple-signing payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredBundle {
    pub role: Role,
    pub bundle: String,
    /// base64 simple-signing payload, for a rewritten legacy `.sig`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProvenanceReport {
    pub timestamp: String,
    pub images: Vec<ImageProvenance>,
}

#[derive(Deserialize)]
struct ArtefactManifest {
    #[serde(default)]
    layers: Vec<Layer>,
}

#[derive(Deserialize)]
struct Layer {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: Digest,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct ReferrersIndex {
    #[serde(default)]
    manifests: Vec<Referrer>,
}

#[derive(Deserialize)]
struct Referrer {
    digest: Digest,
    #[serde(rename = "artifactType", default)]
    artifact_type: Option<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// Whether the policy or the entry asks for any provenance check.
pub fn wanted(policy: &Policy, entry: &Entry) -> bool {
    policy.require_signature || policy.attest_mode != AttestMode::None || entry.provenance.is_some()
}

/// The signer an entry names, ready to verify with.
enum Expect {
    Nobody,
    Key {
        key: VerifyingKey,
        pem: String,
    },
    Identity {
        pattern: regex_lite::Regex,
        issuer: String,
    },
}

/// What verifies an entry's artefacts: its signer and, for bundles, the trust root.
struct Verifiers {
    expect: Expect,
    trust: Result<keyless::TrustRoot, String>,
}

impl Verifiers {
    /// Reads the key or compiles the identity; problems with either are findings.
    fn for_entry(
        workspace: &Workspace,
        policy: &Policy,
        entry: &Entry,
        findings: &mut Findings,
        subject: &str,
    ) -> Self {
        let label = entry.label();
        let expect = match &entry.provenance {
            Some(Signer::Key(path)) => match std::fs::read_to_string(workspace.path(path))
                .map_err(|e| e.to_string())
                .and_then(|pem| keyed::parse_key(&pem).map(|key| Expect::Key { key, pem }))
            {
                Ok(expect) => expect,
                Err(why) => {
                    findings.push(
                        Finding::new(
                            Code::ConfigInvalid,
                            format!("{label}: provenance key {}: {why}", path.display()),
                        )
                        .about(subject.to_owned()),
                    );
                    Expect::Nobody
                }
            },
            Some(Signer::Keyless { identity, issuer }) => {
                match crate::config::identity_pattern(identity) {
                    Ok(pattern) => Expect::Identity {
                        pattern,
                        issuer: issuer.clone(),
                    },
                    Err(_) => Expect::Nobody, // reported when the matrix was read
                }
            }
            None => Expect::Nobody,
        };
        let path = &policy.trusted_root;
        let trust = keyless::TrustRoot::load(&workspace.path(path))
            .map_err(|why| format!("trust root {}: {why}", path.display()));
        if let (Expect::Identity { .. }, Err(why)) = (&expect, &trust) {
            findings.push(
                Finding::new(
                    Code::ConfigInvalid,
                    format!("{label}: keyless signatures need a Sigstore {why}"),
                )
                .about(subject.to_owned()),
            );
        }
        Self { expect, trust }
    }

    fn configured(&self) -> bool {
        !matches!(self.expect, Expect::Nobody)
    }

    /// Verifies a bundle: against the identity or key, the trust root, and the pinned digest.
    fn bundle(&self, stored: &StoredBundle, pin: &Digest) -> Outcome {
        let expected = match &self.expect {
            Expect::Nobody => {
                return Outcome::Unverifiable(
                    "a Sigstore bundle, and no `provenance:` signer is configured".to_owned(),
                );
            }
            Expect::Key { pem, .. } => keyless::Expected::Key(pem),
            Expect::Identity { pattern, issuer } => keyless::Expected::Identity {
                identity: pattern,
                issuer,
            },
        };
        let trust = match &self.trust {
            Ok(trust) => trust,
            Err(why) => return Outcome::Unverifiable(why.clone()),
        };
        let payload = match stored.payload.as_deref().map(|p| B64.decode(p)) {
            None => None,
            Some(Ok(payload)) => Some(payload),
            Some(Err(e)) => return Outcome::Invalid(format!("stored payload: {e}")),
        };
        let subject = match &payload {
            Some(payload) => keyless::Subject::Payload(payload),
            None => keyless::Subject::Image(pin),
        };
        let verified = keyless::verify_bundle(trust, &stored.bundle, subject, &expected).and_then(
            |verified| match &payload {
                Some(payload) => keyed::simple_signing_names(payload, pin).map(|()| verified),
                None => Ok(verified),
            },
        );
        match verified {
            Ok(verified) => Outcome::Verified(Evidence {
                signer: verified.identity,
                issuer: verified.issuer,
                log_index: verified.log_index,
                predicate_type: verified.predicate_type,
                material: Stored::Bundle(stored.clone()),
            }),
            Err(why) => Outcome::Invalid(why),
        }
    }
}

/// What one signature or attestation came to.
enum Outcome {
    Verified(Evidence),
    Invalid(String),
    Unverifiable(String),
}

struct Evidence {
    signer: Option<String>,
    issuer: Option<String>,
    log_index: Option<u64>,
    predicate_type: Option<String>,
    material: Stored,
}

enum Stored {
    Signature(String, String),
    Envelope(String),
    Bundle(StoredBundle),
}

impl Material {
    fn keep(&mut self, stored: Stored) {
        match stored {
            Stored::Signature(payload, signature) => self.signatures.push((payload, signature)),
            Stored::Envelope(envelope) => self.attestations.push(envelope),
            Stored::Bundle(bundle) => self.bundles.push(bundle),
        }
    }
}

/// Everything published about one digest.
struct Discovered {
    signatures: Option<ArtefactManifest>,
    attestations: Option<ArtefactManifest>,
    referrers: Vec<Referrer>,
}

/// A manifest at `tag`, or `None` when the tag does not exist.
async fn manifest_at(
    client: &Client,
    repository: &Reference,
    tag: &str,
) -> Result<Option<ArtefactManifest>, RegistryError> {
    let reference = repository
        .clone()
        .with_digest(None)
        .with_tag(tag)
        .expect("sha256-<hex> tags are valid");
    match client.manifest(&reference).await {
        Ok(fetched) => Ok(serde_json::from_slice(&fetched.bytes).ok()),
        Err(RegistryError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Legacy tags, then the referrers API, else its tag fallback `sha256-<hex>`.
async fn discover(
    client: &Client,
    repository: &Reference,
    pin: &Digest,
) -> Result<Discovered, RegistryError> {
    let tag_base = format!("sha256-{}", pin.hex());
    let signatures = manifest_at(client, repository, &format!("{tag_base}.sig")).await?;
    let attestations = manifest_at(client, repository, &format!("{tag_base}.att")).await?;
    let index = match client.referrers(repository, pin).await? {
        Some(bytes) => Some(bytes),
        None => {
            let fallback = repository
                .clone()
                .with_digest(None)
                .with_tag(&tag_base)
                .expect("valid tag");
            match client.manifest(&fallback).await {
                Ok(index) => Some(index.bytes),
                Err(RegistryError::NotFound { .. }) => None,
                Err(e) => return Err(e),
            }
        }
    };
    let referrers = index
        .and_then(|bytes| serde_json::from_slice::<ReferrersIndex>(&bytes).ok())
        .map(|index| index.manifests)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| {
            r.artifact_type
                .as_deref()
                .is_some_and(|t| t.starts_with(BUNDLE))
        })
        .collect();
    Ok(Discovered {
        signatures,
        attestations,
        referrers,
    })
}

/// The layers of a legacy artefact that have `media_type`.
fn layers<'a>(
    manifest: &'a Option<ArtefactManifest>,
    media_type: &'a str,
) -> impl Iterator<Item = &'a Layer> {
    manifest
        .iter()
        .flat_map(|m| &m.layers)
        .filter(move |l| l.media_type == media_type)
}

/// A referrer's bundle, fetched: the first layer of its manifest.
async fn fetch_bundle(
    client: &Client,
    repository: &Reference,
    referrer: &Referrer,
) -> Result<StoredBundle, String> {
    let manifest = client
        .manifest(
            &repository
                .clone()
                .with_digest(Some(referrer.digest.clone())),
        )
        .await
        .map_err(|e| e.to_string())?;
    let layer = serde_json::from_slice::<ArtefactManifest>(&manifest.bytes)
        .ok()
        .and_then(|m| m.layers.into_iter().next())
        .ok_or_else(|| format!("bundle manifest {} has no layer", referrer.digest))?;
    let bytes = client
        .blob_bytes(repository, &layer.digest, MAX_ARTEFACT)
        .await
        .map_err(|e| e.to_string())?;
    let bundle = String::from_utf8(bytes)
        .map_err(|_| format!("bundle {} is not UTF-8 JSON", layer.digest))?;
    let predicate = referrer
        .annotations
        .get("dev.sigstore.bundle.predicateType")
        .cloned()
        .or_else(|| keyless::peek_predicate_type(&bundle));
    let role = match predicate.as_deref() {
        Some(t) if t != COSIGN_SIGN => Role::Attestation,
        _ => Role::Signature,
    };
    Ok(StoredBundle {
        role,
        bundle,
        payload: None,
    })
}

/// A legacy `.sig` layer: keyed (signature annotation) or keyless (certificate + log bundle).
async fn check_legacy_signature(
    client: &Client,
    repository: &Reference,
    layer: &Layer,
    verifiers: &Verifiers,
    pin: &Digest,
) -> Outcome {
    let keyless = keyless::is_keyless(&layer.annotations);
    let signature = layer.annotations.get(SIGNATURE_ANNOTATION);
    match (&verifiers.expect, keyless) {
        (Expect::Nobody, _) => {
            return Outcome::Unverifiable(format!(
                "{} signature, and no `provenance:` signer is configured",
                if keyless { "a keyless" } else { "a keyed" }
            ));
        }
        (Expect::Identity { .. }, false) => {
            return Outcome::Invalid(
                "a keyed signature, but this entry expects a keyless identity".to_owned(),
            );
        }
        _ => {}
    }
    let payload = match client
        .blob_bytes(repository, &layer.digest, MAX_ARTEFACT)
        .await
    {
        Ok(payload) => payload,
        Err(e) => return Outcome::Invalid(format!("signature payload {}: {e}", layer.digest)),
    };
    match &verifiers.expect {
        Expect::Key { key, .. } => {
            let Some(signature) = signature else {
                return Outcome::Invalid("no signature annotation".to_owned());
            };
            match keyed::verify_simple_signing(key, &payload, signature, pin) {
                Ok(()) => Outcome::Verified(Evidence {
                    signer: None,
                    issuer: None,
                    log_index: None,
                    predicate_type: None,
                    material: Stored::Signature(B64.encode(&payload), signature.clone()),
                }),
                Err(why) => Outcome::Invalid(why),
            }
        }
        _ => match keyless::legacy_bundle(&payload, &layer.annotations, false) {
            Ok(bundle) => verifiers.bundle(
                &StoredBundle {
                    role: Role::Signature,
                    bundle,
                    payload: Some(B64.encode(&payload)),
                },
                pin,
            ),
            Err(why) => Outcome::Invalid(why),
        },
    }
}

/// A legacy `.att` layer: a DSSE envelope, keyed or keyless.
async fn check_legacy_attestation(
    client: &Client,
    repository: &Reference,
    layer: &Layer,
    verifiers: &Verifiers,
    pin: &Digest,
) -> Outcome {
    let envelope = match client
        .blob_bytes(repository, &layer.digest, MAX_ARTEFACT)
        .await
    {
        Ok(envelope) => envelope,
        Err(e) => return Outcome::Invalid(e.to_string()),
    };
    match &verifiers.expect {
        Expect::Nobody => Outcome::Unverifiable("no signer configured to verify it".to_owned()),
        Expect::Key { key, .. } => match keyed::verify_dsse(key, &envelope, pin) {
            Ok(predicate) => Outcome::Verified(Evidence {
                signer: None,
                issuer: None,
                log_index: None,
                predicate_type: Some(predicate),
                material: Stored::Envelope(B64.encode(&envelope)),
            }),
            Err(why) => Outcome::Invalid(why),
        },
        Expect::Identity { .. } => {
            match keyless::legacy_bundle(&envelope, &layer.annotations, true) {
                Ok(bundle) => verifiers.bundle(
                    &StoredBundle {
                        role: Role::Attestation,
                        bundle,
                        payload: None,
                    },
                    pin,
                ),
                Err(why) => Outcome::Invalid(why),
            }
        }
    }
}

/// Checks one entry's pinned digest; records findings and returns the result.
pub async fn check_entry(
    workspace: &Workspace,
    config: &Config,
    client: &Client,
    entry: &Entry,
    findings: &mut Findings,
) -> Option<ImageProvenance> {
    let policy = &config.policy;
    let pin = entry.digest.as_ref()?.value.clone();
    let upstream = config.matrix.upstream(entry);
    let label = entry.label();
    let subject = upstream.to_string();
    let verifiers = Verifiers::for_entry(workspace, policy, entry, findings, &subject);
    let mut result = ImageProvenance {
        image: upstream.clone().with_digest(None).to_string(),
        digest: pin.to_string(),
        signature_status: "unverified",
        signer: match &entry.provenance {
            Some(Signer::Key(path)) => Some(path.display().to_string()),
            Some(Signer::Keyless { identity, .. }) => Some(identity.clone()),
            None => None,
        },
        issuer: match &entry.provenance {
            Some(Signer::Keyless { issuer, .. }) => Some(issuer.clone()),
            _ => None,
        },
        log_index: None,
        attestations: Vec::new(),
        decision: "not-required",
        details: Vec::new(),
        material: Material {
            digest: pin.to_string(),
            ..Material::default()
        },
    };

    let found = match discover(client, &upstream, &pin).await {
        Ok(found) => found,
        Err(error) => {
            findings.push(
                Finding::new(
                    Code::ProvenanceUnreachable,
                    format!("{label}: could not ask the registry for signatures: {error}"),
                )
                .about(subject),
            );
            if policy.require_signature {
                result.decision = "fail";
            }
            return Some(result);
        }
    };

    // Every artefact, checked: (role, digest, predicate type as published, outcome).
    let mut outcomes: Vec<(Role, Digest, Option<String>, Outcome)> = Vec::new();
    for layer in layers(&found.signatures, SIMPLE_SIGNING) {
        let outcome = check_legacy_signature(client, &upstream, layer, &verifiers, &pin).await;
        outcomes.push((Role::Signature, layer.digest.clone(), None, outcome));
    }
    for layer in layers(&found.attestations, DSSE) {
        let outcome = check_legacy_attestation(client, &upstream, layer, &verifiers, &pin).await;
        let published = layer.annotations.get("predicateType").cloned();
        outcomes.push((Role::Attestation, layer.digest.clone(), published, outcome));
    }
    for referrer in &found.referrers {
        match fetch_bundle(client, &upstream, referrer).await {
            Ok(stored) => {
                let published = keyless::peek_predicate_type(&stored.bundle);
                let outcome = verifiers.bundle(&stored, &pin);
                outcomes.push((stored.role, referrer.digest.clone(), published, outcome));
            }
            Err(why) => outcomes.push((
                Role::Signature,
                referrer.digest.clone(),
                None,
                Outcome::Invalid(why),
            )),
        }
    }

    // Signatures.
    let mut invalid = Vec::new();
    let mut unverifiable = Vec::new();
    let mut attestation_failures = Vec::new();
    for (role, digest, published, outcome) in outcomes {
        match (role, outcome) {
            (Role::Signature, Outcome::Verified(evidence)) => {
                if result.signature_status != "verified" {
                    result.signature_status = "verified";
                    if evidence.signer.is_some() {
                        result.signer = evidence.signer;
                        result.issuer = evidence.issuer;
                    }
                    result.log_index = evidence.log_index;
                }
                result.material.keep(evidence.material);
            }
            (Role::Signature, Outcome::Invalid(why)) => invalid.push(format!("{digest}: {why}")),
            (Role::Signature, Outcome::Unverifiable(why)) => unverifiable.push(why),
            (Role::Attestation, Outcome::Verified(evidence)) => {
                result.attestations.push(AttestationResult {
                    predicate_type: evidence.predicate_type.clone(),
                    digest: digest.to_string(),
                    status: "verified",
                });
                result.material.keep(evidence.material);
            }
            (Role::Attestation, outcome) => {
                result.attestations.push(AttestationResult {
                    predicate_type: published,
                    digest: digest.to_string(),
                    status: "failed",
                });
                if let (Outcome::Invalid(why), true) = (outcome, verifiers.configured()) {
                    attestation_failures.push(format!("{digest}: {why}"));
                }
            }
        }
    }
    let tag_base = format!("sha256-{}", pin.hex());
    if result.signature_status == "verified" {
        findings.push(
            Finding::new(
                Code::SignatureVerified,
                format!(
                    "{label}: signature verified ({}{})",
                    result.signer.clone().unwrap_or_default(),
                    result
                        .issuer
                        .as_ref()
                        .map(|i| format!(", issuer {i}"))
                        .unwrap_or_default()
                ),
            )
            .about(subject.clone()),
        );
    } else if !invalid.is_empty() {
        result.signature_status = "failed";
        findings.push(
            Finding::new(
                Code::SignatureInvalid,
                format!(
                    "{label}: signature found but invalid: {}",
                    invalid.join("; ")
                ),
            )
            .about(subject.clone()),
        );
    } else if !unverifiable.is_empty() {
        let code = if policy.require_signature {
            Code::SignatureUnverifiable
        } else {
            Code::SignatureSkipped
        };
        findings.push(
            Finding::new(
                code,
                format!(
                    "{label}: {} signature artefact(s) found that cannot be checked: {}",
                    unverifiable.len(),
                    unverifiable.join("; ")
                ),
            )
            .about(subject.clone()),
        );
    } else if policy.require_signature {
        findings.push(Finding::new(Code::SignatureMissing, format!("{label}: no signature found for {pin} (looked for {tag_base}.sig, referrers, {tag_base})")).about(subject.clone()));
    }
    result.details.extend(invalid);
    for why in &attestation_failures {
        findings.push(
            Finding::new(
                Code::AttestationInvalid,
                format!("{label}: attestation {why}"),
            )
            .about(subject.clone()),
        );
    }
    result.details.extend(attestation_failures.iter().cloned());

    // Attestations against the policy.
    let wanted_type = policy.attest_predicate_type.as_deref();
    let good = result.attestations.iter().any(|a| {
        a.status == "verified" && wanted_type.is_none_or(|t| a.predicate_type.as_deref() == Some(t))
    });
    match policy.attest_mode {
        AttestMode::Enforce if !good => findings.push(
            Finding::new(
                Code::AttestationMissing,
                format!(
                    "{label}: no verified attestation{} for {pin}",
                    wanted_type
                        .map(|t| format!(" of type {t}"))
                        .unwrap_or_default()
                ),
            )
            .about(subject.clone()),
        ),
        AttestMode::Record | AttestMode::Enforce if !result.attestations.is_empty() => findings
            .push(
                Finding::new(
                    Code::AttestationRecorded,
                    format!(
                        "{label}: {} attestation(s) recorded",
                        result.attestations.len()
                    ),
                )
                .about(subject.clone()),
            ),
        _ => {}
    }
    let attestation_ok = good || policy.attest_mode != AttestMode::Enforce;
    let failed = result.signature_status == "failed"
        || !attestation_ok
        || (policy.require_signature && result.signature_status != "verified")
        || !attestation_failures.is_empty();
    result.decision = if failed {
        "fail"
    } else if policy.require_signature || policy.attest_mode == AttestMode::Enforce {
        "pass"
    } else {
        "not-required"
    };
    Some(result)
}

/// Checks every entry that wants it and writes `build/rocm_provenance.json` when any did.
pub async fn check(
    workspace: &Workspace,
    config: &Config,
    client: &Client,
    entries: &[&Entry],
    now: jiff::Timestamp,
    findings: &mut Findings,
) -> Result<Option<ProvenanceReport>, FsError> {
    let mut images = Vec::new();
    for entry in entries.iter().filter(|e| wanted(&config.policy, e)) {
        if let Some(result) = check_entry(workspace, config, client, entry, findings).await {
            images.push(result);
        }
    }
    if images.is_empty() {
        return Ok(None);
    }
    let report = ProvenanceReport {
        timestamp: crate::state::format_timestamp(now),
        images,
    };
    write_json_atomic(&workspace.path("build/rocm_provenance.json"), &report)?;
    Ok(Some(report))
}

/// `images/x.tar.gz` → `images/x.provenance.json`.
pub fn material_path(tarball: &std::path::Path) -> std::path::PathBuf {
    let name = tarball
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name
        .strip_suffix(".tar.gz")
        .or_else(|| name.strip_suffix(".tgz"))
        .unwrap_or(&name);
    tarball.with_file_name(format!("{stem}.provenance.json"))
}

/// Verifies stored material again, with no network: the offline bootstrap's provenance check.
pub fn check_offline(
    workspace: &Workspace,
    config: &Config,
    entry: &Entry,
    findings: &mut Findings,
) {
    let policy = &config.policy;
    if !wanted(policy, entry) {
        return;
    }
    let Some(pin) = entry.digest.as_ref().map(|d| d.value.clone()) else {
        return;
    };
    let label = entry.label();
    let subject = config.matrix.upstream(entry).to_string();
    let material = entry
        .tarball
        .as_ref()
        .map(|t| workspace.path(material_path(&t.value)))
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|bytes| serde_json::from_slice::<Material>(&bytes).ok());
    let verifiers = Verifiers::for_entry(workspace, policy, entry, findings, &subject);
    let (Some(material), true) = (material, verifiers.configured()) else {
        if policy.require_signature {
            findings.push(Finding::new(Code::SignatureUnverifiable, format!("{label}: offline, and no stored signature material (cache-build keeps it beside the tarball) or no signer to check it")).about(subject));
        }
        return;
    };
    let mut verified = false;
    let mut verified_types = Vec::new();
    let mut invalid = Vec::new();
    if let Expect::Key { key, .. } = &verifiers.expect {
        for (payload, signature) in &material.signatures {
            match B64
                .decode(payload)
                .map_err(|e| e.to_string())
                .and_then(|p| keyed::verify_simple_signing(key, &p, signature, &pin))
            {
                Ok(()) => verified = true,
                Err(why) => invalid.push(why),
            }
        }
        verified_types.extend(
            material
                .attestations
                .iter()
                .filter_map(|e| B64.decode(e).ok())
                .filter_map(|e| keyed::verify_dsse(key, &e, &pin).ok()),
        );
    }
    for stored in &material.bundles {
        match (stored.role, verifiers.bundle(stored, &pin)) {
            (Role::Signature, Outcome::Verified(_)) => verified = true,
            (Role::Attestation, Outcome::Verified(evidence)) => {
                verified_types.extend(evidence.predicate_type);
            }
            (Role::Signature, Outcome::Invalid(why) | Outcome::Unverifiable(why)) => {
                invalid.push(why);
            }
            (Role::Attestation, _) => {}
        }
    }
    for why in invalid {
        findings.push(
            Finding::new(
                Code::SignatureInvalid,
                format!("{label}: stored signature is invalid: {why}"),
            )
            .about(subject.clone()),
        );
    }
    if verified {
        findings.push(
            Finding::new(
                Code::SignatureVerified,
                format!("{label}: stored signature verified offline"),
            )
            .about(subject.clone()),
        );
    } else if policy.require_signature {
        findings.push(
            Finding::new(
                Code::SignatureMissing,
                format!("{label}: the stored material holds no valid signature"),
            )
            .about(subject.clone()),
        );
    }
    if policy.attest_mode == AttestMode::Enforce {
        let wanted_type = policy.attest_predicate_type.as_deref();
        if !verified_types
            .iter()
            .any(|t| wanted_type.is_none_or(|w| w == t))
        {
            findings.push(
                Finding::new(
                    Code::AttestationMissing,
                    format!("{label}: no stored attestation verifies offline"),
                )
                .about(subject),
            );
        }
    }
}

/// Writes what verified beside the tarball (`cache-build`).
pub fn store_material(
    workspace: &Workspace,
    tarball: &std::path::Path,
    result: &ImageProvenance,
) -> Result<Option<std::path::PathBuf>, FsError> {
    let material = &result.material;
    if material.signatures.is_empty()
        && material.attestations.is_empty()
        && material.bundles.is_empty()
    {
        return Ok(None);
    }
    let relative = material_path(tarball);
    write_json_atomic(&workspace.path(&relative), &result.material)?;
    Ok(Some(relative))
}

//! Signatures and attestations of pinned images, under `require_signature` and `attest_mode`.
//!
//! `discover` finds what is published for a digest (legacy cosign tags `sha256-<hex>.sig` /
//! `.att`, the OCI referrers API and its `sha256-<hex>` fallback); `verifiers` checks each
//! artefact with the entry's signer — a PEM key (`keyed`) or a keyless identity and issuer
//! against the repository's Sigstore trust root (`keyless`); this module turns the outcomes into
//! findings and a report; `material` keeps what verified for offline runs. Every signed payload
//! or statement must name the pinned digest. "Nothing found", "found but invalid" and "could
//! not ask" are different findings. Results go to `build/rocm_provenance.json`:
//!
//! ```json
//! {"timestamp": "…", "images": [{"image": "ghcr.io/rocm/dev:6.4.4-ubuntu-22.04", "digest": "sha256:…",
//!   "signature_status": "verified", "signer": "ci/provenance_keys/rocm.pub", "issuer": null,
//!   "log_index": null, "attestations": [{"predicate_type": "https://slsa.dev/provenance/v1",
//!   "digest": "sha256:…", "status": "verified"}], "decision": "pass", "details": []}]}
//! ```

mod discover;
pub mod keyed;
pub mod keyless;
mod material;
mod verifiers;

use serde::Serialize;

pub use material::{Material, Role, StoredBundle, check_offline, material_path, store_material};

use crate::config::{AttestMode, Config, Entry, Policy, Signer, Workspace};
use crate::findings::{Code, Finding, Findings};
use crate::fsutil::{FsError, write_json_atomic};
use crate::reference::Digest;
use crate::registry::Client;
use discover::{discover, fetch_bundle, layers};
use verifiers::{Outcome, Verifiers, check_legacy_attestation, check_legacy_signature};

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

#[derive(Debug, Clone, Serialize)]
pub struct ProvenanceReport {
    pub timestamp: String,
    pub images: Vec<ImageProvenance>,
}

/// Whether the policy or the entry asks for any provenance check.
pub fn wanted(policy: &Policy, entry: &Entry) -> bool {
    policy.require_signature || policy.attest_mode != AttestMode::None || entry.provenance.is_some()
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

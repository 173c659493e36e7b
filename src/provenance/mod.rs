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

use base64::Engine as _;
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
    /// (base64 payload, base64 DER signature) of simple-signing signatures.
    pub signatures: Vec<(String, String)>,
    /// base64 DSSE envelopes.
    pub attestations: Vec<String>,
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
    annotations: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct ReferrersIndex {
    #[serde(default)]
    manifests: Vec<Referrer>,
}

#[derive(Deserialize)]
struct Referrer {
    #[serde(rename = "artifactType", default)]
    artifact_type: Option<String>,
}

/// Whether the policy or the entry asks for any provenance check.
pub fn wanted(policy: &Policy, entry: &Entry) -> bool {
    policy.require_signature || policy.attest_mode != AttestMode::None || entry.provenance.is_some()
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
    let mut result = ImageProvenance {
        image: upstream.clone().with_digest(None).to_string(),
        digest: pin.to_string(),
        signature_status: "unverified",
        signer: None,
        issuer: None,
        log_index: None,
        attestations: Vec::new(),
        decision: "not-required",
        details: Vec::new(),
        material: Material {
            digest: pin.to_string(),
            ..Material::default()
        },
    };
    let key = match &entry.provenance {
        Some(Signer::Key(path)) => match std::fs::read_to_string(workspace.path(path))
            .map_err(|e| e.to_string())
            .and_then(|pem| keyed::parse_key(&pem))
        {
            Ok(key) => {
                result.signer = Some(path.display().to_string());
                Some(key)
            }
            Err(why) => {
                findings.push(
                    Finding::new(
                        Code::ConfigInvalid,
                        format!("{label}: provenance key {}: {why}", path.display()),
                    )
                    .about(subject.clone()),
                );
                None
            }
        },
        Some(Signer::Keyless { identity, issuer }) => {
            result.signer = Some(identity.clone());
            result.issuer = Some(issuer.clone());
            None
        }
        None => None,
    };

    let tag_base = format!("sha256-{}", pin.hex());
    let discovered = async {
        let sig = manifest_at(client, &upstream, &format!("{tag_base}.sig")).await?;
        let att = manifest_at(client, &upstream, &format!("{tag_base}.att")).await?;
        let referrers = match client.referrers(&upstream, &pin).await? {
            Some(bytes) => serde_json::from_slice::<ReferrersIndex>(&bytes)
                .map(|i| i.manifests)
                .unwrap_or_default(),
            None => match client
                .manifest(
                    &upstream
                        .clone()
                        .with_digest(None)
                        .with_tag(&tag_base)
                        .expect("valid tag"),
                )
                .await
            {
                Ok(index) => serde_json::from_slice::<ReferrersIndex>(&index.bytes)
                    .map(|i| i.manifests)
                    .unwrap_or_default(),
                Err(RegistryError::NotFound { .. }) => Vec::new(),
                Err(e) => return Err(e),
            },
        };
        Ok::<_, RegistryError>((sig, att, referrers))
    };
    let (sig, att, referrers) = match discovered.await {
        Ok(found) => found,
        Err(error) => {
            findings.push(
                Finding::new(
                    Code::ProvenanceUnreachable,
                    format!("{label}: could not ask the registry for signatures: {error}"),
                )
                .about(subject),
            );
            result.signature_status = "unverified";
            result.decision = if policy.require_signature {
                "fail"
            } else {
                "not-required"
            };
            return Some(result);
        }
    };
    let bundles = referrers
        .iter()
        .filter(|r| {
            r.artifact_type
                .as_deref()
                .is_some_and(|t| t.starts_with(BUNDLE))
        })
        .count();

    // Signatures.
    let mut invalid = Vec::new();
    let mut verified = false;
    let mut unverifiable = bundles;
    for layer in sig
        .iter()
        .flat_map(|m| &m.layers)
        .filter(|l| l.media_type == SIMPLE_SIGNING)
    {
        let (Some(key), Some(signature)) = (&key, layer.annotations.get(SIGNATURE_ANNOTATION))
        else {
            unverifiable += 1;
            continue;
        };
        if layer
            .annotations
            .contains_key("dev.sigstore.cosign/certificate")
            && !matches!(entry.provenance, Some(Signer::Key(_)))
        {
            unverifiable += 1;
            continue;
        }
        match client
            .blob_bytes(&upstream, &layer.digest, MAX_ARTEFACT)
            .await
        {
            Ok(payload) => match keyed::verify_simple_signing(key, &payload, signature, &pin) {
                Ok(()) => {
                    verified = true;
                    result
                        .material
                        .signatures
                        .push((B64.encode(&payload), signature.clone()));
                }
                Err(why) => invalid.push(why),
            },
            Err(e) => invalid.push(format!("signature payload {}: {e}", layer.digest)),
        }
    }
    if verified {
        result.signature_status = "verified";
        findings.push(
            Finding::new(
                Code::SignatureVerified,
                format!(
                    "{label}: signature verified with {}",
                    result.signer.clone().unwrap_or_default()
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
    } else if unverifiable > 0 {
        let why = format!(
            "{label}: {unverifiable} signature artefact(s) found that this build cannot verify (keyless certificates and Sigstore bundles are not supported yet{})",
            if key.is_none() && !matches!(entry.provenance, Some(Signer::Keyless { .. })) {
                "; no `provenance: {key: …}` is configured"
            } else {
                ""
            }
        );
        let code = if policy.require_signature {
            Code::SignatureUnverifiable
        } else {
            Code::SignatureSkipped
        };
        findings.push(Finding::new(code, why).about(subject.clone()));
    } else if policy.require_signature {
        findings.push(Finding::new(Code::SignatureMissing, format!("{label}: no signature found for {pin} (looked for {tag_base}.sig, referrers, {tag_base})")).about(subject.clone()));
    }
    result.details.extend(invalid);

    // Attestations.
    let mut attestation_ok = true;
    if policy.attest_mode != AttestMode::None || att.is_some() {
        for layer in att
            .iter()
            .flat_map(|m| &m.layers)
            .filter(|l| l.media_type == DSSE)
        {
            let outcome = match (
                &key,
                client
                    .blob_bytes(&upstream, &layer.digest, MAX_ARTEFACT)
                    .await,
            ) {
                (Some(key), Ok(envelope)) => keyed::verify_dsse(key, &envelope, &pin),
                (None, Ok(_)) => Err("no key configured to verify it".to_owned()),
                (_, Err(e)) => Err(e.to_string()),
            };
            match outcome {
                Ok(predicate) => result.attestations.push(AttestationResult {
                    predicate_type: Some(predicate),
                    digest: layer.digest.to_string(),
                    status: "verified",
                }),
                Err(why) => {
                    result.attestations.push(AttestationResult {
                        predicate_type: layer.annotations.get("predicateType").cloned(),
                        digest: layer.digest.to_string(),
                        status: "failed",
                    });
                    if key.is_some() {
                        findings.push(
                            Finding::new(
                                Code::AttestationInvalid,
                                format!("{label}: attestation {} is invalid: {why}", layer.digest),
                            )
                            .about(subject.clone()),
                        );
                    }
                }
            }
        }
        let wanted_type = policy.attest_predicate_type.as_deref();
        let good = result.attestations.iter().any(|a| {
            a.status == "verified"
                && wanted_type.is_none_or(|t| a.predicate_type.as_deref() == Some(t))
        });
        attestation_ok = good || policy.attest_mode != AttestMode::Enforce;
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
    }
    let failed = result.signature_status == "failed"
        || !attestation_ok
        || (policy.require_signature && result.signature_status != "verified")
        || result
            .attestations
            .iter()
            .any(|a| a.status == "failed" && key.is_some());
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
    let key = match &entry.provenance {
        Some(Signer::Key(path)) => std::fs::read_to_string(workspace.path(path))
            .ok()
            .and_then(|pem| keyed::parse_key(&pem).ok()),
        _ => None,
    };
    let (Some(material), Some(key)) = (material, key) else {
        if policy.require_signature {
            findings.push(Finding::new(Code::SignatureUnverifiable, format!("{label}: offline, and no stored signature material (cache-build keeps it beside the tarball) or no key to check it")).about(subject));
        }
        return;
    };
    let mut verified = false;
    for (payload, signature) in &material.signatures {
        match B64
            .decode(payload)
            .map_err(|e| e.to_string())
            .and_then(|p| keyed::verify_simple_signing(&key, &p, signature, &pin))
        {
            Ok(()) => verified = true,
            Err(why) => findings.push(
                Finding::new(
                    Code::SignatureInvalid,
                    format!("{label}: stored signature is invalid: {why}"),
                )
                .about(subject.clone()),
            ),
        }
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
    let verified_types: Vec<String> = material
        .attestations
        .iter()
        .filter_map(|e| B64.decode(e).ok())
        .filter_map(|e| keyed::verify_dsse(&key, &e, &pin).ok())
        .collect();
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
    if result.material.signatures.is_empty() && result.material.attestations.is_empty() {
        return Ok(None);
    }
    let relative = material_path(tarball);
    write_json_atomic(&workspace.path(&relative), &result.material)?;
    Ok(Some(relative))
}

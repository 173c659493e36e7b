//! Verified signature material kept beside a cached tarball (`images/<name>.provenance.json`),
//! so that the offline bootstrap can verify it again without a registry.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::verifiers::{Expect, Outcome, Verifiers};
use super::{B64, ImageProvenance, keyed, wanted};
use crate::config::{AttestMode, Config, Entry, Workspace};
use crate::findings::{Code, Finding, Findings};
use crate::fsutil::{FsError, write_json_atomic};

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

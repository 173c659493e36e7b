//! Keyless (Fulcio certificate) signatures and Sigstore bundles, verified with `sigstore-verify`
//! against a `trusted_root.json` from the repository: certificate chain, SCT, Rekor signed entry
//! timestamp, inclusion proof and checkpoint where present. Nothing is fetched.
//!
//! Legacy cosign artefacts (a `.sig` / `.att` layer with `dev.sigstore.cosign/certificate` and
//! `dev.sigstore.cosign/bundle` annotations) are rewritten into the v0.1 bundle they amount to,
//! so that one verifier checks every keyless form. The identity is a regular expression applied
//! to the verified certificate's SAN; the OIDC issuer must match exactly. Both are required.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;
use sigstore_verify::types::{Artifact, Bundle, DerPublicKey, Sha256Hash};
use sigstore_verify::{PublicKeyVerificationPolicy, VerificationPolicy, Verifier};

use crate::reference::Digest;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
const LOG_BUNDLE: &str = "dev.sigstore.cosign/bundle";
const SIGNATURE: &str = "dev.cosignproject.cosign/signature";

/// The trust root: Fulcio CAs, CT logs and Rekor keys from a `trusted_root.json`.
pub struct TrustRoot {
    verifier: Verifier,
}

impl std::fmt::Debug for TrustRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TrustRoot")
    }
}

impl TrustRoot {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
        let root = sigstore_verify::trust_root::TrustedRoot::from_json(&text)
            .map_err(|e| format!("not a Sigstore trusted root: {e}"))?;
        let verifier = Verifier::new(&root).map_err(|e| format!("unusable trust material: {e}"))?;
        Ok(Self { verifier })
    }
}

/// Who may sign: an identity pattern and an issuer (keyless), or a public key (keyed bundles).
pub enum Expected<'a> {
    Identity {
        identity: &'a regex_lite::Regex,
        issuer: &'a str,
    },
    Key(&'a str),
}

/// What a verified bundle says about its signer and log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub identity: Option<String>,
    pub issuer: Option<String>,
    pub log_index: Option<u64>,
    /// The in-toto predicate type, for DSSE bundles.
    pub predicate_type: Option<String>,
}

/// What the signed content is bound to.
pub enum Subject<'a> {
    /// The image digest itself (DSSE statements, message signatures over the manifest).
    Image(&'a Digest),
    /// A payload that must be checked on its own (legacy simple-signing), given whole.
    Payload(&'a [u8]),
}

#[derive(Deserialize)]
struct Statement {
    #[serde(rename = "predicateType")]
    predicate_type: String,
}

/// Verifies one bundle (JSON) against the trust root and the expected signer.
pub fn verify_bundle(
    root: &TrustRoot,
    bundle_json: &str,
    subject: Subject<'_>,
    expected: &Expected<'_>,
) -> Result<Verified, String> {
    let bundle =
        Bundle::from_json(bundle_json).map_err(|e| format!("not a Sigstore bundle: {e}"))?;
    let artifact: Artifact<'_> = match subject {
        Subject::Image(digest) => Sha256Hash::from_hex(digest.hex())
            .map_err(|e| e.to_string())?
            .into(),
        Subject::Payload(payload) => payload.into(),
    };
    let result = match expected {
        Expected::Identity { .. } => {
            root.verifier
                .verify(artifact, &bundle, &VerificationPolicy::any_identity())
        }
        Expected::Key(pem) => {
            let key = DerPublicKey::from_pem(pem).map_err(|e| format!("the key: {e}"))?;
            root.verifier
                .verify(artifact, &bundle, &PublicKeyVerificationPolicy::new(key))
        }
    }
    .map_err(|e| e.to_string())?;

    let identity = result.identity().map(|san| san.as_str().to_owned());
    let issuer = result.issuer().map(str::to_owned);
    if let Expected::Identity {
        identity: pattern,
        issuer: wanted,
    } = expected
    {
        let matches = identity.as_deref().is_some_and(|i| pattern.is_match(i))
            && issuer.as_deref() == Some(*wanted);
        if !matches {
            return Err(format!(
                "signed by {} (issuer {}), which is not the expected identity /{}/ with issuer {wanted}",
                identity.as_deref().unwrap_or("no identity"),
                issuer.as_deref().unwrap_or("none"),
                pattern.as_str()
            ));
        }
    }
    let predicate_type = match &bundle.content {
        sigstore_verify::types::SignatureContent::DsseEnvelope(envelope) => {
            serde_json::from_slice::<Statement>(envelope.payload.as_bytes())
                .ok()
                .map(|s| s.predicate_type)
        }
        _ => None,
    };
    let log_index = serde_json::from_str::<serde_json::Value>(bundle_json)
        .ok()
        .and_then(|v| {
            let index = &v["verificationMaterial"]["tlogEntries"][0]["logIndex"];
            index
                .as_str()
                .and_then(|s| s.parse().ok())
                .or(index.as_u64())
        });
    Ok(Verified {
        identity,
        issuer,
        log_index,
        predicate_type,
    })
}

/// The predicate type a bundle's DSSE statement claims, before anything is verified: only to
/// tell signatures from attestations.
pub fn peek_predicate_type(bundle_json: &str) -> Option<String> {
    let bundle: serde_json::Value = serde_json::from_str(bundle_json).ok()?;
    let payload = B64
        .decode(bundle["dsseEnvelope"]["payload"].as_str()?)
        .ok()?;
    serde_json::from_slice::<Statement>(&payload)
        .ok()
        .map(|s| s.predicate_type)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LegacyLogBundle {
    signed_entry_timestamp: String,
    payload: LegacyLogPayload,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LegacyLogPayload {
    body: String,
    integrated_time: i64,
    log_index: u64,
    #[serde(rename = "logID")]
    log_id: String,
}

#[derive(Deserialize)]
struct LogBody {
    kind: String,
    #[serde(rename = "apiVersion")]
    api_version: String,
}

/// Whether a legacy layer carries a keyless certificate.
pub fn is_keyless(annotations: &BTreeMap<String, String>) -> bool {
    annotations.contains_key(CERTIFICATE)
}

/// The v0.1 bundle a legacy keyless layer amounts to. `blob` is the layer: the simple-signing
/// payload (`.sig`) or the DSSE envelope (`.att`).
pub fn legacy_bundle(
    blob: &[u8],
    annotations: &BTreeMap<String, String>,
    dsse: bool,
) -> Result<String, String> {
    let certificate = annotations
        .get(CERTIFICATE)
        .ok_or("no certificate annotation")?;
    let leaf = pem_certificate(certificate)?;
    let log: LegacyLogBundle = serde_json::from_str(
        annotations
            .get(LOG_BUNDLE)
            .ok_or("no transparency-log bundle annotation: nothing proves when it was signed")?,
    )
    .map_err(|e| format!("transparency-log bundle annotation: {e}"))?;
    let body: LogBody = B64
        .decode(&log.payload.body)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("transparency-log entry body is not a Rekor entry")?;
    let log_id = hex_bytes(&log.payload.log_id).ok_or("logID is not hex")?;
    let entry = json!({
        "logIndex": log.payload.log_index.to_string(),
        "logId": {"keyId": B64.encode(log_id)},
        "kindVersion": {"kind": body.kind, "version": body.api_version},
        "integratedTime": log.payload.integrated_time.to_string(),
        "inclusionPromise": {"signedEntryTimestamp": log.signed_entry_timestamp},
        "canonicalizedBody": log.payload.body,
    });
    let material = json!({
        "x509CertificateChain": {"certificates": [{"rawBytes": B64.encode(leaf)}]},
        "tlogEntries": [entry],
    });
    let bundle = if dsse {
        let envelope: serde_json::Value =
            serde_json::from_slice(blob).map_err(|e| format!("not a DSSE envelope: {e}"))?;
        json!({
            "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
            "verificationMaterial": material,
            "dsseEnvelope": envelope,
        })
    } else {
        let signature = annotations
            .get(SIGNATURE)
            .ok_or("no signature annotation")?;
        json!({
            "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
            "verificationMaterial": material,
            "messageSignature": {
                "messageDigest": {"algorithm": "SHA2_256", "digest": B64.encode(<sha2::Sha256 as sha2::Digest>::digest(blob))},
                "signature": signature,
            },
        })
    };
    Ok(bundle.to_string())
}

fn pem_certificate(pem: &str) -> Result<Vec<u8>, String> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END CERTIFICATE-----"))
        .collect();
    if body.is_empty() {
        return Err("the certificate annotation is not a PEM certificate".to_owned());
    }
    B64.decode(body.trim())
        .map_err(|e| format!("the certificate annotation is not PEM: {e}"))
}

fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    text.len()
        .is_multiple_of(2)
        .then(|| {
            (0..text.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
                .collect()
        })
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_pem_helpers_refuse_junk() {
        assert_eq!(hex_bytes("0aff"), Some(vec![0x0a, 0xff]));
        assert_eq!(hex_bytes("0af"), None);
        assert_eq!(hex_bytes("zz"), None);
        assert!(pem_certificate("nothing here").is_err());
        let pem = "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_certificate(pem).unwrap(), vec![0, 1, 2]);
    }

    #[test]
    fn the_shipped_public_good_trust_root_loads() {
        let shipped =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("ci/provenance_keys/trusted_root.json");
        TrustRoot::load(&shipped).unwrap();
        let error = TrustRoot::load(Path::new("/nonexistent/trusted_root.json")).unwrap_err();
        assert!(error.starts_with("cannot read it"), "{error}");
    }

    #[test]
    fn a_legacy_layer_without_log_evidence_is_refused_with_the_reason() {
        let mut annotations = BTreeMap::new();
        annotations.insert(
            CERTIFICATE.to_owned(),
            "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n".to_owned(),
        );
        let error = legacy_bundle(b"{}", &annotations, false).unwrap_err();
        assert!(
            error.contains("nothing proves when it was signed"),
            "{error}"
        );
    }
}

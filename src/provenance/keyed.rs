//! Keyed cosign artefacts: simple-signing signatures and DSSE attestations, verified with a
//! P-256 public key (PEM). Both must name the pinned digest.

use base64::Engine as _;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::Deserialize;

use crate::reference::Digest;

pub fn parse_key(pem: &str) -> Result<VerifyingKey, String> {
    VerifyingKey::from_public_key_pem(pem).map_err(|e| format!("not a P-256 public key (PEM): {e}"))
}

fn b64(text: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("bad base64: {e}"))
}

fn verify_der(key: &VerifyingKey, message: &[u8], signature_b64: &str) -> Result<(), String> {
    let der = b64(signature_b64)?;
    let signature =
        Signature::from_der(&der).map_err(|e| format!("signature is not ECDSA DER: {e}"))?;
    key.verify(message, &signature)
        .map_err(|_| "the signature does not verify with the configured key".to_owned())
}

#[derive(Deserialize)]
struct SimpleSigning {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    image: CriticalImage,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct CriticalImage {
    #[serde(rename = "docker-manifest-digest")]
    digest: String,
}

/// A legacy `.sig` layer: the payload and its `dev.cosignproject.cosign/signature` annotation.
pub fn verify_simple_signing(
    key: &VerifyingKey,
    payload: &[u8],
    signature_b64: &str,
    pinned: &Digest,
) -> Result<(), String> {
    verify_der(key, payload, signature_b64)?;
    simple_signing_names(payload, pinned)
}

/// Whether a (verified) simple-signing payload is a cosign image signature for `pinned`.
pub fn simple_signing_names(payload: &[u8], pinned: &Digest) -> Result<(), String> {
    let parsed: SimpleSigning = serde_json::from_slice(payload)
        .map_err(|e| format!("payload is not a cosign simple-signing document: {e}"))?;
    if parsed.critical.kind != "cosign container image signature" {
        return Err(format!("payload type is `{}`", parsed.critical.kind));
    }
    if parsed.critical.image.digest != pinned.to_string() {
        return Err(format!(
            "the signature is for {}, not the pinned {pinned}",
            parsed.critical.image.digest
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "payloadType")]
    payload_type: String,
    payload: String,
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Deserialize)]
struct EnvelopeSignature {
    sig: String,
}

#[derive(Deserialize)]
struct Statement {
    #[serde(rename = "predicateType")]
    predicate_type: String,
    subject: Vec<Subject>,
}

#[derive(Deserialize)]
struct Subject {
    digest: std::collections::BTreeMap<String, String>,
}

/// The DSSE pre-authentication encoding the signature covers.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// A verified attestation's predicate type.
pub fn verify_dsse(key: &VerifyingKey, envelope: &[u8], pinned: &Digest) -> Result<String, String> {
    let envelope: Envelope =
        serde_json::from_slice(envelope).map_err(|e| format!("not a DSSE envelope: {e}"))?;
    let body = b64(&envelope.payload)?;
    let message = pae(&envelope.payload_type, &body);
    if !envelope
        .signatures
        .iter()
        .any(|s| verify_der(key, &message, &s.sig).is_ok())
    {
        return Err("no signature of the envelope verifies with the configured key".into());
    }
    let statement: Statement = serde_json::from_slice(&body)
        .map_err(|e| format!("payload is not an in-toto statement: {e}"))?;
    let names_pin = statement
        .subject
        .iter()
        .any(|s| s.digest.get(pinned.algorithm()).map(String::as_str) == Some(pinned.hex()));
    if !names_pin {
        return Err(format!(
            "the statement's subjects do not include the pinned {pinned}"
        ));
    }
    Ok(statement.predicate_type)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer;
    use p256::pkcs8::EncodePublicKey;

    fn keys() -> (SigningKey, VerifyingKey) {
        let signing = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let verifying = *signing.verifying_key();
        (signing, verifying)
    }

    fn sign(key: &SigningKey, message: &[u8]) -> String {
        let signature: Signature = key.sign(message);
        base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes())
    }

    #[test]
    fn simple_signing_names_the_pin() {
        let (signing, verifying) = keys();
        let pin: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        let payload = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"x"}},"image":{{"docker-manifest-digest":"{pin}"}},"type":"cosign container image signature"}},"optional":null}}"#
        );
        let sig = sign(&signing, payload.as_bytes());
        assert_eq!(
            verify_simple_signing(&verifying, payload.as_bytes(), &sig, &pin),
            Ok(())
        );
        let other: Digest = format!("sha256:{}", "b".repeat(64)).parse().unwrap();
        assert!(
            verify_simple_signing(&verifying, payload.as_bytes(), &sig, &other)
                .unwrap_err()
                .contains("not the pinned")
        );
        let tampered = payload.replace("\"x\"", "\"y\"");
        assert!(verify_simple_signing(&verifying, tampered.as_bytes(), &sig, &pin).is_err());
        let pem = verifying.to_public_key_pem(Default::default()).unwrap();
        assert_eq!(parse_key(&pem).unwrap(), verifying);
    }

    #[test]
    fn dsse_checks_pae_and_subject() {
        let (signing, verifying) = keys();
        let pin: Digest = format!("sha256:{}", "c".repeat(64)).parse().unwrap();
        let statement = format!(
            r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"x","digest":{{"sha256":"{}"}}}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{{}}}}"#,
            pin.hex()
        );
        let sig = sign(
            &signing,
            &pae("application/vnd.in-toto+json", statement.as_bytes()),
        );
        let envelope = serde_json::json!({
            "payloadType": "application/vnd.in-toto+json",
            "payload": base64::engine::general_purpose::STANDARD.encode(&statement),
            "signatures": [{"keyid": "", "sig": sig}]
        })
        .to_string();
        assert_eq!(
            verify_dsse(&verifying, envelope.as_bytes(), &pin).unwrap(),
            "https://slsa.dev/provenance/v1"
        );
        let other: Digest = format!("sha256:{}", "d".repeat(64)).parse().unwrap();
        assert!(verify_dsse(&verifying, envelope.as_bytes(), &other).is_err());
    }
}

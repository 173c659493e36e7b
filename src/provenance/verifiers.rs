//! What verifies an entry's artefacts: its signer (a key or a keyless identity) and the trust
//! root, applied to each legacy layer or bundle. Every artefact ends as verified, invalid or
//! unverifiable.

use base64::Engine as _;
use p256::ecdsa::VerifyingKey;

use super::discover::Layer;
use super::material::{Material, Role, StoredBundle};
use super::{B64, MAX_ARTEFACT, SIGNATURE_ANNOTATION, keyed, keyless};
use crate::config::{Entry, Policy, Signer, Workspace};
use crate::findings::{Code, Finding, Findings};
use crate::reference::{Digest, Reference};
use crate::registry::Client;

/// The signer an entry names, ready to verify with.
pub(super) enum Expect {
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
pub(super) struct Verifiers {
    pub(super) expect: Expect,
    /// The trust root file (as found, as named in the policy), read when the first bundle
    /// needs it, or at once for a keyless signer.
    trust_root: (std::path::PathBuf, std::path::PathBuf),
    trust: std::cell::OnceCell<Result<keyless::TrustRoot, String>>,
}

impl Verifiers {
    /// Reads the key or compiles the identity; problems with either are findings.
    pub(super) fn for_entry(
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
        let verifiers = Self {
            expect,
            trust_root: (
                workspace.path(&policy.trusted_root),
                policy.trusted_root.clone(),
            ),
            trust: std::cell::OnceCell::new(),
        };
        if let (Expect::Identity { .. }, Err(why)) = (&verifiers.expect, verifiers.trust()) {
            findings.push(
                Finding::new(
                    Code::ConfigInvalid,
                    format!("{label}: keyless signatures need a Sigstore {why}"),
                )
                .about(subject.to_owned()),
            );
        }
        verifiers
    }

    fn trust(&self) -> &Result<keyless::TrustRoot, String> {
        self.trust.get_or_init(|| {
            let (path, named) = &self.trust_root;
            keyless::TrustRoot::load(path)
                .map_err(|why| format!("trust root {}: {why}", named.display()))
        })
    }

    pub(super) fn configured(&self) -> bool {
        !matches!(self.expect, Expect::Nobody)
    }

    /// Verifies a bundle: against the identity or key, the trust root, and the pinned digest.
    pub(super) fn bundle(&self, stored: &StoredBundle, pin: &Digest) -> Outcome {
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
        let trust = match self.trust() {
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
pub(super) enum Outcome {
    Verified(Evidence),
    Invalid(String),
    Unverifiable(String),
}

pub(super) struct Evidence {
    pub(super) signer: Option<String>,
    pub(super) issuer: Option<String>,
    pub(super) log_index: Option<u64>,
    pub(super) predicate_type: Option<String>,
    pub(super) material: Stored,
}

pub(super) enum Stored {
    Signature(String, String),
    Envelope(String),
    Bundle(StoredBundle),
}

impl Material {
    pub(super) fn keep(&mut self, stored: Stored) {
        match stored {
            Stored::Signature(payload, signature) => self.signatures.push((payload, signature)),
            Stored::Envelope(envelope) => self.attestations.push(envelope),
            Stored::Bundle(bundle) => self.bundles.push(bundle),
        }
    }
}

/// A legacy `.sig` layer: keyed (signature annotation) or keyless (certificate + log bundle).
pub(super) async fn check_legacy_signature(
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
pub(super) async fn check_legacy_attestation(
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

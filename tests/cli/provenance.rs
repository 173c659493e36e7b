//! Signatures and attestations with real cosign-format artefacts made here (keyed P-256),
//! pushed to the real registry under the legacy tags `sha256-<hex>.sig` / `.att`.

use base64::Engine as _;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::EncodePublicKey;

use crate::common::*;
use crate::harness::*;

const TAG: &str = "6.4.4-ubuntu-22.04";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_slice(&[seed; 32]).unwrap()
}

fn sign(key: &SigningKey, message: &[u8]) -> String {
    let signature: Signature = key.sign(message);
    B64.encode(signature.to_der().as_bytes())
}

fn simple_signing(reference: &str, digest: &str) -> String {
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{reference}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
    )
}

/// Pushes a one-layer cosign artefact (`sha256-<hex>.<suffix>`) for the image `digest`.
pub fn push_artefact(
    registry: &Registry,
    digest: &str,
    suffix: &str,
    media_type: &str,
    blob: &str,
    annotations: serde_json::Value,
) {
    let config = put_blob(&registry.host, "rocm/dev", b"{}");
    let layer = put_blob(&registry.host, "rocm/dev", blob.as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
        "layers": [{"mediaType": media_type, "digest": layer, "size": blob.len(), "annotations": annotations}]
    });
    let tag = format!("sha256-{}.{suffix}", digest.trim_start_matches("sha256:"));
    put_manifest(
        &registry.host,
        "rocm/dev",
        &tag,
        "application/vnd.oci.image.manifest.v1+json",
        &manifest.to_string(),
    );
}

/// Pushes a `.sig` artefact: `payload` with its (base64 DER) `signature`.
fn push_signature(registry: &Registry, digest: &str, payload: &str, signature: &str) {
    let annotations = serde_json::json!({"dev.cosignproject.cosign/signature": signature});
    push_artefact(
        registry,
        digest,
        "sig",
        "application/vnd.dev.cosign.simplesigning.v1+json",
        payload,
        annotations,
    );
}

/// Pushes a `.att` artefact: a DSSE envelope signed by `key` over a statement about `subject_digest`.
fn push_attestation(
    registry: &Registry,
    digest: &str,
    key: &SigningKey,
    subject_digest: &str,
    predicate: &str,
) {
    let statement = format!(
        r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"rocm/dev","digest":{{"sha256":"{}"}}}}],"predicateType":"{predicate}","predicate":{{}}}}"#,
        subject_digest.trim_start_matches("sha256:")
    );
    let pae = format!(
        "DSSEv1 28 application/vnd.in-toto+json {} {statement}",
        statement.len()
    );
    let envelope = serde_json::json!({"payloadType": "application/vnd.in-toto+json", "payload": B64.encode(&statement), "signatures": [{"keyid": "", "sig": sign(key, pae.as_bytes())}]}).to_string();
    let annotations =
        serde_json::json!({"dev.cosignproject.cosign/signature": "", "predicateType": predicate});
    push_artefact(
        registry,
        digest,
        "att",
        "application/vnd.dsse.envelope.v1+json",
        &envelope,
        annotations,
    );
}

pub struct Setup {
    pub registry: Registry,
    pub digest: String,
    pub ctx: TestContext,
}

/// An image in a fresh registry; its matrix entry ends with `signer` (a `provenance:` block).
pub fn setup_signed(signer: &str, policy: &str) -> Setup {
    let registry = Registry::anonymous();
    let mut layout = Layout::new();
    let digest = layout.name_image("a", "amd64", "signed image");
    registry.push(layout.path(), "a", &format!("rocm/dev:{TAG}"), None, None);
    let ctx = TestContext::with_image(
        &format!("{}/rocm/dev", registry.host),
        None,
        &format!(
            "{}{signer}",
            entry("6.4.4", "ubuntu-22.04", &digest, "2026-12-01")
        ),
        policy,
    );
    Setup {
        registry,
        digest,
        ctx,
    }
}

/// The entry names `ci/provenance_keys/rocm.pub`, the public half of `key(1)`.
pub const KEYED: &str = "      provenance:\n        key: ci/provenance_keys/rocm.pub\n";

fn setup(policy: &str) -> Setup {
    let s = setup_signed(KEYED, policy);
    let pem = key(1)
        .verifying_key()
        .to_public_key_pem(Default::default())
        .unwrap();
    s.ctx.write("ci/provenance_keys/rocm.pub", &pem);
    s
}

/// `cache-build` keeps the verified material beside the tarball; with the registry gone,
/// `offline-bootstrap` verifies it again. Returns the workspace, the material's path and JSON.
pub fn keep_and_check_offline(s: Setup) -> (TestContext, &'static str, serde_json::Value) {
    let run = s
        .ctx
        .run(&["cache-build", "--release", "6.4.4", "--os", "ubuntu-22.04"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let stored = "images/dev-6.4.4-ubuntu-22.04.provenance.json";
    let material = s.ctx.json(stored);
    assert_eq!(material["digest"], s.digest.as_str());
    drop(s.registry); // offline from here on

    let run = s.ctx.run(&["offline-bootstrap"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("stored signature verified offline"),
        "{}",
        run.stderr
    );
    (s.ctx, stored, material)
}

/// With `tampered` stored as the material, the offline bootstrap refuses it (exit 3).
pub fn refuses_tampered_material(ctx: &TestContext, stored: &str, tampered: &serde_json::Value) {
    ctx.write(stored, &tampered.to_string());
    let run = ctx.run(&["offline-bootstrap"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("error[signature-invalid]: 6.4.4/ubuntu-22.04: stored signature is invalid"),
        "{}",
        run.stderr
    );
}

fn status(ctx: &TestContext) -> (String, String) {
    let report = ctx.json("build/rocm_provenance.json");
    let image = &report["images"][0];
    (
        image["signature_status"].as_str().unwrap().to_owned(),
        image["decision"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn a_verified_keyed_signature_passes_and_is_recorded() {
    let s = setup(
        "  require_signature: true\n  attest_mode: enforce\n  attest_predicate_type: https://slsa.dev/provenance/v1\n",
    );
    let reference = format!("{}/rocm/dev:{TAG}", s.registry.host);
    push_signature(
        &s.registry,
        &s.digest,
        &simple_signing(&reference, &s.digest),
        &sign(&key(1), simple_signing(&reference, &s.digest).as_bytes()),
    );
    push_attestation(
        &s.registry,
        &s.digest,
        &key(1),
        &s.digest,
        "https://slsa.dev/provenance/v1",
    );
    let run = s.ctx.run(&["verify"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("note[signature-verified]"),
        "{}",
        run.stderr
    );
    assert_eq!(status(&s.ctx), ("verified".to_owned(), "pass".to_owned()));
    let report = s.ctx.json("build/rocm_provenance.json");
    assert_eq!(report["images"][0]["signer"], "ci/provenance_keys/rocm.pub");
    assert_eq!(
        report["images"][0]["attestations"][0]["predicate_type"],
        "https://slsa.dev/provenance/v1"
    );
    assert_eq!(report["images"][0]["attestations"][0]["status"], "verified");
}

#[test]
fn missing_and_invalid_signatures_are_graded_by_mode() {
    // (case, how to sign, expected finding, exit codes for strict / warn / auto_update)
    let cases: [(&str, &str); 5] = [
        ("unsigned", "signature-missing"),
        ("another key", "signature-invalid"),
        ("another digest", "signature-invalid"),
        ("tampered payload", "signature-invalid"),
        ("wrong attestation", "attestation-missing"),
    ];
    for (case, code) in cases {
        for (mode, exit) in [("strict", 3), ("warn", 1), ("auto_update", 1)] {
            let attest = if case == "wrong attestation" {
                "  attest_mode: enforce\n  attest_predicate_type: https://slsa.dev/provenance/v1\n"
            } else {
                ""
            };
            let mut s = setup(&format!(
                "  mode: {mode}\n  require_signature: true\n{attest}"
            ));
            let reference = format!("{}/rocm/dev:{TAG}", s.registry.host);
            let good = simple_signing(&reference, &s.digest);
            match case {
                "unsigned" => {}
                "another key" => push_signature(
                    &s.registry,
                    &s.digest,
                    &good,
                    &sign(&key(2), good.as_bytes()),
                ),
                "another digest" => {
                    let other = format!("sha256:{}", "e".repeat(64));
                    let payload = simple_signing(&reference, &other);
                    push_signature(
                        &s.registry,
                        &s.digest,
                        &payload,
                        &sign(&key(1), payload.as_bytes()),
                    );
                }
                "tampered payload" => push_signature(
                    &s.registry,
                    &s.digest,
                    &good.replace("rocm/dev", "rocm/evil"),
                    &sign(&key(1), good.as_bytes()),
                ),
                _ => {
                    push_signature(
                        &s.registry,
                        &s.digest,
                        &good,
                        &sign(&key(1), good.as_bytes()),
                    );
                    push_attestation(
                        &s.registry,
                        &s.digest,
                        &key(1),
                        &s.digest,
                        "https://example.com/other-predicate",
                    );
                }
            }
            let github = TestServer::start(|_| Some(Response::new(204, "")));
            s.ctx.set("GITHUB_API_URL", &github.url());
            s.ctx.set("GITHUB_REPOSITORY", "acme/rocm");
            s.ctx.set("GITHUB_TOKEN", "ghs_x");
            let run = s.ctx.run(&["verify"]);
            assert_eq!(run.code, exit, "{case} / {mode}: {}", run.stderr);
            assert!(
                run.stderr.contains(&format!("[{code}]")),
                "{case} / {mode}: {}",
                run.stderr
            );
            let (_, decision) = status(&s.ctx);
            assert_eq!(decision, "fail", "{case} / {mode}");
            assert_eq!(
                github.requests().len(),
                usize::from(mode == "auto_update"),
                "{case} / {mode}: dispatch only in auto_update"
            );
        }
    }
}

#[test]
fn an_invalid_signature_is_never_ignored_and_nothing_found_is_fine_when_not_required() {
    let s = setup("  mode: strict\n");
    let run = s.ctx.run(&["verify"]);
    assert_eq!(run.code, 0, "not required, nothing found: {}", run.stderr);
    assert_eq!(
        status(&s.ctx),
        ("unverified".to_owned(), "not-required".to_owned())
    );
    let reference = format!("{}/rocm/dev:{TAG}", s.registry.host);
    let good = simple_signing(&reference, &s.digest);
    push_signature(
        &s.registry,
        &s.digest,
        &good,
        &sign(&key(9), good.as_bytes()),
    );
    let run = s.ctx.run(&["verify"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("error[signature-invalid]")
            && run
                .stderr
                .contains("does not verify with the configured key"),
        "{}",
        run.stderr
    );
}

#[test]
fn update_never_records_a_digest_whose_signature_fails() {
    let s = setup("  require_signature: true\n");
    let mut layout = Layout::new();
    let unsigned = layout.name_image("b", "amd64", "unsigned 6.4.5");
    s.registry.push(
        layout.path(),
        "b",
        "rocm/dev:6.4.5-ubuntu-22.04",
        None,
        None,
    );
    let signed = layout.name_image("c", "amd64", "signed 6.4.6");
    s.registry.push(
        layout.path(),
        "c",
        "rocm/dev:6.4.6-ubuntu-22.04",
        None,
        None,
    );
    let reference = format!("{}/rocm/dev:6.4.6-ubuntu-22.04", s.registry.host);
    let payload = simple_signing(&reference, &signed);
    push_signature(
        &s.registry,
        &signed,
        &payload,
        &sign(&key(1), payload.as_bytes()),
    );
    let before = s.ctx.read("ci/rocm_matrix.yml");
    let run = s.ctx.run(&["update", "--os", "ubuntu-22.04"]);
    assert!(
        run.stderr
            .contains(&format!("6.4.5/ubuntu-22.04: {unsigned} is not recorded")),
        "{}",
        run.stderr
    );
    let after = s.ctx.read("ci/rocm_matrix.yml");
    assert!(
        !after.contains(&unsigned),
        "the unsigned digest must not be recorded"
    );
    assert!(after.contains(&signed), "the signed one is: {after}");
    assert!(
        after.starts_with(&before[..before.len() - 1]),
        "the existing entry is untouched"
    );
    assert!(
        after.ends_with(&format!(
            "digest: \"{signed}\"\n      added: 2026-12-03\n      provenance:\n        key: ci/provenance_keys/rocm.pub\n"
        )),
        "the new entry keeps the signer it was verified with: {after}"
    );
    // So the new pin verifies as it stands in the matrix.
    let run = s.ctx.run(&["verify", &format!("{reference}@{signed}")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("signature verified"), "{}", run.stderr);
}

#[test]
fn cache_build_keeps_the_signature_so_offline_runs_can_check_it() {
    let s = setup("  require_signature: true\n");
    let reference = format!("{}/rocm/dev:{TAG}", s.registry.host);
    let payload = simple_signing(&reference, &s.digest);
    push_signature(
        &s.registry,
        &s.digest,
        &payload,
        &sign(&key(1), payload.as_bytes()),
    );
    let (ctx, stored, material) = keep_and_check_offline(s);
    assert_eq!(ctx.json("build/rocm_snapshot.json")["mode"], "local");

    let mut tampered = material.clone();
    let forged = simple_signing(&reference, &format!("sha256:{}", "f".repeat(64)));
    tampered["signatures"][0][0] = serde_json::Value::String(B64.encode(forged));
    refuses_tampered_material(&ctx, stored, &tampered);
}

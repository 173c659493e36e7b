//! Keyless signatures and Sigstore bundles made at test time with real Sigstore tooling
//! (@sigstore/mock for a throw-away Fulcio CA, CT log and Rekor log; @sigstore/oci to attach
//! bundles), pushed to the real registry and checked against the repository's trust root.

use p256::pkcs8::EncodePublicKey;
use serde_json::{Value, json};

use crate::common::Run;
use crate::harness::*;
use crate::provenance::{
    KEYED, Setup, keep_and_check_offline, push_artefact, refuses_tampered_material, setup_signed,
};

const ISSUER: &str = "https://token.actions.githubusercontent.com";
const GOOD: &str = "https://github.com/rocm/ci/.github/workflows/build.yml@refs/heads/main";
const SLSA: &str = "https://slsa.dev/provenance/v1";

/// The rocm/ci workflows as keyless signer.
const KEYLESS: &str = "      provenance:\n        identity: 'https://github\\.com/rocm/ci/\\.github/workflows/.+@refs/heads/main'\n        issuer: https://token.actions.githubusercontent.com\n";

/// An image in a fresh registry whose entry expects the rocm/ci workflows as keyless signer.
fn setup(policy: &str) -> Setup {
    setup_signed(KEYLESS, policy)
}

impl Setup {
    /// Makes and publishes `artefacts` (see sign.js) for the image.
    fn sign(&self, artefacts: Value) {
        let legacy = sigstore_sign(
            &self.registry,
            &self.digest,
            &self.ctx.path("ci/provenance_keys/trusted_root.json"),
            artefacts,
        );
        for layer in legacy {
            if layer["kind"] == "key" {
                let pem = layer["pem"].as_str().unwrap();
                self.ctx.write("ci/provenance_keys/rocm.pub", pem);
                continue;
            }
            let suffix = if layer["kind"] == "legacy-sig" {
                "sig"
            } else {
                "att"
            };
            push_artefact(
                &self.registry,
                &self.digest,
                suffix,
                layer["mediaType"].as_str().unwrap(),
                layer["blob"].as_str().unwrap(),
                layer["annotations"].clone(),
            );
        }
    }

    fn image(&self) -> Value {
        self.ctx.json("build/rocm_provenance.json")["images"][0].clone()
    }
}

/// Runs `verify` with `policy_body` under strict, warn and auto_update (the policy rewritten each
/// time) beside a GitHub stand-in; asserts each exit code, and that the update workflow is
/// dispatched exactly in auto_update when `dispatches`. `check` sees each mode's run and the
/// image's entry in build/rocm_provenance.json.
fn verify_in_each_mode(
    s: &mut Setup,
    policy_body: &str,
    exits: [i32; 3],
    dispatches: bool,
    check: impl Fn(&str, &Run, &Value),
) {
    let github = TestServer::start(|_| Some(Response::new(204, "")));
    s.ctx.set("GITHUB_API_URL", &github.url());
    s.ctx.set("GITHUB_REPOSITORY", "acme/rocm");
    s.ctx.set("GITHUB_TOKEN", "ghs_x");
    let mut dispatched = 0;
    for (mode, exit) in ["strict", "warn", "auto_update"].into_iter().zip(exits) {
        s.ctx.write(
            "ci/rocm_policy.yml",
            &format!("policy:\n  mode: {mode}\n{policy_body}"),
        );
        let run = s.ctx.run(&["verify"]);
        assert_eq!(run.code, exit, "{mode}: {}", run.stderr);
        check(mode, &run, &s.image());
        dispatched += usize::from(dispatches && mode == "auto_update");
        assert_eq!(github.requests().len(), dispatched, "{mode}: dispatches");
    }
}

fn signature(kind: &str, content: &str) -> Value {
    json!({"kind": kind, "content": content, "san": GOOD, "issuer": ISSUER})
}

#[test]
fn every_keyless_form_verifies_against_the_repository_trust_root() {
    // Each form alone must verify: a legacy keyless .sig (certificate + SET), a v0.3 bundle with a
    // DSSE statement (cosign sign v3), a v0.3 bundle with a message signature over the manifest.
    for (kind, content) in [
        ("legacy-sig", "message-signature"),
        ("bundle", "dsse-envelope"),
        ("bundle", "message-signature"),
    ] {
        let mut s = setup("  require_signature: true\n");
        s.sign(json!([signature(kind, content)]));
        let policy = "  require_signature: true\n";
        verify_in_each_mode(&mut s, policy, [0, 0, 0], false, |mode, run, _| {
            assert!(
                run.stderr.contains(&format!(
                    "note[signature-verified]: 6.4.4/ubuntu-22.04: signature verified ({GOOD}, issuer {ISSUER})"
                )),
                "{kind} / {content} / {mode}: {}",
                run.stderr
            );
        });
        let image = s.image();
        assert_eq!(image["signature_status"], "verified", "{kind} / {content}");
        assert_eq!(image["decision"], "pass");
        assert_eq!(image["signer"], GOOD);
        assert_eq!(image["issuer"], ISSUER);
        assert_eq!(image["log_index"], 0);
    }
}

#[test]
fn a_keyed_bundle_verifies_with_the_repository_key_and_its_log_entry() {
    let policy = "  require_signature: true\n";
    let mut s = setup_signed(KEYED, policy);
    s.sign(json!([{"kind": "bundle", "keyed": true}]));
    verify_in_each_mode(&mut s, policy, [0, 0, 0], false, |mode, _, image| {
        assert_eq!(image["signature_status"], "verified", "{mode}");
        assert_eq!(image["signer"], "ci/provenance_keys/rocm.pub");
        assert_eq!(image["log_index"], 0);
    });

    // Another key in the repository: the same bundle is found but invalid.
    let other = p256::ecdsa::SigningKey::from_slice(&[3; 32])
        .unwrap()
        .verifying_key()
        .to_public_key_pem(Default::default())
        .unwrap();
    s.ctx.write("ci/provenance_keys/rocm.pub", &other);
    verify_in_each_mode(&mut s, policy, [3, 1, 1], true, |mode, run, image| {
        assert!(
            run.stderr.contains("[signature-invalid]")
                && run.stderr.contains("signature verification failed"),
            "{mode}: {}",
            run.stderr
        );
        assert_eq!(image["signature_status"], "failed");
    });
}

#[test]
fn keyless_attestations_are_recorded_and_enforced() {
    let s = setup(&format!(
        "  require_signature: true\n  attest_mode: enforce\n  attest_predicate_type: {SLSA}\n"
    ));
    s.sign(json!([
        signature("bundle", "dsse-envelope"),
        {"kind": "bundle", "san": GOOD, "issuer": ISSUER, "predicateType": SLSA},
        {"kind": "legacy-att", "san": GOOD, "issuer": ISSUER, "predicateType": "https://spdx.dev/Document"},
    ]));
    let run = s.ctx.run(&["verify"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let image = s.image();
    let mut kinds: Vec<(String, String)> = image["attestations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["predicate_type"].as_str().unwrap().to_owned(),
                a["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            (
                "https://slsa.dev/provenance/v1".to_owned(),
                "verified".to_owned()
            ),
            (
                "https://spdx.dev/Document".to_owned(),
                "verified".to_owned()
            ),
        ]
    );
    assert!(
        image["attestations"][0]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
}

#[test]
fn keyless_failures_are_graded_by_mode() {
    // (case, artefacts, expected finding); each under strict / warn / auto_update.
    let evil = "https://github.com/evil/fork/.github/workflows/build.yml@refs/heads/main";
    let cases = [
        (
            "identity does not match",
            json!([{"kind": "bundle", "san": evil, "issuer": ISSUER}]),
            "signature-invalid",
            "which is not the expected identity",
        ),
        (
            "identity only contains the pattern",
            json!([{"kind": "bundle", "san": format!("{GOOD}x"), "issuer": ISSUER}]),
            "signature-invalid",
            "which is not the expected identity",
        ),
        (
            "issuer does not match",
            json!([{"kind": "legacy-sig", "san": GOOD, "issuer": "https://accounts.google.com"}]),
            "signature-invalid",
            "issuer https://accounts.google.com",
        ),
        (
            "bundle with log evidence from another log key",
            json!([{"kind": "bundle", "san": GOOD, "issuer": ISSUER, "forge": "rogue-log"}]),
            "signature-invalid",
            "SET verification failed",
        ),
        (
            "bundle with a forged checkpoint",
            json!([{"kind": "bundle", "san": GOOD, "issuer": ISSUER, "forge": "rogue-checkpoint"}]),
            "signature-invalid",
            "No valid Rekor signature found on checkpoint",
        ),
        (
            "legacy signature with a forged integrated time",
            json!([{"kind": "legacy-sig", "san": GOOD, "issuer": ISSUER, "forge": "late-time"}]),
            "signature-invalid",
            "SET verification failed",
        ),
        (
            "statement about another digest",
            json!([{"kind": "bundle", "san": GOOD, "issuer": ISSUER, "subject": format!("sha256:{}", "e".repeat(64))}]),
            "signature-invalid",
            "artifact hash does not match any subject",
        ),
        (
            "legacy payload naming another digest",
            json!([{"kind": "legacy-sig", "san": GOOD, "issuer": ISSUER, "subject": format!("sha256:{}", "e".repeat(64))}]),
            "signature-invalid",
            "not the pinned",
        ),
        (
            "unsigned",
            json!([]),
            "signature-missing",
            "no signature found",
        ),
    ];
    for (case, artefacts, code, says) in cases {
        let mut s = setup("  require_signature: true\n");
        s.sign(artefacts);
        let policy = "  require_signature: true\n";
        verify_in_each_mode(&mut s, policy, [3, 1, 1], true, |mode, run, image| {
            assert!(
                run.stderr.contains(&format!("[{code}]")) && run.stderr.contains(says),
                "{case} / {mode}: {}",
                run.stderr
            );
            assert_eq!(image["decision"], "fail", "{case} / {mode}");
            assert_ne!(image["signature_status"], "verified", "{case} / {mode}");
        });
    }
}

#[test]
fn a_keyless_signature_is_kept_for_offline_runs_and_checked_again() {
    let s = setup("  require_signature: true\n");
    s.sign(json!([signature("bundle", "dsse-envelope")]));
    let (ctx, stored, material) = keep_and_check_offline(s);
    assert_eq!(material["bundles"][0]["role"], "signature");

    // A stored bundle whose log time was altered no longer verifies.
    let mut tampered = material.clone();
    let mut bundle: Value =
        serde_json::from_str(material["bundles"][0]["bundle"].as_str().unwrap()).unwrap();
    bundle["verificationMaterial"]["tlogEntries"][0]["integratedTime"] = json!("1700000000");
    tampered["bundles"][0]["bundle"] = Value::String(bundle.to_string());
    refuses_tampered_material(&ctx, stored, &tampered);
}

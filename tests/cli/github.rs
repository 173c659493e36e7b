//! Inside GitHub Actions: annotations with file and line, step outputs, step summary.

use crate::common::*;

#[test]
fn annotations_outputs_and_summary() {
    let ctx = TestContext::with(
        &entry("6.4.4", "ubuntu-22.04", DIGEST_A, "2026-11-01"),
        "  mode: warn\n",
    );
    let outputs = ctx.path("gh_output");
    let summary = ctx.path("gh_summary");
    let output = ctx
        .command(&["offline-bootstrap"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("::warning file=ci/rocm_matrix.yml,line=9,col=14,title=digest-stale::6.4.4/ubuntu-22.04: digest recorded 32 days ago"),
        "{stderr}"
    );
    let outputs = std::fs::read_to_string(outputs).unwrap();
    assert!(
        outputs.contains(&format!(
            "image=ghcr.io/rocm/dev:6.4.4-ubuntu-22.04@{DIGEST_A}\n"
        )),
        "{outputs}"
    );
    assert!(outputs.contains("mode=offline\n"), "{outputs}");
    assert!(
        outputs.contains(&format!("digest={DIGEST_A}\n")),
        "{outputs}"
    );
    let summary = std::fs::read_to_string(summary).unwrap();
    assert!(
        summary.contains("### rocforge-ci offline-bootstrap — warning (exit 1)"),
        "{summary}"
    );
    assert!(
        summary.contains("| `ghcr.io/rocm/dev:6.4.4-ubuntu-22.04@sha256:aaaa"),
        "{summary}"
    );
    assert!(
        summary.contains("| warning | `digest-stale` |"),
        "{summary}"
    );
}

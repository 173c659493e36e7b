//! Bad input as a new user writes it: one clear message naming file and line, exit 2, and
//! nothing on disk changed.

use crate::common::*;

const GOOD_ENTRY: &str = "    - version: \"6.4.4\"\n      os: ubuntu-22.04\n";

fn assert_rejected(ctx: &TestContext, expected: &[&str]) {
    // A previous good run left files behind; a bad run must not touch them.
    ctx.write("build/run.json", "{\"previous\": true}\n");
    ctx.write(
        ".ci_mode",
        "{\"mode\": \"local\", \"snapshot\": null, \"timestamp\": null}\n",
    );
    let before = ctx.tree();
    for args in [
        &["offline-bootstrap"][..],
        &["resolve", "--offline"],
        &["verify", "--offline"],
        &["matrix", "check"],
    ] {
        let run = ctx.run(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        for needle in expected {
            assert!(
                run.stderr.contains(needle),
                "{args:?}: expected {needle:?} in\n{}",
                run.stderr
            );
        }
        assert_eq!(ctx.tree(), before, "{args:?} changed files");
    }
}

#[test]
fn missing_matrix() {
    let ctx = TestContext::empty();
    ctx.write("ci/rocm_policy.yml", "policy:\n  mode: strict\n");
    assert_rejected(
        &ctx,
        &["error[config-missing]: ci/rocm_matrix.yml not found"],
    );
}

#[test]
fn yaml_syntax_error() {
    let ctx = TestContext::with(GOOD_ENTRY, "");
    ctx.write(
        "ci/rocm_matrix.yml",
        "rocm:\n  image: ghcr.io/rocm/dev\n  images: [\n",
    );
    assert_rejected(
        &ctx,
        &[
            "error[config-syntax]: YAML syntax error",
            "--> ci/rocm_matrix.yml:3:",
        ],
    );
}

#[test]
fn wrong_type() {
    let ctx = TestContext::with(GOOD_ENTRY, "  digest_ttl: [7]\n");
    assert_rejected(
        &ctx,
        &[
            "error[config-type]: `digest_ttl` must be a whole number of days, found a list",
            "--> ci/rocm_policy.yml:2:15",
        ],
    );
}

#[test]
fn unknown_key() {
    let ctx = TestContext::with(&format!("{GOOD_ENTRY}      arch: amd64\n"), "");
    assert_rejected(
        &ctx,
        &[
            "error[config-unknown-key]: unknown key `arch`",
            "expected one of: version, os",
            "--> ci/rocm_matrix.yml:8:7",
        ],
    );
}

#[test]
fn digest_without_algorithm() {
    let hex = "a".repeat(64);
    let ctx = TestContext::with(
        &format!("{GOOD_ENTRY}      digest: {hex}\n      added: 2026-12-01\n"),
        "",
    );
    assert_rejected(
        &ctx,
        &["error[digest-malformed]", "--> ci/rocm_matrix.yml:8:15"],
    );
}

#[test]
fn impossible_date() {
    let ctx = TestContext::with(&entry("6.4.4", "ubuntu-22.04", DIGEST_A, "2026-02-30"), "");
    assert_rejected(
        &ctx,
        &[
            "error[date-invalid]: `added: 2026-02-30` is not a calendar date",
            "--> ci/rocm_matrix.yml:9:14",
        ],
    );
}

#[test]
fn keyless_identity_that_is_not_a_regexp_and_an_escaping_trust_root() {
    let ctx = TestContext::with(
        &format!(
            "{}      provenance:\n        identity: 'https://github.com/(rocm'\n        issuer: https://token.actions.githubusercontent.com\n",
            entry("6.4.4", "ubuntu-22.04", DIGEST_A, "2026-12-01")
        ),
        "  trusted_root: ../outside/trusted_root.json\n",
    );
    assert_rejected(
        &ctx,
        &[
            "error[config-invalid]: `identity: https://github.com/(rocm` is not a regular expression",
            "--> ci/rocm_matrix.yml:11:19",
            "error[path-unsafe]: `trusted_root: ../outside/trusted_root.json`",
            "--> ci/rocm_policy.yml:2:17",
        ],
    );
}

#[test]
fn empty_matrix() {
    let ctx = TestContext::with("", "");
    ctx.write(
        "ci/rocm_matrix.yml",
        "rocm:\n  image: ghcr.io/rocm/dev\n  images: []\n",
    );
    assert_rejected(
        &ctx,
        &["error[matrix-empty]", "--> ci/rocm_matrix.yml:3:11"],
    );
    ctx.write("ci/rocm_matrix.yml", "");
    assert_rejected(&ctx, &["error[config-syntax]: ci/rocm_matrix.yml is empty"]);
}

#[test]
fn conflicting_alias_and_every_problem_at_once() {
    let entries = format!(
        "{}{}    - version: \"6.4.5\"\n      os: ubuntu-22.04\n      tarball: ../../etc/passwd\n",
        entry("6.4.4", "ubuntu-22.04", "sha256:abc", "2026-12-01"),
        entry("6.4.4", "ubuntu-22.04", DIGEST_A, "2026-13-01"),
    );
    let ctx = TestContext::with(
        &entries,
        "  mode: strict\n  on_mismatch: warn\n  attest_mode: always\n",
    );
    let run = ctx.run(&["matrix", "check", "--json"]);
    assert_eq!(run.code, 2);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let codes: Vec<(String, u64)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_owned(),
                f["location"]["line"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let expected = [
        ("digest-malformed", 8),
        ("date-invalid", 13),
        ("path-unsafe", 16),
        ("entry-duplicate", 10),
        ("config-invalid", 3),
        ("config-invalid", 4),
    ];
    for (code, line) in expected {
        assert!(
            codes.contains(&(code.to_owned(), line)),
            "missing {code} at line {line}: {codes:?}"
        );
    }
    assert_eq!(codes.len(), expected.len(), "{codes:?}");
    assert_eq!(json["status"], "failure");
}

#[test]
fn bad_arguments_exit_2() {
    let ctx = TestContext::with_repo_config();
    let run = ctx.run(&["resolve", "--offline", "--auto"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = ctx.run(&["no-such-command"]);
    assert_eq!(run.code, 2);
}

#[test]
fn matrix_check_json_is_stable() {
    let ctx = TestContext::with(
        &format!(
            "{}    - version: \"6.4.4\"\n      os: ubuntu-20.04\n      digest: \"\"\n",
            entry("6.4.4", "ubuntu-22.04", DIGEST_A, "2026-12-01")
        ),
        "  mode: warn\n",
    );
    let run = ctx.run(&["matrix", "check", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!(run.stdout);
}

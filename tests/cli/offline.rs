//! The offline path end to end: resolve, verify, offline-bootstrap, mode.

use crate::common::*;

#[test]
fn offline_bootstrap_on_the_committed_config_succeeds_and_records_everything() {
    let ctx = TestContext::with_repo_config();
    let run = ctx.run(&["offline-bootstrap"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), "ghcr.io/rocm/dev:6.4.4-ubuntu-22.04");
    assert!(
        run.stderr.contains("note[digest-not-recorded]"),
        "{}",
        run.stderr
    );

    let snapshot = ctx.json("build/rocm_snapshot.json");
    for key in [
        "mode",
        "timestamp",
        "image",
        "canonical",
        "digest",
        "resolved_at",
        "policy_mode",
        "tarball",
        "sha256",
        "repository",
        "tag",
        "version",
        "os",
    ] {
        assert!(
            snapshot.get(key).is_some(),
            "snapshot lacks {key}: {snapshot}"
        );
    }
    assert_eq!(snapshot["mode"], "offline");
    assert_eq!(
        snapshot["digest"], "",
        "an unrecorded digest is never invented"
    );
    assert_eq!(snapshot["timestamp"], snapshot["resolved_at"]);
    assert_eq!(snapshot["timestamp"], "2026-12-03T12:00:00Z");
    assert_eq!(
        snapshot["canonical"],
        "rocforge/rocm-dev:6.4.4-ubuntu-22.04"
    );
    assert_eq!(snapshot["policy_mode"], "strict");

    let run_record = ctx.json("build/run.json");
    assert_eq!(run_record["mode"], "offline");
    assert_eq!(run_record["verify_status"], "skipped");
    assert_eq!(run_record["clamp_manifest_path"], serde_json::Value::Null);
    assert!(run_record["verify_message"].is_string());
    assert_eq!(run_record["exit_code"], 0);

    let mode = ctx.json(".ci_mode");
    assert_eq!(mode["mode"], "offline");
    assert_eq!(mode["snapshot"], "build/rocm_snapshot.json");
}

#[test]
fn candidates_follow_preferred_os_then_fallback_newest_first() {
    let entries = [
        entry("6.4.4", "ubuntu-24.04", DIGEST_A, "2026-12-01"),
        entry("6.4.4", "ubuntu-22.04", DIGEST_A, "2026-12-01"),
        entry("6.4.10", "ubuntu-22.04", DIGEST_B, "2026-12-01"),
        entry("6.5.0", "rhel-9", DIGEST_B, "2026-12-01"),
    ]
    .concat();
    let ctx = TestContext::with(&entries, "  preferred_os: [ubuntu-22.04]\n");
    let run = ctx.run(&["resolve", "--offline"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout.trim(),
        format!("ghcr.io/rocm/dev:6.4.10-ubuntu-22.04@{DIGEST_B}")
    );

    let json: serde_json::Value =
        serde_json::from_str(&ctx.run(&["resolve", "--offline", "--json"]).stdout).unwrap();
    assert_eq!(
        json["data"]["fallbacks"],
        serde_json::json!(["6.4.4/ubuntu-22.04", "6.5.0/rhel-9", "6.4.4/ubuntu-24.04"])
    );
    assert_eq!(json["outputs"]["mode"], "offline");
    assert_eq!(json["outputs"]["digest"], DIGEST_B);

    let run = ctx.run(&["resolve", "--offline", "--os", "ubuntu-24.04"]);
    assert_eq!(
        run.stdout.trim(),
        format!("ghcr.io/rocm/dev:6.4.4-ubuntu-24.04@{DIGEST_A}")
    );
    let run = ctx.run(&[
        "resolve",
        "--offline",
        "--os",
        "ubuntu-22.04",
        "--version",
        "6.4.4",
    ]);
    assert_eq!(
        run.stdout.trim(),
        format!("ghcr.io/rocm/dev:6.4.4-ubuntu-22.04@{DIGEST_A}")
    );

    let run = ctx.run(&["resolve", "--offline", "--os", "debian-12"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("error[entry-not-found]: the matrix has no entry for OS debian-12"),
        "{}",
        run.stderr
    );
}

#[test]
fn stale_digests_warn_in_every_mode() {
    for mode in ["strict", "warn", "auto_update"] {
        let ctx = TestContext::with(
            &entry("6.4.4", "ubuntu-22.04", DIGEST_A, "2026-11-26"),
            &format!("  mode: {mode}\n  digest_ttl: 7\n"),
        );
        let run = ctx.run(&["verify", "--offline"]);
        assert_eq!(run.code, 1, "{mode}: {}", run.stderr);
        assert!(
            run.stderr
                .contains("warning[digest-stale]: 6.4.4/ubuntu-22.04: digest recorded 7 days ago"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("--> ci/rocm_matrix.yml:9:14"),
            "{}",
            run.stderr
        );
    }
    // One day younger is within the TTL.
    let ctx = TestContext::with(
        &entry("6.4.4", "ubuntu-22.04", DIGEST_A, "2026-11-27"),
        "  digest_ttl: 7\n",
    );
    assert_eq!(ctx.run(&["verify", "--offline"]).code, 0);
}

#[test]
fn a_reference_with_another_digest_is_graded_by_mode() {
    let reference = format!("ghcr.io/rocm/dev:6.4.4-ubuntu-22.04@{DIGEST_B}");
    for (mode, code, severity) in [
        ("strict", 2, "error"),
        ("warn", 1, "warning"),
        ("auto_update", 1, "warning"),
        ("on_mismatch_warn", 1, "warning"),
    ] {
        let policy = match mode {
            "on_mismatch_warn" => "  on_mismatch: warn\n".to_owned(),
            m => format!("  mode: {m}\n"),
        };
        let ctx = TestContext::with(
            &entry("6.4.4", "ubuntu-22.04", DIGEST_A, "2026-12-01"),
            &policy,
        );
        let run = ctx.run(&["verify", "--offline", &reference]);
        assert_eq!(run.code, code, "{mode}: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!("{severity}[digest-mismatch]")),
            "{}",
            run.stderr
        );
    }
    let ctx = TestContext::with(&entry("6.4.4", "ubuntu-22.04", DIGEST_A, "2026-12-01"), "");
    let same = format!("ghcr.io/rocm/dev:6.4.4-ubuntu-22.04@{DIGEST_A}");
    assert_eq!(ctx.run(&["verify", "--offline", &same]).code, 0);
    // The mirror name of an entry is the same image.
    let mirror = format!("ghcr.io/zerkol83/rocm-dev:6.4.4-ubuntu-22.04@{DIGEST_A}");
    assert_eq!(ctx.run(&["verify", "--offline", &mirror]).code, 0);
    let run = ctx.run(&["verify", "--offline", "ghcr.io/rocm/dev:9.9-ubuntu-22.04"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("error[entry-not-found]"),
        "{}",
        run.stderr
    );
    let run = ctx.run(&["verify", "--offline", "Not A Reference"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("error[usage-error]"), "{}", run.stderr);
}

#[test]
fn a_verified_tarball_makes_the_mode_local_and_a_changed_one_fails() {
    let tarball_bytes =
        &rocforge_ci::archive::gzip::member(b"pretend this is a docker-archive").unwrap();
    let sha = rocforge_ci::hashing::sha256_bytes(tarball_bytes);
    let entries = format!(
        "{}      tarball: images/rocm.tar.gz\n      sha256: {sha}\n",
        entry("6.4.4", "ubuntu-22.04", DIGEST_A, "2026-12-01")
    );
    let ctx = TestContext::with(&entries, "");
    // No tarball yet: offline.
    let run = ctx.run(&["offline-bootstrap"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("note[tarball-missing]"),
        "{}",
        run.stderr
    );
    assert_eq!(ctx.json("build/rocm_snapshot.json")["mode"], "offline");

    std::fs::create_dir_all(ctx.path("images")).unwrap();
    std::fs::write(ctx.path("images/rocm.tar.gz"), tarball_bytes).unwrap();
    let run = ctx.run(&["offline-bootstrap"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("⚠️ Detected mode change: previous=offline, current=local"),
        "{}",
        run.stderr
    );
    let snapshot = ctx.json("build/rocm_snapshot.json");
    assert_eq!(snapshot["mode"], "local");
    assert_eq!(snapshot["sha256"], sha.as_str());
    assert_eq!(snapshot["tarball"], "images/rocm.tar.gz");
    assert_eq!(ctx.json(".ci_mode")["mode"], "local");

    // Same size, one byte different: a different image, whatever the mode.
    // Intact gzip, other content: a different image, whatever the mode.
    let other = rocforge_ci::archive::gzip::member(b"pretend this is a docker-archivE").unwrap();
    std::fs::write(ctx.path("images/rocm.tar.gz"), other).unwrap();
    let run = ctx.run(&["verify", "--offline"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("error[tarball-mismatch]"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("expected {sha}")),
        "{}",
        run.stderr
    );
    let run = ctx.run(&["resolve", "--offline"]);
    assert_eq!(run.code, 2);
    assert_eq!(ctx.json("build/rocm_snapshot.json")["mode"], "offline");

    // Not even gzip: damaged in transit, a warning, and the run falls back.
    std::fs::write(ctx.path("images/rocm.tar.gz"), b"<html>proxy error</html>").unwrap();
    let run = ctx.run(&["offline-bootstrap"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("warning[tarball-corrupt]") && run.stderr.contains("not gzip"),
        "{}",
        run.stderr
    );
    assert_eq!(ctx.json("build/rocm_snapshot.json")["mode"], "offline");
}

#[test]
fn mode_show_and_reset_keep_the_earlier_tools_keys() {
    let ctx = TestContext::with_repo_config();
    let shown: serde_json::Value =
        serde_json::from_str(&ctx.run(&["mode", "show"]).stdout).unwrap();
    assert_eq!(
        shown,
        serde_json::json!({"mode": null, "snapshot": null, "timestamp": null})
    );
    assert_eq!(ctx.run(&["offline-bootstrap"]).code, 0);
    let shown: serde_json::Value =
        serde_json::from_str(&ctx.run(&["mode", "show"]).stdout).unwrap();
    assert_eq!(shown["mode"], "offline");
    let reset: serde_json::Value =
        serde_json::from_str(&ctx.run(&["mode", "reset"]).stdout).unwrap();
    assert_eq!(
        reset,
        serde_json::json!({"mode": null, "snapshot": null, "status": "reset", "timestamp": "2026-12-03T12:00:00Z"})
    );
    assert!(!ctx.path(".ci_mode").exists());
    let again: serde_json::Value =
        serde_json::from_str(&ctx.run(&["mode", "reset"]).stdout).unwrap();
    assert_eq!(again["status"], "noop");
}

#[test]
fn the_offline_script_runs_the_same_flow() {
    let ctx = TestContext::with_repo_config();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ci_offline_bootstrap.sh");
    let output = std::process::Command::new("bash")
        .arg(script)
        .current_dir(ctx.dir.path())
        .env("ROCFORGE_CI", env!("CARGO_BIN_EXE_rocforge-ci"))
        .env("ROCFORGE_NOW", NOW)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(ctx.json("build/run.json")["command"], "offline-bootstrap");
}

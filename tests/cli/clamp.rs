//! Clamp on ROCm-like trees built here: a versioned directory behind a symlink chain, library
//! symlink chains, version sources and a fake `rocminfo`.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use crate::common::*;

/// `opt/rocm → etc/alternatives/rocm → opt/rocm-6.4.4`, inside the test's directory.
struct RocmTree {
    base: PathBuf,
}

impl RocmTree {
    fn build(base: &Path) -> Self {
        let root = base.join("opt/rocm-6.4.4");
        for dir in [".info", "lib", "bin", "include/rocm-core", "share/doc"] {
            fs::create_dir_all(root.join(dir)).unwrap();
        }
        fs::write(root.join(".info/version"), "6.4.4-129\n").unwrap();
        fs::write(
            root.join("include/rocm-core/rocm_version.h"),
            "#define ROCM_VERSION_MAJOR 6\n#define ROCM_VERSION_MINOR 4\n#define ROCM_VERSION_PATCH 4\n",
        )
        .unwrap();
        for (lib, content) in [
            ("libamdhip64", "hip runtime"),
            ("libhsa-runtime64", "hsa"),
            ("librocblas", "blas"),
        ] {
            fs::write(root.join(format!("lib/{lib}.so.6.4.60404")), content).unwrap();
            symlink(
                format!("{lib}.so.6.4.60404"),
                root.join(format!("lib/{lib}.so.6")),
            )
            .unwrap();
            symlink(format!("{lib}.so.6"), root.join(format!("lib/{lib}.so"))).unwrap();
        }
        fs::write(root.join("share/doc/README"), "docs").unwrap();
        let tree = Self {
            base: base.to_path_buf(),
        };
        tree.set_agent("gfx90a");
        script(&root.join("bin/hipconfig"), "echo 6.4.43484-123");
        fs::create_dir_all(base.join("etc/alternatives")).unwrap();
        symlink(&root, base.join("etc/alternatives/rocm")).unwrap();
        symlink(base.join("etc/alternatives/rocm"), base.join("opt/rocm")).unwrap();
        tree
    }

    fn target(&self) -> String {
        self.base.join("opt/rocm").display().to_string()
    }

    fn root(&self) -> PathBuf {
        self.base.join("opt/rocm-6.4.4")
    }

    fn set_agent(&self, gfx: &str) {
        script(
            &self.root().join("bin/rocminfo"),
            &format!(
                "printf '*******\\nAgent 1\\n*******\\n  Name:   {gfx}\\n  Marketing Name: Test GPU\\n  Device Type: GPU\\n'"
            ),
        );
    }
}

fn script(path: &Path, body: &str) {
    fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A workspace whose commands see no ROCm variables from the machine running the tests.
fn context() -> (TestContext, RocmTree) {
    let mut ctx = TestContext::with_repo_config();
    ctx.env.push(("PATH".into(), "/usr/bin:/bin".into()));
    let tree = RocmTree::build(&ctx.path("sys"));
    ctx.env.push(("HIP_VISIBLE_DEVICES".into(), "0".into()));
    (ctx, tree)
}

fn clean(ctx: &TestContext, args: &[&str]) -> Run {
    let mut cmd = ctx.command(args);
    for var in [
        "ROCM_PATH",
        "ROCM_HOME",
        "HIP_PATH",
        "HIP_PLATFORM",
        "ROCR_VISIBLE_DEVICES",
        "GPU_DEVICE_ORDINAL",
        "HSA_OVERRIDE_GFX_VERSION",
        "HCC_AMDGPU_TARGET",
        "PYTORCH_ROCM_ARCH",
        "LD_LIBRARY_PATH",
    ] {
        cmd.env_remove(var);
    }
    cmd.output().unwrap().into()
}

fn mismatches(run: &Run) -> Vec<(String, String)> {
    let json: serde_json::Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    json["data"]["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["field"].as_str().unwrap().to_owned(),
                m["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn capture_then_verify_passes() {
    let (ctx, tree) = context();
    let run = clean(&ctx, &["clamp", "capture", "--target", &tree.target()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let manifest = ctx.json("build/clamp/manifest.json");
    assert_eq!(manifest["root"], tree.root().display().to_string());
    assert_eq!(manifest["symlink_chain"].as_array().unwrap().len(), 3);
    assert_eq!(manifest["rocm_version"], "6.4.4");
    let sources: Vec<&str> = manifest["version_sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"].as_str().unwrap())
        .collect();
    assert_eq!(
        sources,
        [
            ".info/version",
            "include/rocm-core/rocm_version.h",
            "bin/hipconfig --version"
        ]
    );
    assert_eq!(manifest["libraries"][0]["name"], "libamdhip64");
    assert_eq!(
        manifest["libraries"][0]["resolved"],
        "lib/libamdhip64.so.6.4.60404"
    );
    assert_eq!(manifest["agents"][0]["name"], "gfx90a");
    assert_eq!(manifest["environment"]["HIP_VISIBLE_DEVICES"], "0");
    let link = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "lib/libamdhip64.so")
        .unwrap();
    assert_eq!(link["type"], "symlink");
    assert_eq!(link["target"], "libamdhip64.so.6");
    assert!(
        ctx.read("build/clamp/env.sh")
            .contains("export HIP_VISIBLE_DEVICES='0'")
    );

    let run = clean(&ctx, &["clamp", "verify", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(mismatches(&run), Vec::<(String, String)>::new());
    // Directory timestamps are no drift.
    std::thread::sleep(std::time::Duration::from_millis(20));
    fs::write(tree.root().join("share/doc/tmp"), "x").unwrap();
    fs::remove_file(tree.root().join("share/doc/tmp")).unwrap();
    assert_eq!(clean(&ctx, &["clamp", "verify"]).code, 0);
}

#[test]
fn every_kind_of_drift_is_reported_with_its_reason() {
    let (ctx, tree) = context();
    assert_eq!(
        clean(&ctx, &["clamp", "capture", "--target", &tree.target()]).code,
        0
    );
    let root = tree.root();
    fs::write(root.join("lib/librocblas.so.6.4.60404"), "blas, patched").unwrap();
    fs::set_permissions(
        root.join("share/doc/README"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    fs::remove_file(root.join("lib/libhsa-runtime64.so.6.4.60404")).unwrap();
    fs::remove_file(root.join("lib/libamdhip64.so.6")).unwrap();
    symlink(
        "libamdhip64.so.6.4.99999",
        root.join("lib/libamdhip64.so.6"),
    )
    .unwrap();
    fs::write(root.join("lib/extra.so"), "new").unwrap();
    fs::remove_dir_all(root.join("include")).unwrap();
    fs::write(root.join("include"), "now a file").unwrap();
    fs::write(root.join(".info/version"), "6.4.5-1\n").unwrap();
    tree.set_agent("gfx942");

    let mut cmd = ctx.command(&["clamp", "verify", "--json"]);
    cmd.env("HIP_VISIBLE_DEVICES", "1");
    let run: Run = cmd.output().unwrap().into();
    assert_eq!(run.code, 2);
    let found = mismatches(&run);
    let expected = [
        ("agents", "agents_changed"),
        ("env:HIP_VISIBLE_DEVICES", "env_changed"),
        ("file:.info/version", "content_changed"),
        ("file:bin/rocminfo", "content_changed"),
        ("file:include", "type_changed"),
        ("file:include/rocm-core", "missing"),
        ("file:include/rocm-core/rocm_version.h", "missing"),
        ("file:lib/extra.so", "added"),
        ("file:lib/libamdhip64.so.6", "link_changed"),
        ("file:lib/libhsa-runtime64.so.6.4.60404", "missing"),
        ("file:lib/librocblas.so.6.4.60404", "content_changed"),
        ("file:share/doc/README", "mode_changed"),
        ("version:.info/version", "version_mismatch"),
        (
            "version:include/rocm-core/rocm_version.h",
            "version_mismatch",
        ),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    let mut sorted = found.clone();
    sorted.sort();
    assert_eq!(found, sorted, "mismatches are sorted");
    for item in &expected {
        assert!(found.contains(item), "missing {item:?} in {found:#?}");
    }
    assert_eq!(found.len(), expected.len(), "{found:#?}");
    assert!(run.stdout.contains("\"code\": \"clamp-content-changed\""));
}

#[test]
fn a_root_that_points_elsewhere_is_a_link_change() {
    let (ctx, tree) = context();
    assert_eq!(
        clean(
            &ctx,
            &["clamp", "capture", "--target", &tree.target(), "--archive"]
        )
        .code,
        0
    );
    let other = tree.base.join("opt/rocm-6.5.0");
    fs::create_dir_all(&other).unwrap();
    let alt = tree.base.join("etc/alternatives/rocm");
    fs::remove_file(&alt).unwrap();
    symlink(&other, &alt).unwrap();
    let run = clean(&ctx, &["clamp", "verify", "--json"]);
    assert_eq!(run.code, 2);
    assert!(mismatches(&run).contains(&("root".to_owned(), "link_changed".to_owned())));
    // Restore refuses to repair a different tree.
    let run = clean(&ctx, &["clamp", "restore"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("no longer resolves to the captured root"),
        "{}",
        run.stderr
    );
    assert!(
        fs::read_dir(&other).unwrap().next().is_none(),
        "nothing written into the other tree"
    );
}

#[test]
fn restore_repairs_from_the_archive_and_dry_run_changes_nothing() {
    let (ctx, tree) = context();
    assert_eq!(
        clean(
            &ctx,
            &["clamp", "capture", "--target", &tree.target(), "--archive"]
        )
        .code,
        0
    );
    let root = tree.root();
    fs::write(root.join("lib/librocblas.so.6.4.60404"), "tampered").unwrap();
    fs::remove_file(root.join("lib/libamdhip64.so")).unwrap();
    fs::set_permissions(
        root.join("bin/hipconfig"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    fs::remove_dir_all(root.join("share")).unwrap();

    let run = clean(&ctx, &["clamp", "restore", "--dry-run", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let planned: Vec<(String, String)> = json["data"]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["path"].as_str().unwrap().to_owned(),
                a["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        planned,
        [
            ("bin/hipconfig", "chmod"),
            ("lib/libamdhip64.so", "symlink"),
            ("lib/librocblas.so.6.4.60404", "write"),
            ("share", "mkdir"),
            ("share/doc", "mkdir"),
            ("share/doc/README", "write"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert_eq!(
        fs::read_to_string(root.join("lib/librocblas.so.6.4.60404")).unwrap(),
        "tampered"
    );

    let run = clean(&ctx, &["clamp", "restore"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("repaired 6 files"), "{}", run.stdout);
    assert_eq!(clean(&ctx, &["clamp", "verify"]).code, 0);
    assert_eq!(
        fs::read_to_string(root.join("lib/librocblas.so.6.4.60404")).unwrap(),
        "blas"
    );
}

#[test]
fn a_crafted_manifest_or_archive_cannot_write_outside_the_root() {
    let (ctx, tree) = context();
    assert_eq!(
        clean(
            &ctx,
            &["clamp", "capture", "--target", &tree.target(), "--archive"]
        )
        .code,
        0
    );
    let outside = ctx.path("outside");
    fs::create_dir_all(&outside).unwrap();
    let mut manifest = ctx.json("build/clamp/manifest.json");
    let readme_sha = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "share/doc/README")
        .unwrap()["sha256"]
        .clone();
    let files = manifest["files"].as_array_mut().unwrap();
    let evil = |path: &str| serde_json::json!({"path": path, "type": "file", "mode": "0644", "size": 4, "sha256": readme_sha});
    files.push(evil("../../outside/escaped"));
    files.push(evil("/tmp/absolute-escape"));
    files.push(evil("lib/../../../outside/dotdot"));
    // A symlink to the outside, then a file "inside" it.
    files.push(serde_json::json!({"path": "zz-link", "type": "symlink", "mode": "0777", "target": outside.display().to_string()}));
    files.push(evil("zz-link/through-link"));
    files.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    ctx.write(
        "build/clamp/manifest.json",
        &serde_json::to_string_pretty(&manifest).unwrap(),
    );
    // And a tampered archive object for a real file.
    fs::write(
        root_file(&ctx, &manifest, "lib/librocblas.so.6.4.60404"),
        "evil bytes",
    )
    .unwrap();
    fs::write(tree.root().join("lib/librocblas.so.6.4.60404"), "drifted").unwrap();

    let run = clean(&ctx, &["clamp", "restore", "--json"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let outcome = |path: &str| {
        json["data"]["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["path"] == path)
            .unwrap_or_else(|| panic!("{path}: {json:#}"))["outcome"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for path in [
        "../../outside/escaped",
        "/tmp/absolute-escape",
        "lib/../../../outside/dotdot",
        "zz-link/through-link",
        "lib/librocblas.so.6.4.60404",
    ] {
        assert!(
            outcome(path).starts_with("refused"),
            "{path}: {}",
            outcome(path)
        );
    }
    assert!(
        fs::read_dir(&outside).unwrap().next().is_none(),
        "something was written outside"
    );
    assert!(!Path::new("/tmp/absolute-escape").exists());
    assert_eq!(
        fs::read_to_string(tree.root().join("lib/librocblas.so.6.4.60404")).unwrap(),
        "drifted"
    );
}

fn root_file(ctx: &TestContext, manifest: &serde_json::Value, path: &str) -> PathBuf {
    let sha = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    ctx.path(&format!("build/clamp/archive/objects/{sha}"))
}

#[test]
fn restore_writes_the_environment_for_later_steps() {
    let (ctx, tree) = context();
    let bin = format!("{}/bin", tree.target());
    let mut capture = ctx.command(&["clamp", "capture", "--target", &tree.target()]);
    capture
        .env("PATH", format!("{bin}:/usr/bin:/bin"))
        .env("ROCM_PATH", tree.target());
    assert!(capture.status().unwrap().success());
    assert!(
        ctx.read("build/clamp/env.sh")
            .contains(&format!("export PATH='{bin}'\"${{PATH:+:$PATH}}\""))
    );

    let github_env = ctx.path("github_env");
    let github_path = ctx.path("github_path");
    let mut restore = ctx.command(&["clamp", "restore", "--env", "build/clamp/env.sh"]);
    restore
        .env("GITHUB_ENV", &github_env)
        .env("GITHUB_PATH", &github_path)
        .env_remove("ROCM_PATH");
    let run: Run = restore.output().unwrap().into();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let env_lines = fs::read_to_string(github_env).unwrap();
    assert!(
        env_lines.contains(&format!("ROCM_PATH={}\n", tree.target())),
        "{env_lines}"
    );
    assert!(env_lines.contains("HIP_VISIBLE_DEVICES=0\n"), "{env_lines}");
    assert_eq!(fs::read_to_string(github_path).unwrap(), format!("{bin}\n"));

    // Without the environment, verify says what is missing.
    let mut verify = ctx.command(&["clamp", "verify", "--json"]);
    verify.env_remove("ROCM_PATH");
    let found = mismatches(&verify.output().unwrap().into());
    assert!(
        found.contains(&("env:PATH".to_owned(), "env_changed".to_owned())),
        "{found:?}"
    );
    assert!(
        found.contains(&("env:ROCM_PATH".to_owned(), "env_changed".to_owned())),
        "{found:?}"
    );
}

#[test]
fn bootstraps_hand_off_to_clamp() {
    let (ctx, tree) = context();
    assert_eq!(
        clean(&ctx, &["clamp", "capture", "--target", &tree.target()]).code,
        0
    );
    let run = clean(&ctx, &["offline-bootstrap"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("Clamp: manifest found at build/clamp/manifest.json"),
        "{}",
        run.stderr
    );
    let record = ctx.json("build/run.json");
    assert_eq!(record["clamp_manifest_path"], "build/clamp/manifest.json");
    assert_eq!(record["verify_status"], "pass");

    fs::write(
        tree.root().join("lib/librocblas.so.6.4.60404"),
        "other blas",
    )
    .unwrap();
    let run = clean(&ctx, &["offline-bootstrap"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("error[clamp-content-changed]: file:lib/librocblas.so.6.4.60404"),
        "{}",
        run.stderr
    );
    let record = ctx.json("build/run.json");
    assert_eq!(record["verify_status"], "fail");
    assert!(
        record["verify_message"]
            .as_str()
            .unwrap()
            .contains("1 mismatch"),
        "{record}"
    );

    // The matrix hint is used when the workspace has no live manifest.
    fs::rename(ctx.path("build/clamp"), ctx.path("captures")).unwrap();
    let matrix = ctx.read("ci/rocm_matrix.yml").replace(
        "      release_notes: https://rocm.docs.amd.com/en/docs-6.4.4/about/release-notes.html\n    - version: \"6.4.4\"\n      os: ubuntu-20.04",
        "      release_notes: https://rocm.docs.amd.com/en/docs-6.4.4/about/release-notes.html\n      clamp_manifest: captures/manifest.json\n    - version: \"6.4.4\"\n      os: ubuntu-20.04",
    );
    assert!(matrix.contains("clamp_manifest"));
    ctx.write("ci/rocm_matrix.yml", &matrix);
    let run = clean(&ctx, &["offline-bootstrap"]);
    assert!(
        run.stderr
            .contains("Clamp: manifest found at captures/manifest.json"),
        "{}",
        run.stderr
    );
}

#[test]
fn snapi_list_and_call_from_the_cli() {
    let (ctx, tree) = context();
    let run = ctx.run(&["snapi", "list"]);
    assert_eq!(run.code, 0);
    for name in ["clamp.capture", "clamp.restore", "clamp.verify"] {
        assert!(run.stdout.contains(name), "{}", run.stdout);
    }
    let payload =
        serde_json::json!({"target_path": tree.target(), "output_dir": "out"}).to_string();
    ctx.write("payload.json", &payload);
    let run = clean(
        &ctx,
        &[
            "snapi",
            "call",
            "clamp.capture",
            "--payload",
            "@payload.json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let result: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(result["status"], "pass");
    let run = clean(
        &ctx,
        &[
            "snapi",
            "call",
            "clamp.verify",
            "--payload",
            r#"{"manifest_path": "out/manifest.json"}"#,
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    for (args, needle) in [
        (
            vec![
                "snapi",
                "call",
                "clamp.verify",
                "--payload",
                r#"{"manifest": 1}"#,
            ],
            "invalid payload for clamp.verify",
        ),
        (vec!["snapi", "call", "clamp.nope"], "has no command `nope`"),
        (vec!["snapi", "call", "nope.verify"], "no extension `nope`"),
        (
            vec!["snapi", "call", "clamp.verify", "--payload", "{oops"],
            "--payload is not JSON",
        ),
        (
            vec![
                "snapi",
                "call",
                "clamp.verify",
                "--payload",
                r#"{"manifest_path": "missing.json"}"#,
            ],
            "missing.json",
        ),
    ] {
        let run = ctx.run(&args);
        assert_eq!(run.code, 2, "{args:?}");
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn json_rpc_server_answers_good_and_bad_requests_and_keeps_serving() {
    use std::io::Write;
    let (ctx, tree) = context();
    assert_eq!(
        clean(&ctx, &["clamp", "capture", "--target", &tree.target()]).code,
        0
    );
    let mut child = ctx
        .command(&["snapi", "serve"])
        .env_remove("ROCM_PATH")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let requests = [
        r#"{"jsonrpc":"2.0","id":1,"method":"snapi.list"}"#,
        r#"{"jsonrpc":"2.0","id":"v","method":"clamp.verify","params":{"manifest_path":"build/clamp/manifest.json"}}"#,
        r#"{not json"#,
        r#"{"jsonrpc":"1.0","id":3,"method":"clamp.verify"}"#,
        r#"{"jsonrpc":"2.0","id":4,"method":"clamp.launch"}"#,
        r#"{"jsonrpc":"2.0","id":5,"method":"clamp.verify","params":[1]}"#,
        r#"{"jsonrpc":"2.0","id":6,"method":"clamp.verify","params":{"bogus":true}}"#,
        r#"{"jsonrpc":"2.0","method":"snapi.list"}"#,
        r#"{"jsonrpc":"2.0","id":7,"method":"clamp.verify","params":{"manifest_path":"nope.json"}}"#,
        r#"[{"jsonrpc":"2.0","id":8,"method":"snapi.list"},{"jsonrpc":"2.0","method":"snapi.list"}]"#,
        r#"{"jsonrpc":"2.0","id":9,"method":"snapi.list"}"#,
    ];
    let mut stdin = child.stdin.take().unwrap();
    for r in requests {
        writeln!(stdin, "{r}").unwrap();
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let responses: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        responses.len(),
        10,
        "one per request except the notification: {responses:#?}"
    );
    assert_eq!(responses[0]["id"], 1);
    assert_eq!(
        responses[0]["result"]["commands"].as_array().unwrap().len(),
        3
    );
    assert_eq!(responses[1]["id"], "v");
    assert_eq!(
        responses[1]["result"]["status"], "pass",
        "{:#}",
        responses[1]
    );
    let codes: Vec<i64> = responses[2..8]
        .iter()
        .map(|r| r["error"]["code"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(codes, [-32700, -32600, -32601, -32602, -32602, -32000]);
    assert_eq!(responses[2]["id"], serde_json::Value::Null);
    assert_eq!(responses[4]["id"], 4);
    assert_eq!(
        responses[8].as_array().unwrap().len(),
        1,
        "a batch answers its requests, not its notifications"
    );
    assert_eq!(responses[9]["id"], 9, "still serving after errors");
}

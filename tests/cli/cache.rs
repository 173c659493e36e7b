//! Cached tarballs: cache-build against the real registry, real consumers (gzip, skopeo),
//! cache-verify's findings, and the local / mirror / offline resolver modes.

use std::fs;
use std::process::Command;

use crate::common::*;
use crate::harness::*;

const TAG: &str = "6.4.4-ubuntu-22.04";

/// A registry with a two-platform, two-layer image at rocm/dev:TAG; the workspace pins it.
fn setup(mirror: bool) -> (Registry, TestContext, String) {
    let registry = Registry::anonymous();
    let mut layout = Layout::new();
    let index = layout.name_index("img", "rocm");
    registry.push(layout.path(), "img", &format!("rocm/dev:{TAG}"), None, None);
    let mirror = mirror.then(|| format!("{}/mirror/rocm-dev", registry.host));
    let ctx = TestContext::with_image(
        &format!("{}/rocm/dev", registry.host),
        mirror.as_deref(),
        &format!(
            "    # pinned by hand\n{}",
            entry("6.4.4", "ubuntu-22.04", &index, "2026-12-01")
        ),
        "",
    );
    let matrix = ctx
        .read("ci/rocm_matrix.yml")
        .replace("images:\n", "canonical: rocforge/rocm-dev\n  images:\n");
    ctx.write("ci/rocm_matrix.yml", &matrix);
    (registry, ctx, index)
}

fn recorded_sha(ctx: &TestContext) -> String {
    let matrix = ctx.read("ci/rocm_matrix.yml");
    matrix
        .lines()
        .find_map(|l| l.trim().strip_prefix("sha256: "))
        .expect("sha256 recorded")
        .trim_matches('"')
        .to_owned()
}

const TARBALL: &str = "images/rocm-dev-6.4.4-ubuntu-22.04.tar.gz";

/// `cache-build --release 6.4.4 --os ubuntu-22.04` plus `extra` arguments.
fn cache_build(ctx: &TestContext, extra: &[&str]) -> Run {
    let args = [
        &["cache-build", "--release", "6.4.4", "--os", "ubuntu-22.04"][..],
        extra,
    ]
    .concat();
    ctx.run(&args)
}

#[test]
fn cache_build_writes_a_reproducible_archive_that_real_clients_accept() {
    let (registry, ctx, _index) = setup(false);
    let run = cache_build(&ctx, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), TARBALL);
    let matrix = ctx.read("ci/rocm_matrix.yml");
    assert!(
        matrix.contains(&format!("      tarball: {TARBALL}\n")),
        "{matrix}"
    );
    assert!(
        matrix.contains("    # pinned by hand\n"),
        "comments survive"
    );
    let sha = recorded_sha(&ctx);
    assert_eq!(sha, sha256_hex(&fs::read(ctx.path(TARBALL)).unwrap()));
    assert_eq!(ctx.run(&["matrix", "check"]).code, 0);

    // Same digest in, same bytes out.
    let run = cache_build(&ctx, &["--output", "images/again.tar.gz"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        fs::read(ctx.path("images/again.tar.gz")).unwrap(),
        fs::read(ctx.path(TARBALL)).unwrap()
    );

    // Plain gzip to gzip; a docker-archive to skopeo. (Debian's skopeo 1.9 cannot read any
    // gzip-compressed docker-archive, not even `gzip -c` of its own; it gets the tar.)
    must(Command::new("gzip").arg("-t").arg(ctx.path(TARBALL)));
    let plain = ctx.path("plain.tar");
    fs::write(
        &plain,
        pipe("gzip", &["-dc"], &fs::read(ctx.path(TARBALL)).unwrap()),
    )
    .unwrap();
    let inspected: serde_json::Value = serde_json::from_str(&must(
        Command::new("skopeo")
            .arg("inspect")
            .arg(format!("docker-archive:{}", plain.display())),
    ))
    .unwrap();
    let amd64_manifest: serde_json::Value = serde_json::from_str(&must(
        Command::new("skopeo")
            .args([
                "inspect",
                "--raw",
                "--tls-verify=false",
                "--override-arch",
                "amd64",
            ])
            .arg(format!("docker://{}/rocm/dev:{TAG}", registry.host)),
    ))
    .unwrap();
    let index_children = amd64_manifest["manifests"].as_array().unwrap();
    let amd64 = index_children
        .iter()
        .find(|m| m["platform"]["architecture"] == "amd64")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let original: serde_json::Value = serde_json::from_str(&must(
        Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{}/rocm/dev@{amd64}", registry.host)),
    ))
    .unwrap();
    let original_layers: Vec<&str> = original["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap())
        .collect();
    assert_eq!(original_layers.len(), 2);
    // skopeo lists an archive's layers by their uncompressed digests: the config's diff_ids.
    let config: serde_json::Value = serde_json::from_str(&must(
        Command::new("skopeo")
            .args(["inspect", "--config", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{}/rocm/dev@{amd64}", registry.host)),
    ))
    .unwrap();
    assert_eq!(inspected["Layers"], config["rootfs"]["diff_ids"]);

    // Round trip: archive -> registry with the same config digest and the same layer content
    // digests. skopeo's docker-archive transport hands layers out uncompressed, so with
    // --preserve-digests the pushed layers are the diff_ids the config names.
    must(
        Command::new("skopeo")
            .args([
                "copy",
                "--quiet",
                "--preserve-digests",
                "--dest-tls-verify=false",
            ])
            .arg(format!("docker-archive:{}", plain.display()))
            .arg(format!("docker://{}/roundtrip/img:1", registry.host)),
    );
    let back: serde_json::Value = serde_json::from_str(&must(
        Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{}/roundtrip/img:1", registry.host)),
    ))
    .unwrap();
    assert_eq!(back["config"]["digest"], original["config"]["digest"]);
    let back_layers: Vec<serde_json::Value> = back["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].clone())
        .collect();
    assert_eq!(
        serde_json::Value::Array(back_layers),
        config["rootfs"]["diff_ids"]
    );

    // Another platform is another archive, and the matrix says which.
    let run = cache_build(&ctx, &["--platform", "linux/arm64"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        ctx.read("ci/rocm_matrix.yml")
            .contains("      platform: linux/arm64\n")
    );
    assert_ne!(recorded_sha(&ctx), sha);
    let run = cache_build(&ctx, &["--platform", "linux/s390x"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("the index has no linux/s390x image; it has: linux/amd64, linux/arm64"),
        "{}",
        run.stderr
    );
    let run = cache_build(&ctx, &["--dockerfile", "Dockerfile"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("needs a running Docker engine"),
        "{}",
        run.stderr
    );
}

#[test]
fn cache_verify_tells_damage_from_a_different_image() {
    let (_registry, ctx, _) = setup(false);
    assert_eq!(cache_build(&ctx, &[]).code, 0);
    let good = fs::read(ctx.path(TARBALL)).unwrap();
    let run = ctx.run(&["cache-verify"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("1 of 1 tarballs verified"));
    let verify = |bytes: &[u8]| {
        fs::write(ctx.path(TARBALL), bytes).unwrap();
        ctx.run(&["cache-verify"])
    };

    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x40;
    let run = verify(&flipped);
    assert_eq!(run.code, 1, "damage is a warning: {}", run.stderr);
    assert!(
        run.stderr.contains("warning[tarball-corrupt]") && run.stderr.contains("corrupt at byte"),
        "{}",
        run.stderr
    );

    let run = verify(&good[..good.len() - 100]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("truncated"), "{}", run.stderr);

    let run = verify(b"<html>Not Found</html>");
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("not gzip (starts with 3c 68 74 6d)"),
        "{}",
        run.stderr
    );

    // Intact, but not the recorded file: a different image.
    let regz = pipe("gzip", &["-9"], &pipe("gzip", &["-dc"], &good));
    let run = verify(&regz);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("error[tarball-mismatch]") && run.stderr.contains("file hash mismatch"),
        "{}",
        run.stderr
    );
    fs::write(ctx.path(TARBALL), &good).unwrap();
    assert_eq!(ctx.run(&["cache-verify"]).code, 0);
}

/// Builds a docker-archive by hand (tar + gzip) from entries, for archives no tool would write.
fn handmade(
    ctx: &TestContext,
    name: &str,
    entries: &[(&str, &[u8])],
    links: &[(&str, &str)],
) -> std::path::PathBuf {
    let dir = ctx.path(&format!("hand-{name}"));
    fs::create_dir_all(&dir).unwrap();
    let mut args = vec![
        "--sort=name".to_owned(),
        "--mtime=@0".to_owned(),
        "-cf".to_owned(),
        "-".to_owned(),
        "-C".to_owned(),
        dir.display().to_string(),
    ];
    for (path, bytes) in entries {
        let p = dir.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, bytes).unwrap();
        args.push((*path).to_owned());
    }
    for (path, target) in links {
        std::os::unix::fs::symlink(target, dir.join(path)).unwrap();
        args.push((*path).to_owned());
    }
    let tar = Command::new("tar").args(&args).output().unwrap().stdout;
    let out = ctx.path(&format!("images/{name}.tar.gz"));
    fs::create_dir_all(out.parent().unwrap()).unwrap();
    fs::write(&out, pipe("gzip", &["-c"], &tar)).unwrap();
    out
}

#[test]
fn cache_verify_checks_every_blob_and_never_trusts_paths() {
    let ctx = TestContext::with_repo_config();
    let layer = b"layer bytes".to_vec();
    let layer_hex = sha256_hex(&layer);
    let config = format!(r#"{{"rootfs":{{"type":"layers","diff_ids":["sha256:{layer_hex}"]}}}}"#);
    let config_hex = sha256_hex(config.as_bytes());
    let manifest = format!(
        r#"[{{"Config":"{config_hex}.json","RepoTags":["x:y"],"Layers":["{layer_hex}.tar"]}}]"#
    );

    // Layers first and manifest.json last, as skopeo writes them: fine, with or without a matrix.
    let ok = handmade(
        &ctx,
        "ok",
        &[
            (&format!("{layer_hex}.tar"), &layer),
            (&format!("{config_hex}.json"), config.as_bytes()),
            ("zz/manifest.json", b"[]"),
            ("manifest.json", manifest.as_bytes()),
        ],
        &[],
    );
    let run = ctx.run(&["cache-verify", ok.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let bare = TestContext::empty();
    let run = bare.run(&["cache-verify", ok.to_str().unwrap()]);
    assert_eq!(
        run.code, 0,
        "no ci/ files needed for explicit files: {}",
        run.stderr
    );

    let tampered = handmade(
        &ctx,
        "tampered",
        &[
            (&format!("{layer_hex}.tar"), b"other bytes"),
            (&format!("{config_hex}.json"), config.as_bytes()),
            ("manifest.json", manifest.as_bytes()),
        ],
        &[],
    );
    let run = ctx.run(&["cache-verify", tampered.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "error[tarball-layer-mismatch]: images/tampered.tar.gz: {layer_hex}.tar mismatch"
        )),
        "{}",
        run.stderr
    );

    let escaping = handmade(
        &ctx,
        "escaping",
        &[("manifest.json", manifest.as_bytes())],
        &[("evil", "/etc/passwd")],
    );
    let run = ctx.run(&["cache-verify", escaping.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("unsafe entry `evil`: links to `/etc/passwd`"),
        "{}",
        run.stderr
    );

    // `..` in a name cannot come from `tar -C`; write the header by hand.
    let mut raw = tar::Header::new_gnu();
    raw.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../escape");
    raw.set_size(3);
    raw.set_mode(0o644);
    raw.set_cksum();
    let mut bytes = raw.as_bytes().to_vec();
    bytes.extend_from_slice(b"abc");
    bytes.resize(1024 + 1024, 0);
    let gz = ctx.path("images/dotdot.tar.gz");
    fs::write(&gz, pipe("gzip", &["-c"], &bytes)).unwrap();
    let run = ctx.run(&["cache-verify", gz.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("unsafe entry `../escape`: `..` leaves the archive"),
        "{}",
        run.stderr
    );
    assert!(
        !ctx.path("escape").exists() && !ctx.dir.path().parent().unwrap().join("escape").exists()
    );
}

#[test]
fn the_resolver_uses_the_tarball_then_the_mirror_then_the_registry() {
    let (_registry, ctx, index) = setup(true);
    let run = cache_build(&ctx, &["--push"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("note[mirror-pushed]") && run.stderr.contains(&index),
        "{}",
        run.stderr
    );

    // Local: the tarball verifies; no network needed.
    let run = ctx.run(&["resolve", "--offline"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(ctx.json("build/rocm_snapshot.json")["mode"], "local");

    // Mirror: no tarball, and the mirror's image archives to the recorded hash.
    let good = fs::read(ctx.path(TARBALL)).unwrap();
    fs::remove_file(ctx.path(TARBALL)).unwrap();
    let run = ctx.run(&["resolve"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let snapshot = ctx.json("build/rocm_snapshot.json");
    assert_eq!(snapshot["mode"], "mirror", "{snapshot}");
    assert!(
        snapshot["image"]
            .as_str()
            .unwrap()
            .contains("/mirror/rocm-dev:6.4.4-ubuntu-22.04@sha256:"),
        "{snapshot}"
    );

    // Offline: neither cache, no network.
    let run = ctx.run(&["resolve", "--offline"]);
    assert_eq!(run.code, 0);
    assert_eq!(ctx.json("build/rocm_snapshot.json")["mode"], "offline");

    // A damaged tarball sends smart-bootstrap to its fallback with a warning.
    let mut damaged = good.clone();
    let n = damaged.len();
    damaged.truncate(n - 50);
    fs::create_dir_all(ctx.path("images")).unwrap();
    fs::write(ctx.path(TARBALL), &damaged).unwrap();
    let run = ctx.run(&["smart-bootstrap"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("warning[tarball-corrupt]") && run.stderr.contains("falling back"),
        "{}",
        run.stderr
    );
    assert_eq!(ctx.json("build/rocm_snapshot.json")["mode"], "mirror");
}

#[test]
fn dockerfile_builds_with_an_engine_where_one_runs() {
    // No Docker engine can run here; a stand-in `docker` CLI answers `info`, records `build`
    // and streams a docker-archive for `save`, so the engine path itself is exercised.
    let mut ctx = TestContext::with(&entry("6.4.4", "ubuntu-22.04", DIGEST_A, "2026-12-01"), "");
    let layer = b"layer from the engine".to_vec();
    let layer_hex = sha256_hex(&layer);
    let config = format!(r#"{{"rootfs":{{"type":"layers","diff_ids":["sha256:{layer_hex}"]}}}}"#);
    let config_hex = sha256_hex(config.as_bytes());
    ctx.write(
        &format!("saved/{layer_hex}.tar"),
        std::str::from_utf8(&layer).unwrap(),
    );
    ctx.write(&format!("saved/{config_hex}.json"), &config);
    ctx.write("saved/manifest.json", &format!(r#"[{{"Config":"{config_hex}.json","RepoTags":["rocforge/rocm-dev:6.4.4-ubuntu-22.04"],"Layers":["{layer_hex}.tar"]}}]"#));
    ctx.write("docker/Dockerfile", "FROM scratch\n");
    ctx.write("fakebin/docker", "#!/bin/sh\ncase \"$1\" in\n  info) exit 0 ;;\n  build) echo \"$@\" > \"$FAKE_DOCKER_LOG\" ;;\n  save) tar -cf - -C \"$FAKE_DOCKER_IMAGE\" . ;;\n  *) exit 1 ;;\nesac\n");
    fs::set_permissions(
        ctx.path("fakebin/docker"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    ctx.set(
        "PATH",
        &format!("{}:/usr/bin:/bin", ctx.path("fakebin").display()),
    );
    ctx.set(
        "FAKE_DOCKER_LOG",
        &ctx.path("docker.log").display().to_string(),
    );
    ctx.set(
        "FAKE_DOCKER_IMAGE",
        &ctx.path("saved").display().to_string(),
    );

    let run = cache_build(&ctx, &["--dockerfile", "docker/Dockerfile"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("built with docker") && run.stderr.contains("not reproducible"),
        "{}",
        run.stderr
    );
    let log = ctx.read("docker.log");
    // Paths are the workspace's (the root is the working directory here).
    assert_eq!(
        log.trim(),
        "build -f ./docker/Dockerfile -t rocforge/rocm-dev:6.4.4-ubuntu-22.04 ./docker"
    );
    let matrix = ctx.read("ci/rocm_matrix.yml");
    assert!(matrix.contains(&format!("tarball: {TARBALL}")), "{matrix}");
    let run = ctx.run(&["cache-verify"]);
    assert_eq!(run.code, 0, "the engine's archive verifies: {}", run.stderr);
}

//! Live resolve and verify against Debian's docker-registry, with the failure modes a real
//! registry shows: auth flavours, TLS, drift, outages, rate limits and lies.

use std::time::Instant;

use crate::common::*;
use crate::harness::*;

const TAG: &str = "6.4.4-ubuntu-22.04";

/// A registry with `rocm/dev:6.4.4-ubuntu-22.04` pushed; returns it, the layout and the digest.
fn registry_with_image() -> (Registry, Layout, String) {
    let registry = Registry::anonymous();
    let mut layout = Layout::new();
    let digest = layout.name_image("a", "amd64", "image A");
    registry.push(layout.path(), "a", &format!("rocm/dev:{TAG}"), None, None);
    (registry, layout, digest)
}

fn live_ctx(host: &str, digest: &str, policy: &str) -> TestContext {
    TestContext::with_image(
        &format!("{host}/rocm/dev"),
        None,
        &entry("6.4.4", "ubuntu-22.04", digest, "2026-12-01"),
        policy,
    )
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr))
}

fn codes(run: &Run) -> Vec<String> {
    json(run)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn resolve_and_verify_live_pin_the_index_digest_of_multi_arch_images() {
    let registry = Registry::anonymous();
    let mut layout = Layout::new();
    let single = layout.name_image("single", "amd64", "one platform");
    let index = layout.name_index("multi", "two platforms");
    registry.push(
        layout.path(),
        "single",
        &format!("rocm/dev:{TAG}"),
        None,
        None,
    );
    registry.push(
        layout.path(),
        "multi",
        "rocm/dev:6.4.4-ubuntu-24.04",
        None,
        None,
    );
    assert_eq!(registry.skopeo_digest(&format!("rocm/dev:{TAG}")), single);
    assert_eq!(
        registry.skopeo_digest("rocm/dev:6.4.4-ubuntu-24.04"),
        index,
        "skopeo sees the index digest"
    );

    let entries = format!(
        "{}{}",
        entry("6.4.4", "ubuntu-22.04", &single, "2026-12-01"),
        entry("6.4.4", "ubuntu-24.04", &index, "2026-12-01")
    );
    let ctx = TestContext::with_image(
        &format!("{}/rocm/dev", registry.host),
        None,
        &entries,
        "  preferred_os: [ubuntu-24.04]\n",
    );
    let run = ctx.run(&["verify", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let live: Vec<String> = json(&run)["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["live_digest"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(live, [single.clone(), index.clone()]);

    let run = ctx.run(&["resolve"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout.trim(),
        format!("{}/rocm/dev:6.4.4-ubuntu-24.04@{index}", registry.host)
    );
    let snapshot = ctx.json("build/rocm_snapshot.json");
    assert_eq!(snapshot["mode"], "live");
    assert_eq!(snapshot["network"], true);
    assert_eq!(snapshot["digest"], index.as_str());

    // The resolver's reference verifies; one with another digest does not.
    assert_eq!(ctx.run(&["verify", run.stdout.trim()]).code, 0);
    let other = format!("{}/rocm/dev:6.4.4-ubuntu-24.04@{single}", registry.host);
    assert_eq!(ctx.run(&["verify", &other]).code, 2);
}

#[test]
fn drift_is_graded_by_mode_and_auto_update_dispatches_the_refresh() {
    let (registry, mut layout, old) = registry_with_image();
    layout.name_image("b", "amd64", "image B");
    registry.push(layout.path(), "b", &format!("rocm/dev:{TAG}"), None, None);
    let new = registry.skopeo_digest(&format!("rocm/dev:{TAG}"));
    assert_ne!(old, new);

    for (mode, code, severity) in [
        ("strict", 2, "error"),
        ("warn", 1, "warning"),
        ("auto_update", 1, "warning"),
    ] {
        let github = TestServer::start(|_| Some(Response::new(204, "")));
        let hook = TestServer::start(|_| Some(Response::new(200, "ok")));
        let mut ctx = live_ctx(
            &registry.host,
            &old,
            &format!(
                "  mode: {mode}\n  notify:\n    - url: {}/services/T0/B0/secret-hook\n",
                hook.url()
            ),
        );
        ctx.set("GITHUB_API_URL", &github.url());
        ctx.set("GITHUB_REPOSITORY", "acme/rocm-project");
        ctx.set("GITHUB_TOKEN", "ghs_dispatchtoken123");
        let run = ctx.run(&["verify", "--json"]);
        assert_eq!(run.code, code, "{mode}: {}", run.stdout);
        let finding = json(&run)["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == "digest-drift")
            .cloned()
            .unwrap();
        assert_eq!(finding["severity"], severity);
        assert!(
            finding["message"]
                .as_str()
                .unwrap()
                .contains(&format!("the matrix pins {old}, the registry has {new}"))
        );
        assert_eq!(finding["location"]["line"], 6);
        assert!(
            !run.stdout.contains("ghs_dispatchtoken123")
                && !run.stderr.contains("ghs_dispatchtoken123")
        );
        assert!(
            !run.stdout.contains("secret-hook"),
            "webhook URLs are secrets"
        );

        let dispatches = github.requests();
        if mode == "auto_update" {
            assert_eq!(dispatches.len(), 1, "{dispatches:?}");
            let d = &dispatches[0];
            assert_eq!(d.method, "POST");
            assert_eq!(
                d.path,
                "/repos/acme/rocm-project/actions/workflows/update-rocm.yml/dispatches"
            );
            assert_eq!(d.header("accept"), Some("application/vnd.github+json"));
            assert_eq!(d.header("x-github-api-version"), Some("2022-11-28"));
            assert_eq!(
                d.header("authorization"),
                Some("Bearer ghs_dispatchtoken123")
            );
            let body = d.json();
            assert_eq!(body["ref"], "main");
            assert!(
                body["inputs"]["reason"]
                    .as_str()
                    .unwrap()
                    .contains("digest-drift"),
                "{body}"
            );
            assert_eq!(
                body.as_object().unwrap().len(),
                2,
                "only ref and inputs: {body}"
            );
            assert!(codes(&run).contains(&"dispatch-sent".to_owned()));
        } else {
            assert!(dispatches.is_empty(), "{mode} must not dispatch");
        }
        // Webhooks hear about warnings and dispatches, not about failures.
        let hooks = hook.requests();
        if mode == "strict" {
            assert!(hooks.is_empty());
        } else {
            assert_eq!(hooks.len(), 1, "{mode}");
            assert_eq!(hooks[0].path, "/services/T0/B0/secret-hook");
            let text = hooks[0].json()["text"].as_str().unwrap().to_owned();
            assert!(text.contains("digest-drift"), "{text}");
        }
    }
}

#[test]
fn dispatch_and_webhook_failures_are_explained_warnings() {
    let (registry, mut layout, old) = registry_with_image();
    layout.name_image("b", "amd64", "image B");
    registry.push(layout.path(), "b", &format!("rocm/dev:{TAG}"), None, None);
    for (status, needle) in [
        (401, "GitHub rejected the token"),
        (403, "permissions: actions: write"),
        (404, "not found, or the token cannot see it"),
        (422, "no `workflow_dispatch` trigger"),
    ] {
        let github =
            TestServer::start(move |_| Some(Response::new(status, r#"{"message":"nope"}"#)));
        let mut ctx = live_ctx(
            &registry.host,
            &old,
            "  mode: auto_update\n  notify:\n    - url: http://127.0.0.1:1/hook\n",
        );
        ctx.set("GITHUB_API_URL", &github.url());
        ctx.set("GITHUB_REPOSITORY", "acme/rocm-project");
        ctx.set("GITHUB_TOKEN", "ghs_x");
        let run = ctx.run(&["verify"]);
        assert_eq!(run.code, 1, "{status}: {}", run.stderr);
        assert!(
            run.stderr.contains("warning[dispatch-failed]") && run.stderr.contains(needle),
            "{status}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains(
                "warning[notify-failed]: webhook http://127.0.0.1:1/… failed: cannot connect"
            ),
            "{}",
            run.stderr
        );
    }
    let ctx = live_ctx(&registry.host, &old, "  mode: auto_update\n");
    let run = ctx.run(&["verify"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("GITHUB_TOKEN is not set"),
        "{}",
        run.stderr
    );
}

#[test]
fn htpasswd_basic_auth_reads_the_docker_config() {
    let registry = Registry::start(
        Auth::Htpasswd {
            user: "ci".into(),
            password: "s3cret-basic".into(),
        },
        None,
    );
    let mut layout = Layout::new();
    let digest = layout.name_image("a", "amd64", "private");
    registry.push(
        layout.path(),
        "a",
        &format!("rocm/dev:{TAG}"),
        Some(("ci", "s3cret-basic")),
        None,
    );

    let ctx = live_ctx(&registry.host, &digest, "");
    let run = ctx.run(&["verify"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("none are configured"), "{}", run.stderr);

    ctx.docker_login(&registry.host, "ci", "wrong-password");
    let run = ctx.run(&["verify"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("credentials rejected"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("wrong-password"));

    ctx.docker_login(&registry.host, "ci", "s3cret-basic");
    let run = ctx.run(&["verify"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("s3cret-basic"));
}

/// A registry behind the ES256 token issuer (user `ci`, password `t0ken-pass`) holding two
/// images, and a workspace whose matrix pins both.
fn token_registry() -> (Pki, TestServer, Registry, TestContext) {
    let pki = Pki::new();
    let issuer = token_issuer(&pki, "ci", "t0ken-pass");
    let registry = Registry::start(
        Auth::Token {
            realm: format!("{}/token", issuer.url()),
        },
        Some((&pki, false)),
    );
    let mut layout = Layout::new();
    let a = layout.name_image("a", "amd64", "A");
    let b = layout.name_image("b", "amd64", "B");
    registry.push(
        layout.path(),
        "a",
        &format!("rocm/dev:{TAG}"),
        Some(("ci", "t0ken-pass")),
        None,
    );
    registry.push(
        layout.path(),
        "b",
        "rocm/dev:6.4.4-ubuntu-20.04",
        Some(("ci", "t0ken-pass")),
        None,
    );

    let entries = format!(
        "{}{}",
        entry("6.4.4", "ubuntu-22.04", &a, "2026-12-01"),
        entry("6.4.4", "ubuntu-20.04", &b, "2026-12-01")
    );
    let ctx = TestContext::with_image(&format!("{}/rocm/dev", registry.host), None, &entries, "");
    (pki, issuer, registry, ctx)
}

#[test]
fn token_auth_with_a_jwt_issuer_asks_once_per_scope() {
    let (_pki, issuer, registry, ctx) = token_registry();
    let run = ctx.run(&["verify"]);
    assert_eq!(run.code, 2, "anonymous is refused by the issuer");
    assert!(
        run.stderr.contains("token service answered 401"),
        "{}",
        run.stderr
    );

    ctx.docker_login(&registry.host, "ci", "t0ken-pass");
    let before = issuer.requests().len();
    let run = ctx.run(&["verify"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let ours: Vec<_> = issuer.requests()[before..].to_vec();
    assert_eq!(
        ours.len(),
        1,
        "one token for one scope, two manifests: {ours:?}"
    );
    assert!(
        ours[0]
            .path
            .contains("scope=repository%3Arocm%2Fdev%3Apull"),
        "{}",
        ours[0].path
    );
    assert!(
        ours[0].path.contains("service=test-registry"),
        "{}",
        ours[0].path
    );
}

#[test]
fn identity_tokens_are_exchanged_with_the_refresh_token_grant() {
    let (_pki, issuer, registry, mut ctx) = token_registry();
    // From the Docker config (`docker login` with an identity token) ...
    ctx.write(
        ".docker-config/config.json",
        &serde_json::json!({"auths": {&registry.host: {"identitytoken": "refresh-t0ken-pass"}}})
            .to_string(),
    );
    let run = ctx.run(&["verify"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let grant = issuer.requests().last().cloned().unwrap();
    assert_eq!(grant.method, "POST");
    let body = String::from_utf8(grant.body.clone()).unwrap();
    for field in [
        "grant_type=refresh_token",
        "refresh_token=refresh-t0ken-pass",
        "client_id=rocforge-ci",
        "service=test-registry",
        "scope=repository%3Arocm%2Fdev%3Apull",
    ] {
        assert!(body.contains(field), "{field} in {body}");
    }
    assert!(
        !grant.path.contains("refresh"),
        "the token travels in the body, not the URL: {}",
        grant.path
    );
    assert!(!run.stdout.contains("refresh-t0ken") && !run.stderr.contains("refresh-t0ken"));

    // ... and from a credential helper that answers with the `<token>` user name.
    let bin = tempfile::tempdir().unwrap();
    let helper = bin.path().join("docker-credential-rftest");
    std::fs::write(
        &helper,
        "#!/bin/sh\nread -r server\nprintf '{\"ServerURL\":\"%s\",\"Username\":\"<token>\",\"Secret\":\"refresh-t0ken-pass\"}' \"$server\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    ctx.write(
        ".docker-config/config.json",
        &serde_json::json!({"credHelpers": {&registry.host: "rftest"}}).to_string(),
    );
    ctx.set(
        "PATH",
        &format!(
            "{}:{}",
            bin.path().display(),
            std::env::var("PATH").unwrap()
        ),
    );
    let before = issuer.requests().len();
    let run = ctx.run(&["verify"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let ours = &issuer.requests()[before..];
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!(ours[0].method, "POST");

    // A refresh token the issuer does not know is a clear 401, not a crash.
    ctx.write(
        ".docker-config/config.json",
        &serde_json::json!({"auths": {&registry.host: {"identitytoken": "stale"}}}).to_string(),
    );
    let run = ctx.run(&["verify"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("token service answered 401"),
        "{}",
        run.stderr
    );
}

#[test]
fn tls_with_a_test_ca() {
    let pki = Pki::new();
    let registry = Registry::start(Auth::Anonymous, Some((&pki, true)));
    let mut layout = Layout::new();
    let digest = layout.name_image("a", "amd64", "tls");
    registry.push(
        layout.path(),
        "a",
        &format!("rocm/dev:{TAG}"),
        None,
        Some(&pki),
    );
    let mut ctx = live_ctx(&registry.host, &digest, "");
    let run = ctx.run(&["verify"]);
    assert_eq!(run.code, 2, "an unknown CA is refused: {}", run.stderr);
    assert!(
        run.stderr.contains("registry-unreachable"),
        "{}",
        run.stderr
    );
    ctx.set(
        "ROCFORGE_CA_BUNDLE",
        &pki.path("ca.pem").display().to_string(),
    );
    let run = ctx.run(&["verify"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = ctx.run(&["resolve"]);
    assert!(
        run.stdout
            .starts_with(&format!("{}/rocm/dev:{TAG}@{digest}", registry.host)),
        "{}",
        run.stdout
    );
}

#[test]
fn a_registry_that_is_down_or_hangs() {
    let down = format!("127.0.0.1:{}", free_port());
    for (mode, code) in [("strict", 2), ("warn", 1)] {
        let ctx = live_ctx(&down, DIGEST_A, &format!("  mode: {mode}\n"));
        let run = ctx.run(&["verify"]);
        assert_eq!(run.code, code, "{}", run.stderr);
        assert!(
            run.stderr.contains("registry-unreachable") && run.stderr.contains("cannot connect"),
            "{}",
            run.stderr
        );
        // --auto and smart-bootstrap go offline instead.
        let run = ctx.run(&["resolve", "--auto"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stderr.contains("note[live-unavailable]"),
            "{}",
            run.stderr
        );
        let run = ctx.run(&["smart-bootstrap"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(ctx.json("build/rocm_snapshot.json")["mode"], "offline");
    }

    let hanging = TestServer::start(|_| None);
    let mut ctx = live_ctx(&hanging.host(), DIGEST_A, "");
    ctx.set("ROCFORGE_TIMEOUT", "1");
    let started = Instant::now();
    let run = ctx.run(&["verify"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("did not answer within 1 s"),
        "{}",
        run.stderr
    );
    assert!(
        started.elapsed().as_secs() < 30,
        "bounded retries: {:?}",
        started.elapsed()
    );
}

#[test]
fn rate_limits_are_waited_out() {
    let (registry, _layout, digest) = registry_with_image();
    let upstream = registry.host.clone();
    let limited = std::sync::atomic::AtomicBool::new(false);
    let proxy = TestServer::start(move |request| {
        if request.path.contains("/manifests/")
            && !limited.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return Some(Response::new(429, "slow down").header("Retry-After", "1"));
        }
        Some(forward(&upstream, request))
    });
    let ctx = live_ctx(&proxy.host(), &digest, "");
    let started = Instant::now();
    let run = ctx.run(&["verify"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        started.elapsed().as_millis() >= 1000,
        "Retry-After honoured"
    );
    let manifest_requests = proxy
        .requests()
        .iter()
        .filter(|r| r.path.contains("/manifests/"))
        .count();
    assert_eq!(manifest_requests, 2);
}

#[test]
fn a_registry_that_lies_about_a_manifest_is_an_integrity_error_in_every_mode() {
    let (registry, _layout, digest) = registry_with_image();
    let upstream = registry.host.clone();
    let proxy = TestServer::start(move |request| {
        let mut response = forward(&upstream, request);
        if request.path.contains("/manifests/") {
            if request.method == "HEAD" {
                // No digest header: the client must fetch and hash.
                response
                    .headers
                    .retain(|(k, _)| !k.eq_ignore_ascii_case("docker-content-digest"));
            } else {
                response.body.extend_from_slice(b"\n ");
                response
                    .headers
                    .retain(|(k, _)| !k.eq_ignore_ascii_case("content-length"));
            }
        }
        Some(response)
    });
    for mode in ["strict", "warn"] {
        let ctx = live_ctx(&proxy.host(), &digest, &format!("  mode: {mode}\n"));
        let run = ctx.run(&["verify"]);
        assert_eq!(run.code, 2, "{mode}: {}", run.stderr);
        assert!(
            run.stderr.contains("error[registry-digest-mismatch]"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains(&format!("not the {digest} asked for")),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn diagnostics_report_reachability_and_never_credential_values() {
    let (registry, _layout, digest) = registry_with_image();
    let mut ctx = live_ctx(&registry.host, &digest, "");
    ctx.set("GHCR_USER", "octocat");
    ctx.set("GHCR_TOKEN", "ghp_SENTINELTOKEN");
    ctx.set("GITHUB_TOKEN", "ghs_SENTINELGITHUB");
    let run = ctx.run(&["diagnostics", "--ci"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 1);
    let line: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    for key in [
        "timestamp",
        "ghcr_status",
        "ghcr_code",
        "dns_status",
        "ghcr_user",
        "ghcr_token_present",
        "github_token_present",
    ] {
        assert!(line.get(key).is_some(), "{key} missing: {line}");
    }
    assert_eq!(line["ghcr_code"], 200);
    assert_eq!(line["ghcr_status"], "ok");
    assert_eq!(line["dns_status"], "ok");
    assert_eq!(line["ghcr_token_present"], true);

    let run = ctx.run(&["smart-bootstrap"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(ctx.json("build/rocm_snapshot.json")["mode"], "live");

    // In GitHub Actions the values appear once, in ::add-mask:: lines, and nowhere else.
    ctx.set("GITHUB_ACTIONS", "true");
    for args in [
        &["diagnostics", "--ci"][..],
        &["verify", "--json"],
        &["diagnostics"],
    ] {
        let run = ctx.run(args);
        for secret in ["ghp_SENTINELTOKEN", "ghs_SENTINELGITHUB"] {
            assert!(
                !run.stdout.contains(secret),
                "{args:?} stdout leaks {secret}"
            );
            let leaks: Vec<&str> = run
                .stderr
                .lines()
                .filter(|l| l.contains(secret) && !l.starts_with("::add-mask::"))
                .collect();
            assert!(leaks.is_empty(), "{args:?} stderr leaks: {leaks:?}");
            assert!(run.stderr.contains(&format!("::add-mask::{secret}")));
        }
    }
}

#[test]
fn offline_commands_make_no_network_call() {
    let watcher = TestServer::start(|_| None);
    let ctx = live_ctx(&watcher.host(), DIGEST_A, "");
    for args in [
        &["resolve", "--offline"][..],
        &["verify", "--offline"],
        &["offline-bootstrap"],
    ] {
        let run = ctx.run(args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    }
    assert!(watcher.requests().is_empty(), "{:?}", watcher.requests());
}

#[test]
fn html_instead_of_json_and_oversized_manifests_are_refused_by_name() {
    let (registry, _layout, digest) = registry_with_image();
    let upstream = registry.host.clone();
    let html = TestServer::start(move |request| {
        if request.path.contains("/manifests/") {
            let page = "<html><body>Sign in to continue</body></html>";
            return Some(Response::new(200, page).header("Content-Type", "text/html"));
        }
        Some(forward(&upstream, request))
    });
    let ctx = live_ctx(&html.host(), &digest, "");
    let run = ctx.run(&["verify"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the manifest is not JSON (content-type `text/html`)"),
        "{}",
        run.stderr
    );

    let upstream = registry.host.clone();
    let huge = TestServer::start(move |request| {
        if request.path.contains("/manifests/") {
            return Some(
                Response::new(200, vec![b' '; 5 << 20])
                    .header("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
            );
        }
        Some(forward(&upstream, request))
    });
    let ctx = live_ctx(&huge.host(), &digest, "");
    let run = ctx.run(&["verify"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("response larger than 4194304 bytes; refusing it"),
        "{}",
        run.stderr
    );
}

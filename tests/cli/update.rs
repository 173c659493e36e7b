//! The updater against the real registry: all tag pages, template matching, in-place edits.

use crate::common::*;
use crate::harness::*;

const MATRIX: &str = "# ROCm images — gepflegt von rocforge-ci ✓\nrocm:\n  image: HOST/rocm/dev   # upstream\n  tag: \"{version}-{os}\"\n\n  images:\n    # the stable pin\n    - version: \"6.4.4\"\n      os: ubuntu-22.04\n      digest: \"OLD\"   # pinned\n      added: 2026-11-01\n\n    - version: \"6.4.3\"\n      os: ubuntu-22.04\n      digest: \"OLD\"\n      added: 2026-10-01\n# end of file";

/// A registry holding tags for several versions and OSes plus junk; returns it and the
/// digests of 6.4.4 (moved), 6.4.5 and 6.4.10.
fn populated() -> (Registry, String, String, String, String) {
    let registry = Registry::anonymous();
    let mut layout = Layout::new();
    let old = layout.name_image("old", "amd64", "6.4.4 before");
    let moved = layout.name_image("moved", "amd64", "6.4.4 after");
    let v5 = layout.name_image("v5", "amd64", "6.4.5");
    let v10 = layout.name_index("v10", "6.4.10");
    registry.push(
        layout.path(),
        "moved",
        "rocm/dev:6.4.4-ubuntu-22.04",
        None,
        None,
    );
    registry.push(
        layout.path(),
        "v5",
        "rocm/dev:6.4.5-ubuntu-22.04",
        None,
        None,
    );
    registry.push(
        layout.path(),
        "v10",
        "rocm/dev:6.4.10-ubuntu-22.04",
        None,
        None,
    );
    registry.push(
        layout.path(),
        "v5",
        "rocm/dev:6.4.5-ubuntu-24.04",
        None,
        None,
    );
    registry.push(layout.path(), "v5", "rocm/dev:latest", None, None);
    registry.push(
        layout.path(),
        "v5",
        "rocm/dev:nightly-ubuntu-22.04",
        None,
        None,
    );
    registry.push(
        layout.path(),
        "v5",
        &format!("rocm/dev:sha256-{}.sig", "a".repeat(64)),
        None,
        None,
    );
    (registry, old, moved, v5, v10)
}

fn matrix_for(host: &str, old: &str) -> String {
    MATRIX.replace("HOST", host).replace("OLD", old)
}

/// Serves the registry's tag list in pages of `size` with relative `Link` headers.
fn paginating_proxy(upstream: String, size: usize) -> TestServer {
    TestServer::start(move |request| {
        if !request.path.contains("/tags/list") {
            return Some(forward(&upstream, request));
        }
        let all = forward(
            &upstream,
            &Request {
                path: "/v2/rocm/dev/tags/list".into(),
                ..request.clone()
            },
        );
        let mut tags: Vec<String> = serde_json::from_slice::<serde_json::Value>(&all.body).unwrap()
            ["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect();
        tags.reverse(); // not sorted: the client must sort
        let last = request
            .path
            .split("last=")
            .nth(1)
            .map(|l| l.split('&').next().unwrap().to_owned());
        let start = last.map_or(0, |l| tags.iter().position(|t| *t == l).unwrap() + 1);
        let page: Vec<&String> = tags.iter().skip(start).take(size).collect();
        let mut response = Response::new(
            200,
            serde_json::json!({"name": "rocm/dev", "tags": page}).to_string(),
        )
        .header("Content-Type", "application/json");
        if start + size < tags.len() {
            response = response.header(
                "Link",
                &format!(
                    "</v2/rocm/dev/tags/list?n={size}&last={}>; rel=\"next\"",
                    page.last().unwrap()
                ),
            );
        }
        Some(response)
    })
}

#[test]
fn update_reads_every_page_and_edits_the_matrix_in_place() {
    let (registry, old, moved, v5, v10) = populated();
    let proxy = paginating_proxy(registry.host.clone(), 3);
    let original = matrix_for(&proxy.host(), &old);
    let ctx = TestContext::with_repo_config();
    ctx.write("ci/rocm_matrix.yml", &original);
    ctx.write(
        "ci/rocm_policy.yml",
        "policy:\n  preferred_os: [ubuntu-22.04]\n",
    );
    let outputs = ctx.path("gh_output");
    let run: Run = ctx
        .command(&["update"])
        .env("GITHUB_OUTPUT", &outputs)
        .output()
        .unwrap()
        .into();
    assert_eq!(run.code, 1, "a vanished tag is a warning: {}", run.stderr);
    assert!(
        run.stderr
            .contains("warning[tag-vanished]: 6.4.3/ubuntu-22.04"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout
            .contains("2 added, 1 refreshed, 1 vanished, 0 unchanged"),
        "{}",
        run.stdout
    );
    let pages = proxy
        .requests()
        .iter()
        .filter(|r| r.path.contains("/tags/list"))
        .count();
    assert_eq!(pages, 3, "7 tags in pages of 3");

    let edited = ctx.read("ci/rocm_matrix.yml");
    let expected = original.replacen(&format!("digest: \"{old}\"   # pinned\n      added: 2026-11-01"), &format!("digest: \"{moved}\"   # pinned\n      added: 2026-12-03"), 1).replace(
        &format!("      digest: \"{old}\"\n      added: 2026-10-01"),
        &format!(
            "      digest: \"{old}\"\n      added: 2026-10-01\n    - version: \"6.4.5\"\n      os: ubuntu-22.04\n      digest: \"{v5}\"\n      added: 2026-12-03\n    - version: \"6.4.10\"\n      os: ubuntu-22.04\n      digest: \"{v10}\"\n      added: 2026-12-03"
        ),
    );
    assert_eq!(edited, expected);
    assert_eq!(ctx.run(&["matrix", "check"]).code, 0);

    let outputs = std::fs::read_to_string(outputs).unwrap();
    assert!(outputs.contains("changed=true"), "{outputs}");
    let body = ctx.read("build/update-pr.md");
    assert!(
        body.contains(&format!(
            "| 6.4.4 | ubuntu-22.04 | `6.4.4-ubuntu-22.04` | `{old}` | `{moved}` |"
        )),
        "{body}"
    );
    assert!(body.contains("- 6.4.3/ubuntu-22.04"), "{body}");

    // Idempotent: a second run changes nothing.
    let run: Run = ctx
        .command(&["update"])
        .env("GITHUB_OUTPUT", ctx.path("gh2"))
        .output()
        .unwrap()
        .into();
    assert!(
        run.stdout
            .contains("0 added, 0 refreshed, 1 vanished, 3 unchanged"),
        "{}",
        run.stdout
    );
    assert_eq!(ctx.read("ci/rocm_matrix.yml"), expected);
    assert!(
        std::fs::read_to_string(ctx.path("gh2"))
            .unwrap()
            .contains("changed=false")
    );
}

#[test]
fn dry_run_and_an_unreachable_registry_leave_the_matrix_alone() {
    let (registry, old, ..) = populated();
    let ctx = TestContext::with_repo_config();
    let original = matrix_for(&registry.host, &old);
    ctx.write("ci/rocm_matrix.yml", &original);
    let run = ctx.run(&[
        "update",
        "--dry-run",
        "--os",
        "ubuntu-22.04",
        "--os",
        "ubuntu-24.04",
    ]);
    assert!(
        run.stdout.contains("3 added, 1 refreshed, 1 vanished"),
        "{}",
        run.stdout
    );
    assert_eq!(ctx.read("ci/rocm_matrix.yml"), original);
    assert!(
        ctx.read("build/update-pr.md")
            .contains("6.4.5 | ubuntu-24.04")
    );

    let down = matrix_for(&format!("127.0.0.1:{}", free_port()), &old);
    ctx.write("ci/rocm_matrix.yml", &down);
    let run = ctx.run(&["update"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("error[registry-unreachable]")
            && run.stderr.contains("the matrix is unchanged"),
        "{}",
        run.stderr
    );
    assert_eq!(ctx.read("ci/rocm_matrix.yml"), down);
    let run = ctx.run(&["update", "--offline"]);
    assert_eq!(run.code, 0);
    assert_eq!(ctx.read("ci/rocm_matrix.yml"), down);
}

#[test]
fn update_asks_for_one_token_per_scope() {
    let pki = Pki::new();
    let issuer = token_issuer(&pki, "ci", "pw");
    let registry = Registry::start(
        Auth::Token {
            realm: format!("{}/token", issuer.url()),
        },
        Some((&pki, false)),
    );
    let mut layout = Layout::new();
    layout.name_image("x", "amd64", "x");
    for version in ["6.4.1", "6.4.2", "6.4.3", "6.4.4", "6.4.5"] {
        registry.push(
            layout.path(),
            "x",
            &format!("rocm/dev:{version}-ubuntu-22.04"),
            Some(("ci", "pw")),
            None,
        );
    }
    let ctx = TestContext::with_repo_config();
    ctx.write("ci/rocm_matrix.yml", &format!("rocm:\n  image: {}/rocm/dev\n  images:\n    - version: \"6.4.1\"\n      os: ubuntu-22.04\n", registry.host));
    ctx.docker_login(&registry.host, "ci", "pw");
    let before = issuer.requests().len();
    let run = ctx.run(&["update", "--os", "ubuntu-22.04"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("4 added, 1 refreshed"),
        "{}",
        run.stdout
    );
    assert_eq!(
        issuer.requests().len() - before,
        1,
        "one token for the tag list and all five manifests"
    );
}

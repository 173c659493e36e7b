//! The shared harness: a temporary workspace holding copies of the repository's `ci/` files,
//! and a way to run the binary in it with a pinned clock.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

pub const NOW: &str = "2026-12-03T12:00:00Z";
pub const DIGEST_A: &str =
    "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
pub const DIGEST_B: &str =
    "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

pub struct TestContext {
    pub dir: TempDir,
    pub env: Vec<(String, String)>,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code().expect("exited normally"),
            stdout: String::from_utf8(o.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(o.stderr).expect("stderr is UTF-8"),
        }
    }
}

impl TestContext {
    /// An empty workspace.
    pub fn empty() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        // No credentials of the machine running the tests: an empty Docker config directory.
        let docker = dir.path().join(".docker-config");
        Self {
            env: vec![
                ("ROCFORGE_NOW".into(), NOW.into()),
                ("DOCKER_CONFIG".into(), docker.display().to_string()),
                ("HOME".into(), dir.path().display().to_string()),
            ],
            dir,
        }
    }

    /// A workspace whose matrix points at `image` (and `mirror`), e.g. a local registry.
    pub fn with_image(image: &str, mirror: Option<&str>, entries: &str, policy: &str) -> Self {
        let ctx = Self::empty();
        let mirror = mirror
            .map(|m| format!("  mirror: {m}\n"))
            .unwrap_or_default();
        ctx.write(
            "ci/rocm_matrix.yml",
            &format!("rocm:\n  image: {image}\n{mirror}  images:\n{entries}"),
        );
        ctx.write("ci/rocm_policy.yml", &format!("policy:\n{policy}"));
        ctx
    }

    /// Writes a Docker config whose `auths` hold `user:password` for `host`.
    pub fn docker_login(&self, host: &str, user: &str, password: &str) {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.write(
            ".docker-config/config.json",
            &serde_json::json!({"auths": {host: {"auth": auth}}}).to_string(),
        );
    }

    pub fn set(&mut self, name: &str, value: &str) {
        self.env.retain(|(k, _)| k != name);
        self.env.push((name.to_owned(), value.to_owned()));
    }

    /// A workspace with the repository's own `ci/` files.
    pub fn with_repo_config() -> Self {
        let ctx = Self::empty();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        for name in ["rocm_matrix.yml", "rocm_policy.yml"] {
            ctx.write(
                &format!("ci/{name}"),
                &fs::read_to_string(repo.join("ci").join(name)).unwrap(),
            );
        }
        ctx
    }

    /// A workspace with the given matrix entries (YAML list items) and policy body.
    pub fn with(entries: &str, policy: &str) -> Self {
        let ctx = Self::empty();
        ctx.write(
            "ci/rocm_matrix.yml",
            &format!(
                "rocm:\n  image: ghcr.io/rocm/dev\n  mirror: ghcr.io/zerkol83/rocm-dev\n  canonical: rocforge/rocm-dev\n  images:\n{entries}"
            ),
        );
        ctx.write("ci/rocm_policy.yml", &format!("policy:\n{policy}"));
        ctx
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn write(&self, relative: &str, content: &str) {
        let path = self.path(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    pub fn read(&self, relative: &str) -> String {
        fs::read_to_string(self.path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
    }

    pub fn json(&self, relative: &str) -> serde_json::Value {
        serde_json::from_str(&self.read(relative)).unwrap()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rocforge-ci"));
        cmd.current_dir(self.dir.path()).args(args);
        for var in [
            "GITHUB_ACTIONS",
            "GITHUB_OUTPUT",
            "GITHUB_STEP_SUMMARY",
            "GITHUB_ENV",
        ] {
            cmd.env_remove(var);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.command(args).output().expect("binary runs").into()
    }

    /// Every file below the workspace with its bytes, to prove a run changed nothing.
    pub fn tree(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
            for entry in fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, root, out);
                } else {
                    out.insert(
                        path.strip_prefix(root).unwrap().to_path_buf(),
                        fs::read(&path).unwrap(),
                    );
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(self.dir.path(), self.dir.path(), &mut out);
        out
    }
}

/// A matrix entry with a digest and `added` date.
pub fn entry(version: &str, os: &str, digest: &str, added: &str) -> String {
    format!(
        "    - version: \"{version}\"\n      os: {os}\n      digest: \"{digest}\"\n      added: {added}\n"
    )
}

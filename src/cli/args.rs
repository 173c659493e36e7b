//! The command line. Doc comments here are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Keeps the container images of ROCm CI pinned, verified and fresh.
///
/// Exit codes: 0 OK, 1 warning, 2 failure (integrity or unusable input), 3 signature failure.
#[derive(Debug, Parser)]
#[command(name = "rocforge-ci", version, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

const EXAMPLES: &str = "\
Examples:
  rocforge-ci smart-bootstrap              # diagnostics, then live or offline resolve + verify
  rocforge-ci offline-bootstrap            # validate ci/, resolve from caches, no network
  rocforge-ci verify \"$(rocforge-ci resolve)\"
  rocforge-ci update --dry-run             # what the weekly refresh PR would change
  rocforge-ci cache-build --release 6.4.4 --os ubuntu-22.04 && rocforge-ci cache-verify
  rocforge-ci clamp capture --target /opt/rocm";

#[derive(Debug, Args)]
pub struct Global {
    /// Repository root; every path below is relative to it.
    #[arg(
        short = 'C',
        long,
        global = true,
        default_value = ".",
        value_name = "DIR"
    )]
    pub root: PathBuf,
    /// The image matrix.
    #[arg(long, global = true, default_value = rocforge_ci::config::DEFAULT_MATRIX, value_name = "FILE")]
    pub matrix: PathBuf,
    /// The policy.
    #[arg(long, global = true, default_value = rocforge_ci::config::DEFAULT_POLICY, value_name = "FILE")]
    pub policy: PathBuf,
    /// Print one JSON document on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pick the image by policy order and write build/rocm_snapshot.json.
    ///
    /// Prints `<registry>/<repo>:<tag>@<digest>` and sets the step outputs `image`, `digest`
    /// and `mode` (local when the cached tarball verifies, offline otherwise).
    #[command(
        after_help = "Examples:\n  rocforge-ci resolve --offline\n  rocforge-ci resolve --offline --os ubuntu-20.04 --version 6.4.4"
    )]
    Resolve {
        #[command(flatten)]
        network: NetworkArgs,
        #[command(flatten)]
        selection: SelectionArgs,
    },
    /// Check a resolved reference (or, without one, every matrix entry).
    ///
    /// Offline checks: the reference is a matrix entry with its pinned digest, the pin is
    /// younger than digest_ttl, cached tarballs have their recorded SHA-256. Live, also: the
    /// registry's digest equals the pin, and signatures / attestations (cosign keys, keyless
    /// identities, Sigstore bundles) verify against the policy's trusted_root (exit 3 when a
    /// required one does not, in strict mode); results in build/rocm_provenance.json.
    #[command(
        after_help = "Examples:\n  rocforge-ci verify --offline\n  rocforge-ci verify --offline \"$(rocforge-ci resolve --offline)\"\n  rocforge-ci verify ghcr.io/rocm/dev:6.4.4-ubuntu-22.04@sha256:…   # live, with signatures"
    )]
    Verify {
        /// The reference from `resolve`; all entries when omitted.
        reference: Option<String>,
        #[command(flatten)]
        network: NetworkArgs,
    },
    /// Record new tags and moved digests in the matrix, in place, for the weekly PR.
    ///
    /// Lists every tag of the upstream repository, keeps those matching the tag template for
    /// the OSes (--os, else the policy's preferred_os, else the matrix's), adds new versions
    /// with their digest and today's date, refreshes moved digests and reports vanished tags.
    /// Comments and formatting of untouched lines survive. Sets the step output `changed`.
    #[command(
        after_help = "Examples:\n  rocforge-ci update --dry-run\n  rocforge-ci update --os ubuntu-22.04 --os ubuntu-24.04 --pr-body build/update-pr.md"
    )]
    Update {
        /// An OS to track (repeatable).
        #[arg(long = "os", value_name = "OS")]
        oses: Vec<String>,
        /// Report what would change; write nothing but the PR body.
        #[arg(long)]
        dry_run: bool,
        /// Where the markdown PR body goes.
        #[arg(long, default_value = "build/update-pr.md", value_name = "FILE")]
        pr_body: std::path::PathBuf,
        #[command(flatten)]
        network: NetworkArgs,
    },
    /// Write the pinned image as a docker-archive images/<name>.tar.gz, no Docker engine needed.
    ///
    /// Pulls the matrix digest for one platform, streams it into a reproducible multi-member
    /// gzip (same digest in, same bytes out), records `tarball` and `sha256` in the matrix, and
    /// with --push copies every platform to the mirror tag and checks the mirror's digest.
    #[command(
        after_help = "Examples:\n  rocforge-ci cache-build --release 6.4.4 --os ubuntu-22.04\n  rocforge-ci cache-build --release 6.4.4 --os ubuntu-22.04 --platform linux/arm64 --push"
    )]
    CacheBuild {
        /// The ROCm version of the matrix entry.
        #[arg(long = "release", value_name = "VERSION")]
        release: String,
        /// The OS of the matrix entry.
        #[arg(long)]
        os: String,
        /// Which image of a multi-arch index.
        #[arg(long, default_value = "linux/amd64")]
        platform: String,
        /// Also copy the image to the mirror repository.
        #[arg(long)]
        push: bool,
        /// Build with `docker build -f FILE` instead (needs a Docker engine; not reproducible).
        #[arg(long, value_name = "FILE")]
        dockerfile: Option<std::path::PathBuf>,
        /// Where the tarball goes (default images/<name>-<tag>.tar.gz).
        #[arg(long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
    /// Check cached tarballs in one streaming pass: gzip, SHA-256, structure, every blob.
    ///
    /// A damaged tarball (not gzip, truncated, corrupt) is a warning, and the bootstraps fall
    /// back; an intact tarball whose SHA-256 or inner digests disagree is a different image
    /// (exit 2).
    #[command(
        after_help = "Examples:\n  rocforge-ci cache-verify\n  rocforge-ci cache-verify images/rocm-dev-6.4.4-ubuntu-22.04.tar.gz --load"
    )]
    CacheVerify {
        /// Tarballs to check (default: every tarball named in the matrix).
        files: Vec<std::path::PathBuf>,
        /// Load verified tarballs into Docker or Podman where one is installed.
        #[arg(long)]
        load: bool,
    },
    /// Validate the matrix and pinned data, resolve, record the mode; no network at all.
    #[command(after_help = "Example:\n  rocforge-ci offline-bootstrap && cat build/run.json")]
    OfflineBootstrap {
        #[command(flatten)]
        selection: SelectionArgs,
    },
    /// Diagnostics, then live resolve + verify if the registry answers (200/401), else offline.
    #[command(after_help = "Example:\n  rocforge-ci smart-bootstrap || echo \"exit $?\"")]
    SmartBootstrap {
        #[command(flatten)]
        selection: SelectionArgs,
    },
    /// Registry reachability (DNS, HTTP code of /v2/, latency) and which credentials are set.
    ///
    /// Credential values are never printed, only whether they are present.
    #[command(
        after_help = "Examples:\n  rocforge-ci diagnostics\n  rocforge-ci diagnostics --ci   # one JSON line for CI logs"
    )]
    Diagnostics {
        /// One JSON line: timestamp, ghcr_status, ghcr_code, dns_status, ghcr_user, ghcr_token_present, github_token_present, …
        #[arg(long)]
        ci: bool,
        /// The registry to check (default: the matrix's upstream registry).
        #[arg(long)]
        registry: Option<String>,
    },
    /// Show or clear the mode recorded in .ci_mode.
    #[command(after_help = "Examples:\n  rocforge-ci mode show\n  rocforge-ci mode reset")]
    Mode {
        #[command(subcommand)]
        action: ModeAction,
    },
    /// SNAPI, the extension interface: list, call or serve extension commands.
    #[command(
        after_help = "Examples:\n  rocforge-ci snapi list\n  rocforge-ci snapi call clamp.verify --payload '{\"manifest_path\": \"build/clamp/manifest.json\"}'\n  echo '{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"snapi.list\"}' | rocforge-ci snapi serve"
    )]
    Snapi {
        #[command(subcommand)]
        action: SnapiAction,
    },
    /// Clamp: capture, verify and restore the ROCm environment (the clamp.* SNAPI calls).
    #[command(
        after_help = "Examples:\n  rocforge-ci clamp capture --target /opt/rocm --archive\n  rocforge-ci clamp verify\n  rocforge-ci clamp restore --dry-run"
    )]
    Clamp {
        #[command(subcommand)]
        action: ClampAction,
    },
    /// Check the matrix file.
    #[command(after_help = "Example:\n  rocforge-ci matrix check --matrix ci/rocm_matrix.yml")]
    Matrix {
        #[command(subcommand)]
        action: MatrixAction,
    },
}

#[derive(Debug, Args)]
pub struct NetworkArgs {
    /// Never touch the network: work from the matrix and cached tarballs.
    #[arg(long, conflicts_with = "auto")]
    pub offline: bool,
    /// Go live when the registry answers, offline otherwise.
    #[arg(long)]
    pub auto: bool,
}

#[derive(Debug, Args)]
pub struct SelectionArgs {
    /// Only consider this OS (e.g. ubuntu-22.04).
    #[arg(long)]
    pub os: Option<String>,
    /// Only consider this ROCm version (e.g. 6.4.4).
    #[arg(long = "version", value_name = "VERSION")]
    pub rocm_version: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ModeAction {
    /// Print the last recorded mode as JSON: {mode, snapshot, timestamp}.
    #[command(
        after_help = "Example:\n  rocforge-ci mode show   # {\"mode\":\"offline\",\"snapshot\":\"build/rocm_snapshot.json\",…}"
    )]
    Show,
    /// Remove .ci_mode after a workflow completes.
    #[command(
        after_help = "Example:\n  rocforge-ci mode reset  # {\"mode\":null,\"snapshot\":null,\"status\":\"reset\",…}"
    )]
    Reset,
}

#[derive(Debug, Subcommand)]
pub enum MatrixAction {
    /// Report every problem of the matrix (and the policy) with file:line:column.
    #[command(
        after_help = "Examples:\n  rocforge-ci matrix check\n  rocforge-ci matrix check --json | jq '.findings[] | .location'"
    )]
    Check,
}

#[derive(Debug, Subcommand)]
pub enum SnapiAction {
    /// List every registered command as extension.command.
    #[command(after_help = "Example:\n  rocforge-ci snapi list")]
    List,
    /// Call one command with a JSON object payload and print its result.
    #[command(
        after_help = "Examples:\n  rocforge-ci snapi call clamp.verify --payload '{\"manifest_path\": \"build/clamp/manifest.json\"}'\n  rocforge-ci snapi call clamp.capture --payload @payload.json"
    )]
    Call {
        /// extension.command, e.g. clamp.verify
        name: String,
        /// The payload: inline JSON, or @FILE to read it from a file.
        #[arg(long, default_value = "{}")]
        payload: String,
    },
    /// Serve JSON-RPC 2.0 on stdin/stdout, one message per line (method = extension.command).
    #[command(
        after_help = "Example:\n  echo '{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"snapi.list\"}' | rocforge-ci snapi serve"
    )]
    Serve,
}

#[derive(Debug, Subcommand)]
pub enum ClampAction {
    /// Record a ROCm tree (following its symlink chain) into manifest.json and env.sh.
    #[command(
        after_help = "Examples:\n  rocforge-ci clamp capture\n  rocforge-ci clamp capture --target /opt/rocm-6.4.4 --output build/clamp --archive"
    )]
    Capture {
        /// The ROCm root.
        #[arg(long, default_value = "/opt/rocm")]
        target: String,
        /// Where manifest.json and env.sh go.
        #[arg(long, default_value = "build/clamp")]
        output: String,
        /// Also keep every file's content, so that restore can repair drift.
        #[arg(long)]
        archive: bool,
    },
    /// Compare the live tree and environment with the manifest; every mismatch is reported.
    #[command(
        after_help = "Examples:\n  rocforge-ci clamp verify\n  rocforge-ci clamp verify --json | jq '.data.mismatches'"
    )]
    Verify {
        #[arg(long, default_value = "build/clamp/manifest.json")]
        manifest: String,
    },
    /// Re-apply the environment (env.sh, $GITHUB_ENV) and repair drift from the archive.
    #[command(
        after_help = "Examples:\n  rocforge-ci clamp restore --dry-run\n  rocforge-ci clamp restore --env build/clamp/env.sh"
    )]
    Restore {
        #[arg(long, conflicts_with = "env")]
        manifest: Option<String>,
        /// Apply only the environment of this env.sh.
        #[arg(long)]
        env: Option<String>,
        /// Show what would be done; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

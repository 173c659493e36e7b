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
  rocforge-ci offline-bootstrap            # validate ci/, resolve from caches, no network
  rocforge-ci resolve --offline --os ubuntu-22.04
  rocforge-ci verify --offline --json
  rocforge-ci matrix check
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
    /// younger than digest_ttl, cached tarballs have their recorded SHA-256.
    #[command(
        after_help = "Examples:\n  rocforge-ci verify --offline\n  rocforge-ci verify --offline \"$(rocforge-ci resolve --offline)\""
    )]
    Verify {
        /// The reference from `resolve`; all entries when omitted.
        reference: Option<String>,
        #[command(flatten)]
        network: NetworkArgs,
    },
    /// Validate the matrix and pinned data, resolve, record the mode; no network at all.
    #[command(after_help = "Example:\n  rocforge-ci offline-bootstrap && cat build/run.json")]
    OfflineBootstrap {
        #[command(flatten)]
        selection: SelectionArgs,
    },
    /// Show or clear the mode recorded in .ci_mode.
    #[command(after_help = "Examples:\n  rocforge-ci mode show\n  rocforge-ci mode reset")]
    Mode {
        #[command(subcommand)]
        action: ModeAction,
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
    Show,
    /// Remove .ci_mode after a workflow completes.
    Reset,
}

#[derive(Debug, Subcommand)]
pub enum MatrixAction {
    /// Report every problem of the matrix (and the policy) with file:line:column.
    Check,
}

//! Configuration: the matrix and the policy, parsed into a spanned tree and then validated
//! into typed values. Every problem of both files is collected, each with file:line:column.

mod decode;
pub mod edit;
pub mod matrix;
pub mod policy;
pub mod template;
pub mod yaml;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub use decode::Spanned;
pub use matrix::{Entry, Matrix, Signer, identity_pattern};
pub use policy::{AttestMode, Mode, Policy, Webhook};

use crate::findings::{Code, Finding, Location};
use decode::Decoder;

pub const DEFAULT_MATRIX: &str = "ci/rocm_matrix.yml";
pub const DEFAULT_POLICY: &str = "ci/rocm_policy.yml";

/// The repository a run works in. Every path the tool reads or writes is below `root`.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
    /// Matrix and policy paths, relative to `root` (or absolute when given so).
    pub matrix: PathBuf,
    pub policy: PathBuf,
}

impl Workspace {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            matrix: PathBuf::from(DEFAULT_MATRIX),
            policy: PathBuf::from(DEFAULT_POLICY),
        }
    }

    /// A workspace path. Relative paths are joined to the root.
    pub fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.root.join(relative)
    }

    pub fn snapshot_path(&self) -> PathBuf {
        self.path("build/rocm_snapshot.json")
    }

    pub fn run_record_path(&self) -> PathBuf {
        self.path("build/run.json")
    }

    pub fn ci_mode_path(&self) -> PathBuf {
        self.path(".ci_mode")
    }

    pub fn clamp_manifest_path(&self) -> PathBuf {
        self.path("build/clamp/manifest.json")
    }
}

/// Both files, valid.
#[derive(Debug, Clone)]
pub struct Config {
    pub matrix: Matrix,
    pub policy: Policy,
}

/// Loads and validates both files. Returns the config only when neither has an error; the
/// findings hold every problem of both files (and notices such as unrecorded digests).
pub fn load(workspace: &Workspace) -> (Option<Config>, Vec<Finding>) {
    let mut findings = Vec::new();
    let matrix = load_file(workspace, &workspace.matrix, &mut findings, matrix::decode);
    let policy = load_file(workspace, &workspace.policy, &mut findings, policy::decode);
    if let Some(m) = &matrix {
        findings.extend(notices(m, &workspace.matrix));
    }
    match (matrix, policy) {
        (Some(matrix), Some(policy)) => (Some(Config { matrix, policy }), findings),
        _ => (None, findings),
    }
}

/// Loads only the matrix (for `matrix check` when there is no policy yet).
pub fn load_matrix(workspace: &Workspace) -> (Option<Matrix>, Vec<Finding>) {
    let mut findings = Vec::new();
    let matrix = load_file(workspace, &workspace.matrix, &mut findings, matrix::decode);
    if let Some(m) = &matrix {
        findings.extend(notices(m, &workspace.matrix));
    }
    (matrix, findings)
}

/// Validates matrix text as if it were the file `relative` (the updater checks its edits so).
pub fn matrix_from_text(relative: &Path, text: &str) -> (Option<Matrix>, Vec<Finding>) {
    let mut findings = Vec::new();
    let matrix = decode_text(relative, text, &mut findings, matrix::decode);
    (matrix, findings)
}

fn load_file<T>(
    workspace: &Workspace,
    relative: &Path,
    findings: &mut Vec<Finding>,
    decode: fn(&yaml::Node, &mut Decoder) -> Option<T>,
) -> Option<T> {
    let path = workspace.path(relative);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            let message = match e.kind() {
                io::ErrorKind::NotFound => format!(
                    "{} not found (looked in {}); create it or pass its path",
                    relative.display(),
                    workspace.root.display()
                ),
                io::ErrorKind::InvalidData => {
                    format!("{} is not UTF-8 text", relative.display())
                }
                _ => format!("cannot read {}: {e}", relative.display()),
            };
            findings.push(
                Finding::new(Code::ConfigMissing, message).about(relative.display().to_string()),
            );
            return None;
        }
    };
    decode_text(relative, &text, findings, decode)
}

fn decode_text<T>(
    relative: &Path,
    text: &str,
    findings: &mut Vec<Finding>,
    decode: fn(&yaml::Node, &mut Decoder) -> Option<T>,
) -> Option<T> {
    let root = match yaml::parse(text) {
        Ok(Some(root)) => root,
        Ok(None) => {
            findings.push(
                Finding::new(
                    Code::ConfigSyntax,
                    format!("{} is empty", relative.display()),
                )
                .at(Some(Location {
                    file: relative.to_path_buf(),
                    line: 1,
                    column: 1,
                })),
            );
            return None;
        }
        Err(e) => {
            findings.push(
                Finding::new(
                    Code::ConfigSyntax,
                    format!("YAML syntax error: {}", e.message),
                )
                .at(Some(Location {
                    file: relative.to_path_buf(),
                    line: e.line,
                    column: e.column,
                })),
            );
            return None;
        }
    };
    let mut decoder = Decoder::new(relative);
    let value = decode(&root, &mut decoder);
    let failed = !decoder.findings.is_empty();
    findings.append(&mut decoder.findings);
    if failed { None } else { value }
}

/// Things worth saying about a valid matrix.
fn notices(matrix: &Matrix, file: &Path) -> Vec<Finding> {
    matrix
        .images
        .iter()
        .filter(|e| e.digest.is_none())
        .map(|e| {
            Finding::new(
                Code::DigestNotRecorded,
                format!(
                    "{}: no digest recorded yet; `rocforge-ci update` records it from the registry",
                    e.label()
                ),
            )
            .about(matrix.upstream(e).to_string())
            .at(Some(Location {
                file: file.to_path_buf(),
                line: e.span.line,
                column: e.span.column,
            }))
        })
        .collect()
}

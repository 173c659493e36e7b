//! Writes a report where it belongs: the answer on stdout, diagnostics on stderr, and in
//! GitHub Actions the annotations, step outputs and step summary.

use std::env;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;

use anyhow::{Context as _, Result};
use rocforge_ci::report::{Report, github, human, json};

pub fn emit(report: &Report, as_json: bool) -> Result<()> {
    let in_actions = env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
    let mut stdout = io::stdout().lock();
    let mut stderr = io::stderr().lock();
    if as_json {
        stdout.write_all(json::render(report).as_bytes())?;
    } else if let Some(headline) = &report.headline {
        writeln!(stdout, "{headline}")?;
    }
    if in_actions {
        // The runner reads workflow commands from both streams; stderr keeps stdout clean
        // for `$(rocforge-ci resolve)`.
        stderr.write_all(github::annotations(report).as_bytes())?;
    } else if !as_json {
        stderr.write_all(human::diagnostics(report).as_bytes())?;
    }
    if let Some(path) = env::var_os("GITHUB_OUTPUT").filter(|p| !p.is_empty()) {
        append(Path::new(&path), &github::outputs_file(&report.outputs))?;
    }
    if let Some(path) = env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        append(Path::new(&path), &github::step_summary(report))?;
    }
    Ok(())
}

/// The runner's files are appended to by every step, so they are not replaced atomically.
fn append(path: &Path, text: &str) -> Result<()> {
    if text.is_empty() {
        return Ok(());
    }
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Inside GitHub Actions, tells the runner to hide every token value this process can see
/// before anything else is printed.
pub fn mask_secrets() {
    if !env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
        return;
    }
    let mut stderr = io::stderr().lock();
    for name in ["GITHUB_TOKEN", "GHCR_TOKEN"] {
        if let Ok(value) = env::var(name)
            && !value.is_empty()
        {
            let _ = stderr.write_all(github::mask(&value).as_bytes());
        }
    }
}

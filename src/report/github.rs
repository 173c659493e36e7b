//! GitHub Actions: workflow-command annotations, `$GITHUB_OUTPUT` and `$GITHUB_STEP_SUMMARY`.
//! See "Workflow commands for GitHub Actions" in GitHub's documentation for the escaping rules.

use std::fmt::Write;

use crate::findings::Severity;
use crate::hashing::sha256_bytes;

use super::Report;

/// `::error file=…,line=…,col=…,title=code::message`, one line per finding.
pub fn annotations(report: &Report) -> String {
    let mut out = String::new();
    for f in report.findings.iter() {
        let command = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let mut properties = Vec::new();
        if let Some(location) = &f.location {
            properties.push(format!(
                "file={}",
                escape_property(&location.file.display().to_string())
            ));
            properties.push(format!("line={}", location.line));
            properties.push(format!("col={}", location.column));
        }
        properties.push(format!("title={}", escape_property(f.code.as_str())));
        let _ = writeln!(
            out,
            "::{command} {}::{}",
            properties.join(","),
            escape_data(&f.message)
        );
    }
    out
}

/// `::add-mask::value`, so the runner hides a secret in every later log line.
pub fn mask(secret: &str) -> String {
    format!("::add-mask::{}\n", escape_data(secret))
}

/// Step outputs in the `$GITHUB_OUTPUT` file format; multi-line values use a delimiter that
/// cannot occur in the value.
pub fn outputs_file(outputs: &[(String, String)]) -> String {
    let mut out = String::new();
    for (name, value) in outputs {
        if value.contains('\n') || value.contains('\r') {
            let delimiter = format!("ghadelimiter_{}", &sha256_bytes(value.as_bytes())[..32]);
            let _ = writeln!(out, "{name}<<{delimiter}\n{value}\n{delimiter}");
        } else {
            let _ = writeln!(out, "{name}={value}");
        }
    }
    out
}

/// A markdown section for `$GITHUB_STEP_SUMMARY`.
pub fn step_summary(report: &Report) -> String {
    let status = report.exit_status();
    let mut out = format!(
        "### rocforge-ci {} — {} (exit {})\n\n",
        report.command,
        status.as_str(),
        status.code()
    );
    if !report.entries.is_empty() {
        out.push_str(
            "| Image | Digest | Age (days) | Tarball | Signature |\n|---|---|---|---|---|\n",
        );
        for e in &report.entries {
            let digest = e
                .digest
                .as_deref()
                .map_or("not recorded".to_owned(), short_digest);
            let age = e.age_days.map_or("–".to_owned(), |d| d.to_string());
            let tarball = serde_json::to_value(&e.tarball)
                .ok()
                .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(str::to_owned))
                .unwrap_or_default();
            let image = match &e.release_notes {
                Some(url) => format!("[{}]({url})", cell(&e.reference)),
                None => format!("`{}`", cell(&e.reference)),
            };
            let signature = e.signature.as_deref().unwrap_or("–");
            let _ = writeln!(
                out,
                "| {image} | `{digest}` | {age} | {tarball} | {signature} |"
            );
        }
        out.push('\n');
    }
    if let Some(markdown) = &report.markdown {
        out.push_str(markdown);
        out.push('\n');
    }
    if report.findings.as_slice().is_empty() {
        out.push_str("No findings.\n");
    } else {
        out.push_str("| Severity | Code | Finding | Where |\n|---|---|---|---|\n");
        for f in report.findings.iter() {
            let location = f
                .location
                .as_ref()
                .map_or(String::new(), |l| format!("`{l}`"));
            let _ = writeln!(
                out,
                "| {} | `{}` | {} | {location} |",
                f.severity.as_str(),
                f.code,
                cell(&f.message)
            );
        }
    }
    out.push('\n');
    out
}

fn short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        Some((alg, hex)) if hex.len() > 12 => format!("{alg}:{}", &hex[..12]),
        _ => digest.to_owned(),
    }
}

/// Table cells: no pipes, no line breaks.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mode;
    use crate::findings::{Code, Finding, Findings, Location};

    #[test]
    fn annotations_escape_and_locate() {
        let mut findings = Findings::new(Mode::Strict);
        findings.push(
            Finding::new(Code::DigestMalformed, "bad: 100%\nsecond line").at(Some(Location {
                file: "ci/a,b.yml".into(),
                line: 9,
                column: 15,
            })),
        );
        findings.push(Finding::new(Code::DigestStale, "old"));
        let text = annotations(&Report::new("verify", findings));
        assert_eq!(
            text,
            "::error file=ci/a%2Cb.yml,line=9,col=15,title=digest-malformed::bad: 100%25%0Asecond line\n\
             ::warning title=digest-stale::old\n"
        );
    }

    #[test]
    fn outputs_use_a_delimiter_for_multiline_values() {
        let text = outputs_file(&[
            ("image".into(), "a:b".into()),
            ("body".into(), "x\ny".into()),
        ]);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("image=a:b"));
        let header = lines.next().unwrap();
        let delimiter = header.strip_prefix("body<<").unwrap();
        assert_eq!(lines.next(), Some("x"));
        assert_eq!(lines.next(), Some("y"));
        assert_eq!(lines.next(), Some(delimiter));
    }
}

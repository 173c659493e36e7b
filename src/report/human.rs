//! Plain text for people: one block per finding on stderr, the answer on stdout.

use std::fmt::Write;

use crate::findings::Severity;

use super::Report;

/// The diagnostics block: findings, then a one-line verdict (nothing when nothing was found).
pub fn diagnostics(report: &Report) -> String {
    let mut out = String::new();
    for f in report.findings.iter() {
        let label = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "note",
        };
        let _ = writeln!(out, "{label}[{}]: {}", f.code, f.message);
        if let Some(location) = &f.location {
            let _ = writeln!(out, "  --> {location}");
        }
    }
    if report.findings.as_slice().is_empty() {
        return out;
    }
    let status = report.exit_status();
    let counts = [
        (report.findings.count(Severity::Error), "error"),
        (report.findings.count(Severity::Warning), "warning"),
        (report.findings.count(Severity::Info), "note"),
    ];
    let parts: Vec<String> = counts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}{}", if *n == 1 { "" } else { "s" }))
        .collect();
    let counted = parts.join(", ");
    let _ = writeln!(
        out,
        "rocforge-ci {}: {counted} (exit {}, {})",
        report.command,
        status.code(),
        status.as_str()
    );
    out
}

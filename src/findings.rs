//! The one outcome model every check reports into.
//!
//! A check never decides how bad its finding is: it names a [`Code`], and the policy
//! [`Mode`] maps the code's [`Class`] to a [`Severity`]. The exit code is decided once, by
//! [`Findings::exit_status`], from the severities.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::config::Mode;

/// A stable, kebab-case identifier of what was found. Renamed never; add new ones instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    // Configuration: the user's input is unusable.
    ConfigMissing,
    ConfigSyntax,
    ConfigUnknownKey,
    ConfigMissingKey,
    ConfigType,
    ConfigInvalid,
    DigestMalformed,
    DateInvalid,
    MatrixEmpty,
    EntryDuplicate,
    TarballShared,
    PathUnsafe,
    // Pins and their age.
    DigestNotRecorded,
    DigestMismatch,
    DigestStale,
    DateInFuture,
    EntryNotFound,
    UsageError,
    // Cached tarballs.
    TarballMissing,
    TarballUnpinned,
    TarballMismatch,
    TarballUnreadable,
    TarballCorrupt,
    TarballLayerMismatch,
    TarballUnsafe,
    TarballStructure,
    MirrorMismatch,
    CacheBuilt,
    MirrorPushed,
    EngineMissing,
    // Network and registry.
    LiveUnavailable,
    RegistryUnreachable,
    RegistryError,
    RegistryLied,
    DigestDrift,
    DigestUnpinned,
    TagMissing,
    // Signatures and attestations.
    SignatureVerified,
    SignatureMissing,
    SignatureInvalid,
    SignatureUnverifiable,
    SignatureSkipped,
    AttestationRecorded,
    AttestationMissing,
    AttestationInvalid,
    ProvenanceUnreachable,
    // The updater.
    EntryAdded,
    EntryRefreshed,
    TagVanished,
    // Follow-ups: the update dispatch and webhooks.
    DispatchSent,
    DispatchFailed,
    NotifySent,
    NotifyFailed,
    // Runs and the Clamp hand-off.
    ModeChanged,
    ClampManifestFound,
    ClampRestoreFailed,
    ClampVerifyFailed,
    ClampMissing,
    ClampAdded,
    ClampContentChanged,
    ClampModeChanged,
    ClampTypeChanged,
    ClampLinkChanged,
    ClampVersionMismatch,
    ClampEnvChanged,
    ClampAgentsChanged,
}

/// What kind of problem a code is; the policy mode maps classes to severities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Unusable input (bad config, bad arguments): always an error.
    Input,
    /// The image is not the pinned one: error in strict, warning otherwise.
    Integrity,
    /// Something is known to be a different artefact than recorded (a cached tarball whose hash
    /// disagrees): an error whatever the mode, because using it would run another image.
    Tamper,
    /// The registry could not be asked: error in strict, warning otherwise.
    Reachability,
    /// A required signature or attestation did not verify (or one that exists is invalid):
    /// error (exit 3) in strict, warning otherwise.
    Provenance,
    /// A pin got old: a warning in every mode.
    Freshness,
    /// A cache or service could not be used; the run falls back: a warning.
    Degraded,
    /// The environment inside the job differs from its capture: an error.
    Environment,
    /// Worth knowing, never changes the exit code.
    Notice,
}

impl Code {
    pub fn class(self) -> Class {
        use Code::*;
        match self {
            ConfigMissing | ConfigSyntax | ConfigUnknownKey | ConfigMissingKey | ConfigType
            | ConfigInvalid | DigestMalformed | DateInvalid | MatrixEmpty | EntryDuplicate
            | TarballShared | PathUnsafe | EntryNotFound | UsageError => Class::Input,
            DigestMismatch | DigestDrift | DigestUnpinned | TagMissing => Class::Integrity,
            TarballMismatch | RegistryLied | TarballLayerMismatch | TarballUnsafe
            | TarballStructure | MirrorMismatch => Class::Tamper,
            TarballCorrupt => Class::Degraded,
            CacheBuilt | MirrorPushed => Class::Notice,
            EngineMissing => Class::Input,
            RegistryUnreachable | RegistryError | ProvenanceUnreachable => Class::Reachability,
            SignatureMissing
            | SignatureInvalid
            | SignatureUnverifiable
            | AttestationMissing
            | AttestationInvalid => Class::Provenance,
            SignatureVerified | SignatureSkipped | AttestationRecorded => Class::Notice,
            DispatchFailed | NotifyFailed => Class::Degraded,
            DispatchSent | NotifySent | EntryAdded | EntryRefreshed => Class::Notice,
            TagVanished => Class::Freshness,
            DigestStale | DateInFuture => Class::Freshness,
            TarballUnreadable => Class::Degraded,
            ClampRestoreFailed | ClampVerifyFailed | ClampMissing | ClampAdded
            | ClampContentChanged | ClampModeChanged | ClampTypeChanged | ClampLinkChanged
            | ClampVersionMismatch | ClampEnvChanged | ClampAgentsChanged => Class::Environment,
            DigestNotRecorded | TarballMissing | TarballUnpinned | ModeChanged
            | LiveUnavailable | ClampManifestFound => Class::Notice,
        }
    }
}

macro_rules! code_names {
    ($($code:ident => $name:literal),* $(,)?) => {
        impl Code {
            /// Every code, for documentation and tests.
            pub const ALL: &[Code] = &[$(Code::$code),*];

            /// The stable name, as in JSON and annotations.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$code => $name),*
                }
            }
        }
    };
}

code_names! {
    ConfigMissing => "config-missing",
    ConfigSyntax => "config-syntax",
    ConfigUnknownKey => "config-unknown-key",
    ConfigMissingKey => "config-missing-key",
    ConfigType => "config-type",
    ConfigInvalid => "config-invalid",
    DigestMalformed => "digest-malformed",
    DateInvalid => "date-invalid",
    MatrixEmpty => "matrix-empty",
    EntryDuplicate => "entry-duplicate",
    TarballShared => "tarball-shared",
    PathUnsafe => "path-unsafe",
    DigestNotRecorded => "digest-not-recorded",
    DigestMismatch => "digest-mismatch",
    DigestStale => "digest-stale",
    DateInFuture => "date-in-future",
    EntryNotFound => "entry-not-found",
    UsageError => "usage-error",
    TarballMissing => "tarball-missing",
    TarballUnpinned => "tarball-unpinned",
    TarballMismatch => "tarball-mismatch",
    TarballUnreadable => "tarball-unreadable",
    TarballCorrupt => "tarball-corrupt",
    TarballLayerMismatch => "tarball-layer-mismatch",
    TarballUnsafe => "tarball-unsafe",
    TarballStructure => "tarball-structure",
    MirrorMismatch => "mirror-mismatch",
    CacheBuilt => "cache-built",
    MirrorPushed => "mirror-pushed",
    EngineMissing => "engine-missing",
    LiveUnavailable => "live-unavailable",
    RegistryUnreachable => "registry-unreachable",
    RegistryError => "registry-error",
    RegistryLied => "registry-digest-mismatch",
    DigestDrift => "digest-drift",
    DigestUnpinned => "digest-unpinned",
    TagMissing => "tag-missing",
    SignatureVerified => "signature-verified",
    SignatureMissing => "signature-missing",
    SignatureInvalid => "signature-invalid",
    SignatureUnverifiable => "signature-unverifiable",
    SignatureSkipped => "signature-skipped",
    AttestationRecorded => "attestation-recorded",
    AttestationMissing => "attestation-missing",
    AttestationInvalid => "attestation-invalid",
    ProvenanceUnreachable => "provenance-unreachable",
    EntryAdded => "entry-added",
    EntryRefreshed => "entry-refreshed",
    TagVanished => "tag-vanished",
    DispatchSent => "dispatch-sent",
    DispatchFailed => "dispatch-failed",
    NotifySent => "notify-sent",
    NotifyFailed => "notify-failed",
    ModeChanged => "mode-changed",
    ClampManifestFound => "clamp-manifest-found",
    ClampRestoreFailed => "clamp-restore-failed",
    ClampVerifyFailed => "clamp-verify-failed",
    ClampMissing => "clamp-missing",
    ClampAdded => "clamp-added",
    ClampContentChanged => "clamp-content-changed",
    ClampModeChanged => "clamp-mode-changed",
    ClampTypeChanged => "clamp-type-changed",
    ClampLinkChanged => "clamp-link-changed",
    ClampVersionMismatch => "clamp-version-mismatch",
    ClampEnvChanged => "clamp-env-changed",
    ClampAgentsChanged => "clamp-agents-changed",
}

impl Code {
    /// Whether the weekly refresh should run now (drift or an old pin) in auto_update mode.
    pub fn wants_refresh(self) -> bool {
        matches!(
            self.class(),
            Class::Integrity | Class::Freshness | Class::Provenance
        )
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    /// The policy: how serious a class of finding is under a mode.
    pub fn for_class(class: Class, mode: Mode) -> Severity {
        match class {
            Class::Input | Class::Tamper | Class::Environment => Severity::Error,
            Class::Integrity => match mode {
                Mode::Strict => Severity::Error,
                Mode::Warn | Mode::AutoUpdate => Severity::Warning,
            },
            Class::Reachability | Class::Provenance => match mode {
                Mode::Strict => Severity::Error,
                Mode::Warn | Mode::AutoUpdate => Severity::Warning,
            },
            Class::Freshness | Class::Degraded => Severity::Warning,
            Class::Notice => Severity::Info,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// Where in a config file a finding comes from. Lines and columns are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// One thing a check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    /// What it is about: an image reference, a tarball path, a file in a tree.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

impl Finding {
    /// A finding whose severity is filled in when it is pushed into [`Findings`].
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            severity: Severity::Info,
            message: message.into(),
            subject: None,
            location: None,
        }
    }

    pub fn at(mut self, location: Option<Location>) -> Self {
        self.location = location;
        self
    }

    pub fn about(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }
}

/// How a run ended; converted to a process exit code only in `main`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExitStatus {
    Ok,
    Warning,
    /// Integrity failure or unusable input.
    Failure,
    /// A required signature or attestation did not verify.
    SignatureFailure,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Ok => 0,
            ExitStatus::Warning => 1,
            ExitStatus::Failure => 2,
            ExitStatus::SignatureFailure => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ExitStatus::Ok => "ok",
            ExitStatus::Warning => "warning",
            ExitStatus::Failure => "failure",
            ExitStatus::SignatureFailure => "signature-failure",
        }
    }
}

/// The findings of one run, with the mode that grades them.
#[derive(Debug, Clone)]
pub struct Findings {
    mode: Mode,
    items: Vec<Finding>,
}

impl Findings {
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            items: Vec::new(),
        }
    }

    /// Regrades everything recorded so far (config findings are collected before the policy
    /// that decides the mode has been read).
    pub fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
        for f in &mut self.items {
            f.severity = Severity::for_class(f.code.class(), mode);
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn push(&mut self, mut finding: Finding) {
        finding.severity = Severity::for_class(finding.code.class(), self.mode);
        self.items.push(finding);
    }

    pub fn extend(&mut self, findings: impl IntoIterator<Item = Finding>) {
        for f in findings {
            self.push(f);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Finding> {
        self.items.iter()
    }

    pub fn as_slice(&self) -> &[Finding] {
        &self.items
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|f| f.severity == Severity::Error)
    }

    pub fn count(&self, severity: Severity) -> usize {
        self.items.iter().filter(|f| f.severity == severity).count()
    }

    /// The one place an outcome becomes an exit status: an integrity or input error fails the
    /// run (2); otherwise a provenance error is a signature failure (3); a run with only
    /// warnings warns (1); otherwise it is OK (0).
    pub fn exit_status(&self) -> ExitStatus {
        let errors = self.items.iter().filter(|f| f.severity == Severity::Error);
        let mut status = ExitStatus::Ok;
        for f in errors {
            if f.code.class() == Class::Provenance {
                status = ExitStatus::SignatureFailure;
            } else {
                return ExitStatus::Failure;
            }
        }
        if status == ExitStatus::Ok && self.items.iter().any(|f| f.severity == Severity::Warning) {
            return ExitStatus::Warning;
        }
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_names_are_unique_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            let name = code.as_str();
            assert!(seen.insert(name), "duplicate name {name}");
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{name}"
            );
            assert_eq!(serde_json::to_value(code).unwrap(), name);
        }
    }

    #[test]
    fn mode_grades_integrity_but_not_input_or_freshness() {
        for (mode, drift, exit) in [
            (Mode::Strict, Severity::Error, ExitStatus::Failure),
            (Mode::Warn, Severity::Warning, ExitStatus::Warning),
            (Mode::AutoUpdate, Severity::Warning, ExitStatus::Warning),
        ] {
            let mut f = Findings::new(mode);
            f.push(Finding::new(Code::DigestMismatch, "moved"));
            f.push(Finding::new(Code::DigestStale, "old"));
            assert_eq!(f.as_slice()[0].severity, drift);
            assert_eq!(f.as_slice()[1].severity, Severity::Warning);
            assert_eq!(f.exit_status(), exit);
            f.push(Finding::new(Code::ConfigSyntax, "bad"));
            assert_eq!(f.exit_status(), ExitStatus::Failure);
        }
    }

    #[test]
    fn signature_failures_exit_3_unless_something_worse_happened() {
        let mut f = Findings::new(Mode::Strict);
        f.push(Finding::new(Code::SignatureInvalid, "bad"));
        assert_eq!(f.exit_status(), ExitStatus::SignatureFailure);
        assert_eq!(f.exit_status().code(), 3);
        f.push(Finding::new(Code::DigestMismatch, "moved"));
        assert_eq!(f.exit_status(), ExitStatus::Failure);
        let mut f = Findings::new(Mode::Warn);
        f.push(Finding::new(Code::SignatureMissing, "none"));
        assert_eq!(f.exit_status(), ExitStatus::Warning);
    }

    #[test]
    fn notices_keep_the_run_green_and_set_mode_regrades() {
        let mut f = Findings::new(Mode::Warn);
        f.push(Finding::new(Code::DigestNotRecorded, "empty"));
        assert_eq!(f.exit_status(), ExitStatus::Ok);
        f.push(Finding::new(Code::DigestMismatch, "moved"));
        assert_eq!(f.exit_status(), ExitStatus::Warning);
        f.set_mode(Mode::Strict);
        assert_eq!(f.exit_status(), ExitStatus::Failure);
    }
}

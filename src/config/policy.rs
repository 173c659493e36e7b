//! `ci/rocm_policy.yml`: how strictly findings are graded and what happens on drift.
//!
//! ```yaml
//! policy:
//!   mode: strict            # strict | warn | auto_update   (on_mismatch: is an alias)
//!   digest_ttl: 7           # days
//!   preferred_os: [ubuntu-22.04, ubuntu-20.04]
//!   workflow: update-rocm.yml
//!   auto_update_ref: main
//!   require_signature: false
//!   attest_mode: none       # none | record | enforce
//!   attest_predicate_type: https://slsa.dev/provenance/v1
//!   trusted_root: ci/provenance_keys/trusted_root.json   # Sigstore trust root (keyless, bundles)
//!   notify:
//!     - url: https://hooks.slack.com/services/…
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use super::decode::{Decoder, Spanned};
use super::yaml::Node;
use crate::findings::Code;

/// How drift is treated. See [`crate::findings::Severity::for_class`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Drift fails the run (exit 2).
    #[default]
    Strict,
    /// Drift warns (exit 1).
    Warn,
    /// Drift warns and dispatches the update workflow.
    AutoUpdate,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Strict => "strict",
            Mode::Warn => "warn",
            Mode::AutoUpdate => "auto_update",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttestMode {
    #[default]
    None,
    Record,
    Enforce,
}

/// A webhook told when a run warns or dispatches an update. Its URL usually embeds a secret
/// (Slack's does), so `Debug` and `Display` show only scheme and host.
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    pub url: String,
}

impl Webhook {
    pub fn redacted(&self) -> String {
        let (scheme, rest) = self.url.split_once("://").unwrap_or(("?", &self.url));
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = host.rsplit('@').next().unwrap_or(host);
        format!("{scheme}://{host}/…")
    }
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.redacted())
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    pub digest_ttl_days: u32,
    pub preferred_os: Vec<String>,
    pub workflow: String,
    pub auto_update_ref: String,
    pub require_signature: bool,
    pub attest_mode: AttestMode,
    pub attest_predicate_type: Option<String>,
    /// The Sigstore `trusted_root.json` (Fulcio CAs, CT logs, Rekor keys), relative to the
    /// repository: keyless signatures and bundles are checked against it and nothing else.
    pub trusted_root: std::path::PathBuf,
    pub notify: Vec<Webhook>,
}

/// Where the trust root is when the policy does not say.
pub const DEFAULT_TRUSTED_ROOT: &str = "ci/provenance_keys/trusted_root.json";

impl Default for Policy {
    fn default() -> Self {
        Self {
            mode: Mode::Strict,
            digest_ttl_days: 7,
            preferred_os: Vec::new(),
            workflow: "update-rocm.yml".to_owned(),
            auto_update_ref: "main".to_owned(),
            require_signature: false,
            attest_mode: AttestMode::None,
            attest_predicate_type: None,
            trusted_root: DEFAULT_TRUSTED_ROOT.into(),
            notify: Vec::new(),
        }
    }
}

const POLICY_KEYS: &[&str] = &[
    "mode",
    "on_mismatch",
    "digest_ttl",
    "preferred_os",
    "workflow",
    "auto_update_ref",
    "require_signature",
    "attest_mode",
    "attest_predicate_type",
    "trusted_root",
    "notify",
];

/// Reads the policy out of the document root; every problem goes into `decoder`.
pub(super) fn decode(root: &Node, d: &mut Decoder) -> Option<Policy> {
    let top = d.fields(root, "the policy file", &["policy"])?;
    if top.get("policy").is_some_and(Node::is_null) {
        return Some(Policy::default()); // `policy:` alone: every default.
    }
    let node = d.required(&top, "policy", "the policy file")?;
    let fields = d.fields(node, "`policy`", POLICY_KEYS)?;
    let before = d.findings.len();
    let mut policy = Policy::default();

    let mode = decode_mode(d, fields.get_set("mode"), "`mode`");
    let alias = decode_mode(d, fields.get_set("on_mismatch"), "`on_mismatch`");
    match (mode, alias) {
        (Some(m), Some(a)) if m.value != a.value => d.problem(
            Code::ConfigInvalid,
            a.span,
            format!(
                "`on_mismatch: {}` contradicts `mode: {}` (line {}); `on_mismatch` is an alias of \
                 `mode`, keep one",
                a.value.as_str(),
                m.value.as_str(),
                m.span.line
            ),
        ),
        (Some(m), _) | (None, Some(m)) => policy.mode = m.value,
        (None, None) => {}
    }
    if let Some(n) = fields.get_set("digest_ttl")
        && let Some(days) = d.unsigned(n, "`digest_ttl`")
    {
        if days == 0 {
            d.problem(
                Code::ConfigInvalid,
                n.span,
                "`digest_ttl` must be at least 1 day",
            );
        }
        policy.digest_ttl_days = days;
    }
    if let Some(n) = fields.get_set("preferred_os")
        && let Some(items) = d.list(n, "`preferred_os`")
    {
        for item in items {
            if let Some(os) = d.text(item, "an entry of `preferred_os`") {
                if policy.preferred_os.contains(&os.value) {
                    d.problem(
                        Code::ConfigInvalid,
                        os.span,
                        format!("`{}` is listed twice in `preferred_os`", os.value),
                    );
                }
                policy.preferred_os.push(os.value);
            }
        }
    }
    if let Some(w) = d.optional_text(&fields, "workflow", "`workflow`") {
        let ok = (w.ends_with(".yml") || w.ends_with(".yaml")) && !w.contains('/');
        if !ok {
            d.problem(
                Code::ConfigInvalid,
                w.span,
                format!(
                    "`workflow: {}` must be a workflow file name such as update-rocm.yml",
                    w.value
                ),
            );
        }
        policy.workflow = w.value;
    }
    if let Some(r) = d.optional_text(&fields, "auto_update_ref", "`auto_update_ref`") {
        policy.auto_update_ref = r.value;
    }
    if let Some(n) = fields.get_set("require_signature") {
        policy.require_signature = d.boolean(n, "`require_signature`").unwrap_or(false);
    }
    if let Some(n) = fields.get_set("attest_mode")
        && let Some(text) = d.text(n, "`attest_mode`")
    {
        policy.attest_mode = match text.as_str() {
            "none" => AttestMode::None,
            "record" => AttestMode::Record,
            "enforce" => AttestMode::Enforce,
            other => {
                d.problem(
                    Code::ConfigInvalid,
                    n.span,
                    format!("`attest_mode: {other}` is not one of none, record, enforce"),
                );
                AttestMode::None
            }
        };
    }
    policy.attest_predicate_type = d
        .optional_text(&fields, "attest_predicate_type", "`attest_predicate_type`")
        .map(|t| t.value);
    if let Some(text) = d.optional_text(&fields, "trusted_root", "`trusted_root`") {
        match crate::fsutil::contained_path(&text) {
            Ok(path) => policy.trusted_root = path,
            Err(e) => d.problem(
                Code::PathUnsafe,
                text.span,
                format!(
                    "`trusted_root: {}`: {e}; paths are relative to the repository root",
                    text.value
                ),
            ),
        }
    }
    if let Some(n) = fields.get_set("notify")
        && let Some(items) = d.list(n, "`notify`")
    {
        for item in items {
            let Some(hook) = d.fields(item, "a `notify` entry", &["url"]) else {
                continue;
            };
            let Some(url) = d.required(&hook, "url", "a `notify` entry") else {
                continue;
            };
            if let Some(url) = d.text(url, "`url`") {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    d.problem(
                        Code::ConfigInvalid,
                        url.span,
                        "a webhook `url` must start with https:// or http://",
                    );
                }
                policy.notify.push(Webhook { url: url.value });
            }
        }
    }
    (d.findings.len() == before).then_some(policy)
}

fn decode_mode(d: &mut Decoder, node: Option<&Node>, what: &str) -> Option<Spanned<Mode>> {
    let node = node?;
    let text = d.text(node, what)?;
    let mode = match text.as_str() {
        "strict" => Mode::Strict,
        "warn" => Mode::Warn,
        "auto_update" | "auto-update" => Mode::AutoUpdate,
        other => {
            d.problem(
                Code::ConfigInvalid,
                node.span,
                format!("{what} is `{other}`; expected strict, warn or auto_update"),
            );
            return None;
        }
    };
    Some(Spanned::new(mode, node.span))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_debug_hides_the_secret_path() {
        let hook = Webhook {
            url: "https://user:pw@hooks.slack.com/services/T000/B000/XXXXSECRET".into(),
        };
        let shown = format!("{hook:?}");
        assert!(
            !shown.contains("SECRET") && !shown.contains("pw"),
            "{shown}"
        );
        assert!(shown.contains("hooks.slack.com"), "{shown}");
    }
}

//! What happens after a verdict: the auto_update dispatch of the refresh workflow through the
//! GitHub REST API, and the `notify` webhooks. Both report their own failures as findings and
//! never fail the run beyond a warning.

use std::time::Duration;

use serde_json::json;

use crate::config::{Mode, Policy, Webhook};
use crate::findings::{Code, ExitStatus, Finding, Findings, Severity};
use crate::registry::Secret;

/// The GitHub side: `GITHUB_API_URL` (default `https://api.github.com`), `GITHUB_REPOSITORY`
/// (`owner/repo`) and `GITHUB_TOKEN` (masked everywhere).
#[derive(Debug, Clone)]
pub struct GitHub {
    pub api_url: String,
    pub repository: Option<String>,
    pub token: Option<Secret>,
}

impl GitHub {
    pub fn from_env() -> Self {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        Self {
            api_url: var("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".to_owned()),
            repository: var("GITHUB_REPOSITORY"),
            token: var("GITHUB_TOKEN").map(Secret::new),
        }
    }
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(20))
        .user_agent(concat!("rocforge-ci/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a client with fixed settings builds")
}

/// In auto_update mode, when drift or an old pin was found: dispatch the refresh workflow.
pub async fn dispatch_if_needed(policy: &Policy, github: &GitHub, findings: &mut Findings) {
    if policy.mode != Mode::AutoUpdate {
        return;
    }
    let reasons: Vec<String> = findings
        .iter()
        .filter(|f| f.code.wants_refresh())
        .map(|f| f.code.to_string())
        .collect();
    if reasons.is_empty() {
        return;
    }
    let mut reasons_unique = reasons.clone();
    reasons_unique.sort();
    reasons_unique.dedup();
    let reason = format!("rocforge-ci verify: {}", reasons_unique.join(", "));
    match dispatch(policy, github, &reason).await {
        Ok(url) => findings.push(
            Finding::new(
                Code::DispatchSent,
                format!(
                    "dispatched {} on {} ({reason})",
                    policy.workflow, policy.auto_update_ref
                ),
            )
            .about(url),
        ),
        Err(why) => findings.push(Finding::new(
            Code::DispatchFailed,
            format!("could not dispatch {}: {why}", policy.workflow),
        )),
    }
}

/// `POST /repos/{owner}/{repo}/actions/workflows/{file}/dispatches`; 204 is success.
async fn dispatch(policy: &Policy, github: &GitHub, reason: &str) -> Result<String, String> {
    let token = github
        .token
        .as_ref()
        .ok_or("GITHUB_TOKEN is not set; give the job `actions: write` and pass the token")?;
    let repository = github
        .repository
        .as_deref()
        .ok_or("GITHUB_REPOSITORY (owner/repo) is not set")?;
    if repository.split('/').count() != 2 {
        return Err(format!(
            "GITHUB_REPOSITORY `{repository}` is not owner/repo"
        ));
    }
    let url = format!(
        "{}/repos/{repository}/actions/workflows/{}/dispatches",
        github.api_url.trim_end_matches('/'),
        policy.workflow
    );
    let response = http()
        .post(&url)
        .header("Accept", "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28")
        .header("Authorization", format!("Bearer {}", token.expose()))
        .header("Content-Type", "application/json")
        .body(json!({"ref": policy.auto_update_ref, "inputs": {"reason": reason}}).to_string())
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_default();
    match status {
        204 | 200 => Ok(url),
        401 => Err(format!("GitHub rejected the token (401 {message})")),
        403 => Err(format!(
            "the token may not dispatch workflows: the job needs `permissions: actions: write` (403 {message})"
        )),
        404 => Err(format!(
            "{repository} or workflow {} not found, or the token cannot see it (404)",
            policy.workflow
        )),
        422 => Err(format!(
            "the workflow has no `workflow_dispatch` trigger, or ref `{}` does not exist (422 {message})",
            policy.auto_update_ref
        )),
        other => Err(format!("GitHub answered {other} {message}")),
    }
}

/// Tells every webhook when the run warns or dispatched an update (Slack-compatible JSON).
pub async fn notify_if_needed(policy: &Policy, command: &str, findings: &mut Findings) {
    let dispatched = findings.iter().any(|f| f.code == Code::DispatchSent);
    if policy.notify.is_empty() || (findings.exit_status() != ExitStatus::Warning && !dispatched) {
        return;
    }
    let headline = format!(
        "rocforge-ci {command}: {}{}",
        findings.exit_status().as_str(),
        if dispatched {
            ", matrix refresh dispatched"
        } else {
            ""
        }
    );
    let details: Vec<String> = findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning || f.code == Code::DispatchSent)
        .take(20)
        .map(|f| format!("• [{}] {}", f.code, f.message))
        .collect();
    let text = format!("{headline}\n{}", details.join("\n"));
    let client = http();
    for hook in &policy.notify {
        let outcome = send(&client, hook, &text, findings.exit_status()).await;
        findings.push(match outcome {
            Ok(()) => Finding::new(Code::NotifySent, format!("notified {}", hook.redacted())),
            Err(why) => Finding::new(
                Code::NotifyFailed,
                format!("webhook {} failed: {why}", hook.redacted()),
            ),
        });
    }
}

async fn send(
    client: &reqwest::Client,
    hook: &Webhook,
    text: &str,
    status: ExitStatus,
) -> Result<(), String> {
    let response = client
        .post(&hook.url)
        .header("Content-Type", "application/json")
        .body(json!({"text": text, "status": status.as_str()}).to_string())
        .send()
        .await
        // reqwest errors name the URL; the URL carries the secret, so say only what happened.
        .map_err(|e| {
            if e.is_timeout() {
                "timed out".to_owned()
            } else if e.is_connect() {
                "cannot connect".to_owned()
            } else {
                "request failed".to_owned()
            }
        })?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("answered HTTP {}", response.status().as_u16()))
    }
}

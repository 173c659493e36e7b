//! `diagnostics`: can the registry be reached, and which credentials are present (names only).
//!
//! `diagnostics --ci` prints one JSON line with the earlier tool's keys — `timestamp`,
//! `ghcr_status` (`ok` | `unreachable`), `ghcr_code` (HTTP status of `/v2/`, `null` when
//! nothing answered), `dns_status` (`ok` | `failed`), `ghcr_user`, `ghcr_token_present`,
//! `github_token_present` — plus `registry`, `latency_ms`, `docker_config_present` and `error`.

use jiff::Timestamp;
use serde::Serialize;

use crate::registry::{Client, CredentialPresence};
use crate::state::format_timestamp;

#[derive(Debug, Clone, Serialize)]
pub struct Diagnostics {
    pub timestamp: String,
    pub registry: String,
    pub ghcr_status: &'static str,
    pub ghcr_code: Option<u16>,
    pub dns_status: &'static str,
    pub latency_ms: Option<u64>,
    pub ghcr_user: bool,
    pub ghcr_token_present: bool,
    pub github_token_present: bool,
    pub docker_config_present: bool,
    pub error: Option<String>,
}

impl Diagnostics {
    /// The registry answered (200 or 401: it is there, credentials are another matter).
    pub fn reachable(&self) -> bool {
        matches!(self.ghcr_code, Some(200 | 401))
    }
}

pub async fn diagnose(client: &Client, host: &str, now: Timestamp) -> Diagnostics {
    let presence = CredentialPresence::from_env();
    let (name, port) = split_host(host);
    let dns_ok = tokio::net::lookup_host((name.as_str(), port))
        .await
        .is_ok_and(|mut a| a.next().is_some());
    let ping = client.ping(host).await;
    let docker_config = std::env::var_os("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".docker")))
        .is_some_and(|dir| dir.join("config.json").is_file());
    let (code, latency, error) = match &ping {
        Ok(p) => (Some(p.status), Some(p.latency_ms), None),
        Err(e) => (None, None, Some(e.to_string())),
    };
    let reachable = matches!(code, Some(200 | 401));
    Diagnostics {
        timestamp: format_timestamp(now),
        registry: host.to_owned(),
        ghcr_status: if reachable { "ok" } else { "unreachable" },
        ghcr_code: code,
        dns_status: if dns_ok { "ok" } else { "failed" },
        latency_ms: latency,
        ghcr_user: presence.ghcr_user,
        ghcr_token_present: presence.ghcr_token_present,
        github_token_present: presence.github_token_present,
        docker_config_present: docker_config,
        error,
    }
}

fn split_host(host: &str) -> (String, u16) {
    match host.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(']') || host.starts_with('[') => match port.parse() {
            Ok(p) => (
                name.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
                p,
            ),
            Err(_) => (host.to_owned(), 443),
        },
        _ => (host.to_owned(), 443),
    }
}

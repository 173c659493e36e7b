//! Credentials and the Bearer token flow.
//!
//! A 401 carries `WWW-Authenticate: Bearer realm=…,service=…,scope=…`; the client GETs the
//! realm with `service` and `scope` (with Basic credentials when it has any) and caches the
//! `token` (or `access_token`) per host and scope until it expires. Credentials come from
//! `GHCR_USER` + `GHCR_TOKEN` or `GITHUB_TOKEN` (for ghcr.io), then `~/.docker/config.json`
//! (`auths`, `credHelpers`, `credsStore`; `DOCKER_CONFIG` moves it). Secrets redact themselves.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

/// A secret value. `Debug` and `Display` never show it; [`Secret::expose`] is the only way out.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials {
    Basic {
        username: String,
        password: Secret,
    },
    /// An identity token from a credential store, exchanged at the realm.
    IdentityToken(Secret),
}

/// Where the credentials for a host come from; looked up once per host.
pub trait CredentialSource: Send + Sync {
    fn lookup(&self, host: &str) -> Option<Credentials>;
}

/// The environment, then the Docker configuration.
pub struct EnvironmentCredentials;

impl CredentialSource for EnvironmentCredentials {
    fn lookup(&self, host: &str) -> Option<Credentials> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if host == "ghcr.io" {
            if let (Some(user), Some(token)) = (var("GHCR_USER"), var("GHCR_TOKEN")) {
                return Some(Credentials::Basic {
                    username: user,
                    password: Secret::new(token),
                });
            }
            if let Some(token) = var("GITHUB_TOKEN") {
                let username = var("GHCR_USER")
                    .or_else(|| var("GITHUB_ACTOR"))
                    .unwrap_or_else(|| "x-access-token".to_owned());
                return Some(Credentials::Basic {
                    username,
                    password: Secret::new(token),
                });
            }
        }
        let server = if host == "docker.io" || host == "registry-1.docker.io" {
            "https://index.docker.io/v1/"
        } else {
            host
        };
        match docker_credential::get_credential(server) {
            Ok(docker_credential::DockerCredential::UsernamePassword(username, password)) => {
                Some(Credentials::Basic {
                    username,
                    password: Secret::new(password),
                })
            }
            Ok(docker_credential::DockerCredential::IdentityToken(token)) => {
                Some(Credentials::IdentityToken(Secret::new(token)))
            }
            Err(_) => None,
        }
    }
}

/// Which credentials are present, for diagnostics: names only, never values.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct CredentialPresence {
    pub ghcr_user: bool,
    pub ghcr_token_present: bool,
    pub github_token_present: bool,
}

impl CredentialPresence {
    pub fn from_env() -> Self {
        let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty());
        Self {
            ghcr_user: set("GHCR_USER"),
            ghcr_token_present: set("GHCR_TOKEN"),
            github_token_present: set("GITHUB_TOKEN"),
        }
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(char::is_whitespace)
        .unwrap_or((header, ""));
    let params = parse_params(rest);
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    Some(Challenge::Bearer {
        realm: params.get("realm")?.clone(),
        service: params.get("service").cloned(),
        scope: params.get("scope").cloned(),
    })
}

/// `key="value", key=value` pairs; commas inside quotes (scopes list actions) are kept.
fn parse_params(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end.min(quoted.len())..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        out.insert(key, value);
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

/// Bearer tokens per (host, scope), until they expire.
#[derive(Default)]
pub struct TokenCache {
    tokens: HashMap<(String, String), (Secret, Instant)>,
}

impl TokenCache {
    pub fn get(&self, host: &str, scope: &str) -> Option<Secret> {
        self.tokens
            .get(&(host.to_owned(), scope.to_owned()))
            .filter(|(_, expires)| Instant::now() < *expires)
            .map(|(token, _)| token.clone())
    }

    pub fn put(&mut self, host: &str, scope: &str, token: Secret, lifetime: Duration) {
        // Renew a little early so a token does not expire in flight.
        let lifetime = lifetime
            .saturating_sub(Duration::from_secs(5))
            .max(Duration::from_secs(1));
        self.tokens.insert(
            (host.to_owned(), scope.to_owned()),
            (token, Instant::now() + lifetime),
        );
    }

    pub fn forget(&mut self, host: &str, scope: &str) {
        self.tokens.remove(&(host.to_owned(), scope.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:rocm/dev:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://ghcr.io/token".into(),
                service: Some("ghcr.io".into()),
                scope: Some("repository:rocm/dev:pull,push".into()),
            })
        );
        assert_eq!(
            parse_challenge(
                "Bearer realm=https://auth.docker.io/token, service=registry.docker.io"
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: None
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="basic-realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None);
    }

    #[test]
    fn secrets_do_not_print() {
        let c = Credentials::Basic {
            username: "u".into(),
            password: Secret::new("hunter2"),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(Secret::new("hunter2").to_string(), "***");
    }

    #[test]
    fn token_cache_expires() {
        let mut cache = TokenCache::default();
        cache.put("h", "s", Secret::new("t"), Duration::from_secs(60));
        assert_eq!(cache.get("h", "s").unwrap().expose(), "t");
        assert!(cache.get("h", "other").is_none());
        cache.put("h", "s", Secret::new("t"), Duration::from_secs(0));
        std::thread::sleep(Duration::from_millis(1100));
        assert!(cache.get("h", "s").is_none());
    }
}

//! The OCI distribution API client: ping, manifests by tag or digest, tag lists.
//!
//! Retries are bounded: 429 honours `Retry-After`, 5xx and broken connections back off
//! exponentially, a 401 is answered once with credentials (the flow is in `token.rs`). Plain
//! HTTP is used only for hosts listed as insecure, or for loopback hosts after HTTPS failed to
//! connect.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, LINK, RETRY_AFTER, WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode};
use sha2::{Digest as _, Sha256};

use super::auth::{
    CredentialSource, Credentials, EnvironmentCredentials, TokenCache, parse_challenge,
};
use super::error::RegistryError;
use crate::reference::{Digest, Reference};

/// Every manifest type we read: indexes first, so a multi-arch tag yields its index digest.
pub const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Extra trusted CA certificates (PEM), added to the system roots.
    pub ca_bundle: Option<PathBuf>,
    /// Hosts (`host[:port]`) spoken to over plain HTTP.
    pub insecure: Vec<String>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub max_attempts: u32,
    pub max_manifest_bytes: usize,
    pub max_retry_after: Duration,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self {
            ca_bundle: None,
            insecure: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_attempts: 4,
            max_manifest_bytes: 4 * 1024 * 1024,
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RegistryOptions {
    /// `ROCFORGE_CA_BUNDLE` (PEM file), `ROCFORGE_INSECURE_REGISTRIES` (comma-separated
    /// hosts), `ROCFORGE_TIMEOUT` (seconds per request).
    pub fn from_env() -> Result<Self, RegistryError> {
        let mut options = Self::default();
        if let Ok(path) = std::env::var("ROCFORGE_CA_BUNDLE")
            && !path.is_empty()
        {
            options.ca_bundle = Some(PathBuf::from(path));
        }
        if let Ok(list) = std::env::var("ROCFORGE_INSECURE_REGISTRIES") {
            options.insecure = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Ok(text) = std::env::var("ROCFORGE_TIMEOUT") {
            let seconds: u64 = text.parse().map_err(|_| {
                RegistryError::Setup(format!(
                    "ROCFORGE_TIMEOUT={text:?} is not a number of seconds"
                ))
            })?;
            options.request_timeout = Duration::from_secs(seconds.max(1));
            options.connect_timeout = options.connect_timeout.min(options.request_timeout);
        }
        Ok(options)
    }
}

/// A manifest as fetched: raw bytes, their digest, and the media type.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// The answer of `GET /v2/`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Ping {
    pub url: String,
    pub status: u16,
    pub latency_ms: u64,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) tokens: TokenCache,
    pub(super) credentials: HashMap<String, Option<Credentials>>,
    pub(super) basic_hosts: HashSet<String>,
    plain_http: HashSet<String>,
    /// Token requests made, for tests and benchmarks ("one token per scope").
    pub(super) token_requests: usize,
}

pub struct Client {
    pub(super) http: reqwest::Client,
    pub(super) options: RegistryOptions,
    pub(super) credentials: Box<dyn CredentialSource>,
    pub(super) state: Mutex<State>,
}

impl Client {
    pub fn new(options: RegistryOptions) -> Result<Self, RegistryError> {
        Self::with_credentials(options, Box::new(EnvironmentCredentials))
    }

    pub fn with_credentials(
        options: RegistryOptions,
        credentials: Box<dyn CredentialSource>,
    ) -> Result<Self, RegistryError> {
        // The process-wide rustls provider; a second install is a harmless no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent(concat!("rocforge-ci/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &options.ca_bundle {
            let pem = std::fs::read(path).map_err(|e| {
                RegistryError::Setup(format!("reading CA bundle {}: {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| RegistryError::Setup(format!("CA bundle {}: {e}", path.display())))?;
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder
            .build()
            .map_err(|e| RegistryError::Setup(e.to_string()))?;
        Ok(Self {
            http,
            options,
            credentials,
            state: Mutex::new(State::default()),
        })
    }

    pub fn options(&self) -> &RegistryOptions {
        &self.options
    }

    /// How many token requests this client has made.
    pub fn token_requests(&self) -> usize {
        self.state.lock().expect("state").token_requests
    }

    /// `GET /v2/`: any HTTP answer (200, 401) means the registry is there.
    pub async fn ping(&self, host: &str) -> Result<Ping, RegistryError> {
        let started = Instant::now();
        let response = self.send_once(Method::GET, host, "/v2/").await?;
        Ok(Ping {
            url: response.url().to_string(),
            status: response.status().as_u16(),
            latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// The digest a reference resolves to now: HEAD, or GET and hash when the registry sends
    /// no `Docker-Content-Digest`.
    pub async fn manifest_digest(&self, reference: &Reference) -> Result<Digest, RegistryError> {
        let (response, url) = self.send_manifest(Method::HEAD, reference).await?;
        match header_digest(response.headers(), &url)? {
            Some(digest) => {
                if let Some(asked) = reference.digest()
                    && *asked != digest
                {
                    return Err(RegistryError::DigestMismatch {
                        url,
                        expected: asked.to_string(),
                        actual: digest.to_string(),
                    });
                }
                Ok(digest)
            }
            None => Ok(self.manifest(reference).await?.digest),
        }
    }

    /// A manifest request (HEAD or GET) accepting every manifest type, its status checked.
    async fn send_manifest(
        &self,
        method: Method,
        reference: &Reference,
    ) -> Result<(reqwest::Response, String), RegistryError> {
        let response = self
            .send_repo(
                method,
                reference,
                &manifest_suffix(reference),
                &scope(reference),
                Some(MANIFEST_TYPES),
            )
            .await?;
        let url = response.url().to_string();
        check_status(&response, &url, "manifest")?;
        Ok((response, url))
    }

    /// The manifest's raw bytes. By digest, the bytes must hash to it; by tag, a
    /// `Docker-Content-Digest` header must agree with them.
    pub async fn manifest(&self, reference: &Reference) -> Result<FetchedManifest, RegistryError> {
        let (response, url) = self.send_manifest(Method::GET, reference).await?;
        let media_type = content_type(response.headers());
        let claimed = header_digest(response.headers(), &url)?;
        let bytes = read_limited(response, &url, self.options.max_manifest_bytes).await?;
        let actual = Digest::sha256_from_bytes(Sha256::digest(&bytes).into());
        for expected in reference.digest().into_iter().chain(claimed.as_ref()) {
            if *expected != actual {
                return Err(RegistryError::DigestMismatch {
                    url,
                    expected: expected.to_string(),
                    actual: actual.to_string(),
                });
            }
        }
        if !media_type.contains("json")
            || serde_json::from_slice::<serde_json::Value>(&bytes).is_err()
        {
            return Err(RegistryError::Protocol {
                url,
                detail: format!("the manifest is not JSON (content-type `{media_type}`)"),
            });
        }
        Ok(FetchedManifest {
            digest: actual,
            media_type,
            bytes,
        })
    }

    /// Every tag of the repository, across all pages, sorted, without empty or digest-shaped
    /// tags. Follows `Link: <…>; rel="next"` on the same origin; stops when a page adds nothing.
    pub async fn tags(&self, repository: &Reference) -> Result<Vec<String>, RegistryError> {
        let host = repository.api_host().to_owned();
        let mut path = format!("/v2/{}/tags/list?n=1000", repository.repository());
        let mut seen: HashSet<String> = HashSet::new();
        for _ in 0..10_000 {
            let response = self
                .send(Method::GET, &host, &path, Some(&scope(repository)), None)
                .await?;
            let url = response.url().clone();
            check_status(&response, url.as_str(), "repository")?;
            let next = response
                .headers()
                .get(LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_link);
            let bytes = read_limited(response, url.as_str(), 16 * 1024 * 1024).await?;
            #[derive(serde::Deserialize)]
            struct Page {
                tags: Option<Vec<String>>,
            }
            let page: Page =
                serde_json::from_slice(&bytes).map_err(|e| RegistryError::Protocol {
                    url: url.to_string(),
                    detail: format!("tag list is not JSON: {e}"),
                })?;
            let before = seen.len();
            seen.extend(page.tags.unwrap_or_default());
            let Some(next) = next else { break };
            if seen.len() == before {
                break;
            }
            let joined = url.join(&next).map_err(|e| RegistryError::Protocol {
                url: url.to_string(),
                detail: format!("bad Link header: {e}"),
            })?;
            if joined.origin() != url.origin() {
                return Err(RegistryError::Protocol {
                    url: url.to_string(),
                    detail: format!("Link points to another origin ({joined}); not followed"),
                });
            }
            path = match joined.query() {
                Some(query) => format!("{}?{query}", joined.path()),
                None => joined.path().to_owned(),
            };
        }
        let mut tags: Vec<String> = seen
            .into_iter()
            .filter(|t| !t.is_empty() && !looks_like_digest(t))
            .collect();
        tags.sort();
        Ok(tags)
    }

    /// A request with credentials, the 401 dance, and bounded retries.
    /// A request to `/v2/<repository>/<suffix>` on the repository's registry.
    pub(super) async fn send_repo(
        &self,
        method: Method,
        repository: &Reference,
        suffix: &str,
        scope: &str,
        accept: Option<&str>,
    ) -> Result<reqwest::Response, RegistryError> {
        let path = format!("/v2/{}/{suffix}", repository.repository());
        self.send(method, repository.api_host(), &path, Some(scope), accept)
            .await
    }

    pub(super) async fn send(
        &self,
        method: Method,
        host: &str,
        path: &str,
        scope: Option<&str>,
        accept: Option<&str>,
    ) -> Result<reqwest::Response, RegistryError> {
        let mut authenticated = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self.request(method.clone(), host, path);
            if let Some(accept) = accept {
                request = request.header(ACCEPT, accept);
            }
            if let Some(value) = self.authorization(host, scope) {
                request = request.header(AUTHORIZATION, value);
            }
            let url = self.url(host, path);
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) if self.fall_back_to_http(host, &e) => {
                    attempt -= 1;
                    continue;
                }
                Err(e)
                    if attempt < self.options.max_attempts
                        && (e.is_connect() || e.is_timeout() || e.is_request()) =>
                {
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                Err(e) => return Err(self.transport_error(&url, &e)),
            };
            match response.status() {
                StatusCode::UNAUTHORIZED if !authenticated => {
                    authenticated = true;
                    let challenge = response
                        .headers()
                        .get(WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_challenge);
                    let Some(challenge) = challenge else {
                        return Err(RegistryError::Unauthorized {
                            url,
                            detail: "401 without a usable WWW-Authenticate challenge".into(),
                        });
                    };
                    self.authenticate(host, scope, challenge, &url).await?;
                }
                StatusCode::UNAUTHORIZED => {
                    if let Some(scope) = scope {
                        self.state.lock().expect("state").tokens.forget(host, scope);
                    }
                    return Err(RegistryError::Unauthorized {
                        url,
                        detail: "credentials rejected".into(),
                    });
                }
                StatusCode::TOO_MANY_REQUESTS if attempt < self.options.max_attempts => {
                    let wait = retry_after(response.headers())
                        .unwrap_or_else(|| backoff(attempt))
                        .min(self.options.max_retry_after);
                    tokio::time::sleep(wait).await;
                }
                StatusCode::TOO_MANY_REQUESTS => {
                    return Err(RegistryError::RateLimited {
                        url,
                        attempts: attempt,
                    });
                }
                s if s.is_server_error() && attempt < self.options.max_attempts => {
                    tokio::time::sleep(backoff(attempt)).await
                }
                s if s.is_server_error() => {
                    return Err(RegistryError::Server {
                        url,
                        status: s.as_u16(),
                        attempts: attempt,
                    });
                }
                _ => return Ok(response),
            }
        }
    }

    /// One request, no retries and no credentials (for pings).
    async fn send_once(
        &self,
        method: Method,
        host: &str,
        path: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        loop {
            match self.request(method.clone(), host, path).send().await {
                Ok(r) => return Ok(r),
                Err(e) if self.fall_back_to_http(host, &e) => continue,
                Err(e) => return Err(self.transport_error(&self.url(host, path), &e)),
            }
        }
    }

    /// A PUT to a URL the registry handed out (an upload location).
    pub(super) fn put_url(&self, url: reqwest::Url) -> reqwest::RequestBuilder {
        self.http.put(url)
    }

    pub(super) fn request(
        &self,
        method: Method,
        host: &str,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(host, path))
    }

    pub(super) fn url(&self, host: &str, path: &str) -> String {
        let plain = self.options.insecure.iter().any(|h| h == host)
            || self.state.lock().expect("state").plain_http.contains(host);
        format!("{}://{host}{path}", if plain { "http" } else { "https" })
    }

    /// Loopback registries may speak plain HTTP: when the HTTPS handshake met a server that
    /// does not speak TLS, switch once. A certificate that fails verification never does.
    fn fall_back_to_http(&self, host: &str, error: &reqwest::Error) -> bool {
        if !is_loopback(host) || !error.is_connect() || !peer_is_not_tls(error) {
            return false;
        }
        let mut state = self.state.lock().expect("state");
        state.plain_http.insert(host.to_owned())
    }

    pub(super) fn transport_error(&self, url: &str, error: &reqwest::Error) -> RegistryError {
        if error.is_timeout() {
            return RegistryError::Timeout {
                url: url.to_owned(),
                seconds: self.options.request_timeout.as_secs(),
            };
        }
        // reqwest's own message repeats the URL; the innermost cause says what went wrong.
        let mut cause: &dyn std::error::Error = error;
        while let Some(inner) = cause.source() {
            cause = inner;
        }
        RegistryError::Connect {
            url: url.to_owned(),
            detail: cause.to_string(),
        }
    }
}

pub(super) fn scope(reference: &Reference) -> String {
    format!("repository:{}:pull", reference.repository())
}

/// `manifests/<digest or tag>` below the repository.
fn manifest_suffix(reference: &Reference) -> String {
    let target = match (reference.digest(), reference.tag()) {
        (Some(digest), _) => digest.to_string(),
        (None, Some(tag)) => tag.to_owned(),
        (None, None) => "latest".to_owned(),
    };
    format!("manifests/{target}")
}

pub(super) fn check_status(
    response: &reqwest::Response,
    url: &str,
    what: &str,
) -> Result<(), RegistryError> {
    match response.status() {
        s if s.is_success() => Ok(()),
        StatusCode::NOT_FOUND => Err(RegistryError::NotFound {
            url: url.to_owned(),
            detail: format!(": no such {what}"),
        }),
        StatusCode::FORBIDDEN => Err(RegistryError::Denied {
            url: url.to_owned(),
            detail: String::new(),
        }),
        s => Err(RegistryError::Protocol {
            url: url.to_owned(),
            detail: format!("HTTP {}", s.as_u16()),
        }),
    }
}

fn header_digest(headers: &HeaderMap, url: &str) -> Result<Option<Digest>, RegistryError> {
    let Some(value) = headers.get("docker-content-digest") else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default();
    text.parse().map(Some).map_err(|_| RegistryError::Protocol {
        url: url.to_owned(),
        detail: format!("Docker-Content-Digest `{text}` is not a digest"),
    })
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned())
        .unwrap_or_default()
}

pub(super) async fn read_limited(
    mut response: reqwest::Response,
    url: &str,
    limit: usize,
) -> Result<Vec<u8>, RegistryError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(RegistryError::TooLarge {
            url: url.to_owned(),
            limit,
        });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| RegistryError::Connect {
        url: url.to_owned(),
        detail: format!("reading the body: {e}"),
    })? {
        if body.len() + chunk.len() > limit {
            return Err(RegistryError::TooLarge {
                url: url.to_owned(),
                limit,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The target of `Link: <url>; rel="next"`.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| {
                matches!(
                    p.trim().replace(' ', "").as_str(),
                    "rel=\"next\"" | "rel=next"
                )
            })
            .then(|| target.to_owned())
    })
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = jiff::fmt::rfc2822::parse(text).ok()?.timestamp();
    let wait = when.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// Whether a failed TLS connection met a plain-HTTP peer (a non-TLS record or a hang-up during
/// the handshake) rather than a TLS peer whose certificate was refused.
fn peer_is_not_tls(error: &reqwest::Error) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = next {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return matches!(tls, rustls::Error::InvalidMessage(_));
        }
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
            ) {
                return true;
            }
            // An io::Error hides what it wraps from `source()`; look inside it instead.
            if let Some(inner) = io.get_ref() {
                next = Some(inner as &(dyn std::error::Error + 'static));
                continue;
            }
        }
        next = current.source();
    }
    false
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64 << attempt.saturating_sub(1).min(4))
}

fn looks_like_digest(tag: &str) -> bool {
    tag.starts_with("sha256-") && tag.len() >= 71
}

pub fn is_loopback(host: &str) -> bool {
    let name = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers() {
        assert_eq!(
            next_link(r#"</v2/x/tags/list?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/x/tags/list?last=b&n=2")
        );
        assert_eq!(
            next_link(r#"<https://r/a>; rel="prev", <https://r/b>; rel="next""#).as_deref(),
            Some("https://r/b")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("ghcr.io"));
        assert!(!is_loopback("10.0.0.1:5000"));
    }

    #[test]
    fn digest_shaped_tags() {
        assert!(looks_like_digest(&format!("sha256-{}", "a".repeat(64))));
        assert!(looks_like_digest(&format!("sha256-{}.sig", "a".repeat(64))));
        assert!(!looks_like_digest("6.4.4-ubuntu-22.04"));
    }
}

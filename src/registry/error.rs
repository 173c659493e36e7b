//! Registry errors: each names the URL it is about, and digest errors carry both digests.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum RegistryError {
    #[error("cannot connect to {url}: {detail}")]
    Connect { url: String, detail: String },
    #[error("{url} did not answer within {seconds} s")]
    Timeout { url: String, seconds: u64 },
    #[error(
        "{url}: authentication failed ({detail}); check GHCR_USER/GHCR_TOKEN, GITHUB_TOKEN or ~/.docker/config.json"
    )]
    Unauthorized { url: String, detail: String },
    #[error("{url}: access denied (403){detail}")]
    Denied { url: String, detail: String },
    #[error("{url}: not found (404){detail}")]
    NotFound { url: String, detail: String },
    #[error("{url}: still rate limited (429) after {attempts} attempts")]
    RateLimited { url: String, attempts: u32 },
    #[error("{url}: server error {status} after {attempts} attempts")]
    Server {
        url: String,
        status: u16,
        attempts: u32,
    },
    #[error("{url}: unexpected answer: {detail}")]
    Protocol { url: String, detail: String },
    #[error(
        "{url}: the registry sent content whose digest is {actual}, not the {expected} asked for"
    )]
    DigestMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("{url}: response larger than {limit} bytes; refusing it")]
    TooLarge { url: String, limit: usize },
    #[error("registry client setup: {0}")]
    Setup(String),
}

impl RegistryError {
    /// The registry could not be reached at all (as opposed to answering something wrong).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            RegistryError::Connect { .. }
                | RegistryError::Timeout { .. }
                | RegistryError::Server { .. }
                | RegistryError::RateLimited { .. }
        )
    }
}

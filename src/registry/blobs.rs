//! Blobs and pushes: streaming downloads checked against their digest, uploads, manifests.

use reqwest::Method;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use sha2::{Digest as _, Sha256};

use super::client::{Client, check_status, read_limited, scope};
use super::error::RegistryError;
use crate::reference::{Digest, Reference};

/// A blob download in progress; [`BlobStream::finish`] checks the digest.
pub struct BlobStream {
    response: reqwest::Response,
    hasher: Sha256,
    expected: Digest,
    url: String,
    pub size: Option<u64>,
}

impl BlobStream {
    /// The next chunk; errors name the URL.
    pub async fn chunk(&mut self) -> Result<Option<bytes::Bytes>, RegistryError> {
        let chunk = self
            .response
            .chunk()
            .await
            .map_err(|e| RegistryError::Connect {
                url: self.url.clone(),
                detail: format!("reading the blob: {e}"),
            })?;
        if let Some(c) = &chunk {
            self.hasher.update(c);
        }
        Ok(chunk)
    }

    pub fn finish(self) -> Result<(), RegistryError> {
        let actual = Digest::sha256_from_bytes(self.hasher.finalize().into());
        if actual != self.expected {
            return Err(RegistryError::DigestMismatch {
                url: self.url,
                expected: self.expected.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(())
    }
}

impl Client {
    /// Starts downloading a blob of `repository`.
    pub async fn blob(
        &self,
        repository: &Reference,
        digest: &Digest,
    ) -> Result<BlobStream, RegistryError> {
        let response = self
            .send_repo(
                Method::GET,
                repository,
                &format!("blobs/{digest}"),
                &scope(repository),
                None,
            )
            .await?;
        let url = response.url().to_string();
        check_status(&response, &url, "blob")?;
        Ok(BlobStream {
            size: response.content_length(),
            response,
            hasher: Sha256::new(),
            expected: digest.clone(),
            url,
        })
    }

    pub async fn blob_exists(
        &self,
        repository: &Reference,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let response = self
            .send_repo(
                Method::HEAD,
                repository,
                &format!("blobs/{digest}"),
                &push_scope(repository),
                None,
            )
            .await?;
        Ok(response.status().is_success())
    }

    /// Copies a blob from `source` to `target`: nothing when it is there, a cross-repository
    /// mount on the same registry, else a streamed monolithic upload.
    pub async fn copy_blob(
        &self,
        source: &Reference,
        target: &Reference,
        digest: &Digest,
        size: u64,
    ) -> Result<(), RegistryError> {
        if self.blob_exists(target, digest).await? {
            return Ok(());
        }
        let host = target.api_host();
        let scope = push_scope(target);
        let mut start = format!("/v2/{}/blobs/uploads/", target.repository());
        if source.api_host() == host {
            start.push_str(&format!("?mount={digest}&from={}", source.repository()));
        }
        let response = self
            .send(Method::POST, host, &start, Some(&scope), None)
            .await?;
        let url = response.url().to_string();
        match response.status().as_u16() {
            201 => return Ok(()), // mounted
            202 => {}
            other => {
                return Err(RegistryError::Protocol {
                    url,
                    detail: format!("starting an upload answered HTTP {other}"),
                });
            }
        }
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::Protocol {
                url: url.clone(),
                detail: "upload without a Location".into(),
            })?;
        let upload = response
            .url()
            .join(location)
            .map_err(|e| RegistryError::Protocol {
                url: url.clone(),
                detail: e.to_string(),
            })?;
        let mut upload = upload;
        upload
            .query_pairs_mut()
            .append_pair("digest", &digest.to_string());

        let download = self.blob(source, digest).await?;
        // The body streams straight from the download; a digest mismatch ends it with an error
        // (and the registry refuses the upload, as it checks `?digest=` itself).
        let body = futures_util::stream::unfold(Some(download), |state| async move {
            let mut download = state?;
            match download.chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), Some(download))),
                Ok(None) => download
                    .finish()
                    .err()
                    .map(|e| (Err(std::io::Error::other(e)), None)),
                Err(e) => Some((Err(std::io::Error::other(e)), None)),
            }
        });
        let mut request = self
            .put_url(upload.clone())
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, size);
        if let Some(auth) = self.authorization(host, Some(&scope)) {
            request = request.header(reqwest::header::AUTHORIZATION, auth);
        }
        let response = request
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await
            .map_err(|e| self.transport_error(upload.as_str(), &e))?;
        if !response.status().is_success() {
            return Err(RegistryError::Protocol {
                url: upload.to_string(),
                detail: format!("upload answered HTTP {}", response.status().as_u16()),
            });
        }
        Ok(())
    }

    /// Puts manifest bytes under `target` (its tag, or digest) and returns the digest the
    /// registry reports, checked against the bytes.
    pub async fn put_manifest(
        &self,
        target: &Reference,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, RegistryError> {
        let expected = Digest::sha256_from_bytes(Sha256::digest(bytes).into());
        let reference = target
            .tag()
            .map_or_else(|| expected.to_string(), str::to_owned);
        let path = format!("/v2/{}/manifests/{reference}", target.repository());
        let host = target.api_host();
        let scope = push_scope(target);
        // Authenticate (and learn the token) with a cheap request first; a PUT body is not replayed.
        let _ = self
            .send(
                Method::HEAD,
                host,
                &path,
                Some(&scope),
                Some(super::client::MANIFEST_TYPES),
            )
            .await?;
        let mut request = self
            .request(Method::PUT, host, &path)
            .header(CONTENT_TYPE, media_type)
            .body(bytes.to_vec());
        if let Some(auth) = self.authorization(host, Some(&scope)) {
            request = request.header(reqwest::header::AUTHORIZATION, auth);
        }
        let url = self.url(host, &path);
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_error(&url, &e))?;
        let status = response.status();
        let claimed = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if !status.is_success() {
            let body = read_limited(response, &url, 64 * 1024)
                .await
                .unwrap_or_default();
            return Err(RegistryError::Protocol {
                url,
                detail: format!(
                    "HTTP {}: {}",
                    status.as_u16(),
                    String::from_utf8_lossy(&body).trim()
                ),
            });
        }
        if let Some(claimed) = claimed
            && claimed != expected.to_string()
        {
            return Err(RegistryError::DigestMismatch {
                url,
                expected: expected.to_string(),
                actual: claimed,
            });
        }
        Ok(expected)
    }
}

fn push_scope(reference: &Reference) -> String {
    format!("repository:{}:pull,push", reference.repository())
}

impl Client {
    /// A small blob (signature payloads, envelopes), read whole and checked against its digest.
    pub async fn blob_bytes(
        &self,
        repository: &Reference,
        digest: &Digest,
        limit: usize,
    ) -> Result<Vec<u8>, RegistryError> {
        let mut blob = self.blob(repository, digest).await?;
        let mut out = Vec::new();
        while let Some(chunk) = blob.chunk().await? {
            if out.len() + chunk.len() > limit {
                return Err(RegistryError::TooLarge {
                    url: format!("{}@{digest}", repository.name()),
                    limit,
                });
            }
            out.extend_from_slice(&chunk);
        }
        blob.finish()?;
        Ok(out)
    }

    /// `GET /v2/<name>/referrers/<digest>`: the index of artefacts that refer to the digest, or
    /// `None` when the registry has no referrers API (404).
    pub async fn referrers(
        &self,
        repository: &Reference,
        digest: &Digest,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        let response = self
            .send_repo(
                Method::GET,
                repository,
                &format!("referrers/{digest}"),
                &scope(repository),
                Some("application/vnd.oci.image.index.v1+json"),
            )
            .await?;
        let url = response.url().to_string();
        if response.status().as_u16() == 404 {
            return Ok(None);
        }
        check_status(&response, &url, "referrers list")?;
        Ok(Some(read_limited(response, &url, 4 * 1024 * 1024).await?))
    }
}

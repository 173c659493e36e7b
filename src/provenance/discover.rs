//! Where signatures and attestations of a digest are published: the legacy cosign tags
//! `sha256-<hex>.sig` / `.att`, the OCI referrers API and its `sha256-<hex>` index fallback.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::keyless;
use super::material::{Role, StoredBundle};
use super::{BUNDLE, COSIGN_SIGN, MAX_ARTEFACT};
use crate::reference::{Digest, Reference};
use crate::registry::{Client, RegistryError};

#[derive(Deserialize)]
pub(super) struct ArtefactManifest {
    #[serde(default)]
    pub(super) layers: Vec<Layer>,
}

#[derive(Deserialize)]
pub(super) struct Layer {
    #[serde(rename = "mediaType")]
    pub(super) media_type: String,
    pub(super) digest: Digest,
    #[serde(default)]
    pub(super) annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
pub(super) struct ReferrersIndex {
    #[serde(default)]
    pub(super) manifests: Vec<Referrer>,
}

#[derive(Deserialize)]
pub(super) struct Referrer {
    pub(super) digest: Digest,
    #[serde(rename = "artifactType", default)]
    pub(super) artifact_type: Option<String>,
    #[serde(default)]
    pub(super) annotations: BTreeMap<String, String>,
}

/// Everything published about one digest.
pub(super) struct Discovered {
    pub(super) signatures: Option<ArtefactManifest>,
    pub(super) attestations: Option<ArtefactManifest>,
    pub(super) referrers: Vec<Referrer>,
}

/// A manifest at `tag`, or `None` when the tag does not exist.
async fn manifest_at(
    client: &Client,
    repository: &Reference,
    tag: &str,
) -> Result<Option<ArtefactManifest>, RegistryError> {
    let reference = repository
        .clone()
        .with_digest(None)
        .with_tag(tag)
        .expect("sha256-<hex> tags are valid");
    match client.manifest(&reference).await {
        Ok(fetched) => Ok(serde_json::from_slice(&fetched.bytes).ok()),
        Err(RegistryError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Legacy tags, then the referrers API, else its tag fallback `sha256-<hex>`.
pub(super) async fn discover(
    client: &Client,
    repository: &Reference,
    pin: &Digest,
) -> Result<Discovered, RegistryError> {
    let tag_base = format!("sha256-{}", pin.hex());
    let signatures = manifest_at(client, repository, &format!("{tag_base}.sig")).await?;
    let attestations = manifest_at(client, repository, &format!("{tag_base}.att")).await?;
    let index = match client.referrers(repository, pin).await? {
        Some(bytes) => Some(bytes),
        None => {
            let fallback = repository
                .clone()
                .with_digest(None)
                .with_tag(&tag_base)
                .expect("valid tag");
            match client.manifest(&fallback).await {
                Ok(index) => Some(index.bytes),
                Err(RegistryError::NotFound { .. }) => None,
                Err(e) => return Err(e),
            }
        }
    };
    let referrers = index
        .and_then(|bytes| serde_json::from_slice::<ReferrersIndex>(&bytes).ok())
        .map(|index| index.manifests)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| {
            r.artifact_type
                .as_deref()
                .is_some_and(|t| t.starts_with(BUNDLE))
        })
        .collect();
    Ok(Discovered {
        signatures,
        attestations,
        referrers,
    })
}

/// The layers of a legacy artefact that have `media_type`.
pub(super) fn layers<'a>(
    manifest: &'a Option<ArtefactManifest>,
    media_type: &'a str,
) -> impl Iterator<Item = &'a Layer> {
    manifest
        .iter()
        .flat_map(|m| &m.layers)
        .filter(move |l| l.media_type == media_type)
}

/// A referrer's bundle, fetched: the first layer of its manifest.
pub(super) async fn fetch_bundle(
    client: &Client,
    repository: &Reference,
    referrer: &Referrer,
) -> Result<StoredBundle, String> {
    let manifest = client
        .manifest(
            &repository
                .clone()
                .with_digest(Some(referrer.digest.clone())),
        )
        .await
        .map_err(|e| e.to_string())?;
    let layer = serde_json::from_slice::<ArtefactManifest>(&manifest.bytes)
        .ok()
        .and_then(|m| m.layers.into_iter().next())
        .ok_or_else(|| format!("bundle manifest {} has no layer", referrer.digest))?;
    let bytes = client
        .blob_bytes(repository, &layer.digest, MAX_ARTEFACT)
        .await
        .map_err(|e| e.to_string())?;
    let bundle = String::from_utf8(bytes)
        .map_err(|_| format!("bundle {} is not UTF-8 JSON", layer.digest))?;
    let predicate = referrer
        .annotations
        .get("dev.sigstore.bundle.predicateType")
        .cloned()
        .or_else(|| keyless::peek_predicate_type(&bundle));
    let role = match predicate.as_deref() {
        Some(t) if t != COSIGN_SIGN => Role::Attestation,
        _ => Role::Signature,
    };
    Ok(StoredBundle {
        role,
        bundle,
        payload: None,
    })
}

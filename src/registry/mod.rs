//! Registry access over the OCI distribution API (reqwest + rustls).

pub mod auth;
mod blobs;
mod client;
mod error;
mod token;

pub use auth::{CredentialPresence, CredentialSource, Credentials, Secret};
pub use blobs::BlobStream;
pub use client::{Client, FetchedManifest, MANIFEST_TYPES, Ping, RegistryOptions, is_loopback};
pub use error::RegistryError;

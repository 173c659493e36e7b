//! Registry access over the OCI distribution API (reqwest + rustls).

pub mod auth;
mod client;
mod error;

pub use auth::{CredentialPresence, CredentialSource, Credentials, Secret};
pub use client::{Client, FetchedManifest, MANIFEST_TYPES, Ping, RegistryOptions, is_loopback};
pub use error::RegistryError;

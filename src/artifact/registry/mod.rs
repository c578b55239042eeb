//! OCI registry client (stage ③): resolve, read, push, mount, copy and list images.
//!
//! Input: image references and per-registry credentials. Output: digests, manifests and blobs,
//! and pushes that follow the OCI distribution spec (monolithic or chunked uploads, cross-repository
//! mounts). Built on oci-client; this layer adds per-registry credentials, plain HTTP only for
//! loopback or explicitly insecure registries, raw manifest handling (so copies keep their digest)
//! and errors that name the reference and the operation.

mod auth;
mod copy;

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest;
use oci_client::{Client, Reference};
use serde_json::Value;

pub use auth::RegistryCredentials;
pub use copy::{BlobSource, CopyReport};

/// Every manifest kind gantry reads; raw bytes are kept so a copy preserves the digest.
pub const MANIFEST_TYPES: &[&str] = &[
    manifest::OCI_IMAGE_INDEX_MEDIA_TYPE,
    manifest::OCI_IMAGE_MEDIA_TYPE,
    manifest::IMAGE_MANIFEST_LIST_MEDIA_TYPE,
    manifest::IMAGE_MANIFEST_MEDIA_TYPE,
];

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid image reference {reference:?}: {message}")]
    Reference { reference: String, message: String },
    #[error("{registry}: credentials: {message}")]
    Credentials { registry: String, message: String },
    #[error("{reference}: {operation}: {message}")]
    Operation {
        reference: String,
        operation: &'static str,
        message: String,
    },
    #[error("{reference}: {message}")]
    BadManifest { reference: String, message: String },
}

/// How blobs are uploaded. Chunked (4 MiB `PATCH`es) is the default and falls back to monolithic
/// when a registry breaks the chunked protocol; monolithic is one `PUT` per blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Upload {
    #[default]
    Chunked,
    Monolithic,
}

#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Registries (`host:port`) spoken to over plain HTTP. Loopback registries always are, as
    /// Docker does; anything else is HTTPS unless listed here.
    pub insecure: Vec<String>,
    pub upload: Upload,
    /// Credentials per registry host; absent hosts are accessed anonymously.
    pub credentials: HashMap<String, RegistryCredentials>,
}

/// A manifest as stored: its exact bytes, media type and digest.
#[derive(Debug, Clone)]
pub struct RawManifest {
    pub bytes: Bytes,
    pub media_type: String,
    pub digest: String,
    pub json: Value,
}

impl RawManifest {
    #[must_use]
    pub fn is_index(&self) -> bool {
        self.media_type == manifest::OCI_IMAGE_INDEX_MEDIA_TYPE
            || self.media_type == manifest::IMAGE_MANIFEST_LIST_MEDIA_TYPE
    }

    /// Digests of the blobs an image manifest points to: config first, then layers.
    #[must_use]
    pub fn blobs(&self) -> Vec<String> {
        let config = self.json.get("config").into_iter();
        let layers = self
            .json
            .get("layers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        config
            .chain(layers)
            .filter_map(|d| d.get("digest").and_then(Value::as_str))
            .map(str::to_owned)
            .collect()
    }

    /// Entries of an index: (digest, platform `os/arch[/variant]`).
    #[must_use]
    pub fn children(&self) -> Vec<(String, Option<String>)> {
        let entries = self.json.get("manifests").and_then(Value::as_array);
        entries
            .into_iter()
            .flatten()
            .filter_map(|m| {
                let digest = m.get("digest")?.as_str()?.to_owned();
                let platform = m.get("platform").map(|p| {
                    let part = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("");
                    let mut s = format!("{}/{}", part("os"), part("architecture"));
                    if !part("variant").is_empty() {
                        s = format!("{s}/{}", part("variant"));
                    }
                    s
                });
                Some((digest, platform))
            })
            .collect()
    }
}

pub struct Registry {
    client: Client,
    credentials: HashMap<String, RegistryCredentials>,
    anonymous: RegistryCredentials,
}

/// Parses an image reference (`core::ImageRef`, the one parser) for registry calls.
pub fn parse_reference(text: &str) -> Result<Reference, RegistryError> {
    crate::core::ImageRef::parse(text)
        .map(|r| r.to_oci())
        .map_err(|e| RegistryError::Reference {
            reference: e.reference,
            message: e.message,
        })
}

/// True for `localhost`, `127.0.0.0/8` and `[::1]`, with or without a port.
#[must_use]
pub fn is_loopback(registry: &str) -> bool {
    crate::git::is_loopback_host(registry)
}

impl Registry {
    /// `references` are the images this client will touch; loopback ones are reached over HTTP.
    #[must_use]
    pub fn new<'a>(
        mut options: RegistryOptions,
        references: impl IntoIterator<Item = &'a Reference>,
    ) -> Self {
        for r in references {
            let host = r.resolve_registry().to_owned();
            if is_loopback(&host) && !options.insecure.contains(&host) {
                options.insecure.push(host);
            }
        }
        let config = ClientConfig {
            protocol: ClientProtocol::HttpsExcept(options.insecure),
            use_monolithic_push: options.upload == Upload::Monolithic,
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_mins(1)),
            user_agent: concat!("gantry/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        Self {
            client: Client::new(config),
            credentials: options.credentials,
            anonymous: RegistryCredentials::Anonymous,
        }
    }

    fn auth(&self, r: &Reference) -> oci_client::secrets::RegistryAuth {
        self.credentials
            .get(r.resolve_registry())
            .unwrap_or(&self.anonymous)
            .to_oci()
    }

    /// Registers `r`'s credentials for the blob calls, which take none. Tokens are fetched
    /// lazily, once per repository and operation, and cached by oci-client: no request here.
    async fn authorize(&self, r: &Reference) {
        self.client
            .store_auth_if_needed(r.resolve_registry(), &self.auth(r))
            .await;
    }

    /// Tag (or digest) → manifest digest, by `HEAD` where the registry answers with the digest.
    pub async fn resolve(&self, r: &Reference) -> Result<String, RegistryError> {
        self.client
            .fetch_manifest_digest(r, &self.auth(r))
            .await
            .map_err(|e| fail(r, "resolve", &e))
    }

    /// Whether a manifest exists; `Ok(false)` only for "not found", other failures are errors.
    pub async fn exists(&self, r: &Reference) -> Result<bool, RegistryError> {
        match self.client.fetch_manifest_digest(r, &self.auth(r)).await {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(fail(r, "check manifest", &e)),
        }
    }

    /// The manifest `r` points to, or `None` when there is none (one request either way).
    pub async fn manifest_if_exists(
        &self,
        r: &Reference,
    ) -> Result<Option<RawManifest>, RegistryError> {
        match self
            .client
            .pull_manifest_raw(r, &self.auth(r), MANIFEST_TYPES)
            .await
        {
            Ok((bytes, digest)) => Self::raw(r, bytes, digest).map(Some),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(fail(r, "pull manifest", &e)),
        }
    }

    /// The manifest `r` points to, byte for byte.
    pub async fn manifest(&self, r: &Reference) -> Result<RawManifest, RegistryError> {
        let (bytes, digest) = self
            .client
            .pull_manifest_raw(r, &self.auth(r), MANIFEST_TYPES)
            .await
            .map_err(|e| fail(r, "pull manifest", &e))?;
        Self::raw(r, bytes, digest)
    }

    fn raw(r: &Reference, bytes: Bytes, digest: String) -> Result<RawManifest, RegistryError> {
        let json: Value =
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::BadManifest {
                reference: r.whole(),
                message: format!("manifest is not JSON: {e}"),
            })?;
        // The mediaType field is optional in OCI manifests; the shape says what it is.
        let media_type = match json.get("mediaType").and_then(Value::as_str) {
            Some(t) => t.to_owned(),
            None if json.get("manifests").is_some() => manifest::OCI_IMAGE_INDEX_MEDIA_TYPE.into(),
            None => manifest::OCI_IMAGE_MEDIA_TYPE.into(),
        };
        Ok(RawManifest {
            bytes,
            media_type,
            digest,
            json,
        })
    }

    /// A whole blob, verified against its digest.
    pub async fn blob(&self, r: &Reference, digest: &str) -> Result<Vec<u8>, RegistryError> {
        self.authorize(r).await;
        let mut out = Vec::new();
        self.client
            .pull_blob(r, digest, &mut out)
            .await
            .map_err(|e| fail(r, "pull blob", &e))?;
        Ok(out)
    }

    pub async fn blob_exists(&self, r: &Reference, digest: &str) -> Result<bool, RegistryError> {
        self.authorize(r).await;
        self.client
            .blob_exists(r, digest)
            .await
            .map_err(|e| fail(r, "check blob", &e))
    }

    /// Uploads a blob unless the repository already has it.
    pub async fn push_blob(
        &self,
        r: &Reference,
        data: impl Into<Bytes>,
        digest: &str,
    ) -> Result<bool, RegistryError> {
        self.authorize(r).await;
        if self.blob_exists(r, digest).await? {
            return Ok(false);
        }
        self.client
            .push_blob(r, data, digest)
            .await
            .map_err(|e| fail(r, "push blob", &e))?;
        Ok(true)
    }

    /// Streams a blob from `from` into `to` (any registries) without holding it in memory.
    async fn transfer_blob(
        &self,
        from: &Reference,
        to: &Reference,
        digest: &str,
    ) -> Result<(), RegistryError> {
        self.authorize(from).await;
        self.authorize(to).await;
        let source = self
            .client
            .pull_blob_stream(from, digest)
            .await
            .map_err(|e| fail(from, "pull blob", &e))?;
        let size = source.content_length;
        let stream = source
            .stream
            .map_err(oci_client::errors::OciDistributionError::from);
        self.client
            .push_blob_stream(to, stream.boxed(), digest, size)
            .await
            .map_err(|e| fail(to, "push blob", &e))?;
        Ok(())
    }

    /// Stores manifest bytes unchanged under `r` (tag or digest); returns their digest.
    pub async fn push_manifest(
        &self,
        r: &Reference,
        bytes: impl Into<Bytes>,
        media_type: &str,
    ) -> Result<String, RegistryError> {
        let bytes: Bytes = bytes.into();
        let digest = crate::core::sha256(&bytes);
        self.authorize(r).await;
        let content_type = media_type.parse().map_err(|_| RegistryError::BadManifest {
            reference: r.whole(),
            message: format!("media type {media_type:?} is not a valid header value"),
        })?;
        self.client
            .push_manifest_raw(r, bytes, content_type)
            .await
            .map_err(|e| fail(r, "push manifest", &e))?;
        Ok(digest)
    }

    /// Asks the registry to link `digest` from `source`'s repository into `target`'s. `Ok(false)`
    /// when it declines (different registry, no pull access, or no mount support).
    pub async fn mount(
        &self,
        target: &Reference,
        source: &Reference,
        digest: &str,
    ) -> Result<bool, RegistryError> {
        if target.resolve_registry() != source.resolve_registry() {
            return Ok(false);
        }
        self.authorize(target).await;
        match self.client.mount_blob(target, source, digest).await {
            Ok(()) => Ok(true),
            Err(e) => {
                tracing::debug!(target = %target, source = %source, digest, error = %e, "mount declined");
                Ok(false)
            }
        }
    }

    /// All tags of `r`'s repository, following pagination.
    pub async fn tags(&self, r: &Reference) -> Result<Vec<String>, RegistryError> {
        const PAGE: usize = 1000;
        let mut tags = Vec::new();
        loop {
            let last = tags.last().cloned();
            let page = self
                .client
                .list_tags(r, &self.auth(r), Some(PAGE), last.as_deref())
                .await
                .map_err(|e| fail(r, "list tags", &e))?;
            let n = page.tags.len();
            tags.extend(page.tags);
            if n < PAGE {
                break;
            }
        }
        Ok(tags)
    }
}

fn is_not_found(e: &oci_client::errors::OciDistributionError) -> bool {
    use oci_client::errors::OciDistributionError as E;
    match e {
        E::ImageManifestNotFoundError(_) => true,
        E::ServerError { code, .. } => *code == 404,
        E::RegistryError { envelope, .. } => envelope.errors.iter().any(|x| {
            matches!(
                x.code,
                oci_client::errors::OciErrorCode::ManifestUnknown
                    | oci_client::errors::OciErrorCode::NameUnknown
            )
        }),
        _ => false,
    }
}

fn fail(
    r: &Reference,
    operation: &'static str,
    e: &oci_client::errors::OciDistributionError,
) -> RegistryError {
    RegistryError::Operation {
        reference: r.whole(),
        operation,
        message: e.to_string(),
    }
}

//! Daemonless image packing (stage ③): base image layers plus one layer made from a directory.
//!
//! Input: a [`PackRequest`] (base image or scratch, directory, destination, entrypoint, env,
//! labels, platform). Output: the image pushed to the destination and its manifest digest. No
//! Docker daemon and no root: the layer is written by [`layer::build`], the config and manifest by
//! [`config::build`], and the base layers are mounted (same registry) or streamed, never unpacked.

mod config;
pub mod layer;

use std::path::PathBuf;

use oci_client::Reference;
use serde_json::Value;

pub use config::ConfigChanges;

use super::registry::{RawManifest, Registry, RegistryError};

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("base image: {message}")]
    Base { message: String },
    #[error("invalid platform {text:?}: expected os/arch or os/arch/variant, e.g. linux/amd64")]
    Platform { text: String },
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn parse(text: &str) -> Result<Self, PackError> {
        let parts: Vec<&str> = text.split('/').collect();
        match parts.as_slice() {
            [os, arch] | [os, arch, _] if !os.is_empty() && !arch.is_empty() => Ok(Self {
                os: (*os).to_owned(),
                architecture: (*arch).to_owned(),
                variant: parts
                    .get(2)
                    .map(|v| (*v).to_owned())
                    .filter(|v| !v.is_empty()),
            }),
            _ => Err(PackError::Platform {
                text: text.to_owned(),
            }),
        }
    }

    /// The machine gantry runs on, in OCI (Go) names.
    #[must_use]
    pub fn host() -> Self {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Self {
            os: std::env::consts::OS.to_owned(),
            architecture: architecture.to_owned(),
            variant: (architecture == "arm64").then(|| "v8".to_owned()),
        }
    }

    fn matches(&self, text: &str) -> bool {
        let Ok(other) = Self::parse(text) else {
            return false;
        };
        // An index entry without a variant matches any requested variant of its architecture.
        self.os == other.os
            && self.architecture == other.architecture
            && (other.variant.is_none() || self.variant.is_none() || self.variant == other.variant)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct PackRequest {
    /// `None` packs onto an empty image (`scratch`).
    pub base: Option<Reference>,
    pub dir: PathBuf,
    /// Where the directory's contents appear in the image; `/` by default.
    pub prefix: String,
    pub dest: Reference,
    pub platform: Platform,
    pub changes: ConfigChanges,
    /// The layer's file times (seconds since the epoch), e.g. `SOURCE_DATE_EPOCH`.
    pub mtime: u64,
}

#[derive(Debug, Clone)]
pub struct PackOutcome {
    pub digest: String,
    pub layer_digest: String,
    pub layer_size: usize,
    pub files: usize,
    pub base_layers: usize,
}

/// Builds the image and pushes it to `request.dest`.
pub async fn pack(registry: &Registry, request: &PackRequest) -> Result<PackOutcome, PackError> {
    let base = match &request.base {
        Some(r) => Some(base_image(registry, r, &request.platform).await?),
        None => None,
    };
    let dir = request.dir.clone();
    let prefix = request.prefix.clone();
    let mtime = request.mtime;
    let layer = tokio::task::spawn_blocking(move || layer::build(&dir, &prefix, mtime))
        .await
        .map_err(|e| PackError::Io {
            path: request.dir.clone(),
            message: format!("packing task failed: {e}"),
        })??;
    tracing::info!(dir = %request.dir.display(), files = layer.files, size = layer.gzip.len(), digest = %layer.digest, "layer packed");

    let built = config::build(
        base.as_ref().map(|(_, m, c)| (m, c.clone())),
        &request.platform,
        &layer,
        &request.changes,
    )?;
    let dest = &request.dest;
    let mut base_layers = 0;
    if let Some((from, manifest, _)) = &base {
        // The base config is replaced by ours; only the layers carry over.
        for digest in manifest.blobs().into_iter().skip(1) {
            registry.ensure_blob(from, dest, &digest).await?;
            base_layers += 1;
        }
    }
    let layer_size = layer.gzip.len();
    registry.push_blob(dest, layer.gzip, &layer.digest).await?;
    let config_digest = crate::core::sha256(&built.config);
    registry
        .push_blob(dest, built.config, &config_digest)
        .await?;
    let digest = registry
        .push_manifest(dest, built.manifest, built.media_type)
        .await?;
    Ok(PackOutcome {
        digest,
        layer_digest: layer.digest,
        layer_size,
        files: layer.files,
        base_layers,
    })
}

/// The base image for `platform`: (reference at the chosen digest, manifest, config JSON).
async fn base_image(
    registry: &Registry,
    r: &Reference,
    platform: &Platform,
) -> Result<(Reference, RawManifest, Value), PackError> {
    let mut manifest = registry.manifest(r).await?;
    let mut at = r.clone();
    if manifest.is_index() {
        let children = manifest.children();
        let chosen = children
            .iter()
            .find(|(_, p)| p.as_deref().is_some_and(|p| platform.matches(p)))
            .ok_or_else(|| PackError::Base {
                message: format!(
                    "{r} has no image for {platform}; it has: {}",
                    children
                        .iter()
                        .map(|(_, p)| p.as_deref().unwrap_or("(no platform)"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
        at = Reference::with_digest(
            r.registry().to_owned(),
            r.repository().to_owned(),
            chosen.0.clone(),
        );
        manifest = registry.manifest(&at).await?;
    }
    if manifest.is_index() {
        return Err(PackError::Base {
            message: format!("{at} is an index inside an index"),
        });
    }
    let config_digest = manifest
        .blobs()
        .into_iter()
        .next()
        .ok_or_else(|| PackError::Base {
            message: format!("{at} has no config descriptor"),
        })?;
    let config = registry.blob(&at, &config_digest).await?;
    let config: Value = serde_json::from_slice(&config).map_err(|e| PackError::Base {
        message: format!("{at}: config is not JSON: {e}"),
    })?;
    // A single-platform base says its platform in its config only: an arm64 layer on an amd64
    // base would run nowhere.
    let own = [&config["os"], &config["architecture"], &config["variant"]]
        .iter()
        .filter_map(|v| v.as_str())
        .collect::<Vec<_>>()
        .join("/");
    if !platform.matches(&own) {
        return Err(PackError::Base {
            message: format!(
                "{r} is a single-platform image for {}; it has no image for {platform}",
                if own.is_empty() {
                    "an unknown platform"
                } else {
                    own.as_str()
                }
            ),
        });
    }
    Ok((at, manifest, config))
}

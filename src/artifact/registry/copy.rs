//! Copying an image between repositories or registries (stage ③, promotion into production).
//!
//! Input: a source and a destination reference. Output: the destination holding the same
//! manifest bytes — hence the same digest — with every platform of an index and every blob. Blobs
//! the destination already has are skipped; within one registry they are mounted from the source
//! repository (no bytes move); otherwise they are streamed.

use oci_client::Reference;

use super::{RawManifest, Registry, RegistryError};

/// What a copy did, for progress output and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Digest of the top-level manifest (the index for multi-platform images).
    pub digest: String,
    pub manifests: usize,
    pub blobs_mounted: usize,
    pub blobs_streamed: usize,
    pub blobs_present: usize,
}

/// How a blob got into the destination repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobSource {
    Present,
    Mounted,
    Streamed,
}

impl Registry {
    /// Makes `to`'s repository hold `digest` from `from`: already there, mounted (same registry;
    /// checked afterwards, since a registry may answer 201 and still lack the blob), or streamed.
    pub async fn ensure_blob(
        &self,
        from: &Reference,
        to: &Reference,
        digest: &str,
    ) -> Result<BlobSource, RegistryError> {
        if self.blob_exists(to, digest).await? {
            return Ok(BlobSource::Present);
        }
        if self.mount(to, from, digest).await? && self.blob_exists(to, digest).await? {
            return Ok(BlobSource::Mounted);
        }
        self.transfer_blob(from, to, digest).await?;
        Ok(BlobSource::Streamed)
    }

    /// Copies `from` to `to`. A tag on `to` (`latest` when none is written, as with docker) is
    /// moved to the copied digest; `repo@sha256:…` stores the copy by digest only.
    pub async fn copy(
        &self,
        from: &Reference,
        to: &Reference,
    ) -> Result<CopyReport, RegistryError> {
        let top = self.manifest(from).await?;
        if let Some(wanted) = to.digest()
            && wanted != top.digest
        {
            // A copy keeps the digest: storing it under another would report what is not there.
            return Err(RegistryError::BadManifest {
                reference: to.whole(),
                message: format!(
                    "the destination names digest {wanted}, but {from} is {}; a copy keeps the digest: name a tag or the repository alone",
                    top.digest
                ),
            });
        }
        let mut report = CopyReport {
            digest: top.digest.clone(),
            ..CopyReport::default()
        };
        if top.is_index() {
            for (child, platform) in top.children() {
                tracing::info!(from = %from, platform = platform.as_deref().unwrap_or("?"), digest = %child, "copying platform image");
                let child_from = at_digest(from, &child);
                let manifest = self.manifest(&child_from).await?;
                if manifest.digest != child {
                    return Err(RegistryError::BadManifest {
                        reference: child_from.whole(),
                        message: format!("registry served digest {} for {child}", manifest.digest),
                    });
                }
                self.copy_image(&child_from, &at_digest(to, &child), &manifest, &mut report)
                    .await?;
            }
            self.push_manifest(&target(to, &top.digest), top.bytes.clone(), &top.media_type)
                .await?;
            report.manifests += 1;
        } else {
            self.copy_image(from, &target(to, &top.digest), &top, &mut report)
                .await?;
        }
        Ok(report)
    }

    async fn copy_image(
        &self,
        from: &Reference,
        to: &Reference,
        manifest: &RawManifest,
        report: &mut CopyReport,
    ) -> Result<(), RegistryError> {
        for digest in manifest.blobs() {
            match self.ensure_blob(from, to, &digest).await? {
                BlobSource::Present => report.blobs_present += 1,
                BlobSource::Mounted => report.blobs_mounted += 1,
                BlobSource::Streamed => report.blobs_streamed += 1,
            }
        }
        let pushed = self
            .push_manifest(to, manifest.bytes.clone(), &manifest.media_type)
            .await?;
        if pushed != manifest.digest {
            return Err(RegistryError::BadManifest {
                reference: to.whole(),
                message: format!(
                    "copied manifest has digest {pushed}, expected {}",
                    manifest.digest
                ),
            });
        }
        report.manifests += 1;
        Ok(())
    }
}

fn at_digest(r: &Reference, digest: &str) -> Reference {
    Reference::with_digest(
        r.registry().to_owned(),
        r.repository().to_owned(),
        digest.to_owned(),
    )
}

/// The destination for the top manifest: its tag if it has one, else the digest.
fn target(to: &Reference, digest: &str) -> Reference {
    match to.tag() {
        Some(tag) if to.digest().is_none() => Reference::with_tag(
            to.registry().to_owned(),
            to.repository().to_owned(),
            tag.to_owned(),
        ),
        _ => at_digest(to, digest),
    }
}

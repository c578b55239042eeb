//! cosign-compatible keyed signing (stage ③): sign a manifest digest, store the signature where
//! cosign looks for it.
//!
//! Input: an image reference, an ECDSA P-256 private key (cosign's encrypted PEM or plain PKCS#8)
//! and annotations (source commit, run id). Output: a simple-signing payload for the digest, its
//! signature, and the `sha256-<hex>.sig` manifest in the image's repository holding every earlier
//! signature plus the new one — `cosign verify --key` accepts what gantry signs, and
//! [`verify`] accepts what cosign signs.

mod keys;
pub mod verify;

use std::collections::BTreeMap;

use base64::Engine as _;
use oci_client::Reference;
use serde_json::{Value, json};
use sigstore::cosign::payload::simple_signing::{
    CRITICAL_TYPE_NAME, Critical, Identity, Image, Optional, SimpleSigning,
};

pub use keys::{KeySource, SigningKey, TrustedKey};

use super::registry::{Registry, RegistryError};

/// Media type of a simple-signing payload layer.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Layer annotation holding the base64 signature (cosign's name).
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Layer annotation naming the signing key (`sha256:` of its public key). Not signed itself: it
/// only lets verification tell "signed by another key" from "payload altered after signing".
pub const KEY_ID_ANNOTATION: &str = "dev.gantry/key-id";

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("signing key {source_name}: {message}")]
    Key {
        source_name: String,
        message: String,
    },
    #[error("{reference}: {message}")]
    Signature { reference: String, message: String },
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// Where cosign stores the signatures of `digest` in `image`'s repository.
#[must_use]
pub fn signature_ref(image: &Reference, digest: &str) -> Reference {
    Reference::with_tag(
        image.registry().to_owned(),
        image.repository().to_owned(),
        format!("{}.sig", digest.replace(':', "-")),
    )
}

#[derive(Debug, Clone)]
pub struct Signed {
    pub digest: String,
    pub signature_ref: Reference,
    /// Signatures now stored for the digest, this one included.
    pub signatures: usize,
}

/// Signs the manifest `image` points to and appends the signature to its `.sig` manifest.
pub async fn sign(
    registry: &Registry,
    image: &Reference,
    key: &SigningKey,
    annotations: &BTreeMap<String, String>,
) -> Result<Signed, SignError> {
    let digest = match image.digest() {
        Some(d) => d.to_owned(),
        None => registry.resolve(image).await?,
    };
    let mut payload = SimpleSigning {
        critical: Critical {
            // cosign writes the repository, without tag or digest, as the docker-reference.
            identity: Identity {
                docker_reference: format!("{}/{}", image.registry(), image.repository()),
            },
            image: Image {
                docker_manifest_digest: digest.clone(),
            },
            type_name: CRITICAL_TYPE_NAME.to_owned(),
        },
        optional: None,
    };
    if !annotations.is_empty() {
        payload.optional = Some(Optional {
            extra: annotations
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
            ..Optional::default()
        });
    }
    let payload = serde_json::to_vec(&payload).map_err(|e| SignError::Signature {
        reference: image.whole(),
        message: format!("cannot serialise the payload: {e}"),
    })?;
    let signature = base64::engine::general_purpose::STANDARD.encode(key.sign(&payload)?);

    let sig_ref = signature_ref(image, &digest);
    let mut layers = existing_layers(registry, &sig_ref).await?;
    let payload_digest = crate::core::sha256(&payload);
    layers.retain(|l| {
        // Re-signing with the same key and payload replaces, never duplicates.
        !(l["digest"] == json!(payload_digest)
            && l["annotations"][KEY_ID_ANNOTATION] == json!(key.id()))
    });
    layers.push(json!({
        "mediaType": SIMPLE_SIGNING,
        "digest": payload_digest,
        "size": payload.len(),
        "annotations": {SIGNATURE_ANNOTATION: signature, KEY_ID_ANNOTATION: key.id()},
    }));
    registry
        .push_blob(&sig_ref, payload, &payload_digest)
        .await?;
    push_signature_manifest(registry, &sig_ref, layers.clone()).await?;
    Ok(Signed {
        digest,
        signature_ref: sig_ref,
        signatures: layers.len(),
    })
}

/// The layers of the current `.sig` manifest, or none when the image is unsigned.
async fn existing_layers(
    registry: &Registry,
    sig_ref: &Reference,
) -> Result<Vec<Value>, SignError> {
    let Some(manifest) = registry.manifest_if_exists(sig_ref).await? else {
        return Ok(Vec::new());
    };
    Ok(manifest
        .json
        .get("layers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

/// Writes the `.sig` manifest the way cosign does: an OCI image whose config lists the payload
/// digests as `diff_ids` and whose layers are the payloads.
pub(crate) async fn push_signature_manifest(
    registry: &Registry,
    sig_ref: &Reference,
    layers: Vec<Value>,
) -> Result<String, SignError> {
    let diff_ids: Vec<&Value> = layers.iter().map(|l| &l["digest"]).collect();
    let config = json!({
        "architecture": "",
        "config": {},
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config = serde_json::to_vec(&config).map_err(|e| SignError::Signature {
        reference: sig_ref.whole(),
        message: format!("cannot serialise the signature config: {e}"),
    })?;
    let config_digest = crate::core::sha256(&config);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": oci_client::manifest::OCI_IMAGE_MEDIA_TYPE,
        "config": {
            "mediaType": oci_client::manifest::IMAGE_CONFIG_MEDIA_TYPE,
            "digest": config_digest,
            "size": config.len(),
        },
        "layers": layers,
    });
    registry.push_blob(sig_ref, config, &config_digest).await?;
    let manifest = serde_json::to_vec(&manifest).map_err(|e| SignError::Signature {
        reference: sig_ref.whole(),
        message: format!("cannot serialise the signature manifest: {e}"),
    })?;
    Ok(registry
        .push_manifest(
            sig_ref,
            manifest,
            oci_client::manifest::OCI_IMAGE_MEDIA_TYPE,
        )
        .await?)
}

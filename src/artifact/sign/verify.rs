//! Signature verification before deploy (stage ③).
//!
//! Input: an image reference, the signature policy (image globs → trusted public keys) and the
//! registry. Output: a [`Verdict`]: verified by a named key, or refused with one distinct reason —
//! unsigned, signed by an untrusted key, payload altered, signature for another digest, or a tag
//! that no longer points at the pinned digest.

use std::path::Path;

use base64::Engine as _;
use oci_client::Reference;
use serde_json::Value;
use sigstore::cosign::payload::simple_signing::SimpleSigning;

use super::{
    KEY_ID_ANNOTATION, KeySource, SIGNATURE_ANNOTATION, SIMPLE_SIGNING, SignError, TrustedKey,
};
use crate::artifact::registry::Registry;
use crate::config::SecretRef;
use crate::config::policy::{SignaturePolicy, SignatureRule};
use crate::core::fs::Fs;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Verified {
        digest: String,
        /// Name of the trusted key whose signature verified.
        key: String,
    },
    Refused(Refusal),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{image}: not signed: no signature at {signature_ref}")]
    Unsigned {
        image: String,
        signature_ref: String,
    },
    #[error(
        "{image}: signed by an untrusted key: {count} signature(s) checked, none verifies with the \
         trusted keys ({trusted}); signed with {signers}"
    )]
    UntrustedKey {
        image: String,
        count: usize,
        trusted: String,
        signers: String,
    },
    #[error(
        "{image}: signature payload altered: the signature claims trusted key {key} but does not \
         verify against its payload"
    )]
    Tampered { image: String, key: String },
    #[error(
        "{image}: the signature by {key} is for {signed}, not {actual}: it was copied from \
         another image or the tag moved"
    )]
    DigestMismatch {
        image: String,
        key: String,
        signed: String,
        actual: String,
    },
    #[error("{image}: tag {tag} now points to {now}, not the pinned {pinned}: the tag moved")]
    TagMoved {
        image: String,
        tag: String,
        pinned: String,
        now: String,
    },
    #[error("{image}: no rule in the signature policy matches {repository}")]
    NoRule { image: String, repository: String },
}

/// Where a policy's keys are read from.
#[derive(Clone, Copy)]
pub struct KeyContext<'a> {
    /// The config repo on disk: relative key files are read from here unless `tree` is given.
    pub base: &'a Path,
    /// The config repo at a commit (the daemon reads no checkout): relative key files are read
    /// from it.
    pub tree: Option<&'a dyn Fs>,
    /// gantry's namespace, for `secret:` keys.
    pub namespace: &'a str,
    pub kube: Option<&'a kube::Client>,
}

/// Verifies `image` against the policy rule matching its repository.
pub async fn verify_with_policy(
    registry: &Registry,
    image: &Reference,
    policy: &SignaturePolicy,
    keys: KeyContext<'_>,
) -> Result<Verdict, SignError> {
    let rule = match rule_for(policy, image) {
        Ok(rule) => rule,
        Err(refusal) => return Ok(Verdict::Refused(refusal)),
    };
    verify(registry, image, &trusted_keys(rule, keys).await?).await
}

/// The first rule matching `image`'s `registry/repository`, or the refusal when none does.
pub fn rule_for<'p>(
    policy: &'p SignaturePolicy,
    image: &Reference,
) -> Result<&'p SignatureRule, Refusal> {
    let repository = format!("{}/{}", image.registry(), image.repository());
    policy.rule_for(&repository).ok_or_else(|| Refusal::NoRule {
        image: image.whole(),
        repository,
    })
}

/// Loads every key `rule` trusts.
pub async fn trusted_keys(
    rule: &SignatureRule,
    keys: KeyContext<'_>,
) -> Result<Vec<TrustedKey>, SignError> {
    let mut trusted = Vec::new();
    for k in &rule.keys {
        if let (SecretRef::File(path), Some(tree)) = (k, keys.tree)
            && path.is_relative()
        {
            let text = tree.read(path).map_err(|e| SignError::Key {
                source_name: path.display().to_string(),
                message: format!("cannot read it from the config repo: {e}"),
            })?;
            let text = String::from_utf8(text).map_err(|_| SignError::Key {
                source_name: path.display().to_string(),
                message: "not UTF-8 text".into(),
            })?;
            trusted.push(TrustedKey::from_pem(&path.display().to_string(), &text)?);
            continue;
        }
        let source = KeySource::from_ref(k, keys.base, keys.namespace);
        trusted.push(TrustedKey::load(&source, keys.kube).await?);
    }
    Ok(trusted)
}

/// Verifies `image` (by digest if pinned, else its tag's current digest) against `keys`.
pub async fn verify(
    registry: &Registry,
    image: &Reference,
    keys: &[TrustedKey],
) -> Result<Verdict, SignError> {
    let digest = match digest_of(registry, image).await? {
        Ok(digest) => digest,
        Err(moved) => return Ok(Verdict::Refused(moved)),
    };
    let sig_ref = super::signature_ref(image, &digest);
    let Some(manifest) = registry.manifest_if_exists(&sig_ref).await? else {
        return Ok(Verdict::Refused(Refusal::Unsigned {
            image: image.whole(),
            signature_ref: sig_ref.whole(),
        }));
    };
    let layers = manifest
        .json
        .get("layers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    check_layers(registry, (image, &sig_ref), &digest, &layers, keys).await
}

/// The digest to verify: the pinned one, refused when the image's tag has moved away from it,
/// or the tag's current digest.
async fn digest_of(
    registry: &Registry,
    image: &Reference,
) -> Result<Result<String, Refusal>, SignError> {
    let Some(pinned) = image.digest() else {
        return Ok(Ok(registry.resolve(image).await?));
    };
    if let Some(tag) = image.tag() {
        let by_tag = Reference::with_tag(
            image.registry().to_owned(),
            image.repository().to_owned(),
            tag.to_owned(),
        );
        let now = registry.resolve(&by_tag).await?;
        if now != pinned {
            return Ok(Err(Refusal::TagMoved {
                image: image.whole(),
                tag: tag.to_owned(),
                pinned: pinned.to_owned(),
                now,
            }));
        }
    }
    Ok(Ok(pinned.to_owned()))
}

/// Verified when one simple-signing layer is signed by a trusted key over `digest`; else the
/// most telling refusal (a signature over another digest, a tampered payload, untrusted keys).
async fn check_layers(
    registry: &Registry,
    (image, sig_ref): (&Reference, &Reference),
    digest: &str,
    layers: &[Value],
    keys: &[TrustedKey],
) -> Result<Verdict, SignError> {
    let whole = image.whole();
    let mut refusal = None;
    let mut signers = Vec::new();
    let mut count = 0;
    for layer in layers.iter().filter(|l| l["mediaType"] == SIMPLE_SIGNING) {
        let (Some(layer_digest), Some(signature)) = (
            layer["digest"].as_str(),
            layer["annotations"][SIGNATURE_ANNOTATION].as_str(),
        ) else {
            continue;
        };
        count += 1;
        let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(signature) else {
            continue;
        };
        let claimed = layer["annotations"][KEY_ID_ANNOTATION].as_str();
        signers.push(claimed.map_or_else(|| "an unnamed key".to_owned(), short_id));
        let payload = registry.blob(sig_ref, layer_digest).await?;
        if let Some(key) = keys.iter().find(|k| k.verifies(&signature, &payload)) {
            let signed = serde_json::from_slice::<SimpleSigning>(&payload)
                .map(|p| p.critical.image.docker_manifest_digest)
                .unwrap_or_default();
            if signed == digest {
                return Ok(Verdict::Verified {
                    digest: digest.to_owned(),
                    key: key.name.clone(),
                });
            }
            refusal = Some(Refusal::DigestMismatch {
                image: whole.clone(),
                key: key.name.clone(),
                signed,
                actual: digest.to_owned(),
            });
        } else if let Some(key) = keys.iter().find(|k| Some(k.id.as_str()) == claimed) {
            refusal = refusal.or(Some(Refusal::Tampered {
                image: whole.clone(),
                key: key.name.clone(),
            }));
        }
    }
    Ok(Verdict::Refused(refusal.unwrap_or_else(|| {
        Refusal::UntrustedKey {
            image: whole,
            count,
            trusted: keys
                .iter()
                .map(|k| format!("{} {}", k.name, short_id(&k.id)))
                .collect::<Vec<_>>()
                .join(", "),
            signers: signers.join(", "),
        }
    })))
}

/// `sha256:0123456789ab`: enough to tell keys apart in a message.
fn short_id(id: &str) -> String {
    id.chars().take("sha256:".len() + 12).collect()
}

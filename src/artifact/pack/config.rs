//! Image config and manifest for a packed image (pure).
//!
//! Input: the base image's config and manifest (or none, for scratch), the new layer, and what
//! the user asked for (entrypoint, env, labels, platform). Output: config and manifest JSON bytes.
//! A docker-format base yields a docker-format image, anything else OCI, so runtimes never see a
//! manifest that mixes the two.

use serde_json::{Map, Value, json};

use super::layer::Layer;
use super::{PackError, Platform};
use crate::artifact::registry::RawManifest;
use oci_client::manifest as mt;

/// What changes on top of the base config.
#[derive(Debug, Clone, Default)]
pub struct ConfigChanges {
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<(String, String)>,
    pub labels: Vec<(String, String)>,
    /// RFC 3339 time written as `created`: fixed, so the config digest is reproducible.
    pub created: String,
    /// The history line, e.g. `gantry pack app/`.
    pub created_by: String,
}

pub struct Built {
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
    pub media_type: &'static str,
}

pub fn build(
    base: Option<(&RawManifest, Value)>,
    platform: &Platform,
    layer: &Layer,
    changes: &ConfigChanges,
) -> Result<Built, PackError> {
    let docker = base
        .as_ref()
        .is_some_and(|(m, _)| m.media_type == mt::IMAGE_MANIFEST_MEDIA_TYPE);
    let mut config = if let Some((_, config)) = &base {
        config.clone()
    } else {
        let mut c = json!({
            "architecture": platform.architecture,
            "os": platform.os,
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [],
        });
        if let Some(v) = &platform.variant {
            c["variant"] = json!(v);
        }
        c
    };
    apply(&mut config, layer, changes)?;
    let config_bytes = serde_json::to_vec(&config).map_err(|e| PackError::Base {
        message: format!("cannot serialise the image config: {e}"),
    })?;

    let (media_type, config_type, layer_type) = if docker {
        (
            mt::IMAGE_MANIFEST_MEDIA_TYPE,
            mt::IMAGE_DOCKER_CONFIG_MEDIA_TYPE,
            mt::IMAGE_DOCKER_LAYER_GZIP_MEDIA_TYPE,
        )
    } else {
        (
            mt::OCI_IMAGE_MEDIA_TYPE,
            mt::IMAGE_CONFIG_MEDIA_TYPE,
            mt::IMAGE_LAYER_GZIP_MEDIA_TYPE,
        )
    };
    let mut layers: Vec<Value> = base
        .and_then(|(m, _)| m.json.get("layers").and_then(Value::as_array).cloned())
        .unwrap_or_default();
    layers.push(json!({"mediaType": layer_type, "digest": layer.digest, "size": layer.gzip.len()}));
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {
            "mediaType": config_type,
            "digest": crate::core::sha256(&config_bytes),
            "size": config_bytes.len(),
        },
        "layers": layers,
    });
    let manifest = serde_json::to_vec(&manifest).map_err(|e| PackError::Base {
        message: format!("cannot serialise the manifest: {e}"),
    })?;
    Ok(Built {
        config: config_bytes,
        manifest,
        media_type,
    })
}

/// The user's changes, the new layer's diff id and a history entry, on top of `config`.
fn apply(config: &mut Value, layer: &Layer, changes: &ConfigChanges) -> Result<(), PackError> {
    let root = config.as_object_mut().ok_or_else(|| PackError::Base {
        message: "base image config is not a JSON object".into(),
    })?;
    root.insert("created".into(), json!(changes.created));
    let run = object(root, "config")?;
    if let Some(entrypoint) = &changes.entrypoint {
        run.insert("Entrypoint".into(), json!(entrypoint));
        // Docker semantics: a new entrypoint drops the base image's default arguments.
        run.remove("Cmd");
    }
    if !changes.env.is_empty() {
        let mut env: Vec<String> = run
            .get("Env")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|e| {
                let key = e.split_once('=').map_or(*e, |(k, _)| k);
                !changes.env.iter().any(|(k, _)| k == key)
            })
            .map(str::to_owned)
            .collect();
        env.extend(changes.env.iter().map(|(k, v)| format!("{k}={v}")));
        run.insert("Env".into(), json!(env));
    }
    if !changes.labels.is_empty() {
        let labels = object(run, "Labels")?;
        for (k, v) in &changes.labels {
            labels.insert(k.clone(), json!(v));
        }
    }
    let rootfs = object(root, "rootfs")?;
    rootfs.insert("type".into(), json!("layers"));
    match rootfs.get_mut("diff_ids") {
        Some(Value::Array(ids)) => ids.push(json!(layer.diff_id)),
        _ => {
            rootfs.insert("diff_ids".into(), json!([layer.diff_id]));
        }
    }
    let entry = json!({"created": changes.created, "created_by": changes.created_by});
    match root.get_mut("history") {
        Some(Value::Array(h)) => h.push(entry),
        _ => {
            root.insert("history".into(), json!([entry]));
        }
    }
    Ok(())
}

fn object<'a>(
    parent: &'a mut Map<String, Value>,
    key: &str,
) -> Result<&'a mut Map<String, Value>, PackError> {
    let slot = parent
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut().ok_or_else(|| PackError::Base {
        message: format!("base image config field `{key}` is not an object"),
    })
}

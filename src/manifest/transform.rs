//! kustomize's built-in transformers (stage: ⑤ render): namespace, name prefix/suffix,
//! labels, annotations, replicas, images.
//!
//! Input: a kustomization and the resources accumulated so far. Output: the same resources,
//! changed in place where kustomize's default field specs say. The tables of paths are in
//! `fieldspecs`; renames record the previous id so name references can follow.

use std::collections::BTreeMap;

use serde_json::Value;

use super::ManifestError;
use super::fieldspecs;
use super::kustomization::{Image, Kustomization, Replica};
use super::par;
use super::resource::{FieldSpec, Resource, ensure_object, path_segments, visit};
use super::tconfig::{self, Config};

/// Field specs with their paths split once, not once per resource.
fn split(specs: &[FieldSpec]) -> Vec<(FieldSpec, Vec<String>)> {
    specs
        .iter()
        .map(|s| (s.clone(), path_segments(&s.path)))
        .collect()
}

/// Sets `pairs` at every path of `specs` in every resource (the label and annotation
/// transformers of `transformers:` configs, and `labels[].fields`).
pub fn pairs(ra: &mut [Resource], specs: &[FieldSpec], pairs: &BTreeMap<String, String>) {
    if pairs.is_empty() || specs.is_empty() {
        return;
    }
    let specs = split(specs);
    par::each(ra, |r| set_pairs(r, &specs, pairs));
}

/// Sets `pairs` into the map at each field spec path (creating it where the spec says).
fn set_pairs(
    r: &mut Resource,
    specs: &[(FieldSpec, Vec<String>)],
    pairs: &BTreeMap<String, String>,
) {
    if pairs.is_empty() {
        return;
    }
    let kind = r.kind().to_owned();
    let (group, version) = r.group_version();
    let (group, version) = (group.to_owned(), version.to_owned());
    for (spec, segments) in specs {
        if !spec.applies(&kind, &group, &version) {
            continue;
        }
        let _ = visit::<()>(&mut r.obj, segments, spec.create, &mut |v| {
            let m = ensure_object(v);
            for (k, val) in pairs {
                m.insert(k.clone(), Value::String(val.clone()));
            }
            Ok(())
        });
    }
}

/// kustomize's namespace transformer; `extra` are custom namespace field specs.
pub fn namespace(ns: Option<&str>, extra: &[FieldSpec], ra: &mut [Resource]) {
    let Some(ns) = ns.filter(|n| !n.is_empty()) else {
        return;
    };
    let mut all = fieldspecs::NAMESPACE_EXTRA.to_vec();
    all.extend(
        extra
            .iter()
            .filter(|s| s.path != "metadata/namespace")
            .cloned(),
    );
    let extra: Vec<(FieldSpec, Vec<String>)> = split(&all);
    par::each(ra, |r| {
        r.store_prev();
        if !r.is_cluster_scoped() {
            r.set_namespace(ns);
        }
        // Only core/v1 Namespaces are renamed to the target namespace.
        if r.kind() == "Namespace" && r.api_version() == "v1" {
            r.set_name(ns);
        }
        if matches!(r.kind(), "RoleBinding" | "ClusterRoleBinding")
            && let Some(Value::Array(subjects)) = r.obj.get_mut("subjects")
        {
            // kustomize's default (`defaultOnly`): only the `default` service account moves.
            for s in subjects.iter_mut() {
                let is_default_sa = s.get("kind").and_then(Value::as_str) == Some("ServiceAccount")
                    && s.get("name").and_then(Value::as_str) == Some("default");
                if is_default_sa {
                    ensure_object(s).insert("namespace".to_owned(), Value::String(ns.to_owned()));
                }
            }
        }
        for (spec, segments) in &extra {
            if spec.applies_to(r) {
                let _ = visit::<()>(&mut r.obj, segments, spec.create, &mut |v| {
                    *v = Value::String(ns.to_owned());
                    Ok(())
                });
            }
        }
    });
}

/// Prefixes and suffixes names (`metadata/name` specs rename, recording the old id; other
/// specs, from `configurations` or a plugin config, prefix the string found there).
pub fn prefix_suffix(prefix: &str, suffix: &str, specs: &[FieldSpec], ra: &mut [Resource]) {
    if prefix.is_empty() && suffix.is_empty() {
        return;
    }
    let specs = split(specs);
    par::each(ra, |r| {
        if fieldspecs::NAME_PREFIX_SKIP.iter().any(|s| s.applies_to(r)) {
            return;
        }
        let kind = r.kind().to_owned();
        let (g, v) = r.group_version();
        let (g, v) = (g.to_owned(), v.to_owned());
        let mut renamed = false;
        for (spec, segments) in &specs {
            if !spec.applies(&kind, &g, &v) {
                continue;
            }
            if spec.path == "metadata/name" {
                if !renamed {
                    if !prefix.is_empty() {
                        r.prefixes.push(prefix.to_owned());
                    }
                    if !suffix.is_empty() {
                        r.suffixes.push(suffix.to_owned());
                    }
                    r.store_prev();
                    let name = format!("{prefix}{}{suffix}", r.name());
                    r.set_name(&name);
                    renamed = true;
                }
                continue;
            }
            let _ = visit::<()>(&mut r.obj, segments, false, &mut |v| {
                if let Value::String(s) = v {
                    *s = format!("{prefix}{s}{suffix}");
                }
                Ok(())
            });
        }
    });
}

/// The `metadata/name` spec kustomize's prefix and suffix transformers use by default.
#[must_use]
pub fn name_specs(extra: &[FieldSpec]) -> Vec<FieldSpec> {
    let mut v = vec![FieldSpec::any("metadata/name", false)];
    v.extend(extra.iter().filter(|s| s.path != "metadata/name").cloned());
    v
}

fn with(mut base: Vec<FieldSpec>, extra: &[FieldSpec]) -> Vec<FieldSpec> {
    for s in extra {
        if !base.contains(s) {
            base.push(s.clone());
        }
    }
    base
}

/// `labels` entries, then `commonLabels`, each with kustomize's default field specs plus the
/// custom ones of `configurations` (and an entry's own `fields`).
pub fn labels(k: &Kustomization, cfg: &Config, ra: &mut [Resource]) {
    for label in &k.labels {
        let mut specs = with(tconfig::specs(&label.fields), &cfg.labels);
        specs = if label.include_selectors {
            with(
                specs,
                &with(fieldspecs::common_labels(), &cfg.common_labels),
            )
        } else if label.include_templates {
            let templates = with(fieldspecs::template_labels(), &cfg.template_labels);
            with(specs, &templates)
        } else {
            with(specs, &[FieldSpec::any("metadata/labels", true)])
        };
        pairs(ra, &specs, &label.pairs);
    }
    let specs = with(fieldspecs::common_labels(), &cfg.common_labels);
    pairs(ra, &specs, &k.common_labels);
}

pub fn annotations(k: &Kustomization, cfg: &Config, ra: &mut [Resource]) {
    let specs = with(fieldspecs::common_annotations(), &cfg.common_annotations);
    pairs(ra, &specs, &k.common_annotations);
}

/// `replicas` entries; `extra` are custom replica field specs (a custom resource's count).
pub fn replicas(
    reps: &[Replica],
    extra: &[FieldSpec],
    ra: &mut [Resource],
) -> Result<(), ManifestError> {
    let extra = split(extra);
    for rep in reps {
        let mut found = false;
        for r in ra.iter_mut() {
            if !r.all_ids().any(|id| id.name == rep.name) {
                continue;
            }
            if fieldspecs::REPLICAS_KINDS.contains(&r.kind()) {
                found = true;
                ensure_object(
                    ensure_object(&mut r.obj)
                        .entry("spec")
                        .or_insert(Value::Null),
                )
                .insert("replicas".to_owned(), Value::from(rep.count));
            }
            for (spec, segments) in &extra {
                if spec.applies_to(r) {
                    found = true;
                    let _ = visit::<()>(&mut r.obj, segments, spec.create, &mut |v| {
                        *v = Value::from(rep.count);
                        Ok(())
                    });
                }
            }
        }
        if !found {
            return Err(ManifestError::file(
                "kustomization",
                format!(
                    "replicas: no {} named \"{}\"",
                    fieldspecs::REPLICAS_KINDS.join(", "),
                    rep.name
                ),
            ));
        }
    }
    Ok(())
}

/// Each `images` entry is its own transformer in kustomize, applied in order to every image
/// field independently; folding the entries per field in one walk gives the same result.
/// `extra` are custom image field specs (where a custom resource keeps an image).
pub fn images(images: &[Image], extra: &[FieldSpec], ra: &mut [Resource]) {
    if images.is_empty() {
        return;
    }
    let volume_paths: Vec<Vec<String>> = fieldspecs::IMAGE_VOLUME_PATHS
        .iter()
        .map(|p| path_segments(p))
        .collect();
    let extra = split(extra);
    let rewrite = |s: &mut String| {
        for image in images {
            if let Some(new) = new_image(s, image) {
                *s = new;
            }
        }
    };
    par::each(ra, |r| {
        super::workload::rewrite_images(&mut r.obj, &rewrite);
        let custom = extra
            .iter()
            .filter(|(spec, _)| spec.applies_to(r))
            .map(|(_, segments)| segments.clone())
            .collect::<Vec<_>>();
        for segments in volume_paths.iter().chain(&custom) {
            let _ = visit::<()>(&mut r.obj, segments, false, &mut |v| {
                if let Value::String(s) = v {
                    rewrite(s);
                }
                Ok(())
            });
        }
    });
}

/// The rewritten reference, when `current` names `image.name`.
#[must_use]
pub fn new_image(current: &str, image: &super::kustomization::Image) -> Option<String> {
    if !image_matches(current, &image.name) {
        return None;
    }
    let (mut name, mut tag, mut digest) = split_image(current);
    if let Some(n) = image.new_name.as_deref().filter(|n| !n.is_empty()) {
        n.clone_into(&mut name);
    }
    let new_tag = image.new_tag.as_deref().filter(|t| !t.is_empty());
    let new_digest = image.digest.as_deref().filter(|d| !d.is_empty());
    // A new tag or digest replaces both the old tag and digest.
    match (new_tag, new_digest) {
        (Some(t), Some(d)) => (tag, digest) = (t.to_owned(), d.to_owned()),
        (Some(t), None) => (tag, digest) = (t.to_owned(), String::new()),
        (None, Some(d)) => (tag, digest) = (String::new(), d.to_owned()),
        (None, None) => {}
    }
    if !tag.is_empty() {
        name = format!("{name}:{tag}");
    }
    if !digest.is_empty() {
        name = format!("{name}@{digest}");
    }
    Some(name)
}

/// `^NAME(@sha256)?(:[\w.-]*)?$`, as kustomize matches image names.
fn image_matches(s: &str, name: &str) -> bool {
    let Some(rest) = s.strip_prefix(name) else {
        return false;
    };
    let rest = rest.strip_prefix("@sha256").unwrap_or(rest);
    rest.is_empty()
        || rest.strip_prefix(':').is_some_and(|t| {
            t.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-'))
        })
}

/// kustomize's `image.Split`: the registry part may hold a port's `:`.
#[must_use]
pub fn split_image(image: &str) -> (String, String, String) {
    let slash = image.find('/').filter(|&i| i > 0).unwrap_or(0);
    let search = &image[slash..];
    let at = search.find('@').map(|i| i + slash);
    let colon = search.find(':').map(|i| i + slash);
    match (at, colon) {
        (None, None) => (image.to_owned(), String::new(), String::new()),
        (Some(a), c) if c.is_none_or(|c| a < c) => (
            image[..a].to_owned(),
            String::new(),
            image[a + 1..].to_owned(),
        ),
        (Some(a), Some(c)) => (
            image[..c].to_owned(),
            image[c + 1..a].to_owned(),
            image[a + 1..].to_owned(),
        ),
        (None, Some(c)) => (
            image[..c].to_owned(),
            image[c + 1..].to_owned(),
            String::new(),
        ),
        (Some(_), None) => unreachable!("covered by the guard above"),
    }
}

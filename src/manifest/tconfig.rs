//! Custom field specs: kustomize's transformer configuration (stage: ⑤ render).
//!
//! Input: the `configurations:` files of a kustomization (and those of its bases, merged
//! upward as kustomize merges them). Output: [`Config`], the field specs each built-in
//! transformer uses beyond its defaults — e.g. where a custom resource keeps its labels,
//! image or replica count, or which of its fields name a ConfigMap.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::fieldspecs::NameRef;
use super::fs::Fs;
use super::kustomization::Kustomization;
use super::resource::FieldSpec;
use super::{ManifestError, build};

/// One field spec as written in YAML (`group`, `version`, `kind`, `path`, `create`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SpecDoc {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    pub path: String,
    #[serde(default)]
    pub create: bool,
}

impl SpecDoc {
    #[must_use]
    pub fn spec(&self) -> FieldSpec {
        FieldSpec {
            group: self.group.clone().into(),
            version: self.version.clone().into(),
            kind: self.kind.clone().into(),
            path: self.path.clone().into(),
            create: self.create,
        }
    }
}

#[must_use]
pub fn specs(docs: &[SpecDoc]) -> Vec<FieldSpec> {
    docs.iter().map(SpecDoc::spec).collect()
}

/// A `nameReference` entry: the referenced kind and the fields that name it.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NameRefDoc {
    /// The referenced kind's group and version: references are matched by kind, as the
    /// built-in table matches them.
    #[serde(default, rename = "group")]
    _group: String,
    #[serde(default, rename = "version")]
    _version: String,
    pub kind: String,
    #[serde(default)]
    pub field_specs: Vec<SpecDoc>,
}

/// A `configurations:` file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ConfigDoc {
    #[serde(default)]
    name_prefix: Vec<SpecDoc>,
    #[serde(default)]
    name_suffix: Vec<SpecDoc>,
    #[serde(default)]
    namespace: Vec<SpecDoc>,
    #[serde(default)]
    common_labels: Vec<SpecDoc>,
    #[serde(default)]
    labels: Vec<SpecDoc>,
    #[serde(default)]
    template_labels: Vec<SpecDoc>,
    #[serde(default)]
    common_annotations: Vec<SpecDoc>,
    #[serde(default)]
    name_reference: Vec<NameRefDoc>,
    #[serde(default)]
    var_reference: Vec<SpecDoc>,
    #[serde(default)]
    images: Vec<SpecDoc>,
    #[serde(default)]
    replicas: Vec<SpecDoc>,
}

/// Field specs added to the built-in defaults.
#[derive(Debug, Default, Clone)]
pub struct Config {
    pub name_prefix: Vec<FieldSpec>,
    pub name_suffix: Vec<FieldSpec>,
    pub namespace: Vec<FieldSpec>,
    pub common_labels: Vec<FieldSpec>,
    pub labels: Vec<FieldSpec>,
    pub template_labels: Vec<FieldSpec>,
    pub common_annotations: Vec<FieldSpec>,
    pub name_reference: Vec<NameRef>,
    pub var_reference: Vec<FieldSpec>,
    pub images: Vec<FieldSpec>,
    pub replicas: Vec<FieldSpec>,
    /// The `vars` declared so far (they travel upward with the field specs).
    pub vars: Vec<super::vars::Declared>,
    /// The top kustomization's `openapi` schema, for every strategic merge of the build.
    pub schema: Option<std::sync::Arc<super::openapi::Schema>>,
    /// Record the transformers that run (the top kustomization has `buildMetadata`).
    pub track: bool,
}

fn merge_specs(into: &mut Vec<FieldSpec>, more: &[FieldSpec]) {
    for s in more {
        if !into.contains(s) {
            into.push(s.clone());
        }
    }
}

impl Config {
    /// An empty config for a directory below this one: it shares the build's schema.
    #[must_use]
    pub fn child(&self) -> Self {
        Self {
            schema: self.schema.clone(),
            track: self.track,
            ..Self::default()
        }
    }

    /// Adds `other`'s specs not already present (kustomize's `MergeAll`).
    pub fn merge(&mut self, other: &Self) {
        merge_specs(&mut self.name_prefix, &other.name_prefix);
        merge_specs(&mut self.name_suffix, &other.name_suffix);
        merge_specs(&mut self.namespace, &other.namespace);
        merge_specs(&mut self.common_labels, &other.common_labels);
        merge_specs(&mut self.labels, &other.labels);
        merge_specs(&mut self.template_labels, &other.template_labels);
        merge_specs(&mut self.common_annotations, &other.common_annotations);
        merge_specs(&mut self.var_reference, &other.var_reference);
        merge_specs(&mut self.images, &other.images);
        merge_specs(&mut self.replicas, &other.replicas);
        self.vars.extend(other.vars.iter().cloned());
        for nr in &other.name_reference {
            if !self.name_reference.contains(nr) {
                self.name_reference.push(nr.clone());
            }
        }
    }

    fn from_doc(d: &ConfigDoc) -> Self {
        let mut name_reference = Vec::new();
        for nr in &d.name_reference {
            for fs in &nr.field_specs {
                name_reference.push(NameRef {
                    target: nr.kind.clone().into(),
                    referrer: fs.kind.clone().into(),
                    referrer_group: fs.group.clone().into(),
                    path: fs.path.clone(),
                });
            }
        }
        Self {
            name_prefix: specs(&d.name_prefix),
            name_suffix: specs(&d.name_suffix),
            namespace: specs(&d.namespace),
            common_labels: specs(&d.common_labels),
            labels: specs(&d.labels),
            template_labels: specs(&d.template_labels),
            common_annotations: specs(&d.common_annotations),
            name_reference,
            var_reference: specs(&d.var_reference),
            images: specs(&d.images),
            replicas: specs(&d.replicas),
            vars: Vec::new(),
            schema: None,
            track: false,
        }
    }
}

/// The `configurations:` files of one kustomization, merged.
pub fn load(
    fs: &dyn Fs,
    dir: &Path,
    kfile: &Path,
    k: &Kustomization,
) -> Result<Config, ManifestError> {
    let mut config = Config::default();
    for entry in &k.configurations {
        let (file, text) = build::read_entry(fs, kfile, dir, entry, "configurations")?;
        let doc = crate::core::diag::parse::<ConfigDoc>(&build::display(&file), &text)
            .map_err(ManifestError::from_diag)?;
        config.merge(&Config::from_doc(&doc));
    }
    Ok(config)
}

/// The `crds:` files of one kustomization (kustomize's `LoadConfigFromCRDs`): Open API
/// definitions whose properties carry `x-kubernetes-object-ref-kind` (a name reference),
/// `x-kubernetes-annotation`, `x-kubernetes-label-selector` or `x-kubernetes-identity`.
pub fn load_crds(
    fs: &dyn Fs,
    dir: &Path,
    kfile: &Path,
    k: &Kustomization,
) -> Result<Config, ManifestError> {
    let mut config = Config::default();
    for entry in &k.crds {
        let (file, text) = build::read_entry(fs, kfile, dir, entry, "crds")?;
        let name = build::display(&file);
        let doc = super::load::documents(&name, &text)?
            .into_iter()
            .next()
            .unwrap_or(Value::Null);
        let Value::Object(defs) = doc else {
            return Err(ManifestError::file(
                name,
                "unable to parse open API definition: expected a map of type names to definitions",
            ));
        };
        for (type_name, def) in &defs {
            let props = properties(def);
            let is_k8s_type = ["kind", "apiVersion", "metadata"]
                .iter()
                .all(|p| props.is_some_and(|m| m.contains_key(*p)));
            if !is_k8s_type {
                continue;
            }
            let kind = type_name.rsplit('.').next().unwrap_or(type_name);
            let mut seen = Vec::new();
            crd_specs(&mut config, kind, &defs, type_name, &[], &mut seen);
        }
    }
    Ok(config)
}

/// A definition's `properties` (under `Schema`, however it is capitalised).
fn properties(def: &Value) -> Option<&serde_json::Map<String, Value>> {
    let schema = def
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("schema"))?
        .1;
    schema.get("properties")?.as_object()
}

fn crd_specs(
    config: &mut Config,
    kind: &str,
    defs: &serde_json::Map<String, Value>,
    type_name: &str,
    path: &[String],
    seen: &mut Vec<String>,
) {
    // A definition that refers to itself would recurse forever; kustomize's would too.
    if seen.iter().any(|s| s == type_name) {
        return;
    }
    seen.push(type_name.to_owned());
    let Some(props) = defs.get(type_name).and_then(properties) else {
        seen.pop();
        return;
    };
    for (prop, schema) in props {
        let mut here = path.to_vec();
        here.push(prop.clone());
        let has = |key: &str| schema.get(key).is_some_and(Value::is_string);
        let spec = |p: &[String]| FieldSpec {
            kind: kind.to_owned().into(),
            path: p.join("/").into(),
            ..FieldSpec::any("", false)
        };
        if has("x-kubernetes-annotation") {
            merge_specs(&mut config.common_annotations, &[spec(&here)]);
        }
        if has("x-kubernetes-label-selector") {
            merge_specs(&mut config.common_labels, &[spec(&here)]);
        }
        if has("x-kubernetes-identity") {
            merge_specs(&mut config.name_prefix, &[spec(&here)]);
        }
        let target = schema
            .get("x-kubernetes-object-ref-kind")
            .and_then(Value::as_str);
        if has("x-kubernetes-object-ref-api-version")
            && let Some(target) = target
        {
            let key = schema
                .get("x-kubernetes-object-ref-name-key")
                .and_then(Value::as_str)
                .unwrap_or("name");
            let nr = NameRef {
                target: target.to_owned().into(),
                referrer: kind.to_owned().into(),
                referrer_group: "".into(),
                path: format!("{}/{key}", here.join("/")),
            };
            if !config.name_reference.contains(&nr) {
                config.name_reference.push(nr);
            }
        }
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            crd_specs(config, kind, defs, r, &here, seen);
        }
    }
    seen.pop();
}

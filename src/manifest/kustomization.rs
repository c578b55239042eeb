//! The `kustomization.yaml` fields gantry's renderer supports (stage: ⑤ render).
//!
//! Input: the text of a kustomization file. Output: [`Kustomization`], or an error at the
//! offending field. Every field kustomize has that is not listed here is refused by name, never
//! ignored: an overlay that renders differently from `kustomize build` is worse than one that
//! does not render.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;

use super::ManifestError;
use crate::core::diag;

pub const SUPPORTED_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "resources",
    "bases",
    "components",
    "namespace",
    "namePrefix",
    "nameSuffix",
    "commonLabels",
    "labels",
    "commonAnnotations",
    "images",
    "replicas",
    "patches",
    "patchesStrategicMerge",
    "patchesJson6902",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
    "replacements",
    "configurations",
    "transformers",
    "generators",
    "sortOptions",
    "imageTags",
    "vars",
    "buildMetadata",
    "crds",
    "openapi",
];

pub type S<T> = Spanned<T>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Kustomization {
    #[serde(default)]
    #[serde(alias = "apiversion")]
    pub api_version: Option<String>,
    #[serde(default)]
    pub kind: Option<S<String>>,
    #[serde(default)]
    pub metadata: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub resources: Vec<S<String>>,
    /// Deprecated alias of `resources`; kustomize appends them after `resources`.
    #[serde(default)]
    pub bases: Vec<S<String>>,
    #[serde(default)]
    pub components: Vec<S<String>>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    #[serde(alias = "nameprefix")]
    pub name_prefix: Option<String>,
    #[serde(default)]
    #[serde(alias = "namesuffix")]
    pub name_suffix: Option<String>,
    #[serde(default, deserialize_with = "string_map")]
    #[serde(alias = "commonlabels")]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub labels: Vec<Label>,
    #[serde(default, deserialize_with = "string_map")]
    #[serde(alias = "commonannotations")]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub images: Vec<Image>,
    /// Deprecated name of `images`; kustomize appends these after `images`.
    #[serde(default, alias = "imagetags")]
    pub image_tags: Vec<Image>,
    #[serde(default)]
    pub replicas: Vec<Replica>,
    #[serde(default)]
    pub patches: Vec<S<Patch>>,
    #[serde(default)]
    #[serde(alias = "patchesstrategicmerge")]
    pub patches_strategic_merge: Vec<S<String>>,
    #[serde(default)]
    #[serde(alias = "patchesjson6902")]
    pub patches_json6902: Vec<S<Json6902>>,
    #[serde(default)]
    #[serde(alias = "configmapgenerator")]
    pub config_map_generator: Vec<S<GeneratorArgs>>,
    #[serde(default)]
    #[serde(alias = "secretgenerator")]
    pub secret_generator: Vec<S<GeneratorArgs>>,
    #[serde(default)]
    #[serde(alias = "generatoroptions")]
    pub generator_options: Option<GeneratorOptions>,
    #[serde(default)]
    pub replacements: Vec<S<super::replace::Entry>>,
    /// Files of custom field specs (`tconfig`).
    #[serde(default)]
    pub configurations: Vec<S<String>>,
    /// Built-in transformer configs: files, directories or inline YAML.
    #[serde(default)]
    pub transformers: Vec<S<String>>,
    /// Built-in generator configs: files, directories or inline YAML.
    #[serde(default)]
    pub generators: Vec<S<String>>,
    #[serde(default)]
    pub vars: Vec<S<super::vars::Var>>,
    /// Open API definitions of custom kinds, for their name references (`tconfig`).
    #[serde(default)]
    pub crds: Vec<S<String>>,
    /// A custom schema for strategic merge (`path`) or the built-in one (`version`); only the
    /// top kustomization's counts, as in kustomize.
    #[serde(default, alias = "openAPI")]
    pub openapi: Option<S<BTreeMap<String, String>>>,
    #[serde(default, alias = "buildmetadata")]
    pub build_metadata: Vec<S<String>>,
    #[serde(default)]
    #[serde(alias = "sortoptions")]
    pub sort_options: Option<S<super::order::SortOptions>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Label {
    #[serde(default, deserialize_with = "string_map")]
    pub pairs: BTreeMap<String, String>,
    #[serde(default)]
    #[serde(alias = "includeselectors")]
    pub include_selectors: bool,
    #[serde(default)]
    #[serde(alias = "includetemplates")]
    pub include_templates: bool,
    /// More field specs for these labels.
    #[serde(default)]
    pub fields: Vec<super::tconfig::SpecDoc>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Image {
    pub name: String,
    #[serde(default)]
    #[serde(alias = "newname")]
    pub new_name: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    #[serde(alias = "newtag")]
    pub new_tag: Option<String>,
    #[serde(default)]
    pub digest: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Replica {
    pub name: String,
    pub count: i64,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Selector {
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    #[serde(alias = "labelselector")]
    pub label_selector: Option<String>,
    #[serde(default)]
    #[serde(alias = "annotationselector")]
    pub annotation_selector: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PatchOptions {
    #[serde(default)]
    #[serde(alias = "allownamechange")]
    pub allow_name_change: bool,
    #[serde(default)]
    #[serde(alias = "allowkindchange")]
    pub allow_kind_change: bool,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Patch {
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub patch: Option<String>,
    #[serde(default)]
    pub target: Option<Selector>,
    #[serde(default)]
    pub options: Option<PatchOptions>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Json6902 {
    pub target: Selector,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub patch: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GeneratorOptions {
    #[serde(default, deserialize_with = "string_map")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "string_map")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    #[serde(alias = "disablenamesuffixhash")]
    pub disable_name_suffix_hash: Option<bool>,
    #[serde(default)]
    pub immutable: Option<bool>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GeneratorArgs {
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub behavior: Option<String>,
    #[serde(default)]
    pub literals: Vec<String>,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub envs: Vec<String>,
    /// Deprecated single form of `envs`.
    #[serde(default)]
    pub env: Option<String>,
    #[serde(default)]
    pub options: Option<GeneratorOptions>,
    /// Secrets only: the Secret `type` (default `Opaque`).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// A map of strings. kustomize decodes these into Go `map[string]string` and refuses a
/// number or boolean (`port: 8080`, `on: y`) rather than guess its text; so does gantry.
fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw: BTreeMap<String, serde_json::Value> = Deserialize::deserialize(d)?;
    raw.into_iter()
        .map(|(k, v)| {
            let s = scalar_string(&v).map_err(|found| {
                serde::de::Error::custom(format!(
                    "value of \"{k}\" must be a string, found {found}; quote it"
                ))
            })?;
            Ok((k, s))
        })
        .collect()
}

fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let raw: Option<serde_json::Value> = Deserialize::deserialize(d)?;
    raw.map(|v| {
        scalar_string(&v).map_err(|found| {
            serde::de::Error::custom(format!("must be a string, found {found}; quote it"))
        })
    })
    .transpose()
}

fn scalar_string(v: &serde_json::Value) -> Result<String, String> {
    match v {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Null => Ok(String::new()),
        serde_json::Value::Number(n) => Err(format!("the number {n}")),
        serde_json::Value::Bool(b) => Err(format!("the boolean {b}")),
        other => Err(format!("{other}")),
    }
}

/// Parses a kustomization, turning "unknown field" into "not supported" with the known list.
/// Field names are also accepted in lowercase (`nameprefix`, `commonlabels`), as kustomize's
/// case-insensitive JSON decoding accepts them.
pub fn parse(file: &str, text: &str) -> Result<Kustomization, ManifestError> {
    let mut k = diag::parse::<Kustomization>(file, text).map_err(|d| {
        if d.path.chars().all(|c| c.is_ascii_alphanumeric()) && d.message.starts_with("unknown field") {
            ManifestError::At {
                file: d.file,
                line: d.line,
                column: d.column,
                message: format!(
                    "kustomization field `{}` is not supported by gantry's renderer (supported: {})",
                    d.path,
                    SUPPORTED_FIELDS.join(", ")
                ),
            }
        } else {
            ManifestError::from_diag(d)
        }
    })?;
    let legacy = std::mem::take(&mut k.image_tags);
    k.images.extend(legacy);
    Ok(k)
}

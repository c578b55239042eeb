//! `transformers:` and `generators:` naming kustomize's built-in plugins (stage: ⑤ render).
//!
//! Input: entries that are files, directories (built as kustomizations) or inline YAML, each
//! holding configs of `apiVersion: builtin` and a built-in kind; the resources so far.
//! Output: the resources transformed (or extended) in entry order, by the same code the
//! kustomization fields use. Any other plugin (exec or container KRM functions, Go plugins)
//! is refused by name: gantry runs no external code while rendering.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::kustomization::{
    GeneratorArgs, GeneratorOptions, Image, Json6902, Kustomization, Patch, PatchOptions, Replica,
    S, Selector,
};
use super::resource::{Provenance, Resource, Transformation};
use super::tconfig::{self, SpecDoc};
use super::{ManifestError, build, generate, order, patch, replace, transform};

const TRANSFORMERS: &[&str] = &[
    "AnnotationsTransformer",
    "HashTransformer",
    "ImageTagTransformer",
    "LabelTransformer",
    "NamespaceTransformer",
    "PatchJson6902Transformer",
    "PatchStrategicMergeTransformer",
    "PatchTransformer",
    "PrefixSuffixTransformer",
    "PrefixTransformer",
    "SuffixTransformer",
    "ReplacementTransformer",
    "ReplicaCountTransformer",
    "SortOrderTransformer",
];
const GENERATORS: &[&str] = &["ConfigMapGenerator", "SecretGenerator"];

/// The fields of every built-in config, read leniently as kustomize reads them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Config {
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    field_specs: Vec<SpecDoc>,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    suffix: String,
    #[serde(default)]
    labels: BTreeMap<String, Value>,
    #[serde(default)]
    annotations: BTreeMap<String, Value>,
    #[serde(default)]
    unset_only: bool,
    #[serde(default)]
    set_role_binding_subjects: String,
    #[serde(default)]
    image_tag: Option<Image>,
    #[serde(default)]
    replica: Option<Replica>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    patch: Option<String>,
    #[serde(default)]
    json_op: Option<String>,
    #[serde(default)]
    target: Option<Selector>,
    #[serde(default)]
    options: Option<Value>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    patches: Option<String>,
    #[serde(default)]
    replacements: Vec<replace::Entry>,
    #[serde(default)]
    sort_options: Option<order::SortOptions>,
    // Generators.
    #[serde(default)]
    behavior: Option<String>,
    #[serde(default)]
    literals: Vec<String>,
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    envs: Vec<String>,
    #[serde(default, rename = "type")]
    secret_type: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Meta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: Option<String>,
}

/// Where an entry's configs are, for errors and for loading what they name.
struct Here<'a> {
    fs: &'a dyn super::Fs,
    dir: &'a Path,
    kfile: &'a Path,
    entry: &'a S<String>,
    field: &'static str,
}

impl Here<'_> {
    fn err(&self, message: impl std::fmt::Display) -> ManifestError {
        ManifestError::At {
            file: build::display(self.kfile),
            line: self.entry.referenced.line(),
            column: self.entry.referenced.column(),
            message: format!("{}: {message}", self.field),
        }
    }

    fn spanned<T>(&self, value: T) -> S<T> {
        S::new(value, self.entry.referenced, self.entry.defined)
    }
}

pub fn transformers(
    fs: &dyn super::Fs,
    dir: &Path,
    kfile: &Path,
    entries: &[S<String>],
    ra: &mut Vec<Resource>,
    stack: &mut Vec<PathBuf>,
    cfg: &tconfig::Config,
) -> Result<(), ManifestError> {
    let mut all = Vec::new();
    for entry in entries {
        let here = Here {
            fs,
            dir,
            kfile,
            entry,
            field: "transformers",
        };
        for c in configs(&here, stack, TRANSFORMERS, cfg)? {
            all.push((here.entry, c));
        }
    }
    // kustomize runs inline configs before those in files, whatever the listed order.
    all.sort_by_key(|(_, c)| !c.inline);
    for (entry, c) in all {
        let here = Here {
            fs,
            dir,
            kfile,
            entry,
            field: "transformers",
        };
        let name = meta_field(&c.doc, "name");
        let namespace = meta_field(&c.doc, "namespace");
        transform_one(&here, &c.kind, c.doc, ra, cfg)?;
        if cfg.track {
            let t = Transformation {
                configured_in: c.configured_in,
                kind: c.kind,
                name,
                namespace,
            };
            for r in ra.iter_mut() {
                r.transformations.push(t.clone());
            }
        }
    }
    Ok(())
}

fn meta_field(doc: &Value, field: &str) -> String {
    doc.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// One built-in config and where it was configured.
struct Found {
    kind: String,
    doc: Value,
    /// The file holding it (the kustomization for an inline one).
    configured_in: PathBuf,
    inline: bool,
}

pub fn generators(
    fs: &dyn super::Fs,
    dir: &Path,
    kfile: &Path,
    entries: &[S<String>],
    ra: &mut Vec<Resource>,
    stack: &mut Vec<PathBuf>,
) -> Result<(), ManifestError> {
    for entry in entries {
        let here = Here {
            fs,
            dir,
            kfile,
            entry,
            field: "generators",
        };
        let mut found = configs(&here, stack, GENERATORS, &tconfig::Config::default())?;
        found.sort_by_key(|c| !c.inline);
        for Found { kind, doc, .. } in found {
            let c = parse(&here, &kind, doc)?;
            let args = GeneratorArgs {
                name: c.metadata.name,
                namespace: c.metadata.namespace,
                behavior: c.behavior,
                literals: c.literals,
                files: c.files,
                envs: c.envs,
                env: None,
                options: c
                    .options
                    .map(serde_json::from_value::<GeneratorOptions>)
                    .transpose()
                    .map_err(|e| here.err(format!("{kind} options: {e}")))?,
                kind: c.secret_type,
            };
            let mut k = Kustomization::default();
            if kind == "ConfigMapGenerator" {
                k.config_map_generator.push(here.spanned(args));
            } else {
                k.secret_generator.push(here.spanned(args));
            }
            generate::run(fs, dir, kfile, &k, ra)?;
        }
    }
    Ok(())
}

/// The config documents of one entry, each with its kind, checked to be built-ins of `known`.
fn configs(
    here: &Here<'_>,
    stack: &mut Vec<PathBuf>,
    known: &[&str],
    parent: &tconfig::Config,
) -> Result<Vec<Found>, ManifestError> {
    let text = &here.entry.value;
    let inline = super::load::documents("inline", text)
        .ok()
        .filter(|docs| docs.iter().any(Value::is_object));
    let is_inline = inline.is_some();
    let docs: Vec<(Value, PathBuf)> = if let Some(docs) = inline {
        docs.into_iter()
            .map(|d| (d, here.kfile.to_path_buf()))
            .collect()
    } else {
        let path = build::resolve(here.kfile, here.dir, here.entry, here.field)?;
        if here.fs.is_dir(&path) {
            let mut cfg = parent.child();
            build::accumulate(here.fs, &path, Vec::new(), false, stack, &mut cfg)?
                .into_iter()
                .map(|r| {
                    let from = match r.provenance {
                        Provenance::File(f) => f,
                        _ => path.clone(),
                    };
                    (r.obj, from)
                })
                .collect()
        } else {
            build::restrict_file(here.fs, here.kfile, here.dir, here.entry, &path, here.field)?;
            let text = build::read_text(here.fs, &path)?;
            super::load::documents(&build::display(&path), &text)?
                .into_iter()
                .map(|d| (d, path.clone()))
                .collect()
        }
    };
    let mut out = Vec::new();
    for (doc, configured_in) in docs.into_iter().filter(|(d, _)| !d.is_null()) {
        let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
        if api != "builtin" || !known.contains(&kind) {
            return Err(here.err(format!(
                "apiVersion \"{api}\", kind \"{kind}\" is not one of kustomize's built-in {} \
                 (apiVersion: builtin; kinds: {}); exec and container KRM functions, Helm and \
                 Go plugins are not run by gantry",
                here.field,
                known.join(", ")
            )));
        }
        out.push(Found {
            kind: kind.to_owned(),
            doc,
            configured_in,
            inline: is_inline,
        });
    }
    Ok(out)
}

fn parse(here: &Here<'_>, kind: &str, doc: Value) -> Result<Config, ManifestError> {
    serde_json::from_value(doc).map_err(|e| here.err(format!("{kind}: {e}")))
}

fn strings(m: BTreeMap<String, Value>) -> BTreeMap<String, String> {
    m.into_iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s,
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (k, s)
        })
        .collect()
}

/// The three patch transformers, as the `patches`, `patchesJson6902` and
/// `patchesStrategicMerge` fields apply them.
fn transform_patch(
    here: &Here<'_>,
    kind: &str,
    c: Config,
    ra: &mut Vec<Resource>,
    cfg: &tconfig::Config,
) -> Result<(), ManifestError> {
    match kind {
        "PatchJson6902Transformer" => {
            let target = c
                .target
                .ok_or_else(|| here.err("PatchJson6902Transformer: no target"))?;
            let mut k = Kustomization::default();
            k.patches_json6902.push(here.spanned(Json6902 {
                target,
                path: c.path,
                patch: c.json_op,
            }));
            patch::json6902(here.fs, here.dir, here.kfile, &k, ra)?;
        }
        "PatchStrategicMergeTransformer" => {
            let mut k = Kustomization {
                patches_strategic_merge: c.paths.into_iter().map(|p| here.spanned(p)).collect(),
                ..Kustomization::default()
            };
            if let Some(inline) = c.patches {
                k.patches_strategic_merge.push(here.spanned(inline));
            }
            patch::strategic_merge_files(
                here.fs,
                here.dir,
                here.kfile,
                &k,
                ra,
                cfg.schema.as_deref(),
            )?;
        }
        _ => {
            let options = c
                .options
                .map(serde_json::from_value::<PatchOptions>)
                .transpose()
                .map_err(|e| here.err(format!("{kind} options: {e}")))?;
            let mut k = Kustomization::default();
            k.patches.push(here.spanned(Patch {
                path: c.path,
                patch: c.patch,
                target: c.target,
                options,
            }));
            patch::patches(here.fs, here.dir, here.kfile, &k, ra, cfg.schema.as_deref())?;
        }
    }
    Ok(())
}

fn transform_one(
    here: &Here<'_>,
    kind: &str,
    doc: Value,
    ra: &mut Vec<Resource>,
    cfg: &tconfig::Config,
) -> Result<(), ManifestError> {
    let c = parse(here, kind, doc)?;
    let specs = tconfig::specs(&c.field_specs);
    match kind {
        "PrefixSuffixTransformer" | "PrefixTransformer" | "SuffixTransformer" => {
            transform::prefix_suffix(&c.prefix, &c.suffix, &specs, ra);
        }
        "LabelTransformer" => transform::pairs(ra, &specs, &strings(c.labels)),
        "AnnotationsTransformer" => transform::pairs(ra, &specs, &strings(c.annotations)),
        "NamespaceTransformer" => {
            if c.unset_only || !matches!(c.set_role_binding_subjects.as_str(), "" | "defaultOnly") {
                return Err(here.err(
                    "NamespaceTransformer: unsetOnly and setRoleBindingSubjects other than \
                     defaultOnly are not supported by gantry",
                ));
            }
            transform::namespace(c.metadata.namespace.as_deref(), &specs, ra);
        }
        "ImageTagTransformer" => {
            let image = c
                .image_tag
                .ok_or_else(|| here.err("ImageTagTransformer: no imageTag"))?;
            transform::images(&[image], &specs, ra);
        }
        "ReplicaCountTransformer" => {
            let replica = c
                .replica
                .ok_or_else(|| here.err("ReplicaCountTransformer: no replica"))?;
            transform::replicas(&[replica], &specs, ra)
                .map_err(|e| here.err(format!("ReplicaCountTransformer: {e}")))?;
        }
        "PatchTransformer" | "PatchJson6902Transformer" | "PatchStrategicMergeTransformer" => {
            transform_patch(here, kind, c, ra, cfg)?;
        }
        "ReplacementTransformer" => {
            let entries: Vec<S<replace::Entry>> = c
                .replacements
                .into_iter()
                .map(|e| here.spanned(e))
                .collect();
            replace::run(here.fs, here.dir, here.kfile, &entries, ra)?;
        }
        "HashTransformer" => super::hash::add_hash_suffixes(ra),
        "SortOrderTransformer" => {
            let o = c.sort_options.unwrap_or_else(|| order::SortOptions {
                order: "fifo".to_owned(),
                legacy_sort_options: None,
            });
            let (line, column) = (here.entry.referenced.line(), here.entry.referenced.column());
            order::check(&o, &build::display(here.kfile), line, column)?;
            order::sort_by_options(ra, order::Reorder::None, Some(&o));
        }
        other => return Err(here.err(format!("{other} is not a built-in transformer"))),
    }
    Ok(())
}

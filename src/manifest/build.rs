//! Accumulating a kustomization into resources (stage: ⑤ render).
//!
//! Input: a directory holding a kustomization, read through [`Fs`]. Output: the rendered
//! resources in accumulation order. Mirrors kustomize's `KustTarget`: resources (files and
//! nested kustomizations) → components → generators → transformers, recursively per directory;
//! hash suffixes and name references are fixed once, at the top.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::fs::{Fs, join};
use super::kustomization::{self, Kustomization};
use super::resource::{ResId, Resource};
use super::tconfig::{self, Config};
use super::{ManifestError, generate, nameref, patch, plugin, transform};
use crate::core::fs::KUSTOMIZATION_FILES;

/// What a build yields: resources in accumulation order, and the top kustomization's
/// `sortOptions`.
pub struct Built {
    pub resources: Vec<Resource>,
    pub sort: Option<super::order::SortOptions>,
}

/// Renders the kustomization in `dir` (repo-relative).
pub fn build(fs: &dyn Fs, dir: &Path) -> Result<Built, ManifestError> {
    let mut stack = Vec::new();
    let (kfile, k) = load(fs, dir)?;
    let mut config = Config {
        schema: super::openapi::load(fs, dir, &kfile, &k)?.map(std::sync::Arc::new),
        // kustomize tracks origins whenever the top kustomization has `buildMetadata`.
        track: !k.build_metadata.is_empty(),
        ..Config::default()
    };
    let mut resources = accumulate(fs, dir, Vec::new(), false, &mut stack, &mut config)?;
    let clock = std::time::Instant::now();
    super::hash::add_hash_suffixes(&mut resources);
    let hashed = clock.elapsed();
    nameref::fix(&mut resources, &config.name_reference)?;
    super::vars::resolve(&mut resources, &config.vars, &config.var_reference)?;
    super::metadata::stringify_annotations(&mut resources);
    tracing::debug!(
        hash_us = u64::try_from(hashed.as_micros()).unwrap_or(u64::MAX),
        name_references_us =
            u64::try_from(clock.elapsed().saturating_sub(hashed).as_micros()).unwrap_or(u64::MAX),
        "render stage"
    );
    super::metadata::drop_local(&mut resources);
    super::metadata::apply(dir, &kfile, &k, &mut resources)?;
    let sort = match k.sort_options {
        None => None,
        Some(o) => {
            let (line, column) = (o.referenced.line(), o.referenced.column());
            super::order::check(&o.value, &display(&kfile), line, column)?;
            Some(o.value)
        }
    };
    Ok(Built { resources, sort })
}

pub(crate) fn display(p: &Path) -> String {
    if p.as_os_str().is_empty() {
        ".".to_owned()
    } else {
        p.display().to_string()
    }
}

/// Finds and parses the kustomization file of `dir`.
pub(crate) fn load(fs: &dyn Fs, dir: &Path) -> Result<(PathBuf, Kustomization), ManifestError> {
    let found: Vec<PathBuf> = KUSTOMIZATION_FILES
        .iter()
        .map(|f| dir.join(f))
        .filter(|p| fs.is_file(p))
        .collect();
    let file = match found.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(ManifestError::file(
                display(dir),
                format!(
                    "no kustomization file (looked for {})",
                    KUSTOMIZATION_FILES.join(", ")
                ),
            ));
        }
        _ => {
            return Err(ManifestError::file(
                display(dir),
                "found more than one kustomization file; keep one",
            ));
        }
    };
    let text = read_text(fs, &file)?;
    let k = kustomization::parse(&display(&file), &text)?;
    Ok((file, k))
}

pub(crate) fn read_text(fs: &dyn Fs, path: &Path) -> Result<String, ManifestError> {
    let bytes = fs.read(path).map_err(|source| ManifestError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(bytes)
        .map_err(|_| ManifestError::file(display(path), "file is not UTF-8 text"))
}

fn is_remote(s: &str) -> bool {
    s.contains("://")
        || s.starts_with("git@")
        || s.starts_with("github.com/")
        || s.starts_with("gitlab.com/")
        || s.contains("?ref=")
        || s.contains(".git//")
}

/// Resolves a path from a kustomization, refusing remote URLs and escapes from the repo.
pub(crate) fn resolve(
    kfile: &Path,
    dir: &Path,
    entry: &serde_saphyr::Spanned<String>,
    field: &str,
) -> Result<PathBuf, ManifestError> {
    let at = |message: String| ManifestError::At {
        file: display(kfile),
        line: entry.referenced.line(),
        column: entry.referenced.column(),
        message: format!("{field}: {message}"),
    };
    if is_remote(&entry.value) {
        return Err(at(format!(
            "remote resources are not supported: \"{}\"",
            entry.value
        )));
    }
    join(dir, &entry.value).ok_or_else(|| {
        at(format!(
            "\"{}\" is outside the repo root; files must stay inside it (load restrictor)",
            entry.value
        ))
    })
}

/// Reads a file a kustomization names (a replacements, configurations, crds or openapi file)
/// under the load restrictor; returns its path and text.
pub(crate) fn read_entry(
    fs: &dyn Fs,
    kfile: &Path,
    dir: &Path,
    entry: &serde_saphyr::Spanned<String>,
    field: &str,
) -> Result<(PathBuf, String), ManifestError> {
    let file = resolve(kfile, dir, entry, field)?;
    restrict_file(fs, kfile, dir, entry, &file, field)?;
    let text = read_text(fs, &file)?;
    Ok((file, text))
}

/// kustomize refuses a Component of any other apiVersion.
const COMPONENT_API_VERSION: &str = "kustomize.config.k8s.io/v1alpha1";

/// kustomize's root-only load restrictor for a file named by the kustomization in `dir`.
pub(crate) fn restrict_file(
    fs: &dyn Fs,
    kfile: &Path,
    dir: &Path,
    entry: &serde_saphyr::Spanned<String>,
    path: &Path,
    field: &str,
) -> Result<(), ManifestError> {
    if !fs.files_root_only() || super::fs::in_kustomization_dir(dir, path) {
        return Ok(());
    }
    Err(ManifestError::At {
        file: display(kfile),
        line: entry.referenced.line(),
        column: entry.referenced.column(),
        message: super::fs::outside_kustomization(field, &entry.value),
    })
}

/// Accumulates the kustomization in `dir` onto `ra` (empty unless `dir` is a component);
/// `cfg` gathers the custom field specs of `dir` and everything below it.
pub(crate) fn accumulate(
    fs: &dyn Fs,
    dir: &Path,
    mut ra: Vec<Resource>,
    as_component: bool,
    stack: &mut Vec<PathBuf>,
    cfg: &mut Config,
) -> Result<Vec<Resource>, ManifestError> {
    if let Some(pos) = stack.iter().position(|d| d == dir) {
        let mut chain: Vec<String> = stack[pos..].iter().map(|p| display(p)).collect();
        chain.push(display(dir));
        return Err(ManifestError::file(
            display(dir),
            format!("resource cycle: {}", chain.join(" -> ")),
        ));
    }
    stack.push(dir.to_path_buf());
    let clock = std::time::Instant::now();
    let (kfile, k) = load(fs, dir)?;
    let kind = k
        .kind
        .as_ref()
        .map_or("Kustomization", |k| k.value.as_str());
    match (as_component, kind) {
        // kustomize v5 builds a Component listed under `resources` on its own, as a
        // kustomization: its transformers act on its own resources only.
        (true, "Component") | (false, "Kustomization" | "Component") => {}
        (true, other) => {
            return Err(ManifestError::file(
                display(&kfile),
                format!("listed under components but has kind \"{other}\" (expected Component)"),
            ));
        }
        (false, other) => {
            return Err(ManifestError::file(
                display(&kfile),
                format!("unknown kind \"{other}\" (expected Kustomization or Component)"),
            ));
        }
    }
    if kind == "Component"
        && let Some(v) = k
            .api_version
            .as_deref()
            .filter(|v| *v != COMPONENT_API_VERSION)
    {
        return Err(ManifestError::file(
            display(&kfile),
            format!("apiVersion \"{v}\": a Component's apiVersion must be {COMPONENT_API_VERSION}"),
        ));
    }
    ra = accumulate_resources(fs, dir, &kfile, &k, ra, stack, cfg)?;
    cfg.merge(&tconfig::load(fs, dir, &kfile, &k)?);
    cfg.merge(&tconfig::load_crds(fs, dir, &kfile, &k)?);
    // kustomize v5 runs a kustomization's generators before its components.
    generate::run(fs, dir, &kfile, &k, &mut ra)?;
    plugin::generators(fs, dir, &kfile, &k.generators, &mut ra, stack)?;
    for entry in &k.components {
        let path = resolve(&kfile, dir, entry, "components")?;
        if !fs.is_dir(&path) {
            return Err(ManifestError::At {
                file: display(&kfile),
                line: entry.referenced.line(),
                column: entry.referenced.column(),
                message: format!("components: \"{}\" is not a directory", entry.value),
            });
        }
        ra = accumulate(fs, &path, ra, true, stack, cfg)?;
    }
    let dir_name = display(dir);
    tracing::debug!(dir = %dir_name, stage = "resources, generators and components", resources = ra.len(), elapsed_us = u64::try_from(clock.elapsed().as_micros()).unwrap_or(u64::MAX), "render stage");
    transform_all(fs, dir, &kfile, &k, cfg, &mut ra, stack)?;
    super::vars::declare(&display(&kfile), &k.vars, &mut ra, &mut cfg.vars)?;
    stack.pop();
    Ok(ra)
}

/// A kustomization's transformers, in kustomize v5's order, over `ra`.
fn transform_all(
    fs: &dyn Fs,
    dir: &Path,
    kfile: &Path,
    k: &Kustomization,
    cfg: &Config,
    ra: &mut Vec<Resource>,
    stack: &mut Vec<PathBuf>,
) -> Result<(), ManifestError> {
    let mut clock = std::time::Instant::now();
    // Each stage logs its duration at debug level: `RUST_LOG=gantry=debug gantry render …`.
    let dir_name = display(dir);
    let mut lap = |stage: &str, n: usize| {
        tracing::debug!(dir = %dir_name, stage, resources = n, elapsed_us = u64::try_from(clock.elapsed().as_micros()).unwrap_or(u64::MAX), "render stage");
        clock = std::time::Instant::now();
    };
    let record = |ra: &mut Vec<Resource>, kind: &str, times: usize| {
        if cfg.track {
            super::metadata::record(ra, kfile, kind, times);
        }
    };
    patch::strategic_merge_files(fs, dir, kfile, k, ra, cfg.schema.as_deref())?;
    record(
        ra,
        "PatchStrategicMergeTransformer",
        usize::from(!k.patches_strategic_merge.is_empty()),
    );
    lap("patch::strategic_merge_files", ra.len());
    patch::patches(fs, dir, kfile, k, ra, cfg.schema.as_deref())?;
    record(ra, "PatchTransformer", k.patches.len());
    lap("patch::patches", ra.len());
    transform::namespace(k.namespace.as_deref(), &cfg.namespace, ra);
    let has = |v: &Option<String>| usize::from(v.as_deref().is_some_and(|s| !s.is_empty()));
    record(ra, "NamespaceTransformer", has(&k.namespace));
    lap("transform::namespace", ra.len());
    let prefix = k.name_prefix.as_deref().unwrap_or("");
    transform::prefix_suffix(prefix, "", &transform::name_specs(&cfg.name_prefix), ra);
    record(ra, "PrefixTransformer", has(&k.name_prefix));
    let suffix = k.name_suffix.as_deref().unwrap_or("");
    transform::prefix_suffix("", suffix, &transform::name_specs(&cfg.name_suffix), ra);
    record(ra, "SuffixTransformer", has(&k.name_suffix));
    lap("transform::prefix_suffix", ra.len());
    transform::labels(k, cfg, ra);
    // One per `labels` entry and one for `commonLabels`, once either is set.
    let any_labels = !k.labels.is_empty() || !k.common_labels.is_empty();
    record(
        ra,
        "LabelTransformer",
        if any_labels { k.labels.len() + 1 } else { 0 },
    );
    lap("transform::labels", ra.len());
    transform::annotations(k, cfg, ra);
    record(
        ra,
        "AnnotationsTransformer",
        usize::from(!k.common_annotations.is_empty()),
    );
    lap("transform::annotations", ra.len());
    patch::json6902(fs, dir, kfile, k, ra)?;
    record(ra, "PatchJson6902Transformer", k.patches_json6902.len());
    lap("patch::json6902", ra.len());
    transform::replicas(&k.replicas, &cfg.replicas, ra).map_err(|e| match e {
        ManifestError::File { message, .. } => ManifestError::file(display(kfile), message),
        other => other,
    })?;
    record(ra, "ReplicaCountTransformer", k.replicas.len());
    transform::images(&k.images, &cfg.images, ra);
    record(ra, "ImageTagTransformer", k.images.len());
    lap("transform::images", ra.len());
    super::replace::run(fs, dir, kfile, &k.replacements, ra)?;
    record(
        ra,
        "ReplacementTransformer",
        usize::from(!k.replacements.is_empty()),
    );
    lap("replacements", ra.len());
    plugin::transformers(fs, dir, kfile, &k.transformers, ra, stack, cfg)?;
    lap("transformers", ra.len());
    Ok(())
}

/// The `resources` (and `bases`) of one kustomization, appended to `ra` in order.
fn accumulate_resources(
    fs: &dyn Fs,
    dir: &Path,
    kfile: &Path,
    k: &Kustomization,
    mut ra: Vec<Resource>,
    stack: &mut Vec<PathBuf>,
    cfg: &mut Config,
) -> Result<Vec<Resource>, ManifestError> {
    // Built on first need: an overlay over one base appends a batch whose ids are unique.
    let mut ids: Option<HashSet<ResId>> = None;
    let mut entries = Vec::new();
    for entry in k.resources.iter().chain(&k.bases) {
        let path = resolve(kfile, dir, entry, "resources")?;
        if fs.is_file(&path) {
            restrict_file(fs, kfile, dir, entry, &path, "resources")?;
        }
        entries.push((entry, path));
    }
    // Files parse in parallel (the bulk of a large render); directories recurse in order.
    let files: Vec<&PathBuf> = entries
        .iter()
        .map(|(_, p)| p)
        .filter(|p| fs.is_file(p))
        .collect();
    let mut parsed: std::collections::HashMap<&PathBuf, Vec<Resource>> =
        super::read::parse_parallel(fs, &files)?
            .into_iter()
            .collect();
    for (entry, path) in &entries {
        if let Some(resources) = parsed.remove(path) {
            let set = ids.get_or_insert_with(|| ra.iter().map(Resource::cur_id).collect());
            for r in resources {
                append(&mut ra, set, r)?;
            }
        } else if fs.is_dir(path) {
            let mut sub = cfg.child();
            let batch = accumulate(fs, path, Vec::new(), false, stack, &mut sub)?;
            cfg.merge(&sub);
            if ra.is_empty() && ids.is_none() {
                // A kustomization's output already has unique ids.
                ra = batch;
            } else {
                let set = ids.get_or_insert_with(|| ra.iter().map(Resource::cur_id).collect());
                for r in batch {
                    append(&mut ra, set, r)?;
                }
            }
        } else if files.contains(&path) {
            return Err(ManifestError::At {
                file: display(kfile),
                line: entry.referenced.line(),
                column: entry.referenced.column(),
                message: format!("resources: \"{}\" is listed twice", entry.value),
            });
        } else {
            // Ask the filesystem why: a symlink out of the repo is refused, not missing.
            let why = match fs.read(path) {
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => e.to_string(),
                _ => format!("\"{}\" does not exist", entry.value),
            };
            return Err(ManifestError::At {
                file: display(kfile),
                line: entry.referenced.line(),
                column: entry.referenced.column(),
                message: format!("resources: {why}"),
            });
        }
    }
    Ok(ra)
}

/// Appends, refusing a second resource with the same current id (kustomize's rule); `ids`
/// holds the current ids of `ra`.
fn append(
    ra: &mut Vec<Resource>,
    ids: &mut HashSet<ResId>,
    r: Resource,
) -> Result<(), ManifestError> {
    let id = r.cur_id();
    if !ids.insert(id.clone()) {
        return Err(ManifestError::file(
            r.origin.clone(),
            format!("may not add resource with an already registered id: {id}"),
        ));
    }
    ra.push(r);
    Ok(())
}

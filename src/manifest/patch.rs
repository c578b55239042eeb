//! `patches`, `patchesStrategicMerge` and `patchesJson6902` (stage: ⑤ render).
//!
//! Input: patch entries (a file path or inline text), their targets, the resources so far.
//! Output: patched resources. A patch that is a YAML list is JSON 6902, a mapping is a
//! strategic merge patch, as kustomize decides. Without a target, a strategic merge patch
//! applies to the resource it names; with one, to every resource the selector picks.

use std::path::Path;

use regex::Regex;
use serde_json::Value;

use super::build::{display, read_text, resolve};
use super::fs::Fs;
use super::kustomization::{Kustomization, Selector};
use super::openapi::Schema;
use super::resource::Resource;
use super::selector::LabelSelector;
use super::{ManifestError, smp};

/// Where a patch came from, for messages: the kustomization position or the patch file.
struct Source {
    file: String,
    line: u64,
    column: u64,
}

impl Source {
    fn err(&self, message: impl Into<String>) -> ManifestError {
        if self.line == 0 {
            ManifestError::file(self.file.clone(), message)
        } else {
            ManifestError::At {
                file: self.file.clone(),
                line: self.line,
                column: self.column,
                message: message.into(),
            }
        }
    }
}

/// Reads an entry that is either a path to a patch file or the patch itself (kustomize treats
/// anything that does not name an existing file as inline YAML).
fn load(
    fs: &dyn Fs,
    dir: &Path,
    kfile: &Path,
    entry: &serde_saphyr::Spanned<String>,
    field: &str,
) -> Result<(String, Source), ManifestError> {
    let here = Source {
        file: display(kfile),
        line: entry.referenced.line(),
        column: entry.referenced.column(),
    };
    let looks_inline = entry.value.contains('\n')
        || entry.value.contains(": ")
        || entry.value.trim_start().starts_with(['-', '{', '[']);
    if looks_inline {
        return Ok((entry.value.clone(), here));
    }
    let path = resolve(kfile, dir, entry, field)?;
    super::build::restrict_file(fs, kfile, dir, entry, &path, field)?;
    if !fs.is_file(&path) {
        return Err(here.err(format!(
            "{field}: patch file \"{}\" does not exist",
            entry.value
        )));
    }
    let text = read_text(fs, &path)?;
    Ok((
        text,
        Source {
            file: display(&path),
            line: 0,
            column: 0,
        },
    ))
}

enum Parsed {
    Strategic(Vec<Value>),
    Json6902(json_patch::Patch),
}

fn parse(text: &str, src: &Source) -> Result<Parsed, ManifestError> {
    let docs = super::load::documents(&src.file, text).map_err(|e| match e {
        // Positions inside inline patches are relative to the patch text, not the file.
        ManifestError::At { message, .. } if src.line > 0 => {
            src.err(format!("invalid patch: {message}"))
        }
        other => other,
    })?;
    let docs: Vec<Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
    match docs.as_slice() {
        [Value::Array(_)] => {
            let ops: json_patch::Patch = serde_json::from_value(docs[0].clone())
                .map_err(|e| src.err(format!("invalid JSON 6902 patch: {e}")))?;
            Ok(Parsed::Json6902(ops))
        }
        [] => Err(src.err("patch is empty")),
        many if many.iter().all(Value::is_object) => Ok(Parsed::Strategic(docs)),
        _ => Err(src.err(
            "a patch is either one list of JSON 6902 operations or strategic merge documents",
        )),
    }
}

/// The text of a patch given either as `path` (a file next to the kustomization) or inline
/// as `patch`; exactly one must be set. Inline patches are located at their entry.
fn path_or_inline<T>(
    fs: &dyn Fs,
    dir: &Path,
    kfile: &Path,
    entry: &serde_saphyr::Spanned<T>,
    path: Option<&String>,
    inline: Option<&String>,
    field: &str,
) -> Result<(String, Source), ManifestError> {
    let here = Source {
        file: display(kfile),
        line: entry.referenced.line(),
        column: entry.referenced.column(),
    };
    match (path, inline) {
        (Some(path), None) => load(
            fs,
            dir,
            kfile,
            &serde_saphyr::Spanned::new(path.clone(), entry.referenced, entry.defined),
            field,
        ),
        (None, Some(inline)) => Ok((inline.clone(), here)),
        _ => Err(here.err(format!("{field}: set exactly one of path or patch"))),
    }
}

pub fn strategic_merge_files(
    fs: &dyn Fs,
    dir: &Path,
    kfile: &Path,
    k: &Kustomization,
    ra: &mut Vec<Resource>,
    schema: Option<&Schema>,
) -> Result<(), ManifestError> {
    for entry in &k.patches_strategic_merge {
        let (text, src) = load(fs, dir, kfile, entry, "patchesStrategicMerge")?;
        match parse(&text, &src)? {
            Parsed::Strategic(docs) => {
                for doc in docs {
                    apply_smp_by_id(ra, &doc, &src, schema)?;
                }
            }
            Parsed::Json6902(_) => return Err(src.err("patchesStrategicMerge entry is a JSON 6902 patch; list it under patches with a target")),
        }
    }
    Ok(())
}

pub fn patches(
    fs: &dyn Fs,
    dir: &Path,
    kfile: &Path,
    k: &Kustomization,
    ra: &mut Vec<Resource>,
    schema: Option<&Schema>,
) -> Result<(), ManifestError> {
    for p in &k.patches {
        let (text, src) = path_or_inline(
            fs,
            dir,
            kfile,
            p,
            p.value.path.as_ref(),
            p.value.patch.as_ref(),
            "patches",
        )?;
        let options = p.value.options.clone().unwrap_or_default();
        match (parse(&text, &src)?, &p.value.target) {
            (Parsed::Json6902(ops), Some(target)) => apply_json6902(ra, target, &ops, &src)?,
            (Parsed::Json6902(_), None) => return Err(src.err("a JSON 6902 patch needs a target")),
            (Parsed::Strategic(docs), None) => {
                for doc in docs {
                    apply_smp_by_id(ra, &doc, &src, schema)?;
                }
            }
            (Parsed::Strategic(docs), Some(target)) => {
                let selected = select(ra, target, &src)?;
                for doc in docs {
                    super::par::each_selected(ra, &selected, |r| {
                        apply_smp(
                            r,
                            &doc,
                            options.allow_name_change,
                            options.allow_kind_change,
                            schema,
                        );
                    });
                }
                ra.retain(|r| !r.obj.is_null());
            }
        }
    }
    Ok(())
}

pub fn json6902(
    fs: &dyn Fs,
    dir: &Path,
    kfile: &Path,
    k: &Kustomization,
    ra: &mut [Resource],
) -> Result<(), ManifestError> {
    for p in &k.patches_json6902 {
        let (text, src) = path_or_inline(
            fs,
            dir,
            kfile,
            p,
            p.value.path.as_ref(),
            p.value.patch.as_ref(),
            "patchesJson6902",
        )?;
        match parse(&text, &src)? {
            Parsed::Json6902(ops) => apply_json6902(ra, &p.value.target, &ops, &src)?,
            Parsed::Strategic(_) => {
                return Err(src.err("patchesJson6902 entry is not a list of JSON 6902 operations"));
            }
        }
    }
    Ok(())
}

fn apply_json6902(
    ra: &mut [Resource],
    target: &Selector,
    ops: &json_patch::Patch,
    src: &Source,
) -> Result<(), ManifestError> {
    for i in select(ra, target, src)? {
        let before = (
            ra[i].name().to_owned(),
            ra[i].namespace().to_owned(),
            ra[i].kind().to_owned(),
        );
        json_patch::patch(&mut ra[i].obj, ops)
            .map_err(|e| src.err(format!("JSON 6902 patch on {}: {e}", ra[i].cur_id())))?;
        if (ra[i].name(), ra[i].namespace(), ra[i].kind())
            != (before.0.as_str(), before.1.as_str(), before.2.as_str())
        {
            // kustomize lets JSON patches rename; references follow the old name.
            let mut prev = ra[i].clone();
            prev.set_name(&before.0);
            let id = prev.cur_id();
            ra[i].prev.push(id);
        }
    }
    Ok(())
}

/// Applies a strategic merge patch to the one resource its own kind, name and namespace name.
fn apply_smp_by_id(
    ra: &mut Vec<Resource>,
    doc: &Value,
    src: &Source,
    schema: Option<&Schema>,
) -> Result<(), ManifestError> {
    let patch = Resource::new(doc.clone(), src.file.clone());
    let want = patch.cur_id();
    let hits: Vec<usize> = ra
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r.all_ids().any(|id| {
                id.kind == want.kind
                    && id.name == want.name
                    && id.namespace == want.namespace
                    && (want.group.is_empty() || id.group == want.group)
            })
        })
        .map(|(i, _)| i)
        .collect();
    match hits.as_slice() {
        [i] => {
            apply_smp(&mut ra[*i], doc, false, false, schema);
            ra.retain(|r| !r.obj.is_null());
            Ok(())
        }
        [] => Err(src.err(format!("no resource matches the patch for {want}"))),
        _ => Err(src.err(format!(
            "patch for {want} matches {} resources; give it a target",
            hits.len()
        ))),
    }
}

fn apply_smp(
    r: &mut Resource,
    doc: &Value,
    allow_name_change: bool,
    allow_kind_change: bool,
    schema: Option<&Schema>,
) {
    let (name, namespace, kind, api_version) = (
        r.name().to_owned(),
        r.namespace().to_owned(),
        r.kind().to_owned(),
        r.api_version().to_owned(),
    );
    if allow_name_change || allow_kind_change {
        r.store_prev();
    }
    match smp::apply(std::mem::take(&mut r.obj), doc, schema) {
        None => r.obj = Value::Null,
        Some(v) => {
            r.obj = v;
            // The patch takes the target's group, version and kind, as kustomize's copy of
            // it does: a target without `kind` may match a Service with an apps/v1 patch.
            if !allow_kind_change {
                let obj = super::resource::ensure_object(&mut r.obj);
                obj.insert("kind".into(), kind.into());
                obj.insert("apiVersion".into(), api_version.into());
            }
            if !allow_name_change {
                r.set_name(&name);
            }
            if namespace.is_empty() {
                r.metadata_mut().remove("namespace");
            } else {
                r.set_namespace(&namespace);
            }
        }
    }
}

fn anchored(field: &str, pattern: &str, src: &Source) -> Result<Regex, ManifestError> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
        src.err(format!(
            "target {field}: invalid regular expression \"{pattern}\": {e}"
        ))
    })
}

/// Indices of the resources a patch target selects (kustomize's `Select`): name and namespace
/// are anchored regular expressions matched against the original or current id.
fn select(ra: &[Resource], t: &Selector, src: &Source) -> Result<Vec<usize>, ManifestError> {
    let name = t
        .name
        .as_deref()
        .map(|p| anchored("name", p, src))
        .transpose()?;
    let namespace = t
        .namespace
        .as_deref()
        .map(|p| anchored("namespace", p, src))
        .transpose()?;
    let labels = t
        .label_selector
        .as_deref()
        .map(|s| LabelSelector::parse(s).map_err(|m| src.err(format!("target labelSelector: {m}"))))
        .transpose()?;
    let annotations = t
        .annotation_selector
        .as_deref()
        .map(|s| {
            LabelSelector::parse(s).map_err(|m| src.err(format!("target annotationSelector: {m}")))
        })
        .transpose()?;
    let mut out = Vec::new();
    for (i, r) in ra.iter().enumerate() {
        // Original and current name/namespace, borrowed: this runs per resource per patch.
        let (cur_name, cur_ns) = (r.name(), r.namespace());
        let cur_ns = if cur_ns.is_empty() && !r.is_cluster_scoped() {
            "default"
        } else {
            cur_ns
        };
        let (org_name, org_ns) = r.prev.first().map_or((cur_name, cur_ns), |p| {
            (p.name.as_str(), p.namespace.as_str())
        });
        let (g, v) = r.group_version();
        let ok = t
            .kind
            .as_deref()
            .is_none_or(|k| k.is_empty() || k == r.kind())
            && t.group.as_deref().is_none_or(|x| x.is_empty() || x == g)
            && t.version.as_deref().is_none_or(|x| x.is_empty() || x == v)
            && name
                .as_ref()
                .is_none_or(|re| re.is_match(org_name) || re.is_match(cur_name))
            && namespace
                .as_ref()
                .is_none_or(|re| re.is_match(org_ns) || re.is_match(cur_ns))
            && labels.as_ref().is_none_or(|s| s.matches(&r.labels()))
            && annotations
                .as_ref()
                .is_none_or(|s| s.matches(&r.annotations()));
        if ok {
            out.push(i);
        }
    }
    Ok(out)
}

/// Whether `r` passes the label and annotation selectors of `t` (kustomize matches these
/// before ids in `replacements`).
pub(crate) fn meta_selected(r: &Resource, t: &Selector) -> Result<bool, String> {
    for (field, sel, have) in [
        ("labelSelector", &t.label_selector, r.labels()),
        (
            "annotationSelector",
            &t.annotation_selector,
            r.annotations(),
        ),
    ] {
        if let Some(s) = sel.as_deref() {
            let parsed = LabelSelector::parse(s).map_err(|m| format!("{field}: {m}"))?;
            if !parsed.matches(&have) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

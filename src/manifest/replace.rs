//! kustomize's `replacements` (stage: ⑤ render): copy one field of one resource into fields
//! of others.
//!
//! Input: the kustomization's `replacements` (inline, or `path:` files holding one replacement
//! or a list) and the resources accumulated so far. Output: the resources with the target
//! fields set. Semantics are kustomize v5's `ReplacementTransformer`: the source must select
//! exactly one resource (by any of its ids, current or before renames); every target field
//! path must exist unless `create` is set; a scalar target keeps its type.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::fieldpath::{self, Create, Kind, Step};
use super::fs::Fs;
use super::kustomization::{S, Selector};
use super::resource::{ResId, Resource};
use super::{ManifestError, build, patch};

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Entry {
    /// A file holding one replacement or a list of them.
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub source: Option<Source>,
    #[serde(default)]
    pub targets: Option<Vec<Target>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Replacement {
    #[serde(default)]
    pub source: Option<Source>,
    #[serde(default)]
    pub targets: Option<Vec<Target>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Source {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub field_path: Option<String>,
    #[serde(default)]
    pub options: Option<FieldOptions>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Target {
    #[serde(default)]
    pub select: Option<Selector>,
    #[serde(default)]
    pub reject: Vec<Selector>,
    #[serde(default)]
    pub field_paths: Vec<String>,
    #[serde(default)]
    pub options: Option<FieldOptions>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FieldOptions {
    #[serde(default)]
    pub delimiter: String,
    #[serde(default)]
    pub index: i64,
    /// Accepted and, as in kustomize, without effect.
    #[serde(default)]
    pub encoding: String,
    #[serde(default)]
    pub create: bool,
}

const DEFAULT_FIELD_PATH: &str = "metadata.name";

/// Runs the kustomization's replacements, in order, over `ra`.
pub fn run(
    fs: &dyn Fs,
    dir: &Path,
    kfile: &Path,
    entries: &[S<Entry>],
    ra: &mut [Resource],
) -> Result<(), ManifestError> {
    for entry in entries {
        let at = |message: String| ManifestError::At {
            file: build::display(kfile),
            line: entry.referenced.line(),
            column: entry.referenced.column(),
            message: format!("replacements: {message}"),
        };
        let list = match (&entry.value.path, &entry.value.source, &entry.value.targets) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(at(
                    "cannot specify both path and inline replacement".to_owned()
                ));
            }
            (Some(path), None, None) => load(fs, dir, kfile, entry, path)?,
            (None, source, targets) => vec![Replacement {
                source: source.clone(),
                targets: targets.clone(),
            }],
        };
        for r in &list {
            apply(r, ra).map_err(at)?;
        }
    }
    Ok(())
}

/// A `path:` entry: a file of one replacement (a map) or several (a list).
fn load(
    fs: &dyn Fs,
    dir: &Path,
    kfile: &Path,
    entry: &S<Entry>,
    path: &str,
) -> Result<Vec<Replacement>, ManifestError> {
    let spanned = S::new(path.to_owned(), entry.referenced, entry.defined);
    let (file, text) = build::read_entry(fs, kfile, dir, &spanned, "replacements")?;
    let name = build::display(&file);
    let first = super::load::documents(&name, &text)?;
    match first.first() {
        Some(Value::Array(_)) => crate::core::diag::parse::<Vec<Replacement>>(&name, &text)
            .map_err(ManifestError::from_diag),
        Some(Value::Object(_)) => crate::core::diag::parse::<Replacement>(&name, &text)
            .map(|r| vec![r])
            .map_err(ManifestError::from_diag),
        _ => Err(ManifestError::file(
            name,
            "a replacements file holds one replacement (a map) or a list of them",
        )),
    }
}

fn apply(r: &Replacement, ra: &mut [Resource]) -> Result<(), String> {
    let (Some(source), Some(targets)) = (&r.source, &r.targets) else {
        return Err("replacements must specify a source and at least one target".to_owned());
    };
    let value = source_value(source, ra)?;
    for target in targets {
        let select = target
            .select
            .as_ref()
            .ok_or("target must specify resources to select")?;
        let paths: Vec<&str> = if target.field_paths.is_empty() {
            vec![DEFAULT_FIELD_PATH]
        } else {
            target.field_paths.iter().map(String::as_str).collect()
        };
        for res in ra.iter_mut() {
            if !selected(res, select, &target.reject)? {
                continue;
            }
            for fp in &paths {
                copy_to(res, fp, &value, target.options.as_ref())?;
            }
        }
    }
    Ok(())
}

/// kyaml's `IsSelectedBy`: every field set in the selector equals the id's.
fn id_selected(id: &ResId, s: &Selector) -> bool {
    let eq = |want: Option<&String>, have: &str| want.is_none_or(|w| w.is_empty() || w == have);
    let ns_ok = s.namespace.as_deref().is_none_or(|w| {
        w.is_empty() || w == id.namespace || (w == "default" && id.namespace.is_empty())
    });
    eq(s.group.as_ref(), &id.group)
        && eq(s.version.as_ref(), &id.version)
        && eq(s.kind.as_ref(), &id.kind)
        && eq(s.name.as_ref(), &id.name)
        && ns_ok
}

fn has_id(s: &Selector) -> bool {
    [&s.group, &s.version, &s.kind, &s.name, &s.namespace]
        .iter()
        .any(|f| f.as_deref().is_some_and(|v| !v.is_empty()))
}

fn selected(res: &Resource, select: &Selector, reject: &[Selector]) -> Result<bool, String> {
    if !patch::meta_selected(res, select)? {
        return Ok(false);
    }
    for rj in reject {
        let by_meta = rj.label_selector.is_some() || rj.annotation_selector.is_some();
        if by_meta && patch::meta_selected(res, rj)? {
            return Ok(false);
        }
    }
    let ids: Vec<ResId> = res.all_ids().collect();
    let rejected = reject
        .iter()
        .filter(|rj| has_id(rj))
        .any(|rj| ids.iter().any(|id| id_selected(id, rj)));
    Ok(!rejected && ids.iter().any(|id| id_selected(id, select)))
}

fn describe(s: &Source) -> String {
    let mut parts = Vec::new();
    for (k, v) in [
        ("group", &s.group),
        ("version", &s.version),
        ("kind", &s.kind),
        ("name", &s.name),
        ("namespace", &s.namespace),
    ] {
        if !v.is_empty() {
            parts.push(format!("{k}={v}"));
        }
    }
    if parts.is_empty() {
        "an empty source selector".to_owned()
    } else {
        format!("source {{{}}}", parts.join(", "))
    }
}

fn source_value(s: &Source, ra: &[Resource]) -> Result<Value, String> {
    let sel = Selector {
        group: Some(s.group.clone()),
        version: Some(s.version.clone()),
        kind: Some(s.kind.clone()),
        name: Some(s.name.clone()),
        namespace: Some(s.namespace.clone()),
        ..Selector::default()
    };
    let mut found = ra
        .iter()
        .filter(|r| r.all_ids().any(|id| id_selected(&id, &sel)));
    let res = found
        .next()
        .ok_or_else(|| format!("nothing selected by {}", describe(s)))?;
    if let Some(other) = found.next() {
        return Err(format!(
            "multiple matches for {}: {} and {}",
            describe(s),
            res.cur_id(),
            other.cur_id()
        ));
    }
    let fp = s.field_path.as_deref().unwrap_or(DEFAULT_FIELD_PATH);
    let value = fieldpath::get(&res.obj, &fieldpath::split(fp))
        .filter(|v| !is_nil_or_empty(v))
        .ok_or_else(|| {
            format!(
                "fieldPath `{fp}` is missing for replacement source {}",
                res.cur_id()
            )
        })?;
    let Some(opts) = s.options.as_ref().filter(|o| !o.delimiter.is_empty()) else {
        return Ok(value.clone());
    };
    let text = fieldpath::scalar_text(value)
        .ok_or("delimiter option can only be used with scalar nodes")?;
    let pieces: Vec<&str> = text.split(opts.delimiter.as_str()).collect();
    let piece = usize::try_from(opts.index)
        .ok()
        .and_then(|i| pieces.get(i))
        .ok_or_else(|| {
            format!(
                "options.index {} is out of bounds for value {text}",
                opts.index
            )
        })?;
    Ok(retyped(value, piece))
}

fn is_nil_or_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// A scalar of `like`'s type holding `text`, as kyaml copies only a scalar node's text; a
/// text that is not of that type is an error (kustomize: "cannot decode … as a !!bool").
fn retyped_checked(like: &Value, text: &str) -> Result<Value, String> {
    let resolved = super::load::resolve(text.to_owned());
    let ok = match like {
        Value::String(_) => return Ok(Value::String(text.to_owned())),
        Value::Number(_) => resolved.is_number(),
        Value::Bool(_) => resolved.is_boolean(),
        Value::Null => resolved.is_null(),
        Value::Array(_) | Value::Object(_) => true,
    };
    if ok {
        Ok(resolved)
    } else {
        Err(format!(
            "cannot set a {} field to \"{text}\"",
            type_name(like)
        ))
    }
}

fn retyped(like: &Value, text: &str) -> Value {
    retyped_checked(like, text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "boolean",
        Value::Null => "null",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

fn copy_to(
    res: &mut Resource,
    fp: &str,
    value: &Value,
    options: Option<&FieldOptions>,
) -> Result<(), String> {
    let steps: Vec<Step> = fieldpath::split(fp);
    let create = if options.is_some_and(|o| o.create) {
        Create::Like(Kind::of(value))
    } else {
        Create::No
    };
    let verb = if create == Create::No {
        "find"
    } else {
        "find or create"
    };
    let delimiter = options
        .filter(|o| !o.delimiter.is_empty())
        .map(|o| (o.delimiter.as_str(), o.index));
    let n = fieldpath::each_mut(&mut res.obj, &steps, create, &mut |t, fresh| {
        set(t, fresh, value, delimiter)
    })
    .map_err(|e| format!("unable to {verb} field \"{fp}\" in replacement target: {e}"))?;
    if n == 0 {
        return Err(format!(
            "unable to {verb} field \"{fp}\" in replacement target {}",
            res.cur_id()
        ));
    }
    Ok(())
}

fn set(
    t: &mut Value,
    fresh: bool,
    value: &Value,
    delimiter: Option<(&str, i64)>,
) -> Result<(), String> {
    let mut text = fieldpath::scalar_text(value);
    if let Some((delim, index)) = delimiter {
        let have = fieldpath::scalar_text(t)
            .filter(|_| !matches!(t, Value::Null) || fresh)
            .ok_or("delimiter option can only be used with scalar nodes")?;
        let mut parts: Vec<String> = have.split(delim).map(str::to_owned).collect();
        let v = text.clone().unwrap_or_default();
        match usize::try_from(index) {
            Err(_) => parts.insert(0, v),
            Ok(i) if i >= parts.len() => parts.push(v),
            Ok(i) => parts[i] = v,
        }
        text = Some(parts.join(delim));
    }
    if fresh && matches!(t, Value::Null) {
        // A created field has no type yet: its text is typed as plain YAML.
        *t = text.map_or_else(|| value.clone(), super::load::resolve);
        return Ok(());
    }
    if t.is_array() || t.is_object() {
        *t = value.clone();
    } else {
        *t = retyped_checked(t, &text.unwrap_or_default())?;
    }
    Ok(())
}

//! kustomize's `vars` (stage: ⑤ render): `$(NAME)` in known fields replaced by a field of
//! another resource.
//!
//! Input: each kustomization's `vars` (matched, when that kustomization is done, to the one
//! resource their `objref` names) and, at the end of the build, the finished resources.
//! Output: the resources with `$(NAME)` replaced in the `varReference` fields (kustomize's
//! defaults plus `configurations`). Semantics are kustomize v5's deprecated-but-supported
//! vars: a var is read after names are final, so `$(SVC)` gets the prefixed, hashed name; a
//! whole-string `$(PORT)` takes the source's type; `$$` escapes; unknown vars stay as written.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use super::ManifestError;
use super::fieldpath::{self, Step};
use super::kustomization::S;
use super::resource::{FieldSpec, Resource, is_cluster_scoped_group_kind, path_segments, visit};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Var {
    pub name: String,
    #[serde(alias = "objRef")]
    pub objref: ObjRef,
    #[serde(default, alias = "fieldRef")]
    pub fieldref: Option<FieldRef>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjRef {
    #[serde(default, alias = "apiversion")]
    pub api_version: String,
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
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRef {
    #[serde(default, alias = "fieldPath")]
    pub fieldpath: String,
}

impl ObjRef {
    fn group_version(&self) -> (&str, &str) {
        if self.api_version.is_empty() {
            return (&self.group, &self.version);
        }
        match self.api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", self.api_version.as_str()),
        }
    }
}

/// A var declared somewhere in the build, with the resource it was matched to.
#[derive(Debug, Clone)]
pub struct Declared {
    pub var: Var,
    /// The kustomization that declared it; the matched resource carries the var's name
    /// ([`Resource::ref_vars`]), as indexes change while the build goes on.
    pub file: String,
}

/// Matches a kustomization's `vars` to its resources (kustomize's `MergeVars`): the one
/// resource whose group, version, kind and name (and namespace, when given) are those of
/// `objref`, under any name it has had.
pub fn declare(
    kfile: &str,
    vars: &[S<Var>],
    ra: &mut [Resource],
    declared: &mut Vec<Declared>,
) -> Result<(), ManifestError> {
    for v in vars {
        let at = |message: String| ManifestError::At {
            file: kfile.to_owned(),
            line: v.referenced.line(),
            column: v.referenced.column(),
            message: format!("vars: {message}"),
        };
        let o = &v.value.objref;
        let (g, ver) = o.group_version();
        let check_ns = !o.namespace.is_empty() || is_cluster_scoped_group_kind(g, &o.kind);
        let matched: Vec<usize> = ra
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.all_ids().any(|id| {
                    id.group == g
                        && id.version == ver
                        && id.kind == o.kind
                        && id.name == o.name
                        && (!check_ns || id.namespace == effective(&o.namespace, g, &o.kind))
                })
            })
            .map(|(i, _)| i)
            .collect();
        if matched.len() > 1 {
            return Err(at(format!(
                "found {} resId matches for var {} (unable to disambiguate)",
                matched.len(),
                v.value.name
            )));
        }
        if let Some(&i) = matched.first() {
            ra[i].ref_vars.push(v.value.name.clone());
        }
        declared.push(Declared {
            var: v.value.clone(),
            file: kfile.to_owned(),
        });
    }
    Ok(())
}

fn effective(ns: &str, group: &str, kind: &str) -> String {
    if is_cluster_scoped_group_kind(group, kind) {
        String::new()
    } else if ns.is_empty() {
        "default".to_owned()
    } else {
        ns.to_owned()
    }
}

/// kyaml's `GetFieldValue` path: `.` splits, `name[0]` indexes.
fn steps(path: &str) -> Vec<Step> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        match part.split_once('[') {
            Some((name, rest)) if rest.ends_with(']') => {
                if !name.is_empty() {
                    out.push(Step::Field(name.to_owned()));
                }
                let idx = &rest[..rest.len() - 1];
                out.push(
                    idx.parse()
                        .map_or_else(|_| Step::Field(idx.to_owned()), Step::Index),
                );
            }
            _ => out.push(Step::Field(part.to_owned())),
        }
    }
    out
}

/// kustomize's default `varReference` field specs.
fn default_specs() -> Vec<FieldSpec> {
    const WORKLOADS: &[(&str, &str)] = &[
        ("CronJob", "spec/jobTemplate/spec/template/spec"),
        ("DaemonSet", "spec/template/spec"),
        ("Deployment", "spec/template/spec"),
        ("Job", "spec/template/spec"),
        ("Pod", "spec"),
        ("ReplicaSet", "spec/template/spec"),
        ("StatefulSet", "spec/template/spec"),
    ];
    let mut out = Vec::new();
    let mut add = |kind: &str, path: String| {
        out.push(FieldSpec {
            kind: kind.to_owned().into(),
            path: path.into(),
            ..FieldSpec::any("", false)
        });
    };
    for (kind, pod) in WORKLOADS {
        for list in ["containers", "initContainers"] {
            for field in ["args", "command", "env/value", "volumeMounts/mountPath"] {
                add(kind, format!("{pod}/{list}/{field}"));
            }
        }
        // kustomize's table, including its CronJob path without `spec/`.
        let nfs = match *kind {
            "CronJob" => "spec/jobTemplate/spec/template/volumes/nfs/server".to_owned(),
            "StatefulSet" => "spec/volumeClaimTemplates/spec/nfs/server".to_owned(),
            _ => format!("{pod}/volumes/nfs/server"),
        };
        add(kind, nfs);
    }
    add(
        "Deployment",
        "spec/template/metadata/annotations".to_owned(),
    );
    for p in ["spec/rules/host", "spec/tls/hosts", "spec/tls/secretName"] {
        add("Ingress", p.to_owned());
    }
    for p in ["spec/ports/port", "spec/ports/targetPort"] {
        add("Service", p.to_owned());
    }
    add("PersistentVolume", "spec/nfs/server".to_owned());
    add("", "metadata/labels".to_owned());
    add("", "metadata/annotations".to_owned());
    out
}

/// The value of var `d`: the field its `fieldref` names (default `metadata.name`) in the one
/// resource its `objref` names.
fn value_of(ra: &[Resource], d: &Declared) -> Result<Value, ManifestError> {
    let name = d.var.name.as_str();
    let source = ra
        .iter()
        .find(|r| r.ref_vars.iter().any(|v| v == name))
        .ok_or_else(|| {
            let o = &d.var.objref;
            let (g, v) = o.group_version();
            let api = if g.is_empty() {
                v.to_owned()
            } else {
                format!("{g}/{v}")
            };
            ManifestError::file(
                d.file.clone(),
                format!(
                    "var '{name}' cannot be mapped to a field in the set of known resources: \
                     no {} \"{}\" of apiVersion \"{api}\" (objref's kind, apiVersion and \
                     name must match a resource exactly)",
                    o.kind, o.name
                ),
            )
        })?;
    let path = d
        .var
        .fieldref
        .as_ref()
        .map_or("metadata.name", |f| f.fieldpath.as_str());
    let path = if path.is_empty() {
        "metadata.name"
    } else {
        path
    };
    let value = fieldpath::get(&source.obj, &steps(path)).ok_or_else(|| {
        ManifestError::file(
            d.file.clone(),
            format!(
                "field {path} of var '{name}' not found in {}",
                source.cur_id()
            ),
        )
    })?;
    Ok(value.clone())
}

/// Replaces `$(NAME)` for every declared var (kustomize's `ResolveVars`), at the end of the
/// build.
pub fn resolve(
    ra: &mut [Resource],
    declared: &[Declared],
    extra: &[FieldSpec],
) -> Result<(), ManifestError> {
    if declared.is_empty() {
        return Ok(());
    }
    for (i, d) in declared.iter().enumerate() {
        if declared[..i].iter().any(|e| e.var.name == d.var.name) {
            return Err(ManifestError::file(
                d.file.clone(),
                format!("vars: var '{}' already encountered", d.var.name),
            ));
        }
    }
    let mut values: HashMap<&str, Value> = HashMap::new();
    for d in declared {
        values.insert(d.var.name.as_str(), value_of(ra, d)?);
    }
    let mut specs = default_specs();
    specs.extend(extra.iter().cloned());
    let split: Vec<(FieldSpec, Vec<String>)> = specs
        .into_iter()
        .map(|s| {
            let segments = path_segments(&s.path);
            (s, segments)
        })
        .collect();
    let mut used: HashMap<&str, usize> = HashMap::new();
    for r in ra.iter_mut() {
        let origin = r.origin.clone();
        for (spec, segments) in &split {
            if !spec.applies_to(r) {
                continue;
            }
            visit(&mut r.obj, segments, false, &mut |v| {
                substitute(v, &values, &mut used)
            })
            .map_err(|m| ManifestError::file(origin.clone(), m))?;
        }
    }
    let unused: Vec<&str> = values
        .keys()
        .filter(|k| !used.contains_key(*k))
        .copied()
        .collect();
    if !unused.is_empty() {
        tracing::warn!(vars = %unused.join(","), "well-defined vars that were never replaced");
    }
    Ok(())
}

fn substitute<'v>(
    v: &mut Value,
    values: &'v HashMap<&'v str, Value>,
    used: &mut HashMap<&'v str, usize>,
) -> Result<(), String> {
    match v {
        Value::String(s) => *v = expand(s, values, used),
        Value::Object(m) => {
            for item in m.values_mut() {
                if let Value::String(s) = item {
                    *item = expand(s, values, used);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                let Value::String(s) = item else {
                    return Err("vars: invalid value type, expected a string".to_owned());
                };
                *item = expand(s, values, used);
            }
        }
        _ => {}
    }
    Ok(())
}

/// kustomize's `DoReplacements`: `$(NAME)` → the value (typed when it is the whole string),
/// `$$` → `$`, anything else as written.
fn expand<'v>(
    input: &str,
    values: &'v HashMap<&'v str, Value>,
    used: &mut HashMap<&'v str, usize>,
) -> Value {
    let mut out = String::new();
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('(') {
            let Some(end) = body.find(')') else {
                out.push_str("$(");
                rest = body;
                continue;
            };
            let name = &body[..end];
            match values.get_key_value(name) {
                Some((key, value)) if is_primitive(value) => {
                    *used.entry(key).or_default() += 1;
                    if input.strip_prefix("$(").and_then(|i| i.strip_suffix(')')) == Some(name) {
                        return value.clone();
                    }
                    out.push_str(&fieldpath::scalar_text(value).unwrap_or_default());
                }
                _ => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Value::String(out)
}

fn is_primitive(v: &Value) -> bool {
    matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

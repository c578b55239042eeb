//! Strategic merge patch with Kubernetes semantics (stage: ⑤ render).
//!
//! Input: a target object and a patch object. Output: the merged object, or `None` when the
//! patch deletes it. Maps merge recursively and `null` deletes a key; lists of built-in kinds
//! merge by their Kubernetes merge key (containers by `name`, container ports by
//! `containerPort`, …) with patch items first, then untouched originals (kustomize's order);
//! other lists are replaced. `$patch: delete|replace` work on maps and list items.

use std::borrow::Cow;

use serde_json::Value;

use super::openapi::Schema;

/// API groups whose kinds carry Kubernetes' merge keys; custom resources get list replacement.
const BUILTIN_GROUPS: &[&str] = &[
    "",
    "apps",
    "batch",
    "autoscaling",
    "policy",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "node.k8s.io",
    "certificates.k8s.io",
    "extensions",
];

/// The merge key of the list at `path` (field names from the object root), if it has one:
/// from the custom schema when the build has one, else Kubernetes' keys for built-in kinds.
fn merge_key(path: &[&str], ctx: &Ctx<'_>) -> Option<Cow<'static, str>> {
    if let Some(schema) = ctx.schema {
        return schema
            .merge_key(ctx.api_version, ctx.kind, path)
            .map(Cow::Owned);
    }
    builtin_merge_key(path, ctx.builtin, ctx.kind).map(Cow::Borrowed)
}

fn builtin_merge_key(path: &[&str], builtin: bool, kind: &str) -> Option<&'static str> {
    if !builtin {
        return None;
    }
    let field = *path.last()?;
    let in_container = path
        .iter()
        .rev()
        .skip(1)
        .any(|p| matches!(*p, "containers" | "initContainers" | "ephemeralContainers"));
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims" => "name",
        "ports" if in_container => "containerPort",
        "ports" if kind == "Service" => "port",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "hostAliases" => "ip",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "topologySpreadConstraints" => "topologyKey",
        _ => return None,
    })
}

/// Applies `patch` to `target` (a whole object). `None` means the object is deleted.
#[must_use]
pub fn apply(target: Value, patch: &Value, schema: Option<&Schema>) -> Option<Value> {
    let api = target
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let group = api.split_once('/').map_or("", |(g, _)| g);
    let builtin = BUILTIN_GROUPS.contains(&group);
    let kind = target
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let api_version = api.to_owned();
    let ctx = Ctx {
        builtin,
        kind: &kind,
        api_version: &api_version,
        schema,
    };
    merge(target, patch, &mut Vec::new(), &ctx)
}

struct Ctx<'a> {
    builtin: bool,
    kind: &'a str,
    api_version: &'a str,
    schema: Option<&'a Schema>,
}

fn directive(v: &Value) -> Option<&str> {
    v.get("$patch").and_then(Value::as_str)
}

/// Removes `$patch` and other `$` directives from a value that is being inserted as is.
fn strip(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|x| directive(x) != Some("delete"))
                .map(strip)
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Merges in place: `target` is consumed, so nothing is copied that the patch leaves alone.
fn merge<'p>(
    target: Value,
    patch: &'p Value,
    trail: &mut Vec<&'p str>,
    ctx: &Ctx<'_>,
) -> Option<Value> {
    let (Value::Object(mut out), Value::Object(p)) = (target, patch) else {
        return Some(strip(patch));
    };
    match directive(patch) {
        Some("delete") => return None,
        Some("replace") => return Some(strip(patch)),
        _ => {}
    }
    for (key, pv) in p {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Value::Array(remove)) = (out.get_mut(field), pv) {
                list.retain(|x| !remove.contains(x));
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        if pv.is_null() {
            out.remove(key);
            continue;
        }
        trail.push(key.as_str());
        let merged = match (out.remove(key), pv) {
            (Some(tv @ Value::Object(_)), Value::Object(_)) => merge(tv, pv, trail, ctx),
            (Some(Value::Array(tl)), Value::Array(pl)) => Some(merge_list(tl, pl, trail, ctx)),
            _ => Some(strip(pv)),
        };
        trail.pop();
        if let Some(v) = merged {
            out.insert(key.clone(), v);
        }
    }
    Some(Value::Object(out))
}

fn merge_list<'p>(
    target: Vec<Value>,
    patch: &'p [Value],
    trail: &mut Vec<&'p str>,
    ctx: &Ctx<'_>,
) -> Value {
    let Some(key) = merge_key(trail, ctx) else {
        return Value::Array(patch.iter().map(strip).collect());
    };
    if patch.iter().any(|p| directive(p) == Some("replace")) {
        return Value::Array(
            patch
                .iter()
                .filter(|p| directive(p) != Some("replace"))
                .map(strip)
                .collect(),
        );
    }
    let mut pending: Vec<Option<Value>> = target.into_iter().map(Some).collect();
    let mut out = Vec::new();
    for pe in patch {
        let k = pe.get(key.as_ref());
        let found = k.and_then(|k| {
            pending
                .iter()
                .position(|t| t.as_ref().is_some_and(|t| t.get(key.as_ref()) == Some(k)))
        });
        if directive(pe) == Some("delete") {
            if let Some(i) = found {
                pending[i] = None;
            }
            continue;
        }
        match found.and_then(|i| pending[i].take()) {
            Some(t) => {
                if let Some(v) = merge(t, pe, trail, ctx) {
                    out.push(v);
                }
            }
            None => out.push(strip(pe)),
        }
    }
    out.extend(pending.into_iter().flatten());
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(init: &[&str]) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "test"},
               "spec": {"initContainers": init.iter().map(|n| json!({"name": n})).collect::<Vec<_>>()}})
    }

    /// The cases of kustomize's `TestApplySmPatchShouldOutputListItemsInCorrectOrder`.
    #[test]
    fn list_order_follows_kustomize() {
        let base = pod(&["foo", "bar"]);
        for (patch, want) in [
            (vec!["foo"], vec!["foo", "bar"]),
            (vec!["bar"], vec!["bar", "foo"]),
            (vec!["baz"], vec!["baz", "foo", "bar"]),
            (vec!["foo", "bar"], vec!["foo", "bar"]),
            (vec!["bar", "foo"], vec!["bar", "foo"]),
        ] {
            assert_eq!(
                apply(base.clone(), &pod(&patch), None),
                Some(pod(&want)),
                "patch {patch:?}"
            );
        }
    }

    #[test]
    fn null_deletes_and_patch_directives_work() {
        let base = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": {"a": "1", "b": "2"}},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "x", "env": [{"name": "A", "value": "1"}]}, {"name": "sidecar"}]}}}});
        let patch = json!({"metadata": {"labels": {"a": null}},
            "spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}, {"name": "app", "env": [{"name": "B", "value": "2"}]}]}}}});
        let out = apply(base.clone(), &patch, None).expect("not deleted");
        assert_eq!(out["metadata"]["labels"], json!({"b": "2"}));
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "app", "image": "x", "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]}])
        );
        assert_eq!(apply(base, &json!({"$patch": "delete"}), None), None);
    }
}

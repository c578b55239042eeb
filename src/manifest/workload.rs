//! Container images in any object (stages ④ ⑤): the walker the `images:` transform uses, and
//! the check that every rendered image is a valid reference.
//!
//! Input: rendered objects. Output: each container's `image` field (to rewrite or check), or an
//! error naming the object, its file and the field. kustomize's legacy image filter looks at any
//! list under a `containers` or `initContainers` key at any depth, so CronJobs and custom
//! resources (Argo `Rollout`, Tekton `Task`, Knative `Service`) are covered; the check also
//! looks at `ephemeralContainers`.

use std::fmt::Write as _;

use serde_json::Value;

use super::{ManifestError, Resource};

/// Calls `rewrite` on the `image` of every item of a `containers` or `initContainers` list.
pub fn rewrite_images(v: &mut Value, rewrite: &dyn Fn(&mut String)) {
    match v {
        Value::Object(m) => {
            for (key, child) in m.iter_mut() {
                if matches!(key.as_str(), "containers" | "initContainers")
                    && let Value::Array(items) = child
                {
                    for item in items.iter_mut() {
                        if let Some(Value::String(s)) = item.get_mut("image") {
                            rewrite(s);
                        }
                    }
                }
                rewrite_images(child, rewrite);
            }
        }
        Value::Array(items) => {
            for item in items {
                rewrite_images(item, rewrite);
            }
        }
        _ => {}
    }
}

/// One step of a field path: a key, or an index into a list.
#[derive(Clone, Copy)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Calls `f` with the path and value of every container image in `v`. The path is a stack of
/// borrowed steps, so walking costs no allocation; [`images`] formats it only when asked.
fn each_image<'a>(v: &'a Value, path: &mut Vec<Step<'a>>, f: &mut dyn FnMut(&[Step<'a>], &'a str)) {
    match v {
        Value::Object(m) => {
            for (key, child) in m {
                path.push(Step::Key(key));
                if matches!(
                    key.as_str(),
                    "containers" | "initContainers" | "ephemeralContainers"
                ) && let Value::Array(items) = child
                {
                    for (i, item) in items.iter().enumerate() {
                        if let Some(Value::String(s)) = item.get("image") {
                            path.extend([Step::Index(i), Step::Key("image")]);
                            f(path, s);
                            path.truncate(path.len() - 2);
                        }
                    }
                }
                each_image(child, path, f);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Step::Index(i));
                each_image(item, path, f);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Every pod spec in `v`: each map holding a `containers`, `initContainers` or
/// `ephemeralContainers` list, at any depth — the pod templates of built-in kinds, a `CronJob`'s,
/// and those of custom resources (an Argo `Rollout`, a Knative `Service`). Admission checks
/// the pod-level and container-level rules on each, so every image the renderer can rewrite is
/// also admitted.
#[must_use]
pub fn pod_specs(v: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    collect_pod_specs(v, &mut out);
    out
}

/// Calls `f` on every pod spec in `v`, as [`pod_specs`] finds them, to change it (the rollout
/// stage sets the canary's and the stable's images this way).
pub fn each_pod_spec_mut(v: &mut Value, f: &mut impl FnMut(&mut serde_json::Map<String, Value>)) {
    match v {
        Value::Object(m) => {
            let is_pod = ["containers", "initContainers", "ephemeralContainers"]
                .iter()
                .any(|k| m.get(*k).is_some_and(Value::is_array));
            if is_pod {
                f(m);
            }
            for child in m.values_mut() {
                each_pod_spec_mut(child, f);
            }
        }
        Value::Array(items) => {
            for item in items {
                each_pod_spec_mut(item, f);
            }
        }
        _ => {}
    }
}

fn collect_pod_specs<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            let is_pod = ["containers", "initContainers", "ephemeralContainers"]
                .iter()
                .any(|k| m.get(*k).is_some_and(Value::is_array));
            if is_pod {
                out.push(v);
            }
            for child in m.values() {
                collect_pod_specs(child, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_pod_specs(item, out);
            }
        }
        _ => {}
    }
}

/// `spec.template.spec.containers[0].image`.
fn dotted(path: &[Step<'_>]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Step::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
        }
    }
    out
}

/// Every container image in `v` with its field path (`spec.template.spec.containers[0].image`).
#[must_use]
pub fn images(v: &Value) -> Vec<(String, &str)> {
    let mut out = Vec::new();
    each_image(v, &mut Vec::new(), &mut |path, image| {
        out.push((dotted(path), image));
    });
    out
}

/// Refuses a render whose output holds an image that is not a valid reference (an overlay's
/// `digest: sha256:nothex` once reached the cluster): the API server accepts any string there,
/// and the kubelet then fails to pull it. Images repeat across a render, so each distinct one
/// is parsed once; the field path is formatted only for the error.
pub fn check_images(resources: &[Resource]) -> Result<(), ManifestError> {
    let mut valid: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut path = Vec::new();
    for r in resources {
        let mut bad: Option<(String, &str, String)> = None;
        each_image(&r.obj, &mut path, &mut |steps, image| {
            if bad.is_some() || valid.contains(image) {
                return;
            }
            match valid_reference(image) {
                Ok(()) => {
                    valid.insert(image);
                }
                Err(e) => bad = Some((dotted(steps), image, e)),
            }
        });
        if let Some((field, image, e)) = bad {
            return Err(ManifestError::file(
                r.origin.clone(),
                format!(
                    "{} {}: {field}: invalid image reference \"{image}\": {e}",
                    r.kind(),
                    r.name()
                ),
            ));
        }
    }
    Ok(())
}

/// The distribution reference grammar, as container runtimes parse it.
fn valid_reference(image: &str) -> Result<(), String> {
    if image.trim() != image || image.is_empty() {
        return Err("empty, or space around it".into());
    }
    crate::core::ImageRef::parse(image)
        .map(|_| ())
        .map_err(|e| e.message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_images_at_any_depth_with_their_path() {
        let rollout = json!({"spec": {"template": {"spec": {
            "initContainers": [{"image": "busybox"}],
            "containers": [{"name": "a", "image": "web:1"}],
            "ephemeralContainers": [{"image": "debug"}]}}}});
        let found: Vec<_> = images(&rollout)
            .into_iter()
            .map(|(p, i)| format!("{p}={i}"))
            .collect();
        assert_eq!(
            found,
            [
                "spec.template.spec.containers[0].image=web:1",
                "spec.template.spec.ephemeralContainers[0].image=debug",
                "spec.template.spec.initContainers[0].image=busybox",
            ]
        );
    }

    #[test]
    fn regression_issue_15_an_invalid_digest_is_a_render_error() {
        let r = Resource::new(
            json!({"kind": "Deployment", "metadata": {"name": "web"},
                   "spec": {"template": {"spec": {"containers": [{"image": "registry.example.com/shop/web@sha256:nothex"}]}}}}),
            "apps/web/base/deployment.yaml",
        );
        let e = check_images(std::slice::from_ref(&r)).expect_err("refused");
        assert!(
            e.to_string().starts_with("apps/web/base/deployment.yaml: Deployment web: spec.template.spec.containers[0].image: invalid image reference \"registry.example.com/shop/web@sha256:nothex\""),
            "{e}"
        );
        for bad in ["Shop/Web:1", "web:", "web@sha256:abc", " web"] {
            assert!(valid_reference(bad).is_err(), "{bad}");
        }
        for good in [
            "nginx",
            "localhost:5000/a/b:1.2",
            "ghcr.io/x/y@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(valid_reference(good).is_ok(), "{good}");
        }
    }
}

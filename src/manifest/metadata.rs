//! The last steps of a build (stage: ⑤ render): annotations made strings, local-config
//! resources dropped, and the top kustomization's `buildMetadata`.
//!
//! Input: the finished resources and the top kustomization. Output: the resources without
//! those marked `config.kubernetes.io/local-config` (other than `"false"`), and with
//! `config.kubernetes.io/origin` annotations (`originAnnotations`), the transformers that
//! ran over each (`transformerAnnotations`) and the `app.kubernetes.io/managed-by` label
//! (`managedByLabel`) when asked for.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::emit::inline_scalar;
use super::kustomization::{Kustomization, S};
use super::resource::{Provenance, Resource, Transformation};
use super::{ManifestError, build};

const LOCAL_CONFIG: &str = "config.kubernetes.io/local-config";
const ORIGIN: &str = "config.kubernetes.io/origin";
const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
const TRANSFORMATIONS: &str = "alpha.config.kubernetes.io/transformations";

/// The value gantry writes for `managedByLabel`, in kustomize's `<tool>-<version>` form:
/// kustomize writes its own version there, which gantry is not.
pub const MANAGED_BY_VALUE: &str = concat!("gantry-v", env!("CARGO_PKG_VERSION"));

/// kustomize's `IgnoreLocal`: resources annotated as local configuration (values for
/// `replacements`, say) are used during the build and not output.
pub fn drop_local(ra: &mut Vec<Resource>) {
    ra.retain(|r| {
        r.obj
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(LOCAL_CONFIG))
            .is_none_or(|v| v.as_str() == Some("false"))
    });
}

/// Records that a transformer configured in `kfile` ran `times` times over every resource.
pub fn record(ra: &mut [Resource], kfile: &Path, kind: &str, times: usize) {
    if times == 0 {
        return;
    }
    let t = Transformation {
        configured_in: kfile.to_path_buf(),
        kind: kind.to_owned(),
        name: String::new(),
        namespace: String::new(),
    };
    for r in ra {
        for _ in 0..times {
            r.transformations.push(t.clone());
        }
    }
}

/// kustomize rewrites every object's annotations as strings when it strips its build
/// annotations: `port: 8080` comes out as `"8080"`, `null` as `""`, and an empty or null
/// `annotations:` disappears. (It keeps the scalar's source text, so `0x1F` stays `"0x1F"`;
/// values are typed on loading here, so such non-canonical spellings come out canonical.)
pub fn stringify_annotations(resources: &mut [Resource]) {
    for r in resources {
        let Some(Value::Object(meta)) = r.obj.get_mut("metadata") else {
            continue;
        };
        let empty = match meta.get("annotations") {
            Some(Value::Null) => true,
            Some(Value::Object(m)) => m.is_empty(),
            _ => false,
        };
        if empty {
            meta.remove("annotations");
            continue;
        }
        let Some(Value::Object(annotations)) = meta.get_mut("annotations") else {
            continue;
        };
        for v in annotations.values_mut() {
            let text = match &*v {
                Value::String(_) => continue,
                Value::Null => String::new(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                other => other.to_string(),
            };
            *v = Value::String(text);
        }
    }
}

/// Applies the top kustomization's `buildMetadata` options.
pub fn apply(
    dir: &Path,
    kfile: &Path,
    k: &Kustomization,
    ra: &mut [Resource],
) -> Result<(), ManifestError> {
    let (mut origins, mut managed_by, mut transformations) = (false, false, false);
    for option in &k.build_metadata {
        match option.value.as_str() {
            "originAnnotations" => origins = true,
            "managedByLabel" => managed_by = true,
            "transformerAnnotations" => transformations = true,
            other => {
                return Err(at(
                    kfile,
                    option,
                    &format!(
                        "unknown option \"{other}\" (originAnnotations, managedByLabel, \
                         transformerAnnotations)"
                    ),
                ));
            }
        }
    }
    for r in ra {
        if origins && let Some(text) = origin(dir, &r.provenance) {
            annotations(r).insert(ORIGIN.to_owned(), Value::String(text));
        }
        if transformations && !r.transformations.is_empty() {
            let text = transformations_yaml(dir, &r.transformations);
            annotations(r).insert(TRANSFORMATIONS.to_owned(), Value::String(text));
        }
        if managed_by {
            let labels = r.metadata_mut();
            let labels = super::resource::ensure_object(
                labels
                    .entry("labels")
                    .or_insert_with(|| Value::Object(serde_json::Map::new())),
            );
            labels.insert(
                MANAGED_BY.to_owned(),
                Value::String(MANAGED_BY_VALUE.to_owned()),
            );
        }
    }
    Ok(())
}

fn at(kfile: &Path, option: &S<String>, message: &str) -> ManifestError {
    ManifestError::At {
        file: build::display(kfile),
        line: option.referenced.line(),
        column: option.referenced.column(),
        message: format!("buildMetadata: {message}"),
    }
}

fn annotations(r: &mut Resource) -> &mut serde_json::Map<String, Value> {
    let meta = r.metadata_mut();
    let a = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    if !a.is_object() {
        *a = Value::Object(serde_json::Map::new());
    }
    super::resource::ensure_object(a)
}

/// The origin annotation's YAML, as kustomize writes it (fields in its struct order).
fn origin(dir: &Path, p: &Provenance) -> Option<String> {
    match p {
        Provenance::Unknown => None,
        Provenance::File(path) => Some(format!("path: {}\n", inline_scalar(&relative(dir, path)))),
        Provenance::Generator { kfile, kind } => Some(format!(
            "configuredIn: {}\nconfiguredBy:\n  apiVersion: builtin\n  kind: {kind}\n",
            inline_scalar(&relative(dir, kfile))
        )),
    }
}

/// The transformations annotation's YAML: a list of kustomize's origins.
fn transformations_yaml(dir: &Path, list: &[Transformation]) -> String {
    let mut out = String::new();
    for t in list {
        let _ = write!(
            out,
            "- configuredIn: {}\n  configuredBy:\n    apiVersion: builtin\n    kind: {}\n",
            inline_scalar(&relative(dir, &t.configured_in)),
            inline_scalar(&t.kind)
        );
        if !t.name.is_empty() {
            let _ = writeln!(out, "    name: {}", inline_scalar(&t.name));
        }
        if !t.namespace.is_empty() {
            let _ = writeln!(out, "    namespace: {}", inline_scalar(&t.namespace));
        }
    }
    out
}

/// `to` relative to the directory `from`, with `..` where it leaves it (Go's
/// `filepath.Join` of the paths kustomize followed comes out the same, cleaned).
fn relative(from: &Path, to: &Path) -> String {
    let norm = |p: &Path| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in p.components() {
            match c {
                Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
                Component::ParentDir => {
                    out.pop();
                }
                _ => {}
            }
        }
        out
    };
    let (a, b) = (norm(from), norm(to));
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..a.len() {
        out.push("..");
    }
    for part in &b[common..] {
        out.push(part);
    }
    out.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_climb_out_of_the_overlay() {
        let r = |a: &str, b: &str| relative(Path::new(a), Path::new(b));
        assert_eq!(
            r("apps/web/overlays/dev", "apps/web/base/d.yaml"),
            "../../base/d.yaml"
        );
        assert_eq!(r("ov", "ov/svc.yaml"), "svc.yaml");
        assert_eq!(r("/tmp/o1/ov", "/tmp/o1/base/res.yaml"), "../base/res.yaml");
        assert_eq!(r("", "kustomization.yaml"), "kustomization.yaml");
    }
}

//! The `openapi` field (stage: ⑤ render): a custom schema's merge keys for strategic merge.
//!
//! Input: the top kustomization's `openapi: {path: FILE}` (an `OpenAPI` v2 document with
//! `definitions`) or `openapi: {version: v1.21.2}`. Output: a [`Schema`] that tells strategic
//! merge which lists merge by which key. As in kustomize, a custom schema replaces the built-in
//! one for the whole build: a kind it does not define (a `Deployment`, unless the file was
//! fetched from a cluster) has its lists replaced, not merged.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use super::{ManifestError, build};

/// The only built-in Kubernetes schema version kustomize v5 ships.
const BUILTIN_VERSION: &str = "v1.21.2";

#[derive(Debug)]
pub struct Schema {
    definitions: serde_json::Map<String, Value>,
    /// (apiVersion, kind) → definition name.
    by_type: HashMap<(String, String), String>,
}

impl Schema {
    fn parse(file: &str, text: &str) -> Result<Self, ManifestError> {
        let doc = super::load::documents(file, text)?
            .into_iter()
            .next()
            .unwrap_or(Value::Null);
        let Some(Value::Object(definitions)) = doc.get("definitions").cloned() else {
            return Err(ManifestError::file(
                file,
                "invalid schema file: no `definitions` map (an OpenAPI v2 document is expected)",
            ));
        };
        let mut by_type = HashMap::new();
        for (name, def) in &definitions {
            let gvks = def
                .get("x-kubernetes-group-version-kind")
                .and_then(Value::as_array);
            for gvk in gvks.into_iter().flatten() {
                let field = |k: &str| gvk.get(k).and_then(Value::as_str).unwrap_or("");
                let api = if field("group").is_empty() {
                    field("version").to_owned()
                } else {
                    format!("{}/{}", field("group"), field("version"))
                };
                by_type.insert((api, field("kind").to_owned()), name.clone());
            }
        }
        Ok(Self {
            definitions,
            by_type,
        })
    }

    fn resolve<'a>(&'a self, mut v: &'a Value) -> &'a Value {
        // A bounded walk: a `$ref` cycle must not hang the render.
        for _ in 0..32 {
            let Some(r) = v.get("$ref").and_then(Value::as_str) else {
                return v;
            };
            let name = r.strip_prefix("#/definitions/").unwrap_or(r);
            match self.definitions.get(name) {
                Some(next) => v = next,
                None => return v,
            }
        }
        v
    }

    /// The merge key of the list at `path` (map keys from the object root) in objects of
    /// `api_version`/`kind`, when the schema says it merges.
    #[must_use]
    pub fn merge_key(&self, api_version: &str, kind: &str, path: &[&str]) -> Option<String> {
        let def = self
            .by_type
            .get(&(api_version.to_owned(), kind.to_owned()))?;
        let mut cur = self.definitions.get(def)?;
        for field in path {
            let mut here = self.resolve(cur);
            if let Some(items) = here.get("items") {
                here = self.resolve(items);
            }
            cur = here.get("properties")?.get(*field)?;
        }
        let ext = |k: &str| {
            cur.get(k)
                .or_else(|| self.resolve(cur).get(k))
                .and_then(Value::as_str)
        };
        let merges = ext("x-kubernetes-patch-strategy")
            .is_some_and(|s| s.split(',').any(|p| p.trim() == "merge"));
        merges
            .then(|| ext("x-kubernetes-patch-merge-key").map(str::to_owned))
            .flatten()
    }
}

/// The top kustomization's custom schema, if it names one.
pub fn load(
    fs: &dyn super::Fs,
    dir: &Path,
    kfile: &Path,
    k: &super::kustomization::Kustomization,
) -> Result<Option<Schema>, ManifestError> {
    let Some(openapi) = &k.openapi else {
        return Ok(None);
    };
    let at = |message: String| ManifestError::At {
        file: build::display(kfile),
        line: openapi.referenced.line(),
        column: openapi.referenced.column(),
        message: format!("openapi: {message}"),
    };
    let (path, version) = (openapi.value.get("path"), openapi.value.get("version"));
    if let Some(other) = openapi
        .value
        .keys()
        .find(|key| !matches!(key.as_str(), "path" | "version"))
    {
        return Err(at(format!("unknown key \"{other}\" (path, version)")));
    }
    match (path, version) {
        (Some(_), Some(_)) => Err(at(
            "builtin version and custom schema provided, cannot use both".to_owned(),
        )),
        (None, Some(v)) if v == BUILTIN_VERSION => Ok(None),
        (None, Some(v)) => Err(at(format!(
            "the specified OpenAPI version \"{v}\" is not built in (only {BUILTIN_VERSION})"
        ))),
        (None, None) => Ok(None),
        (Some(p), None) => {
            let entry = serde_saphyr::Spanned::new(p.clone(), openapi.referenced, openapi.defined);
            let (file, text) = build::read_entry(fs, kfile, dir, &entry, "openapi")?;
            Schema::parse(&build::display(&file), &text).map(Some)
        }
    }
}

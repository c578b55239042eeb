//! One Kubernetes object being rendered, and the field paths transformers walk (stage: ⑤).
//!
//! Input: a parsed YAML document. Output: typed access to its identity (group, version, kind,
//! name, namespace) and the ids it had before renames, which name references and patch targets
//! are matched against, as in kustomize.

use std::borrow::Cow;

use serde_json::{Map, Value};

pub use super::scope::{CLUSTER_SCOPED, is_cluster_scoped_group_kind, is_cluster_scoped_kind};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResId {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub name: String,
    /// Effective namespace: `default` when unset, empty for cluster-scoped kinds.
    pub namespace: String,
}

impl std::fmt::Display for ResId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let gv = if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        };
        write!(f, "{gv}, Kind={}, Name={}", self.kind, self.name)?;
        if !self.namespace.is_empty() {
            write!(f, ", Namespace={}", self.namespace)?;
        }
        Ok(())
    }
}

/// How a generated ConfigMap/Secret combines with one of the same id from a base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    Create,
    Merge,
    Replace,
}

/// What a generator left on the resource for later steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    pub behavior: Behavior,
    pub hash_suffix: bool,
}

#[derive(Debug, Clone)]
pub struct Resource {
    pub obj: Value,
    /// Ids before each rename, oldest first (kustomize's previous-id build annotations).
    pub prev: Vec<ResId>,
    pub generated: Option<Generated>,
    /// File (or generator) the resource came from, for error messages.
    pub origin: String,
    /// Name prefixes and suffixes applied, innermost first: name references prefer the
    /// candidate whose outer prefixes match the referrer's (kustomize's
    /// `PrefixesSuffixesEquals`).
    pub prefixes: Vec<String>,
    pub suffixes: Vec<String>,
    /// Names of the `vars` whose `objref` matched this resource.
    pub ref_vars: Vec<String>,
    /// Where it came from, for `buildMetadata: [originAnnotations]`.
    pub provenance: Provenance,
    /// The transformers that ran over it, for `buildMetadata: [transformerAnnotations]`
    /// (recorded only when the top kustomization has `buildMetadata`).
    pub transformations: Vec<Transformation>,
}

/// A transformer configured somewhere in the build, as kustomize's origin of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transformation {
    /// The kustomization (or config file) it is configured in.
    pub configured_in: std::path::PathBuf,
    pub kind: String,
    /// The config's `metadata.name` and `namespace`; empty for a kustomization's own fields.
    pub name: String,
    pub namespace: String,
}

/// The file a resource was read from, or the generator that made it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Provenance {
    #[default]
    Unknown,
    File(std::path::PathBuf),
    /// A built-in generator (`ConfigMapGenerator`, `SecretGenerator`) configured in a
    /// kustomization file.
    Generator {
        kfile: std::path::PathBuf,
        kind: &'static str,
    },
}

impl Resource {
    #[must_use]
    pub fn new(obj: Value, origin: impl Into<String>) -> Self {
        Self {
            obj,
            prev: Vec::new(),
            generated: None,
            origin: origin.into(),
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            ref_vars: Vec::new(),
            provenance: Provenance::Unknown,
            transformations: Vec::new(),
        }
    }

    #[must_use]
    pub fn str_at(&self, path: &[&str]) -> &str {
        let mut v = &self.obj;
        for p in path {
            match v.get(p) {
                Some(next) => v = next,
                None => return "",
            }
        }
        v.as_str().unwrap_or("")
    }

    #[must_use]
    pub fn api_version(&self) -> &str {
        self.str_at(&["apiVersion"])
    }

    #[must_use]
    pub fn kind(&self) -> &str {
        self.str_at(&["kind"])
    }

    #[must_use]
    pub fn name(&self) -> &str {
        self.str_at(&["metadata", "name"])
    }

    #[must_use]
    pub fn namespace(&self) -> &str {
        self.str_at(&["metadata", "namespace"])
    }

    #[must_use]
    pub fn group_version(&self) -> (&str, &str) {
        match self.api_version().split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", self.api_version()),
        }
    }

    #[must_use]
    pub fn is_cluster_scoped(&self) -> bool {
        is_cluster_scoped_group_kind(self.group_version().0, self.kind())
    }

    #[must_use]
    pub fn cur_id(&self) -> ResId {
        let (group, version) = self.group_version();
        let namespace = if self.is_cluster_scoped() {
            String::new()
        } else if self.namespace().is_empty() {
            "default".to_owned()
        } else {
            self.namespace().to_owned()
        };
        ResId {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: self.kind().to_owned(),
            name: self.name().to_owned(),
            namespace,
        }
    }

    /// The id the resource was loaded with.
    #[must_use]
    pub fn org_id(&self) -> ResId {
        self.prev.first().cloned().unwrap_or_else(|| self.cur_id())
    }

    /// Every id the resource has had, oldest first, current last.
    pub fn all_ids(&self) -> impl Iterator<Item = ResId> + '_ {
        self.prev
            .iter()
            .cloned()
            .chain(std::iter::once(self.cur_id()))
    }

    /// Records the current id before a rename.
    pub fn store_prev(&mut self) {
        let id = self.cur_id();
        self.prev.push(id);
    }

    pub fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        let obj = ensure_object(&mut self.obj);
        ensure_object(
            obj.entry("metadata")
                .or_insert_with(|| Value::Object(Map::new())),
        )
    }

    pub fn set_name(&mut self, name: &str) {
        self.metadata_mut()
            .insert("name".to_owned(), Value::String(name.to_owned()));
    }

    pub fn set_namespace(&mut self, ns: &str) {
        self.metadata_mut()
            .insert("namespace".to_owned(), Value::String(ns.to_owned()));
    }

    #[must_use]
    pub fn labels(&self) -> Map<String, Value> {
        self.obj
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }

    #[must_use]
    pub fn annotations(&self) -> Map<String, Value> {
        self.obj
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }
}

/// Turns a value into an object in place (replacing a scalar or null) and returns it.
pub fn ensure_object(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

/// Where a transformer acts: a slash-separated path within objects of a group/version/kind.
/// Built-in tables borrow their strings; `configurations` and plugin configs own theirs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldSpec {
    pub group: Cow<'static, str>,
    pub version: Cow<'static, str>,
    pub kind: Cow<'static, str>,
    pub path: Cow<'static, str>,
    pub create: bool,
}

impl FieldSpec {
    #[must_use]
    pub const fn new(
        group: &'static str,
        version: &'static str,
        kind: &'static str,
        path: &'static str,
        create: bool,
    ) -> Self {
        Self {
            group: Cow::Borrowed(group),
            version: Cow::Borrowed(version),
            kind: Cow::Borrowed(kind),
            path: Cow::Borrowed(path),
            create,
        }
    }

    #[must_use]
    pub const fn any(path: &'static str, create: bool) -> Self {
        Self::new("", "", "", path, create)
    }

    #[must_use]
    pub const fn kind(kind: &'static str, path: &'static str, create: bool) -> Self {
        Self::new("", "", kind, path, create)
    }

    #[must_use]
    pub fn applies_to(&self, r: &Resource) -> bool {
        let (g, v) = r.group_version();
        self.applies(r.kind(), g, v)
    }

    /// Like [`Self::applies_to`] with the resource's kind, group and version looked up once.
    #[must_use]
    pub fn applies(&self, kind: &str, group: &str, version: &str) -> bool {
        (self.kind.is_empty() || self.kind == kind)
            && (self.group.is_empty() || self.group == group)
            && (self.version.is_empty() || self.version == version)
    }
}

/// Splits a field-spec path: `/` separates, `\/` escapes a slash inside a key. A `[]` list
/// marker stays on its segment: lists are walked wherever they appear, but [`visit`] never
/// creates a missing list (kustomize does not: a `StatefulSet` without `volumeClaimTemplates`
/// must not gain one from `commonLabels`).
#[must_use]
pub fn path_segments(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => {
                cur.push('/');
                chars.next();
            }
            '/' => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Calls `f` on every value at `path` below `v`, walking into every element of lists met on
/// the way. With `create`, missing maps along the path (and the final field, as null) are made.
pub fn visit<E>(
    v: &mut Value,
    path: &[String],
    create: bool,
    f: &mut dyn FnMut(&mut Value) -> Result<(), E>,
) -> Result<(), E> {
    if let Value::Array(items) = v {
        for item in items {
            visit(item, path, create, f)?;
        }
        return Ok(());
    }
    let Some((head, rest)) = path.split_first() else {
        return f(v);
    };
    let Value::Object(m) = v else {
        return Ok(());
    };
    let (head, is_list) = head
        .strip_suffix("[]")
        .map_or((head.as_str(), false), |k| (k, true));
    if !m.contains_key(head) {
        if !create || is_list {
            return Ok(());
        }
        let fresh = if rest.is_empty() {
            Value::Null
        } else {
            Value::Object(Map::new())
        };
        m.insert(head.to_owned(), fresh);
    }
    let Some(child) = m.get_mut(head) else {
        return Ok(());
    };
    if child.is_null() && !rest.is_empty() {
        if !create || is_list {
            return Ok(());
        }
        *child = Value::Object(Map::new());
    }
    visit(child, rest, create, f)
}

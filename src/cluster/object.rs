//! Object identity and API scope.
//!
//! Input: a manifest (`apiVersion`, `kind`, `metadata`). Output: its [`ObjectId`] — group, kind,
//! namespace, name; the version is not part of it, because one object is served at several
//! versions — and whether its kind is namespaced, from discovery, the built-in list or a CRD
//! rendered in the same sync.

use std::collections::HashMap;
use std::fmt;

use serde_json::Value;

use super::ClusterError;
use crate::manifest::resource::is_cluster_scoped_group_kind;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId {
    pub group: String,
    pub kind: String,
    /// `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        };
        match &self.namespace {
            Some(ns) => write!(f, "{kind} {ns}/{}", self.name),
            None => write!(f, "{kind} {}", self.name),
        }
    }
}

/// The group of an `apiVersion`: `apps/v1` → `apps`, `v1` → the empty core group.
#[must_use]
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// Which kinds are namespaced, keyed by (group, kind).
#[derive(Debug, Clone, Default)]
pub struct Scopes {
    namespaced: HashMap<(String, String), bool>,
}

impl Scopes {
    /// Knows nothing beyond the built-in cluster-scoped kinds; use for offline planning.
    #[must_use]
    pub fn builtin() -> Self {
        Self::default()
    }

    /// Records what discovery (or a CRD's `spec.scope`) says about a kind.
    pub fn insert(&mut self, group: &str, kind: &str, namespaced: bool) {
        self.namespaced
            .insert((group.to_string(), kind.to_string()), namespaced);
    }

    /// Adds the kinds defined by the CRDs among `objects`.
    pub fn learn_crds<'a>(&mut self, objects: impl IntoIterator<Item = &'a Value>) {
        for o in objects {
            if o["kind"] != "CustomResourceDefinition" {
                continue;
            }
            let spec = &o["spec"];
            if let (Some(group), Some(kind)) =
                (spec["group"].as_str(), spec["names"]["kind"].as_str())
            {
                self.insert(group, kind, spec["scope"] != "Cluster");
            }
        }
    }

    /// `None` when neither discovery nor the built-ins know the kind. Core and well-known
    /// groups fall back to the built-in list, so planning works without a cluster.
    #[must_use]
    pub fn is_namespaced(&self, group: &str, kind: &str) -> Option<bool> {
        if let Some(n) = self.namespaced.get(&(group.to_string(), kind.to_string())) {
            return Some(*n);
        }
        let builtin = group.is_empty() || !group.contains('.') || group.ends_with(".k8s.io");
        builtin.then(|| !is_cluster_scoped_group_kind(group, kind))
    }
}

impl ObjectId {
    /// The id of `obj`; namespaced objects without a namespace get `default_ns`.
    pub fn of(
        obj: &Value,
        scopes: &Scopes,
        default_ns: &str,
        origin: &str,
    ) -> Result<Self, ClusterError> {
        let field = |f: &'static str| ClusterError::Incomplete {
            origin: origin.to_string(),
            field: f,
        };
        let api_version = obj["apiVersion"]
            .as_str()
            .ok_or_else(|| field("apiVersion"))?;
        let kind = obj["kind"].as_str().ok_or_else(|| field("kind"))?;
        let name = obj["metadata"]["name"]
            .as_str()
            .ok_or_else(|| field("metadata.name"))?;
        let group = group_of(api_version);
        let namespaced =
            scopes
                .is_namespaced(group, kind)
                .ok_or_else(|| ClusterError::UnknownKind {
                    object: format!("{kind} {name}"),
                    group: group.to_string(),
                    kind: kind.to_string(),
                })?;
        let namespace = namespaced.then(|| {
            obj["metadata"]["namespace"]
                .as_str()
                .filter(|n| !n.is_empty())
                .unwrap_or(default_ns)
                .to_string()
        });
        Ok(Self {
            group: group.to_string(),
            kind: kind.to_string(),
            namespace,
            name: name.to_string(),
        })
    }
}

//! API discovery, cached: which kinds the cluster serves, their plural names and scope.
//!
//! Input: a kube client (and the objects about to be applied). Output: an [`ApiTable`] that
//! resolves (group, kind) to an API resource; refreshed only when an object names a kind it
//! does not know, and taught the kinds of CRDs applied in the same sync.

use std::collections::HashMap;

use kube::core::ApiResource;
use kube::discovery::{Discovery, Scope, verbs};
use serde_json::Value;

use super::{ClusterError, ObjectId, Scopes};

/// Kinds the cluster serves: (group, kind) → resource, namespaced, listable.
#[derive(Debug, Clone, Default)]
pub struct ApiTable {
    kinds: HashMap<(String, String), (ApiResource, bool, bool)>,
}

impl ApiTable {
    /// Runs discovery (every group, preferred versions).
    pub async fn discover(client: &kube::Client) -> Result<Self, ClusterError> {
        let discovery = Discovery::new(client.clone())
            .run()
            .await
            .map_err(|e| super::apply::api_error("the API server", "discover", &e))?;
        let mut table = Self::default();
        for group in discovery.groups() {
            for (ar, caps) in group.recommended_resources() {
                let listable =
                    caps.supports_operation(verbs::LIST) && caps.supports_operation(verbs::DELETE);
                table.insert(ar, caps.scope == Scope::Namespaced, listable);
            }
        }
        Ok(table)
    }

    /// Makes sure every object's kind is known: learns the CRDs among them, and runs discovery
    /// again when some kind is still missing (a CRD installed since the last discovery).
    /// Returns whether it rediscovered. Discovery is the classic N+2 requests, which every
    /// API server since 1.0 serves (the aggregated endpoint needs 1.27+ by default).
    pub async fn ensure_kinds<'a>(
        &mut self,
        client: &kube::Client,
        objects: impl IntoIterator<Item = &'a Value> + Clone,
    ) -> Result<bool, ClusterError> {
        self.learn_crds(objects.clone());
        let missing = objects.into_iter().any(|o| {
            let group = super::object::group_of(o["apiVersion"].as_str().unwrap_or_default());
            let kind = o["kind"].as_str().unwrap_or_default();
            !self
                .kinds
                .contains_key(&(group.to_string(), kind.to_string()))
        });
        if !missing {
            return Ok(false);
        }
        let fresh = Self::discover(client).await?;
        self.kinds.extend(fresh.kinds);
        tracing::debug!(
            kinds = self.kinds.len(),
            "rediscovered the API for an unknown kind"
        );
        Ok(true)
    }

    /// Adds the kinds `other` knows (a copy that learned CRDs or rediscovered).
    pub fn merge(&mut self, other: Self) {
        self.kinds.extend(other.kinds);
    }

    pub fn insert(&mut self, ar: ApiResource, namespaced: bool, listable: bool) {
        self.kinds.insert(
            (ar.group.clone(), ar.kind.clone()),
            (ar, namespaced, listable),
        );
    }

    /// Adds the kinds CRDs among `objects` define, so their resources apply in the same sync
    /// without waiting for discovery to notice them.
    pub fn learn_crds<'a>(&mut self, objects: impl IntoIterator<Item = &'a Value>) {
        for o in objects {
            let spec = &o["spec"];
            if o["kind"] != "CustomResourceDefinition" {
                continue;
            }
            let (Some(group), Some(kind), Some(plural)) = (
                spec["group"].as_str(),
                spec["names"]["kind"].as_str(),
                spec["names"]["plural"].as_str(),
            ) else {
                continue;
            };
            let version = spec["versions"][0]["name"].as_str().unwrap_or("v1");
            let ar = ApiResource {
                group: group.into(),
                version: version.into(),
                api_version: format!("{group}/{version}"),
                kind: kind.into(),
                plural: plural.into(),
            };
            self.insert(ar, spec["scope"] != "Cluster", true);
        }
    }

    /// Kinds that can be listed and deleted (the inventory and prune candidates), sorted.
    #[must_use]
    pub fn listable(&self) -> Vec<(ApiResource, bool)> {
        let mut out: Vec<(ApiResource, bool)> = self
            .kinds
            .values()
            .filter(|(_, _, listable)| *listable)
            .map(|(ar, namespaced, _)| (ar.clone(), *namespaced))
            .collect();
        out.sort_by(|a, b| (&a.0.group, &a.0.kind).cmp(&(&b.0.group, &b.0.kind)));
        out
    }

    #[must_use]
    pub fn scopes(&self) -> Scopes {
        let mut s = Scopes::builtin();
        for ((group, kind), (_, namespaced, _)) in &self.kinds {
            s.insert(group, kind, *namespaced);
        }
        s
    }

    /// The resource for `id` at the object's own `apiVersion`, or at the preferred version
    /// when `api_version` is empty.
    pub fn resource(&self, id: &ObjectId, api_version: &str) -> Result<ApiResource, ClusterError> {
        let (ar, _, _) = self
            .kinds
            .get(&(id.group.clone(), id.kind.clone()))
            .ok_or_else(|| ClusterError::UnknownKind {
                object: id.to_string(),
                group: id.group.clone(),
                kind: id.kind.clone(),
            })?;
        if api_version.is_empty() {
            return Ok(ar.clone());
        }
        let version = api_version.rsplit('/').next().unwrap_or(&ar.version);
        Ok(ApiResource {
            version: version.to_string(),
            api_version: api_version.to_string(),
            ..ar.clone()
        })
    }
}

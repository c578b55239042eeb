//! The cluster-mode `StateStore`: one `AppSync` custom resource per app × environment in
//! gantry's namespace, written with server-side apply (spec, then the status subresource).

use futures::future::BoxFuture;
use kube::api::{Api, ListParams, Patch, PatchParams};

use super::{AppSync, StateStore, StoreError, SyncRecord};

const FIELD_MANAGER: &str = "gantry";

pub struct ClusterStore {
    api: Api<AppSync>,
    namespace: String,
}

impl ClusterStore {
    #[must_use]
    pub fn new(client: kube::Client, namespace: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
        }
    }

    fn fail(&self, name: &str, e: &dyn std::fmt::Display) -> StoreError {
        StoreError::Cluster {
            namespace: self.namespace.clone(),
            name: name.to_owned(),
            message: e.to_string(),
        }
    }
}

impl StateStore for ClusterStore {
    fn save<'a>(&'a self, record: &'a SyncRecord) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let name = record.name();
            let params = PatchParams::apply(FIELD_MANAGER).force();
            let object = serde_json::json!({
                "apiVersion": "gantry.dev/v1alpha1",
                "kind": "AppSync",
                "metadata": {"name": name, "labels": {"gantry.dev/app": record.spec.app, "gantry.dev/env": record.spec.env}},
                "spec": record.spec,
            });
            self.api
                .patch(&name, &params, &Patch::Apply(&object))
                .await
                .map_err(|e| self.fail(&name, &e))?;
            let status = serde_json::json!({
                "apiVersion": "gantry.dev/v1alpha1",
                "kind": "AppSync",
                "status": record.status,
            });
            self.api
                .patch_status(&name, &params, &Patch::Apply(&status))
                .await
                .map_err(|e| self.fail(&name, &e))?;
            Ok(())
        })
    }

    fn load(&self) -> BoxFuture<'_, Result<Vec<SyncRecord>, StoreError>> {
        Box::pin(async move {
            let list = self
                .api
                .list(&ListParams::default())
                .await
                .map_err(|e| self.fail("(list)", &e))?;
            Ok(list
                .items
                .into_iter()
                .map(|o| SyncRecord {
                    spec: o.spec,
                    status: o.status.unwrap_or_default(),
                })
                .collect())
        })
    }
}

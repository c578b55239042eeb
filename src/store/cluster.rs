//! The cluster-mode `StateStore`: one `AppSync` custom resource per app × environment in
//! gantry's namespace, written with server-side apply (spec, then the status subresource).

use futures::future::BoxFuture;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};

use super::{AppSync, Rollout, RolloutStatus, StateStore, StoreError, SyncRecord};
use crate::cluster::apply::describe;
use crate::core::AppEnv;
use crate::rollout::drive::Canary;

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

    fn fail(&self, name: &str, e: &kube::Error) -> StoreError {
        StoreError::Cluster {
            namespace: self.namespace.clone(),
            name: name.to_owned(),
            message: describe(e),
        }
    }
}

impl ClusterStore {
    /// Checks, before the daemon starts, that gantry's namespace exists and the `AppSync` CRD
    /// is installed: on a fresh cluster both are missing, and each is named with the command
    /// that fixes it instead of a bare 404 later.
    pub async fn preflight(client: &kube::Client, namespace: &str) -> Result<(), StoreError> {
        let mut missing = Vec::new();
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
        match namespaces.get_opt(namespace).await {
            Ok(Some(_)) => {}
            Ok(None) => missing.push(format!(
                "  namespace {namespace:?} does not exist (it holds the leader Lease and the AppSync records): `kubectl create namespace {namespace}`, or `kubectl apply -f manifests/`, or --namespace NAME"
            )),
            Err(e) => missing.push(format!(
                "  cannot read namespace {namespace:?}: {}",
                describe(&e)
            )),
        }
        let probes = [
            (
                "AppSync",
                "appsyncs.gantry.dev",
                Api::<AppSync>::all(client.clone())
                    .list(&ListParams::default().limit(1))
                    .await
                    .map(|_| ()),
            ),
            (
                "Rollout",
                "rollouts.gantry.dev",
                Api::<Rollout>::all(client.clone())
                    .list(&ListParams::default().limit(1))
                    .await
                    .map(|_| ()),
            ),
        ];
        for (kind, crd, probe) in probes {
            match probe {
                Ok(()) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => missing.push(format!(
                    "  the {kind} CRD ({crd}) is not installed: `gantry crds | kubectl apply -f -` (manifests/crds/ holds the same)"
                )),
                Err(e) => missing.push(format!(
                    "  cannot list {kind} resources: {}",
                    describe(&e)
                )),
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(StoreError::NotReady(missing))
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

    fn save_rollout<'a>(
        &'a self,
        key: &'a AppEnv,
        canary: Option<&'a Canary>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let name = format!("{}-{}", key.app, key.env);
            let api: Api<Rollout> =
                Api::namespaced(self.api.clone().into_client(), &self.namespace);
            let Some(c) = canary else {
                return match api.delete(&name, &DeleteParams::default()).await {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
                    Err(e) => Err(self.fail(&name, &e)),
                };
            };
            let params = PatchParams::apply(FIELD_MANAGER).force();
            let object = serde_json::json!({
                "apiVersion": "gantry.dev/v1alpha1",
                "kind": "Rollout",
                "metadata": {"name": name, "labels": {"gantry.dev/app": key.app.as_str(), "gantry.dev/env": key.env.as_str()}},
                "spec": {"app": key.app.as_str(), "env": key.env.as_str()},
            });
            api.patch(&name, &params, &Patch::Apply(&object))
                .await
                .map_err(|e| self.fail(&name, &e))?;
            let status = RolloutStatus {
                phase: format!("{:?}", c.state.phase),
                step: u32::try_from(c.state.step).unwrap_or(u32::MAX),
                weight: c.state.weight,
                canary: c.canary_image.clone(),
                stable: c.stable_image.clone(),
                state: serde_json::to_string(c).unwrap_or_default(),
            };
            let status = serde_json::json!({
                "apiVersion": "gantry.dev/v1alpha1",
                "kind": "Rollout",
                "status": status,
            });
            api.patch_status(&name, &params, &Patch::Apply(&status))
                .await
                .map_err(|e| self.fail(&name, &e))?;
            Ok(())
        })
    }

    fn load_rollouts(&self) -> BoxFuture<'_, Result<Vec<Canary>, StoreError>> {
        Box::pin(async move {
            let api: Api<Rollout> =
                Api::namespaced(self.api.clone().into_client(), &self.namespace);
            let list = api
                .list(&ListParams::default())
                .await
                .map_err(|e| self.fail("(list)", &e))?;
            let mut out = Vec::new();
            for r in list.items {
                let state = r.status.map(|s| s.state).unwrap_or_default();
                match serde_json::from_str(&state) {
                    Ok(c) => out.push(c),
                    Err(e) => {
                        tracing::warn!(rollout = ?r.metadata.name, error = %e, "cannot read a stored rollout; skipped");
                    }
                }
            }
            Ok(out)
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

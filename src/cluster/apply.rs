//! Performing a plan against the API server: server-side apply, CRD readiness, prune, and the
//! inventory of what gantry manages (the I/O edge of stage ⑥).
//!
//! Input: a kube client, the API table (from discovery, or the CRDs being applied), a [`Plan`].
//! Output: one [`Row`] per object — created, configured, unchanged or pruned — in apply order.
//! Every write is a server-side apply as field manager `gantry` (force by default) or a delete
//! with foreground propagation; `dry_run` sends `dryRun=All` and changes nothing.

use std::collections::HashMap;
use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::ApiResource;
use serde_json::Value;

use super::diff::ObjectDiff;
pub use super::discovery::ApiTable;
use super::labels::{APP, ENV, MANAGED_BY, MANAGED_BY_VALUE, NEVER_INVENTORIED};
use super::{ClusterError, LiveObject, ObjectId, Plan};

/// The field manager every apply uses.
pub const FIELD_MANAGER: &str = "gantry";

/// What a sync did to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Created,
    Configured,
    Unchanged,
    Pruned,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Created => "created",
            Self::Configured => "configured",
            Self::Unchanged => "unchanged",
            Self::Pruned => "pruned",
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: ObjectId,
    pub action: Action,
    /// The object as the API server returned it (absent for pruned objects).
    pub live: Option<Value>,
}

/// Applies plans to one cluster.
#[derive(Clone)]
pub struct Applier {
    pub client: kube::Client,
    pub table: ApiTable,
    /// Take ownership of fields another manager set (`force=true`); on by default.
    pub force: bool,
    pub dry_run: bool,
    /// How long to wait for a CRD to be Established.
    pub crd_timeout: Duration,
}

impl Applier {
    #[must_use]
    pub fn new(client: kube::Client, table: ApiTable) -> Self {
        Self {
            client,
            table,
            force: true,
            dry_run: false,
            crd_timeout: Duration::from_mins(1),
        }
    }

    fn api(&self, ar: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
        match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, ar),
            None => Api::all_with(self.client.clone(), ar),
        }
    }

    /// The live objects gantry applied for this app/env, across every listable kind: listed by
    /// our labels (the server filters), kept when the tracking annotation names the object
    /// itself and no controller owns it. Kinds controllers make and label like their owners
    /// (`Endpoints`, `EndpointSlices`) are not listed at all.
    pub async fn inventory(
        &self,
        app: &str,
        env: &str,
    ) -> Result<HashMap<ObjectId, (LiveObject, Value)>, ClusterError> {
        let selector = format!("{MANAGED_BY}={MANAGED_BY_VALUE},{APP}={app},{ENV}={env}");
        let mut out = HashMap::new();
        for (ar, namespaced) in self.table.listable() {
            if NEVER_INVENTORIED.contains(&(ar.group.as_str(), ar.kind.as_str())) {
                continue;
            }
            let list = Api::<DynamicObject>::all_with(self.client.clone(), &ar)
                .list(&ListParams::default().labels(&selector))
                .await
                .map_err(|e| api_error(&ar.kind, "list", &e))?;
            for mut item in list.items {
                // Being deleted (foreground prune waiting for the garbage collector): already
                // gone as far as a sync is concerned, so it is not pruned again.
                if item.metadata.deletion_timestamp.is_some() {
                    continue;
                }
                // A real API server's LIST items carry no apiVersion/kind; the list's do.
                item.types = Some(kube::core::TypeMeta {
                    api_version: ar.api_version.clone(),
                    kind: ar.kind.clone(),
                });
                let id = ObjectId {
                    group: ar.group.clone(),
                    kind: ar.kind.clone(),
                    namespace: if namespaced {
                        item.metadata.namespace.clone()
                    } else {
                        None
                    },
                    name: item.metadata.name.clone().unwrap_or_default(),
                };
                let value = serde_json::to_value(&item).unwrap_or(Value::Null);
                let live = LiveObject::from_live(id.clone(), &value);
                if live.is_tracked_by(app, env) {
                    out.insert(id, (live, value));
                }
            }
        }
        Ok(out)
    }

    /// Applies every batch in order, waits for CRDs, then prunes. Stops at the first failure:
    /// later batches may depend on earlier ones.
    pub async fn sync(
        &mut self,
        plan: &Plan,
        live: &HashMap<ObjectId, (LiveObject, Value)>,
    ) -> Result<Vec<Row>, ClusterError> {
        let mut rows = Vec::new();
        for batch in &plan.batches {
            for (id, obj) in &batch.objects {
                let applied = self.apply_or_preview(id, obj).await?;
                let before = live.get(id).map(|(_, v)| &v["metadata"]["resourceVersion"]);
                let action = match before {
                    None => Action::Created,
                    Some(rv) if *rv == applied["metadata"]["resourceVersion"] => Action::Unchanged,
                    Some(_) => Action::Configured,
                };
                rows.push(Row {
                    id: id.clone(),
                    action,
                    live: Some(applied),
                });
            }
            if batch.crds {
                let crds: Vec<&Value> = batch.objects.iter().map(|(_, o)| o).collect();
                self.table.learn_crds(crds.iter().copied());
                if !self.dry_run {
                    for (id, _) in &batch.objects {
                        self.wait_established(id).await?;
                    }
                }
            }
        }
        for id in &plan.prune {
            self.delete(id, live.get(id).map(|(_, v)| v)).await?;
            rows.push(Row {
                id: id.clone(),
                action: Action::Pruned,
                live: None,
            });
        }
        Ok(rows)
    }

    /// One server-side apply; returns the object as the server has it afterwards.
    pub async fn apply(&self, id: &ObjectId, obj: &Value) -> Result<Value, ClusterError> {
        let ar = self
            .table
            .resource(id, obj["apiVersion"].as_str().unwrap_or_default())?;
        self.apply_raw(&ar, id, obj)
            .await
            .map_err(|e| api_error(&id.to_string(), "apply", &e))
    }

    /// [`Self::apply`]; in a dry run, an object whose namespace (or CRD) this same sync would
    /// create cannot be checked by the server (404) and is shown as it would be created.
    async fn apply_or_preview(&self, id: &ObjectId, obj: &Value) -> Result<Value, ClusterError> {
        let ar = self
            .table
            .resource(id, obj["apiVersion"].as_str().unwrap_or_default())?;
        match self.apply_raw(&ar, id, obj).await {
            Ok(applied) => Ok(applied),
            Err(e) if self.dry_run && is_not_found(&e) => Ok(obj.clone()),
            Err(e) => Err(api_error(&id.to_string(), "apply", &e)),
        }
    }

    async fn apply_raw(
        &self,
        ar: &ApiResource,
        id: &ObjectId,
        obj: &Value,
    ) -> Result<Value, kube::Error> {
        let mut params = PatchParams::apply(FIELD_MANAGER);
        params.force = self.force;
        params.dry_run = self.dry_run;
        let applied = self
            .api(ar, id.namespace.as_deref())
            .patch(&id.name, &params, &Patch::Apply(obj))
            .await?;
        tracing::debug!(object = %id, dry_run = self.dry_run, "applied");
        Ok(serde_json::to_value(&applied).unwrap_or(Value::Null))
    }

    /// Dry-run applies every planned object and fetches its live state, for `gantry diff`.
    /// An object the server cannot dry-run because what it needs is created in the same sync
    /// (its namespace, its CRD) is shown as rendered.
    pub async fn diff(
        &self,
        plan: &Plan,
        live: &HashMap<ObjectId, (LiveObject, Value)>,
    ) -> Result<Vec<ObjectDiff>, ClusterError> {
        let mut dry = self.clone();
        dry.dry_run = true;
        dry.table.learn_crds(plan.objects().map(|(_, o)| o));
        let mut out = Vec::new();
        for (id, obj) in plan.objects() {
            let ar = dry
                .table
                .resource(id, obj["apiVersion"].as_str().unwrap_or_default())?;
            let before = dry.get(id, obj).await?;
            let after = match dry.apply_raw(&ar, id, obj).await {
                Ok(v) => v,
                Err(e) if is_not_found(&e) => obj.clone(),
                Err(e) => return Err(api_error(&id.to_string(), "dry-run apply", &e)),
            };
            out.push(ObjectDiff {
                id: id.clone(),
                before,
                after: Some(after),
            });
        }
        for id in &plan.prune {
            let before = live.get(id).map(|(_, v)| v.clone());
            out.push(ObjectDiff {
                id: id.clone(),
                before,
                after: None,
            });
        }
        Ok(out)
    }

    /// Creates namespace `name` unless it exists, as Argo CD's `CreateNamespace` does. It is
    /// labelled managed-by gantry but carries no app or environment, so no inventory holds it
    /// and no prune ever deletes it: the apps of an environment share its namespace. Returns
    /// whether it was created.
    pub async fn ensure_namespace(&self, name: &str) -> Result<bool, ClusterError> {
        let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(self.client.clone());
        let object = format!("Namespace {name}");
        if api
            .get_opt(name)
            .await
            .map_err(|e| api_error(&object, "get", &e))?
            .is_some()
        {
            return Ok(false);
        }
        let namespace = k8s_openapi::api::core::v1::Namespace {
            metadata: kube::api::ObjectMeta {
                name: Some(name.to_owned()),
                labels: Some([(MANAGED_BY.to_owned(), MANAGED_BY_VALUE.to_owned())].into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let params = kube::api::PostParams {
            dry_run: self.dry_run,
            field_manager: Some(FIELD_MANAGER.to_owned()),
        };
        match api.create(&params, &namespace).await {
            Ok(_) => {
                tracing::info!(namespace = name, "namespace created");
                Ok(true)
            }
            // Another sync of the same environment created it first.
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(api_error(&object, "create", &e)),
        }
    }

    /// The live object `obj` describes, `None` when it does not exist.
    pub async fn get(&self, id: &ObjectId, obj: &Value) -> Result<Option<Value>, ClusterError> {
        let ar = self
            .table
            .resource(id, obj["apiVersion"].as_str().unwrap_or_default())?;
        self.api(&ar, id.namespace.as_deref())
            .get_opt(&id.name)
            .await
            .or_else(|e| if is_not_found(&e) { Ok(None) } else { Err(e) })
            .map_err(|e| api_error(&id.to_string(), "get", &e))
            .map(|o| o.map(|o| serde_json::to_value(&o).unwrap_or(Value::Null)))
    }

    /// Deletes with foreground propagation. The version comes from the live object when it
    /// names one, else from discovery's preferred version (LIST items have none).
    pub async fn delete(&self, id: &ObjectId, live: Option<&Value>) -> Result<(), ClusterError> {
        let api_version = live
            .and_then(|v| v["apiVersion"].as_str())
            .unwrap_or_default();
        let ar = self.table.resource(id, api_version)?;
        let mut params = DeleteParams::foreground();
        params.dry_run = self.dry_run;
        match self
            .api(&ar, id.namespace.as_deref())
            .delete(&id.name, &params)
            .await
        {
            Ok(_) => {}
            // Already gone (deleted by hand, or by a garbage collector since the inventory).
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(api_error(&id.to_string(), "delete", &e)),
        }
        tracing::info!(object = %id, dry_run = self.dry_run, "pruned");
        Ok(())
    }

    async fn wait_established(&self, id: &ObjectId) -> Result<(), ClusterError> {
        let ar = self.table.resource(id, "apiextensions.k8s.io/v1")?;
        let api = self.api(&ar, None);
        let deadline = tokio::time::Instant::now() + self.crd_timeout;
        loop {
            let crd = api
                .get(&id.name)
                .await
                .map_err(|e| api_error(&id.to_string(), "get", &e))?;
            let value = serde_json::to_value(&crd).unwrap_or(Value::Null);
            if super::health(Some(&value)).status == super::HealthStatus::Healthy {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClusterError::Timeout {
                    object: id.to_string(),
                    what: "to be Established",
                    secs: self.crd_timeout.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(status) if status.code == 404)
}

pub(super) fn api_error(object: &str, verb: &'static str, e: &kube::Error) -> ClusterError {
    ClusterError::Api {
        object: object.to_string(),
        verb,
        message: describe(e),
    }
}

/// A kube error as one line for people: the API server's message and code, never kube's
/// debug dump of the `Status` object.
#[must_use]
pub fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => format!("{} ({})", status.message, status.code),
        other => other.to_string(),
    }
}

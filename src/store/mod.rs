//! The `StateStore` (all stages): durable run state where a restarted or newly elected daemon
//! finds it. Today it holds each app × environment's last sync; pipeline runs, rollout phases
//! and promotions join it with their stages.
//!
//! Input: [`SyncRecord`]s from the daemon. Output: the same records after a restart. Two
//! implementations behind one trait: [`local::LocalStore`] (an embedded redb file under the data
//! dir) and [`cluster::ClusterStore`] (`AppSync` custom resources of group `gantry.dev`, so etcd
//! keeps them and `kubectl get appsyncs` shows them).

pub mod cluster;
pub mod local;

use futures::future::BoxFuture;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state file {path}: {message}")]
    Local { path: String, message: String },
    #[error("AppSync {name} in namespace {namespace}: {message}")]
    Cluster {
        namespace: String,
        name: String,
        message: String,
    },
    /// What a cluster lacks before gantry can keep its state there, each with its fix.
    #[error("the cluster is not ready for gantry's state:\n{}", .0.join("\n"))]
    NotReady(Vec<String>),
}

/// One app in one environment, as last synced.
#[derive(
    CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema,
)]
#[kube(
    group = "gantry.dev",
    version = "v1alpha1",
    kind = "AppSync",
    namespaced,
    status = "AppSyncStatus",
    shortname = "as",
    printcolumn = r#"{"name":"App","type":"string","jsonPath":".spec.app"}"#,
    printcolumn = r#"{"name":"Env","type":"string","jsonPath":".spec.env"}"#,
    printcolumn = r#"{"name":"Revision","type":"string","jsonPath":".status.revision"}"#,
    printcolumn = r#"{"name":"Health","type":"string","jsonPath":".status.health"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Last Sync","type":"date","jsonPath":".status.lastSync"}"#
)]
pub struct AppSyncSpec {
    pub app: String,
    pub env: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppSyncStatus {
    /// Config repo commit of the last attempt: what should run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<String>,
    /// Config repo commit last synced successfully: what runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Healthy, Progressing, Missing, Degraded or Unknown.
    #[serde(default)]
    pub health: String,
    /// synced, planned or failed.
    #[serde(default)]
    pub phase: String,
    /// RFC 3339 time of the last attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<String>,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the last successful attempt wants known (not applied, policy warnings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Objects in the last sync.
    #[serde(default)]
    pub objects: u32,
}

/// A canary rollout of one app in one environment (`kubectl get rollouts.gantry.dev`).
#[derive(
    CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema,
)]
#[kube(
    group = "gantry.dev",
    version = "v1alpha1",
    kind = "Rollout",
    namespaced,
    status = "RolloutStatus",
    printcolumn = r#"{"name":"App","type":"string","jsonPath":".spec.app"}"#,
    printcolumn = r#"{"name":"Env","type":"string","jsonPath":".spec.env"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Step","type":"integer","jsonPath":".status.step"}"#,
    printcolumn = r#"{"name":"Weight","type":"integer","jsonPath":".status.weight"}"#
)]
pub struct RolloutSpec {
    pub app: String,
    pub env: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// Progressing, Paused, Promoted or Aborted.
    #[serde(default)]
    pub phase: String,
    #[serde(default)]
    pub step: u32,
    #[serde(default)]
    pub weight: u32,
    #[serde(default)]
    pub canary: String,
    #[serde(default)]
    pub stable: String,
    /// The whole state a restarted daemon resumes from (measurements included), as JSON.
    #[serde(default)]
    pub state: String,
}

/// A stored record: which app × environment, and its status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRecord {
    pub spec: AppSyncSpec,
    pub status: AppSyncStatus,
}

impl SyncRecord {
    /// The name records are stored under: `<app>-<env>`, a valid Kubernetes name since both
    /// parts are DNS labels.
    #[must_use]
    pub fn name(&self) -> String {
        format!("{}-{}", self.spec.app, self.spec.env)
    }
}

/// Durable state; held as `Arc<dyn StateStore>`.
pub trait StateStore: Send + Sync {
    fn save<'a>(&'a self, record: &'a SyncRecord) -> BoxFuture<'a, Result<(), StoreError>>;
    fn load(&self) -> BoxFuture<'_, Result<Vec<SyncRecord>, StoreError>>;
    /// Stores a rollout's state (`None` removes it), after every step and measurement.
    fn save_rollout<'a>(
        &'a self,
        key: &'a crate::core::AppEnv,
        canary: Option<&'a crate::rollout::drive::Canary>,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    fn load_rollouts(
        &self,
    ) -> BoxFuture<'_, Result<Vec<crate::rollout::drive::Canary>, StoreError>>;
}

/// The CRDs of group `gantry.dev` as YAML, as checked in under `manifests/crds/`.
///
/// # Panics
///
/// Never in practice: a derived CRD always serialises to JSON.
#[must_use]
pub fn crds_yaml() -> String {
    use kube::CustomResourceExt as _;
    let crds: Vec<crate::manifest::Resource> = [AppSync::crd(), Rollout::crd()]
        .into_iter()
        .map(|c| {
            let json = serde_json::to_value(c).expect("a CRD serialises to JSON");
            crate::manifest::Resource::new(json, "crd")
        })
        .collect();
    format!(
        "# Generated from src/store/mod.rs by `gantry crds`; a test fails when they differ.\n{}",
        crate::manifest::to_yaml(&crds)
    )
}

//! Leader election (wiring): replicas share one coordination.k8s.io Lease and only its holder
//! syncs; the holder also carries a label on its own pod, which the Service selects, so that
//! webhooks and `/api` reach the replica that acts on them.
//!
//! Input: a [`Leader`] (client, Lease, identity, pod). Output: a watch of "this replica leads"
//! and the `gantry.dev/leader` label kept equal to it.

use serde_json::json;

use super::DaemonError;

/// Label on gantry's pods: `"true"` on the leader, `"false"` on followers. `manifests/`'s
/// Service selects `"true"`.
pub const LEADER_LABEL: &str = "gantry.dev/leader";

/// Leader election: replicas share one coordination.k8s.io Lease; only its holder syncs.
#[derive(Clone)]
pub struct Leader {
    pub client: kube::Client,
    pub namespace: String,
    pub lease: String,
    /// Unique per replica, e.g. the pod name.
    pub identity: String,
    /// Seconds the lease stays valid after its last renewal: a follower takes over within this
    /// long after the leader stops renewing.
    pub duration: u64,
    /// Seconds before expiry at which the leader renews.
    pub grace: u64,
    /// This replica's pod in `namespace` (`POD_NAME`), labelled with [`LEADER_LABEL`]; `None`
    /// outside a pod.
    pub pod: Option<String>,
}

/// Starts the lease manager; the receiver says whether this replica leads. The pod is
/// labelled a follower first: a restarted container may find its old leader label.
pub(super) async fn elect(l: &Leader) -> Result<tokio::sync::watch::Receiver<bool>, DaemonError> {
    label(l, false).await;
    let manager = kube_lease_manager::LeaseManagerBuilder::new(l.client.clone(), &l.lease)
        .with_namespace(&l.namespace)
        .with_identity(&l.identity)
        .with_duration(l.duration)
        .with_grace(l.grace)
        .with_field_manager(format!("gantry-{}", l.identity))
        .build()
        .await
        .map_err(|e| DaemonError::Lease(e.to_string()))?;
    let (rx, _task) = manager.watch().await;
    tracing::info!(lease = %l.lease, namespace = %l.namespace, identity = %l.identity, "leader election started");
    Ok(rx)
}

/// Sets the pod's leader label. A failure (e.g. RBAC without `patch` on pods) is logged and
/// costs only latency: webhooks may then land on a follower, which leaves the commit to the
/// leader's next poll.
pub(super) async fn label(l: &Leader, leading: bool) {
    let Some(pod) = &l.pod else { return };
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(l.client.clone(), &l.namespace);
    let patch = json!({"metadata": {"labels": {LEADER_LABEL: leading.to_string()}}});
    match pods
        .patch(
            pod,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => tracing::debug!(pod, leading, "leader label set"),
        Err(e) => {
            tracing::warn!(pod, leading, error = %e, "cannot label the pod; webhooks may reach a follower");
        }
    }
}

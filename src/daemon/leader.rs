//! Leader election (wiring): replicas share one coordination.k8s.io Lease and only its holder
//! syncs; the holder also carries a label on its own pod, which the Service selects, so that
//! webhooks and `/api` reach the replica that acts on them.
//!
//! Input: a [`Leader`] (client, Lease, identity, pod). Output: a watch of "this replica leads"
//! and the `gantry.dev/leader` label kept equal to it.

use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

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

/// How often a follower looks at the Lease for a release: kube-lease-manager's follower sleeps
/// until the holder's lease expires, so a graceful hand-over would otherwise wait that long.
const RELEASE_POLL: Duration = Duration::from_millis(500);

/// How long a stopping leader waits for its release to reach the API server.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

type Task =
    JoinHandle<Result<kube_lease_manager::LeaseManager, kube_lease_manager::LeaseManagerError>>;

/// This replica's part in the election: whether it leads, and the task that renews or waits.
pub(super) struct Election {
    leader: Leader,
    rx: watch::Receiver<bool>,
    task: Task,
}

impl Election {
    /// Starts the lease manager. The pod is labelled a follower first: a restarted container
    /// may find its old leader label.
    pub(super) async fn start(l: &Leader) -> Result<Self, DaemonError> {
        label(l, false).await;
        let (rx, task) = manage(l).await?;
        tracing::info!(lease = %l.lease, namespace = %l.namespace, identity = %l.identity, "leader election started");
        Ok(Self {
            leader: l.clone(),
            rx,
            task,
        })
    }

    #[must_use]
    pub(super) fn leading(&self) -> bool {
        *self.rx.borrow()
    }

    /// Waits until leadership changes and returns whether this replica now leads; `Err` when
    /// the election task ended. A follower checks the Lease every [`RELEASE_POLL`] and, when
    /// the holder released it, starts over, which takes the free Lease at once.
    pub(super) async fn changed(&mut self) -> Result<bool, DaemonError> {
        loop {
            let following = !self.leading();
            tokio::select! {
                changed = self.rx.changed() => {
                    return changed
                        .map(|()| self.leading())
                        .map_err(|_| DaemonError::Lease("the election task ended".into()));
                }
                () = tokio::time::sleep(RELEASE_POLL), if following => {
                    if released(&self.leader).await {
                        tracing::debug!(lease = %self.leader.lease, "the Lease was released; taking it");
                        let (rx, task) = manage(&self.leader).await?;
                        let old = std::mem::replace(&mut self.task, task);
                        self.rx = rx;
                        old.abort();
                    }
                }
            }
        }
    }

    /// Releases the Lease (when held) and waits, at most [`RELEASE_TIMEOUT`], until the release
    /// is sent, so a follower takes over at once instead of at expiry.
    pub(super) async fn release(self) {
        drop(self.rx);
        match tokio::time::timeout(RELEASE_TIMEOUT, self.task).await {
            Ok(Ok(Ok(_))) => tracing::info!(lease = %self.leader.lease, "leadership released"),
            Ok(Ok(Err(e))) => {
                tracing::warn!(error = %e, "cannot release the Lease; a follower takes over when it expires");
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "the election task failed"),
            Err(_) => tracing::warn!(
                "releasing the Lease timed out; a follower takes over when it expires"
            ),
        }
    }
}

async fn manage(l: &Leader) -> Result<(watch::Receiver<bool>, Task), DaemonError> {
    let manager = kube_lease_manager::LeaseManagerBuilder::new(l.client.clone(), &l.lease)
        .with_namespace(&l.namespace)
        .with_identity(&l.identity)
        .with_duration(l.duration)
        .with_grace(l.grace)
        .with_field_manager(format!("gantry-{}", l.identity))
        .build()
        .await
        .map_err(|e| missing_namespace(l, &e.to_string()))?;
    Ok(manager.watch().await)
}

/// A fresh cluster has no `gantry` namespace: say so, and how to fix it, instead of the API
/// server's bare 404.
fn missing_namespace(l: &Leader, message: &str) -> DaemonError {
    if message.contains("not found") && message.contains("namespaces") {
        DaemonError::Lease(format!(
            "namespace {:?} does not exist, so the Lease {:?} cannot be created there; create it with `kubectl create namespace {}` (or apply manifests/), or pass --namespace with an existing one",
            l.namespace, l.lease, l.namespace
        ))
    } else {
        DaemonError::Lease(message.to_owned())
    }
}

/// Whether the Lease has no holder (released); errors count as "not released".
async fn released(l: &Leader) -> bool {
    let leases: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
        kube::Api::namespaced(l.client.clone(), &l.namespace);
    matches!(
        leases.get_opt(&l.lease).await,
        Ok(Some(lease)) if lease.spec.as_ref().and_then(|s| s.holder_identity.as_deref()).is_none_or(str::is_empty)
    )
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
            let error = crate::cluster::apply::describe(&e);
            tracing::warn!(pod, leading, %error, "cannot label the pod; webhooks may reach a follower");
        }
    }
}

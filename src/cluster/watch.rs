//! Watch-driven self-heal: react to changes of the objects gantry manages as they happen.
//!
//! Input: the applier, the [`Intent`]s of one app × environment, a cancellation token.
//! Output: [`HealReport`]s on a channel. One watch per kind (label selector of the app/env);
//! every add, change or delete of an intended object runs the drift check for that object
//! (its own backoff applies), and the initial list of each (re)started watch checks them all,
//! so drift that happened while nothing watched is caught too.

use futures::StreamExt as _;
use kube::api::{Api, DynamicObject};
use kube::runtime::events::Recorder;
use kube::runtime::watcher::{self, Event};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::apply::Applier;
use super::heal::{HealReport, Intent};
use super::labels::{APP, ENV, MANAGED_BY, MANAGED_BY_VALUE};
use super::{ClusterError, ObjectId};

/// Runs until `cancel` fires. Watch errors are logged and the watch restarts with kube's
/// default backoff; heal errors are logged and retried on the next event.
pub async fn self_heal(
    applier: Applier,
    mut intents: Vec<Intent>,
    app: String,
    env: String,
    recorder: Option<Recorder>,
    reports: mpsc::Sender<HealReport>,
    cancel: CancellationToken,
) -> Result<(), ClusterError> {
    let selector = format!("{MANAGED_BY}={MANAGED_BY_VALUE},{APP}={app},{ENV}={env}");
    let mut kinds: Vec<(String, String)> = intents
        .iter()
        .map(|i| (i.id.group.clone(), i.id.kind.clone()))
        .collect();
    kinds.sort();
    kinds.dedup();
    let mut streams = Vec::new();
    for (group, kind) in kinds {
        let probe = intents
            .iter()
            .find(|i| i.id.group == group && i.id.kind == kind)
            .map(|i| {
                (
                    i.id.clone(),
                    i.desired()["apiVersion"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )
            });
        let Some((id, api_version)) = probe else {
            continue;
        };
        let ar = applier.table.resource(&id, &api_version)?;
        let api = Api::<DynamicObject>::all_with(applier.client.clone(), &ar);
        let config = watcher::Config::default().labels(&selector);
        let (g, k) = (group.clone(), kind.clone());
        streams.push(
            watcher::watcher(api, config)
                .map(move |e| (g.clone(), k.clone(), e))
                .boxed(),
        );
    }
    let mut events = futures::stream::select_all(streams);
    loop {
        let next = tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            next = events.next() => next,
        };
        let Some((group, kind, event)) = next else {
            return Ok(());
        };
        let object = match event {
            Ok(Event::Apply(o) | Event::Delete(o) | Event::InitApply(o)) => o,
            Ok(Event::Init | Event::InitDone) => continue,
            Err(e) => {
                tracing::warn!(kind = %kind, error = %e, "watch failed; restarting with backoff");
                continue;
            }
        };
        let id = ObjectId {
            group,
            kind,
            namespace: object.metadata.namespace.clone(),
            name: object.metadata.name.clone().unwrap_or_default(),
        };
        let Some(intent) = intents.iter_mut().find(|i| i.id == id) else {
            continue;
        };
        match applier
            .heal(std::slice::from_mut(intent), recorder.as_ref())
            .await
        {
            Ok(healed) => {
                for report in healed {
                    if reports.send(report).await.is_err() {
                        return Ok(());
                    }
                }
            }
            Err(e) => {
                tracing::warn!(object = %id, error = %e, "self-heal failed; will retry on the next change");
            }
        }
    }
}

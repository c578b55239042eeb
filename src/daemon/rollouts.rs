//! The rollout controller (wiring): one reconcile per app × environment with a canary in
//! progress — the state machine and the cluster work are `rollout::drive`'s; this stores the
//! state after every step, asks the config sync to apply the stable view when it changes, and
//! commits the rollback of an abort through `deploy`.
//!
//! Input: rollouts the sync started ([`adjust`] makes the hook), `promote`/`abort`/`retry`
//! from the API. Output: reconciles that requeue themselves (a measurement due, a pause
//! ending), the stored state, rollback commits, events.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;

use super::controller::{Action, Controller, Reconcile};
use super::state::{Active, Shared};
use crate::cluster::ObjectId;
use crate::cluster::reconcile::Adjust;
use crate::cluster::target::ClusterTarget;
use crate::core::AppEnv;
use crate::rollout::drive::{self, Canary, Outcome};
use crate::rollout::owner::{self, Ownership};
use crate::trigger::TriggerEvent;

/// Why a rollout reconcile failed; the error policy retries it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RolloutFailure(String);

pub struct RolloutController {
    pub state: Shared,
    pub mirror: Arc<crate::git::Mirror>,
    pub branch: String,
    /// Asks the loop for a sync of an app × environment.
    pub syncs: mpsc::Sender<TriggerEvent>,
    /// Where promotions and aborts are published as Events; `None` outside a pod.
    pub recorder: Option<kube::runtime::events::Recorder>,
}

pub(super) fn now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or_default()
}

impl Reconcile for RolloutController {
    type Key = AppEnv;
    type Work = AppEnv;
    type Error = RolloutFailure;

    fn key(work: &AppEnv) -> AppEnv {
        work.clone()
    }

    fn coalesce(_: &AppEnv, newer: AppEnv) -> AppEnv {
        newer
    }

    async fn reconcile(&self, key: AppEnv) -> Result<Action, RolloutFailure> {
        let active = self
            .state
            .rollouts
            .lock()
            .expect("rollouts lock")
            .get(&key)
            .cloned();
        let Some(Active {
            mut canary,
            target: Some(target),
            rendered: Some(rendered),
            ..
        }) = active
        else {
            // Not synced since a restart: the first sync of the pair brings the rollout back.
            return Ok(Action::Done);
        };
        let config = self.state.config.read().expect("config lock").clone();
        let Some(config) = config else {
            return Ok(Action::RequeueAfter(Duration::from_secs(1)));
        };
        let strategy = strategy(&config, &key).map_err(RolloutFailure)?;
        let Some(applier) = target.applier().await else {
            return Ok(Action::RequeueAfter(Duration::from_secs(1)));
        };
        let outcome = drive::reconcile(&mut canary, &strategy, &rendered, &applier, now)
            .await
            .map_err(|e| RolloutFailure(e.to_string()))?;
        self.keep(&key, &canary).await;
        match outcome {
            Outcome::Measured => Ok(Action::RequeueAfter(Duration::ZERO)),
            Outcome::Waiting(d) => {
                self.resync_on_change(&key, &canary).await;
                Ok(Action::RequeueAfter(d.max(Duration::from_millis(50))))
            }
            Outcome::Paused(why) => {
                tracing::info!(app = %key.app, env = %key.env, %why, "rollout paused");
                self.resync_on_change(&key, &canary).await;
                Ok(Action::Done)
            }
            Outcome::Promoted => {
                self.ended(&key, &canary, "promoted", None).await;
                self.resync_on_change(&key, &canary).await;
                Ok(Action::Done)
            }
            Outcome::Aborted(request) => {
                self.resync_on_change(&key, &canary).await;
                self.roll_back(&key, &config, &request).await?;
                let reason = canary.state.message.clone().unwrap_or_default();
                self.ended(&key, &canary, "aborted", Some(&reason)).await;
                canary.rollback = None;
                self.keep(&key, &canary).await;
                Ok(Action::Done)
            }
        }
    }

    fn retrying(&self, key: &AppEnv, failures: u32, delay: Duration, error: &RolloutFailure) {
        tracing::warn!(app = %key.app, env = %key.env, failures, retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), error = %error, "rollout reconcile failed; retrying with backoff");
    }

    fn queue_depth(&self, _pending: usize) {}

    fn may_run(&self) -> bool {
        self.state.leader.load(Ordering::Relaxed)
    }
}

/// The strategy of the app's rollout, resolved.
pub(super) fn strategy(
    config: &crate::config::Config,
    key: &AppEnv,
) -> Result<crate::rollout::machine::Strategy, String> {
    let app = config
        .apps
        .iter()
        .find(|a| a.name == key.app.as_str())
        .ok_or_else(|| format!("no app {} in the config", key.app))?;
    let name = app
        .rollout
        .as_deref()
        .ok_or_else(|| format!("app {} has no rollout", key.app))?;
    let rollout = config
        .rollouts
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| format!("no rollout {name}"))?;
    crate::rollout::spec::strategy(config, rollout).map_err(|e| e.to_string())
}

impl RolloutController {
    /// Keeps `canary` in the table and the store.
    pub(super) async fn keep(&self, key: &AppEnv, canary: &Canary) {
        if let Some(active) = self
            .state
            .rollouts
            .lock()
            .expect("rollouts lock")
            .get_mut(key)
        {
            active.canary = canary.clone();
        }
        if let Some(store) = self.state.store.get()
            && let Err(e) = store.save_rollout(key, Some(canary)).await
        {
            tracing::warn!(app = %key.app, env = %key.env, error = %e, "cannot save the rollout state");
        }
    }

    /// A promotion or an abort: logged and counted, and in a pod a Kubernetes Event regarding
    /// the stable Deployment (`kubectl describe deployment`).
    async fn ended(
        &self,
        key: &AppEnv,
        canary: &Canary,
        result: &'static str,
        reason: Option<&str>,
    ) {
        super::events::RolloutEnded {
            key,
            canary: &canary.canary_image,
            result,
            reason,
        }
        .emit(&self.state.metrics);
        let Some(recorder) = &self.recorder else {
            return;
        };
        let event = kube::runtime::events::Event {
            type_: if reason.is_some() {
                kube::runtime::events::EventType::Warning
            } else {
                kube::runtime::events::EventType::Normal
            },
            reason: if reason.is_some() {
                "RolloutAborted".into()
            } else {
                "RolloutPromoted".into()
            },
            note: Some(match reason {
                Some(r) => format!("canary {} aborted: {r}", canary.canary_image),
                None => format!("canary {} promoted", canary.canary_image),
            }),
            action: "Rollout".into(),
            secondary: None,
        };
        let regarding = k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some("apps/v1".into()),
            kind: Some("Deployment".into()),
            name: Some(canary.deployment.clone()),
            namespace: Some(canary.namespace.clone()),
            ..Default::default()
        };
        if let Err(e) = recorder.publish(&event, &regarding).await {
            tracing::warn!(error = %crate::cluster::apply::describe(&e), "cannot publish the rollout event");
        }
    }

    /// Where a rollout's commits go: the app's overlay for the environment, on the branch.
    pub(super) fn deploy_target(
        &self,
        config: &crate::config::Config,
        key: &AppEnv,
    ) -> Result<crate::deploy::Target, String> {
        let app = config
            .apps
            .iter()
            .find(|a| a.name == key.app.as_str())
            .ok_or_else(|| format!("no app {}", key.app))?;
        Ok(crate::deploy::Target {
            branch: self.branch.clone(),
            overlay: app.overlay_dir(&key.env),
            image_name: app.image.clone(),
            identity: crate::git::Identity::from(&config.commit_author),
        })
    }

    /// Asks for a sync when the stable view changed since the sync last applied it.
    async fn resync_on_change(&self, key: &AppEnv, canary: &Canary) {
        let view = view_of(canary);
        let changed = self
            .state
            .rollouts
            .lock()
            .expect("rollouts lock")
            .get(key)
            .is_some_and(|a| a.synced.as_ref() != Some(&view));
        if changed {
            let ask = TriggerEvent::SyncRequested {
                app: key.app.to_string(),
                env: key.env.to_string(),
                allow_large_prune: false,
            };
            let _ = self.syncs.send(ask).await;
        }
    }

    async fn roll_back(
        &self,
        key: &AppEnv,
        config: &crate::config::Config,
        request: &crate::deploy::DeployRequest,
    ) -> Result<(), RolloutFailure> {
        let target = self.deploy_target(config, key).map_err(RolloutFailure)?;
        let cancel = tokio_util::sync::CancellationToken::new();
        let outcome = crate::deploy::deploy(&self.mirror, &target, request, false, &cancel)
            .await
            .map_err(|e| RolloutFailure(format!("rollback commit: {e}")))?;
        tracing::warn!(app = %key.app, env = %key.env, image = %request.image, ?outcome, "canary aborted; rollback committed");
        if let crate::deploy::Outcome::Committed { commit, .. } = outcome {
            super::announce(&self.syncs, (&self.mirror, &self.branch), commit).await;
        }
        Ok(())
    }
}

/// The sync's hook for an app with a rollout: starts a canary for a new image on a running
/// Deployment, applies the stable view while one runs, forgets it when it is over.
///
/// # Panics
///
/// The hook panics when the rollouts lock is poisoned (a reconcile panicked holding it).
pub fn adjust(
    state: &Shared,
    rollouts: &Controller<RolloutController>,
    (key, namespace, repository): (AppEnv, String, String),
    (target, traffic): (&ClusterTarget, crate::config::Traffic),
) -> Adjust {
    let (state, rollouts, target) = (Arc::clone(state), rollouts.clone(), target.clone());
    Arc::new(move |rendered: &mut Vec<(serde_json::Value, String)>| {
        let stable = owner::rendered_stable(rendered, &repository);
        let live = stable.as_ref().and_then(|s| {
            let id = ObjectId {
                group: "apps".into(),
                kind: "Deployment".into(),
                namespace: Some(
                    s["metadata"]["namespace"]
                        .as_str()
                        .unwrap_or(&namespace)
                        .to_owned(),
                ),
                name: s["metadata"]["name"].as_str()?.to_owned(),
            };
            target
                .cache
                .get(&id)
                .and_then(|l| owner::live_image(&l, &repository))
        });
        let mut table = state.rollouts.lock().expect("rollouts lock");
        let current = table.get(&key).map(|a| &a.canary);
        let decision = owner::decide(
            rendered,
            (&key.app, &key.env, &namespace),
            &repository,
            live.as_deref(),
            current,
            now(),
        );
        match decision {
            Ownership::Sync => {}
            Ownership::Done => {
                table.remove(&key);
                forget(&state, &key);
            }
            Ownership::Start(mut canary) => {
                canary.routing = owner::routing(rendered, &repository, &traffic);
                canary.traffic = traffic.clone();
                tracing::info!(app = %key.app, env = %key.env, stable = %canary.stable_image, canary = %canary.canary_image, "canary rollout starts");
                owner::apply_view(rendered, &canary);
                let synced = Some(view_of(&canary));
                table.insert(
                    key.clone(),
                    Active {
                        canary: *canary,
                        target: Some(target.clone()),
                        rendered: stable,
                        synced,
                    },
                );
                rollouts.submit(key.clone());
            }
            Ownership::Keep => {
                if let Some(active) = table.get_mut(&key) {
                    active.canary.routing = owner::routing(rendered, &repository, &traffic);
                    owner::apply_view(rendered, &active.canary);
                    active.synced = Some(view_of(&active.canary));
                    let restored = active.target.is_none();
                    active.target = Some(target.clone());
                    active.rendered = stable;
                    if restored {
                        rollouts.submit(key.clone());
                    }
                }
            }
        }
    })
}

/// What the sync applies for `c`: the stable view and the router's weight; a change asks for a
/// sync.
fn view_of(c: &Canary) -> (String, u32, u32) {
    let (image, replicas) = c.stable_view();
    let weight = if c.routed() { c.routed_weight() } else { 0 };
    (image.to_owned(), replicas, weight)
}

/// Removes a finished rollout from the store, in the background.
fn forget(state: &Shared, key: &AppEnv) {
    let (state, key) = (Arc::clone(state), key.clone());
    tokio::spawn(async move {
        if let Some(store) = state.store.get()
            && let Err(e) = store.save_rollout(&key, None).await
        {
            tracing::warn!(app = %key.app, env = %key.env, error = %e, "cannot remove the finished rollout");
        }
    });
}

pub use super::rollout_commands::{Command, status};

//! Watch-driven self-heal (stage ⑥, between syncs): the changes a [`ClusterCache`]'s watches
//! report are checked against what the last sync applied, and drift is taken back at once.
//!
//! Input: a batch of cache [`Change`]s, the cluster target's intents (what each app ×
//! environment's last sync applied) and which app × environments a sync or a closed window
//! holds. Output: the objects re-applied or recreated ([`HealPass::corrected`], with
//! `DriftCorrected` Events through the recorder) and the changes whose heal waits out a
//! backoff ([`HealPass::later`]), to be checked again when it ends. Live health of an
//! app × environment comes from the same cache ([`live_health`]).

use std::collections::HashMap;
use std::sync::Arc;

use kube::runtime::events::Recorder;

use super::apply::{ApiTable, Applier};
use super::cache::{Change, ClusterCache};
use super::target::{Busy, ClusterTarget, Intents};
use super::{Health, HealthStatus};

type Key = crate::core::AppEnv;

/// What self-heal needs of a cluster target: not its cache, which a follower of the cache's
/// changes must not keep alive.
pub struct Healer {
    client: kube::Client,
    table: Arc<tokio::sync::Mutex<Option<ApiTable>>>,
    intents: Intents,
    busy: Busy,
}

/// What one batch of changes came to.
#[derive(Default)]
pub struct HealPass {
    /// Objects taken back, per app × environment.
    pub corrected: HashMap<Key, u64>,
    /// Changes to check again at the given instant: healed moments ago, they wait out the
    /// object's backoff (a controller may be fighting gantry).
    pub later: Vec<(tokio::time::Instant, Change)>,
}

impl Healer {
    #[must_use]
    pub fn of(target: &ClusterTarget) -> Self {
        Self {
            client: target.client.clone(),
            table: Arc::clone(&target.table),
            intents: Arc::clone(&target.intents),
            busy: Arc::clone(&target.busy),
        }
    }

    /// Re-applies what drifted among the changed objects gantry applied. Skipped: app ×
    /// environments that `held` says wait (a closed sync window holds self-heal too, as in
    /// Argo CD), those being synced now (their sync takes any drift back, and its prune must
    /// not be undone), and changes that are gantry's own apply (the watch event carries the
    /// resourceVersion the apply returned). Only the leader may call this: it writes.
    ///
    /// # Panics
    ///
    /// When the intents or busy lock is poisoned (a sync panicked while holding it).
    pub async fn heal(
        &self,
        cache: &ClusterCache,
        batch: Vec<Change>,
        held: impl Fn(&Key) -> bool,
        recorder: Option<&Recorder>,
    ) -> HealPass {
        let mut pass = HealPass::default();
        let Some(table) = self.table.lock().await.clone() else {
            return pass;
        };
        let applier = Applier::new(self.client.clone(), table);
        for change in batch {
            let Some(key) = change.owner.clone() else {
                continue;
            };
            if held(&key) || self.busy.lock().expect("busy set poisoned").contains(&key) {
                continue;
            }
            let intent = self
                .intents
                .lock()
                .expect("intents poisoned")
                .get(&key)
                .and_then(|m| m.get(&change.id))
                .cloned();
            let Some(mut intent) = intent else { continue };
            let live_version = cache
                .get(&change.id)
                .and_then(|o| o["metadata"]["resourceVersion"].as_str().map(str::to_owned));
            if !change.deleted && live_version.is_some() && live_version == intent.applied_version {
                continue;
            }
            if let Some(at) = intent.retry_at() {
                pass.later.push((at, change));
                continue;
            }
            match applier
                .heal(std::slice::from_mut(&mut intent), recorder)
                .await
            {
                Ok(reports) if !reports.is_empty() => {
                    *pass.corrected.entry(key.clone()).or_default() += reports.len() as u64;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(object = %change.id, error = %e, "self-heal failed; the drift pass retries");
                }
            }
            // Owned fields and backoff move on, unless a sync replaced the intents meanwhile.
            if let Some(applied) = self.intents.lock().expect("intents poisoned").get_mut(&key)
                && applied.contains_key(&change.id)
            {
                applied.insert(change.id.clone(), intent);
            }
        }
        pass
    }
}

/// The health of each cached object gantry applied for `app` × `env`, by object id, with the
/// aggregate; `None` when the cache holds none of them.
#[must_use]
pub fn live_health(
    cache: &ClusterCache,
    app: &str,
    env: &str,
) -> Option<(HealthStatus, Vec<(String, Health)>)> {
    let live = cache.inventory(app, env);
    if live.is_empty() {
        return None;
    }
    let healths: Vec<(String, Health)> = live
        .iter()
        .map(|(id, (_, value))| (id.to_string(), super::health(Some(value))))
        .collect();
    let overall = super::aggregate(healths.iter().map(|(_, h)| h));
    Some((overall, healths))
}

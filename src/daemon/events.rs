//! Things that happened in the daemon, each a struct whose `emit()` logs it and counts it in
//! one place (vector's `internal_events` habit), so a log line and its metric cannot drift
//! apart.
//!
//! Input: what a task observed. Output: one tracing event and the matching counter.

use std::time::Duration;

use super::state::{Labels, Metrics, Repository, SyncResult, health_value};
use crate::cluster::outcome::{Done, Phase};
use crate::cluster::reconcile::Failure;
use crate::core::{AppEnv, Revision};

/// An image was pushed to a registry (Harbor `PUSH_ARTIFACT`, a distribution notification),
/// and how many apps deploy it.
pub struct ImagePushed<'a> {
    pub repository: &'a str,
    pub resource_url: &'a str,
    pub digest: &'a str,
    pub tag: Option<&'a str>,
    pub updates: usize,
    /// Why apps of this repository do not deploy it.
    pub skipped: &'a [crate::deploy::update::Skipped],
}

impl ImagePushed<'_> {
    pub fn emit(&self, metrics: &Metrics) {
        let skipped: Vec<String> = self.skipped.iter().map(ToString::to_string).collect();
        tracing::info!(
            repository = %self.repository,
            image = %self.resource_url,
            digest = %self.digest,
            tag = self.tag.unwrap_or(""),
            updates = self.updates,
            skipped = %skipped.join("; "),
            "image pushed"
        );
        metrics
            .images_pushed
            .get_or_create(&Repository {
                repository: self.repository.to_owned(),
            })
            .inc();
    }
}

/// A sync ran to its end: applied (or planned), or failed.
pub struct SyncFinished<'a> {
    pub key: &'a AppEnv,
    pub revision: &'a Revision,
    pub outcome: Result<&'a Done, &'a Failure>,
    pub elapsed: Duration,
}

impl SyncFinished<'_> {
    pub fn emit(&self, metrics: &Metrics) {
        let labels = Labels::from(self.key);
        let (app, env, revision) = (&self.key.app, &self.key.env, self.revision.short());
        match self.outcome {
            Ok(done) => {
                tracing::info!(%app, %env, %revision, phase = %done.phase, health = ?done.health, "synced");
                if done.phase != Phase::Planned {
                    metrics
                        .health
                        .get_or_create(&labels)
                        .set(health_value(done.health));
                }
                metrics.applied.get_or_create(&labels).inc_by(done.applied);
                metrics.pruned.get_or_create(&labels).inc_by(done.pruned);
                metrics
                    .drift_corrections
                    .get_or_create(&labels)
                    .inc_by(done.corrected);
            }
            Err(failure) => {
                tracing::warn!(%app, %env, %revision, reason = failure.reason, error = %failure.message, "sync failed");
            }
        }
        metrics
            .syncs
            .get_or_create(&SyncResult {
                app: labels.app.clone(),
                env: labels.env.clone(),
                result: if self.outcome.is_ok() {
                    "success"
                } else {
                    "failure"
                }
                .into(),
                reason: self.outcome.err().map(|f| f.reason.to_owned()),
            })
            .inc();
        metrics
            .sync_seconds
            .get_or_create(&labels)
            .observe(self.elapsed.as_secs_f64());
    }
}

/// The watch saw objects of an app × environment changed outside Git, and self-heal took
/// them back (each object also gets a `DriftCorrected` Kubernetes Event from the healer).
pub struct DriftCorrected<'a> {
    pub key: &'a AppEnv,
    pub objects: u64,
}

impl DriftCorrected<'_> {
    pub fn emit(&self, metrics: &Metrics) {
        tracing::info!(app = %self.key.app, env = %self.key.env, objects = self.objects, "drift taken back from the watch");
        metrics
            .drift_corrections
            .get_or_create(&Labels::from(self.key))
            .inc_by(self.objects);
    }
}

/// A canary rollout ended: promoted, or aborted (with why).
pub struct RolloutEnded<'a> {
    pub key: &'a AppEnv,
    pub canary: &'a str,
    pub result: &'static str,
    pub reason: Option<&'a str>,
}

impl RolloutEnded<'_> {
    pub fn emit(&self, metrics: &Metrics) {
        match self.reason {
            Some(reason) => {
                tracing::warn!(app = %self.key.app, env = %self.key.env, canary = %self.canary, result = self.result, %reason, "rollout ended");
            }
            None => {
                tracing::info!(app = %self.key.app, env = %self.key.env, canary = %self.canary, result = self.result, "rollout ended");
            }
        }
        metrics
            .rollouts
            .get_or_create(&super::state::RolloutResult {
                app: self.key.app.to_string(),
                env: self.key.env.to_string(),
                result: self.result.to_owned(),
            })
            .inc();
    }
}

/// A sync failed and will be retried after `delay` (capped exponential backoff), without
/// waiting for a new commit or the drift pass.
pub struct SyncRetry<'a> {
    pub key: &'a AppEnv,
    /// Failed syncs in a row.
    pub failures: u32,
    pub delay: Duration,
    /// The failure's metric label.
    pub reason: &'static str,
}

impl SyncRetry<'_> {
    pub fn emit(&self, metrics: &Metrics) {
        tracing::warn!(
            app = %self.key.app,
            env = %self.key.env,
            failures = self.failures,
            reason = self.reason,
            retry_in_ms = u64::try_from(self.delay.as_millis()).unwrap_or(u64::MAX),
            "sync failed; retrying with backoff"
        );
        metrics
            .sync_retries
            .get_or_create(&Labels::from(self.key))
            .inc();
    }
}

/// A promotion was acted on: committed, proposed by pull request, pushed as a branch, or
/// failed.
pub struct PromotionActed<'a> {
    pub key: &'a AppEnv,
    pub image: &'a str,
    /// `committed`, `pull-request`, `branch-pushed`, or the failure's metric label.
    pub result: &'a str,
    pub outcome: Result<&'a crate::promotion::Outcome, String>,
}

impl PromotionActed<'_> {
    pub fn emit(&self, metrics: &Metrics) {
        let (app, env, image) = (&self.key.app, &self.key.env, self.image);
        match &self.outcome {
            Ok(outcome) => {
                tracing::info!(%app, %env, %image, result = self.result, ?outcome, "promotion");
            }
            Err(e) => {
                tracing::warn!(%app, %env, %image, result = self.result, error = %e, "promotion failed");
            }
        }
        metrics
            .promotions
            .get_or_create(&super::state::RolloutResult::of(self.key, self.result))
            .inc();
    }
}

/// An image update ended: committed, unchanged, refused (a rollback rejected the digest in
/// that environment) or failed.
pub struct ImageUpdated<'a> {
    pub key: &'a AppEnv,
    pub image: &'a str,
    pub result: &'static str,
    /// The commit, or why it was refused or failed.
    pub detail: &'a str,
}

impl ImageUpdated<'_> {
    pub fn emit(&self, metrics: &Metrics) {
        let (app, env, image, detail) = (&self.key.app, &self.key.env, self.image, self.detail);
        match self.result {
            "committed" | "unchanged" => {
                tracing::info!(%app, %env, %image, result = self.result, %detail, "image update");
            }
            _ => {
                tracing::warn!(%app, %env, %image, result = self.result, %detail, "image update not deployed");
            }
        }
        metrics
            .image_updates
            .get_or_create(&super::state::RolloutResult::of(self.key, self.result))
            .inc();
    }
}

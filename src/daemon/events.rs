//! Things that happened in the daemon, each a struct whose `emit()` logs it and counts it in
//! one place (vector's `internal_events` habit), so a log line and its metric cannot drift
//! apart.
//!
//! Input: what a task observed. Output: one tracing event and the matching counter.

use super::state::{AppEnv, Metrics, Repository};

/// An image was pushed to the registry (Harbor `PUSH_ARTIFACT`). Image updates will act on
/// it; until then it is recorded, not dropped.
pub struct ImagePushed<'a> {
    pub repository: &'a str,
    pub resource_url: &'a str,
    pub digest: &'a str,
    pub tag: Option<&'a str>,
}

impl ImagePushed<'_> {
    pub fn emit(&self, metrics: &Metrics) {
        tracing::info!(
            repository = %self.repository,
            image = %self.resource_url,
            digest = %self.digest,
            tag = self.tag.unwrap_or(""),
            "image pushed; no image-update controller acts on it yet"
        );
        metrics
            .images_pushed
            .get_or_create(&Repository {
                repository: self.repository.to_owned(),
            })
            .inc();
    }
}

/// A sync failed and will be retried after `delay` (capped exponential backoff), without
/// waiting for a new commit or the drift pass.
pub struct SyncRetry<'a> {
    pub app: &'a str,
    pub env: &'a str,
    /// Failed syncs in a row.
    pub failures: u32,
    pub delay: std::time::Duration,
}

impl SyncRetry<'_> {
    pub fn emit(&self, metrics: &Metrics) {
        tracing::warn!(
            app = %self.app,
            env = %self.env,
            failures = self.failures,
            retry_in_ms = u64::try_from(self.delay.as_millis()).unwrap_or(u64::MAX),
            "sync failed; retrying with backoff"
        );
        metrics
            .sync_retries
            .get_or_create(&AppEnv {
                app: self.app.to_owned(),
                env: self.env.to_owned(),
            })
            .inc();
    }
}

//! The image-update controller (wiring): a pushed image that an app takes becomes one
//! `deploy` to the app's image-update environment ([`crate::deploy::update`]).
//!
//! Input: the [`Update`]s the loop plans from registry webhooks, the config in force and the
//! config mirror. Output: a commit on the config branch (then the loop is told, as after a
//! poll), or nothing: the overlay already pins the digest, or a rollback rejected it in that
//! environment — the deploy refuses it, and an `ImageUpdated` event and
//! `gantry_image_updates_total{result="refused"}` say so. One reconcile per app ×
//! environment at a time; a newer push waiting behind a running one replaces an older.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::controller::{Action, Reconcile};
use super::state::Shared;
use crate::core::AppEnv;
use crate::deploy::update::Update;
use crate::deploy::{DeployError, Outcome, Target};
use crate::git::Mirror;
use crate::trigger::TriggerEvent;

pub struct ImageUpdateController {
    pub state: Shared,
    pub mirror: Arc<Mirror>,
    pub branch: String,
    /// The loop's queue, told of each commit (the mirror pushed it, so no poll would see it).
    pub events: mpsc::Sender<TriggerEvent>,
}

/// A failure worth retrying (Git unreachable, a history that could not be read).
#[derive(Debug)]
pub struct ImageUpdateFailure(pub String);

impl std::fmt::Display for ImageUpdateFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Reconcile for ImageUpdateController {
    type Key = AppEnv;
    type Work = Update;
    type Error = ImageUpdateFailure;

    fn key(work: &Update) -> AppEnv {
        AppEnv::new(work.app.as_str(), work.env.as_str())
    }

    fn coalesce(_: &Update, newer: Update) -> Update {
        newer
    }

    async fn reconcile(&self, work: Update) -> Result<Action, ImageUpdateFailure> {
        let key = Self::key(&work);
        let image = work.image.to_string();
        let event = |result: &'static str, detail: &str| {
            super::events::ImageUpdated {
                key: &key,
                image: &image,
                result,
                detail,
            }
            .emit(&self.state.metrics);
        };
        let config = self.state.config_in_force().map_err(ImageUpdateFailure)?;
        let Some(app) = config.app(&work.app) else {
            event("failed", "the app is no longer in gantry.yaml");
            return Ok(Action::Done);
        };
        let target = Target::of(&config, app, &work.env, &self.branch);
        let cancel = CancellationToken::new();
        match crate::deploy::deploy(&self.mirror, &target, &work.request(), false, &cancel).await {
            Ok(Outcome::Committed { commit, .. }) => {
                event("committed", &commit);
                super::announce(&self.events, (&self.mirror, &self.branch), commit).await;
                Ok(Action::Done)
            }
            Ok(Outcome::Unchanged | Outcome::Planned { .. }) => {
                event("unchanged", "the overlay already pins it");
                Ok(Action::Done)
            }
            Err(e @ DeployError::Rejected { .. }) => {
                event("refused", &e.to_string());
                Ok(Action::Done)
            }
            // The same edit would fail the same way: a newer push or config commit fixes it.
            Err(
                e @ (DeployError::Render(_)
                | DeployError::Overlay(_)
                | DeployError::NoDigest { .. }),
            ) => {
                event("failed", &e.to_string());
                Ok(Action::Done)
            }
            Err(e) => {
                event("failed", &e.to_string());
                Err(ImageUpdateFailure(e.to_string()))
            }
        }
    }

    fn retrying(&self, key: &AppEnv, failures: u32, delay: Duration, error: &ImageUpdateFailure) {
        tracing::warn!(app = %key.app, env = %key.env, failures, retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), error = %error, "image update failed; retrying with backoff");
    }

    fn queue_depth(&self, _pending: usize) {}

    fn may_run(&self) -> bool {
        self.state.leader.load(Ordering::Relaxed)
    }
}

//! A deploy proposed instead of committed (stage ④ for ⑧): the same overlay edit, trailers and
//! rejection check as [`super::deploy`], committed on the config branch's tip but pushed to a
//! branch of its own for a pull request.
//!
//! Input: a [`DeployRequest`], its [`Target`] (whose `branch` is the base) and the head branch.
//! Output: [`Proposal::Pushed`] with the commit and the diff, or [`Proposal::Unchanged`] when
//! the base already holds the image. Nothing lands on the base: the merge of the pull request
//! does that, and the normal reconcile deploys it.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{DeployError, DeployRequest, Failed, Target, commit_request, edit_fn};
use crate::git::{Mirror, Proposed};

/// What [`propose`] pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proposal {
    /// `head` holds `commit`, one commit on the base tip `base`.
    Pushed {
        commit: String,
        base: String,
        diff: String,
    },
    /// The base already holds the image: nothing to propose.
    Unchanged,
}

/// Commits `request` on the tip of `target.branch` and force-pushes it to `head`.
///
/// # Errors
///
/// [`DeployError::Rejected`] for a rejected image without `force`; render, overlay and git
/// errors as [`super::deploy`] has them.
///
/// # Panics
///
/// Only if the edit function panicked while holding its result (a bug).
pub async fn propose(
    mirror: &Arc<Mirror>,
    target: &Target,
    request: &DeployRequest,
    head: &str,
    cancel: &CancellationToken,
) -> Result<Proposal, DeployError> {
    let (spec, forced) = super::prepare(mirror, target, request, cancel).await?;
    let (edit, seen) = edit_fn(target, &spec);
    let commit = commit_request(target, request, forced);
    let result = mirror.propose(commit, head, edit, cancel).await;
    let last = seen.lock().expect("deploy edit slot").clone();
    match (result, last) {
        (Ok(Proposed::Pushed { id, base }), last) => Ok(Proposal::Pushed {
            commit: id.to_string(),
            base: base.to_string(),
            diff: last.ok().flatten().unwrap_or_default(),
        }),
        (Ok(Proposed::Unchanged { .. }), _) => Ok(Proposal::Unchanged),
        (Err(_), Err(Failed::Render(m))) => Err(DeployError::Render(m)),
        (Err(_), Err(Failed::Overlay(m))) => Err(DeployError::Overlay(m)),
        (Err(e), Ok(_)) => Err(e.into()),
    }
}

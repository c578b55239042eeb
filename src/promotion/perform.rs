//! Performing a promotion decision (stage ⑧, I/O): one `deploy` for a commit, or the
//! proposal branch and the forge's pull request for `pr`.
//!
//! Input: a [`Promotion`] (the deploy request with `Gantry-Action: promote`, its target, the
//! evidence and the decision), the config mirror and the forge. Output: an [`Outcome`]. The
//! forge is asked for an open pull request before anything is pushed, so a forge that refuses
//! (bad token) leaves nothing behind; a pull request the forge will not open has its branch
//! deleted again.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::PromotionError;
use super::evidence::{Evidence, proposed};
use super::forge::{Forge, NewPull};
use super::gates::{Decision, Gate};
use crate::deploy::{self, DeployRequest, Proposal, Target};
use crate::git::Mirror;

/// One promotion, decided.
#[derive(Debug, Clone)]
pub struct Promotion {
    /// `Gantry-Action: promote`, the evidence pairs, `force`.
    pub request: DeployRequest,
    /// The target environment's overlay on the config branch.
    pub target: Target,
    pub evidence: Evidence,
    pub decision: Decision,
    /// Labels for a new pull request (gantry.yaml's `forge.labels`).
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Outcome {
    /// Committed to the config branch.
    Committed { commit: String, diff: String },
    /// The target already runs the digest.
    AlreadyThere,
    /// A pull request proposes it: `created` new, else updated; `superseded` names the digest
    /// it proposed before, when that differed.
    PullRequest {
        number: u64,
        url: String,
        created: bool,
        superseded: Option<String>,
        branch: String,
        diff: String,
        /// The deploy waits for the target's sync window after the merge.
        waits: Option<String>,
    },
    /// No forge configured: the branch is pushed; `how` says how to open the pull request.
    BranchPushed { branch: String, how: String },
    /// Gates are closed.
    Blocked { gates: Vec<Gate> },
    /// `manual` environment: the promotion may run; nothing was done.
    Possible,
    /// `--dry-run`: what would be committed or proposed.
    Planned { diff: String },
}

/// The proposal branch of `app` in `env`.
#[must_use]
pub fn branch(app: &str, env: &str) -> String {
    format!("gantry/promote/{app}/{env}")
}

/// Performs `p`'s decision.
///
/// # Errors
///
/// A [`PromotionError`]: the deploy's (rejected digest, render, git) or the forge's.
pub async fn promote(
    mirror: &Arc<Mirror>,
    forge: Option<&dyn Forge>,
    p: &Promotion,
    dry_run: bool,
    cancel: &CancellationToken,
) -> Result<Outcome, PromotionError> {
    let waits = match &p.decision {
        Decision::Blocked(gates) => {
            return Ok(Outcome::Blocked {
                gates: gates.clone(),
            });
        }
        Decision::Possible => return Ok(Outcome::Possible),
        Decision::Commit => None,
        Decision::PullRequest { waits } => Some(waits.clone()),
    };
    if dry_run {
        return Ok(
            match deploy::deploy(mirror, &p.target, &p.request, true, cancel).await? {
                deploy::Outcome::Planned { diff } => Outcome::Planned { diff },
                _ => Outcome::AlreadyThere,
            },
        );
    }
    let Some(waits) = waits else {
        return Ok(
            match deploy::deploy(mirror, &p.target, &p.request, false, cancel).await? {
                deploy::Outcome::Committed { commit, diff } => Outcome::Committed { commit, diff },
                _ => Outcome::AlreadyThere,
            },
        );
    };
    pull_request(mirror, forge, p, waits, cancel).await
}

async fn pull_request(
    mirror: &Arc<Mirror>,
    forge: Option<&dyn Forge>,
    p: &Promotion,
    waits: Option<String>,
    cancel: &CancellationToken,
) -> Result<Outcome, PromotionError> {
    let head = branch(&p.request.app, &p.request.env);
    let base = p.target.branch.clone();
    let forge_error = |source, cleanup: &str| PromotionError::Forge {
        source,
        cleanup: cleanup.to_owned(),
    };
    // Asked first: a forge that refuses us (token, permissions) leaves nothing pushed.
    let open = match forge {
        Some(f) => f
            .find_open(&head, &base)
            .await
            .map_err(|e| forge_error(e, "; nothing was pushed"))?,
        None => None,
    };
    let diff = match deploy::propose(mirror, &p.target, &p.request, &head, cancel).await? {
        Proposal::Unchanged => return Ok(Outcome::AlreadyThere),
        Proposal::Pushed { diff, .. } => diff,
    };
    let Some(forge) = forge else {
        return Ok(Outcome::BranchPushed {
            how: format!(
                "no forge in gantry.yaml: open a pull request from {head} into {base} (title: {})",
                p.evidence.title()
            ),
            branch: head,
        });
    };
    let (title, body) = (p.evidence.title(), p.evidence.body());
    if let Some(pr) = open {
        return update(forge, pr, p, Proposed { head, diff, waits }).await;
    }
    let labels = p.labels.clone();
    let new = NewPull {
        title: &title,
        body: &body,
        head: &head,
        base: &base,
        labels: &labels,
    };
    match forge.create(&new).await {
        Ok(pr) => Ok(Outcome::PullRequest {
            number: pr.number,
            url: pr.url,
            created: true,
            superseded: None,
            branch: head,
            diff,
            waits,
        }),
        Err(e) => {
            let cleanup = match mirror.delete_branch(&head).await {
                Ok(()) => format!("; branch {head} deleted again"),
                Err(d) => format!("; branch {head} could not be deleted: {d}"),
            };
            Err(forge_error(e, &cleanup))
        }
    }
}

/// The digest an open pull request proposed before, when it differs from this one's.
fn superseded(body: &str, evidence: &Evidence) -> Option<String> {
    let (_, before) = proposed(body)?;
    let now = evidence.image.digest()?.to_string();
    (before != now).then_some(before)
}

/// What was pushed for a pull request.
struct Proposed {
    head: String,
    diff: String,
    waits: Option<String>,
}

/// Brings the open pull request `pr` up to date: the branch already holds the new commit; the
/// title and body follow, and a comment names the digest it proposed before, if another.
async fn update(
    forge: &dyn Forge,
    pr: super::forge::PullRequest,
    p: &Promotion,
    pushed: Proposed,
) -> Result<Outcome, PromotionError> {
    let forge_error = |source, cleanup: String| PromotionError::Forge { source, cleanup };
    let (title, body) = (p.evidence.title(), p.evidence.body());
    forge
        .update(pr.number, &title, &body)
        .await
        .map_err(|e| forge_error(e, format!("; {} already holds the new commit", pushed.head)))?;
    let superseded = superseded(&pr.body, &p.evidence);
    if let Some(old) = &superseded {
        let note = format!(
            "Superseded: this pull request now proposes `{}` instead of `{old}`.",
            p.request.image
        );
        forge
            .comment(pr.number, &note)
            .await
            .map_err(|e| forge_error(e, String::new()))?;
    }
    Ok(Outcome::PullRequest {
        number: pr.number,
        url: pr.url,
        created: false,
        superseded,
        branch: pushed.head,
        diff: pushed.diff,
        waits: pushed.waits,
    })
}

//! Proposal branches (stage ⑧ through ④): a commit on top of the config branch, pushed to a
//! branch gantry owns (`gantry/promote/<app>/<env>`) for a pull request, replaced on every
//! new proposal, and deleted when the pull request cannot be opened.
//!
//! Input: a [`CommitRequest`] whose `branch` is the base, the head branch, an edit. Output:
//! the commit pushed to the head branch, or `Unchanged` when the base already holds the edit.
//! The head branch is force-pushed: it only ever holds gantry's one commit on the base, so
//! replacing it loses nothing, and a proposal always starts from the newest base.

use std::sync::Arc;

use gix::ObjectId;
use tokio_util::sync::CancellationToken;

use super::push::{Pushed, push_refspec};
use super::write::{Built, EditFn, compose};
use super::{CommitRequest, GitError, Mirror};

/// What [`Mirror::propose`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proposed {
    /// The head branch now holds `id`, one commit on `base`.
    Pushed { id: ObjectId, base: ObjectId },
    /// The base already holds the edit: nothing to propose.
    Unchanged { tip: ObjectId },
}

impl Mirror {
    /// Commits `edit` on the tip of `request.branch` and force-pushes it to `head`.
    ///
    /// # Errors
    ///
    /// A [`GitError`] from the fetch, the edit, or the push (with the remote's words).
    pub async fn propose(
        self: &Arc<Self>,
        request: CommitRequest,
        head: &str,
        edit: Arc<EditFn>,
        cancel: &CancellationToken,
    ) -> Result<Proposed, GitError> {
        if head == request.branch {
            return Err(self.write_error(head, "a proposal branch must differ from its base"));
        }
        let message = compose(&request.message, &request.trailers)
            .map_err(|m| self.write_error(&request.branch, m))?;
        let lock = self.branch_lock(head)?;
        let _serial = lock.lock().await;
        self.fetch(cancel).await?;
        let request = Arc::new(CommitRequest { message, ..request });
        let req = Arc::clone(&request);
        let built = self.run(cancel, move |m, _| m.build(&req, &*edit)).await?;
        let (base, id) = match built {
            Built::Unchanged(tip) => return Ok(Proposed::Unchanged { tip }),
            Built::Commit { parent, id } => (parent, id),
        };
        let refspec = format!("+{id}:refs/heads/{head}");
        match push_refspec(self, &refspec, head, self.timeout).await? {
            Pushed::Accepted => {
                tracing::info!(url = %self.url(), branch = %head, commit = %id, "proposal pushed");
                Ok(Proposed::Pushed { id, base })
            }
            // A forced push is never refused as behind; should a server say so, say it.
            Pushed::NotFastForward => {
                Err(self.write_error(head, "the remote refused a forced push"))
            }
        }
    }

    /// Deletes `branch` on the remote; a branch that is already gone is fine.
    ///
    /// # Errors
    ///
    /// A [`GitError`] when the remote refuses or cannot be reached.
    pub async fn delete_branch(self: &Arc<Self>, branch: &str) -> Result<(), GitError> {
        let lock = self.branch_lock(branch)?;
        let _serial = lock.lock().await;
        match push_refspec(self, &format!(":refs/heads/{branch}"), branch, self.timeout).await {
            Ok(_) => Ok(()),
            Err(GitError::PushRejected { reason, .. })
                if reason.contains("remote ref does not exist") =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

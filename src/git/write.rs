//! Writing desired state: edit the tree at a branch tip, commit with trailers, push, and on a
//! non-fast-forward rejection fetch and redo the edit on the new tip (stage ④).
//!
//! Input: a [`CommitRequest`] and an edit function over [`TreeEdit`]. Output: the pushed commit,
//! or `Unchanged` when the edit changes nothing (no empty commits). Writes to one branch of one
//! mirror are serialised in-process; other processes are handled by the retry. A push refused
//! for any other reason fails at once; the mirror's branch only moves after an accepted push.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gix::ObjectId;
use gix::object::tree::EntryKind;
use tokio_util::sync::CancellationToken;

use super::push::{Pushed, push};
use super::{GitError, Mirror, TreeFs};
use crate::core::fs::Fs;

/// Attempts before a contended branch may be given up on.
pub const MAX_ATTEMPTS: u32 = 10;

/// How long a commit keeps retrying against a branch that others keep moving, once it made
/// [`MAX_ATTEMPTS`] attempts. Losing a race means another commit landed: on a loaded machine
/// ten losses can come within seconds while the branch is making progress, so attempts alone
/// would give up on a healthy, busy branch.
pub const CONTENTION_WINDOW: std::time::Duration = std::time::Duration::from_secs(30);

/// Author and committer of gantry's commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub email: String,
}

impl Default for Identity {
    fn default() -> Self {
        Self::from(&crate::config::CommitAuthor::default())
    }
}

impl From<&crate::config::CommitAuthor> for Identity {
    fn from(a: &crate::config::CommitAuthor) -> Self {
        Self {
            name: a.name.clone(),
            email: a.email.clone(),
        }
    }
}

/// What to commit, apart from the edit itself.
#[derive(Debug, Clone)]
pub struct CommitRequest {
    pub branch: String,
    /// Subject and body; the trailers follow after a blank line.
    pub message: String,
    /// `(key, value)`, e.g. `("Gantry-Action", "deploy")`.
    pub trailers: Vec<(String, String)>,
    pub identity: Identity,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    Committed {
        id: ObjectId,
        attempts: u32,
    },
    /// The edit left the tree as it was; nothing was committed.
    Unchanged {
        tip: ObjectId,
    },
}

/// One finished [`Mirror::commit`], for whoever counts pushes (the daemon's `/metrics`).
#[derive(Debug, Clone, PartialEq)]
pub struct PushEvent {
    /// From the first fetch to the accepted push or the final failure, retries included.
    pub seconds: f64,
    /// Non-fast-forward rejections after which the edit ran again on a newer tip.
    pub retries: u32,
    /// `pushed`, `unchanged` (nothing to commit), `contended` (gave up after
    /// [`MAX_ATTEMPTS`]) or `failed`.
    pub result: &'static str,
}

/// Receives every [`PushEvent`] of a mirror.
#[derive(Clone)]
pub struct PushObserver(pub Arc<dyn Fn(&PushEvent) + Send + Sync>);

impl std::fmt::Debug for PushObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PushObserver")
    }
}

/// The error an edit function may return.
pub type EditError = Box<dyn std::error::Error + Send + Sync>;

/// An edit function: reads and writes files of the tree at the current tip. It may run several
/// times (once per attempt), each time on a newer tip, so it must derive its change from what
/// it reads, not from state it keeps.
pub type EditFn = dyn Fn(&mut TreeEdit<'_>) -> Result<(), EditError> + Send + Sync;

/// The files at the tip plus the pending changes.
#[derive(Debug)]
pub struct TreeEdit<'a> {
    base: &'a TreeFs,
    changes: BTreeMap<PathBuf, Option<Vec<u8>>>,
}

impl<'a> TreeEdit<'a> {
    /// An edit of `base` with no changes yet (a plan on the current tip, say).
    #[must_use]
    pub fn new(base: &'a TreeFs) -> Self {
        Self {
            base,
            changes: BTreeMap::new(),
        }
    }

    /// The file's current content, including changes made earlier in this edit.
    #[must_use]
    pub fn read(&self, path: &Path) -> Option<Vec<u8>> {
        match self.changes.get(path) {
            Some(change) => change.clone(),
            None => self.base.read(path).ok(),
        }
    }

    pub fn write(&mut self, path: impl Into<PathBuf>, content: impl Into<Vec<u8>>) {
        self.changes.insert(path.into(), Some(content.into()));
    }

    pub fn remove(&mut self, path: impl Into<PathBuf>) {
        self.changes.insert(path.into(), None);
    }
}

/// The tree as the edit leaves it, for reading through [`Fs`] (a render of the edited overlay
/// before the commit is made).
impl crate::core::fs::Fs for TreeEdit<'_> {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        TreeEdit::read(self, path).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, path.display().to_string())
        })
    }

    fn is_file(&self, path: &Path) -> bool {
        match self.changes.get(path) {
            Some(change) => change.is_some(),
            None => self.base.is_file(path),
        }
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.base.is_dir(path)
            || self
                .changes
                .iter()
                .any(|(p, c)| c.is_some() && p.starts_with(path) && p != path)
    }
}

pub(super) enum Built {
    Unchanged(ObjectId),
    Commit { parent: ObjectId, id: ObjectId },
}

impl Mirror {
    /// Reports every later [`Mirror::commit`] to `observer`. One observer per mirror: the
    /// first call wins and later ones return `false`.
    pub fn observe_pushes(&self, observer: PushObserver) -> bool {
        self.push_observer.set(observer).is_ok()
    }

    /// Sets how long a commit retries on a contended branch after [`MAX_ATTEMPTS`] attempts
    /// (default [`CONTENTION_WINDOW`]).
    pub fn set_contention_window(&self, window: Duration) {
        self.contention_ms.store(
            u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Commits the result of `edit` on `request.branch` and pushes it, retrying on races.
    pub async fn commit(
        self: &Arc<Self>,
        request: CommitRequest,
        edit: Arc<EditFn>,
        cancel: &CancellationToken,
    ) -> Result<CommitOutcome, GitError> {
        let started = Instant::now();
        let mut retries = 0;
        let result = self
            .commit_retrying(request, edit, cancel, &mut retries)
            .await;
        if let Some(observe) = self.push_observer.get() {
            (observe.0)(&PushEvent {
                seconds: started.elapsed().as_secs_f64(),
                retries,
                result: match &result {
                    Ok(CommitOutcome::Committed { .. }) => "pushed",
                    Ok(CommitOutcome::Unchanged { .. }) => "unchanged",
                    Err(GitError::Contended { .. }) => "contended",
                    Err(_) => "failed",
                },
            });
        }
        result
    }

    async fn commit_retrying(
        self: &Arc<Self>,
        request: CommitRequest,
        edit: Arc<EditFn>,
        cancel: &CancellationToken,
        retries: &mut u32,
    ) -> Result<CommitOutcome, GitError> {
        let message = compose(&request.message, &request.trailers)
            .map_err(|m| self.write_error(&request.branch, m))?;
        let lock = self.branch_lock(&request.branch)?;
        let _serial = lock.lock().await;
        let request = Arc::new(CommitRequest { message, ..request });
        let started = tokio::time::Instant::now();
        let window = Duration::from_millis(
            self.contention_ms
                .load(std::sync::atomic::Ordering::Relaxed),
        );
        let mut attempt = 0;
        while attempt < MAX_ATTEMPTS || started.elapsed() < window {
            attempt += 1;
            self.fetch(cancel).await?;
            let (req, edit) = (Arc::clone(&request), Arc::clone(&edit));
            let built = self.run(cancel, move |m, _| m.build(&req, &*edit)).await?;
            let (parent, id) = match built {
                Built::Unchanged(tip) => return Ok(CommitOutcome::Unchanged { tip }),
                Built::Commit { parent, id } => (parent, id),
            };
            match push(self, id, &request.branch, self.timeout).await? {
                Pushed::Accepted => {
                    let branch = request.branch.clone();
                    // A fetch racing with us may already have moved it; that is fine.
                    if let Err(e) = self
                        .run(cancel, move |m, _| m.advance(&branch, parent, id))
                        .await
                    {
                        tracing::debug!(error = %e, "mirror ref not advanced after push");
                    }
                    tracing::info!(url = %self.url(), branch = %request.branch, commit = %id, attempts = attempt, "pushed");
                    return Ok(CommitOutcome::Committed {
                        id,
                        attempts: attempt,
                    });
                }
                Pushed::NotFastForward => {
                    *retries += 1;
                    let wait = backoff(attempt);
                    tracing::debug!(url = %self.url(), branch = %request.branch, attempt, wait_ms = wait.as_millis(), "branch moved; redoing the edit on the new tip");
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = cancel.cancelled() => return Err(GitError::Cancelled { url: self.url().to_string() }),
                    }
                }
            }
        }
        Err(GitError::Contended {
            url: self.url().to_string(),
            branch: request.branch.clone(),
            attempts: attempt,
            seconds: started.elapsed().as_secs(),
        })
    }

    pub(super) fn branch_lock(
        &self,
        branch: &str,
    ) -> Result<Arc<tokio::sync::Mutex<()>>, GitError> {
        let mut locks = self.branch_locks.lock().map_err(|_| GitError::Task {
            url: self.url().to_string(),
            message: "the branch lock table is poisoned".into(),
        })?;
        Ok(Arc::clone(locks.entry(branch.to_string()).or_default()))
    }

    pub(super) fn write_error(&self, branch: &str, message: impl std::fmt::Display) -> GitError {
        GitError::Write {
            url: self.url().to_string(),
            branch: branch.to_string(),
            message: message.to_string(),
        }
    }

    /// Runs the edit on the mirror's tip and writes the tree and commit objects (no ref moves).
    pub(super) fn build(&self, request: &CommitRequest, edit: &EditFn) -> Result<Built, GitError> {
        let branch = &request.branch;
        let tip = self.tip(branch)?.ok_or_else(|| GitError::NoBranch {
            url: self.url().to_string(),
            branch: branch.clone(),
        })?;
        let repo = self.repo()?;
        let base = TreeFs::of_commit(&repo, tip)?;
        let mut tree_edit = TreeEdit {
            base: &base,
            changes: BTreeMap::new(),
        };
        edit(&mut tree_edit).map_err(|source| GitError::Edit {
            url: self.url().to_string(),
            branch: branch.clone(),
            source,
        })?;
        let werr = |e: &dyn std::fmt::Display| self.write_error(branch, e);
        let base_tree = repo
            .find_commit(tip)
            .and_then(|c| c.tree_id())
            .map_err(|e| werr(&e))?
            .detach();
        let mut editor = repo.edit_tree(base_tree).map_err(|e| werr(&e))?;
        for (path, change) in &tree_edit.changes {
            let path = path
                .to_str()
                .ok_or_else(|| werr(&format!("{} is not UTF-8", path.display())))?;
            match change {
                Some(content) => {
                    let blob = repo.write_blob(content).map_err(|e| werr(&e))?;
                    editor
                        .upsert(path, EntryKind::Blob, blob)
                        .map_err(|e| werr(&e))?;
                }
                None => {
                    editor.remove(path).map_err(|e| werr(&e))?;
                }
            }
        }
        let tree = editor.write().map_err(|e| werr(&e))?.detach();
        if tree == base_tree {
            return Ok(Built::Unchanged(tip));
        }
        let now = gix::date::Time::now_local_or_utc();
        let who = gix::actor::Signature {
            name: request.identity.name.as_str().into(),
            email: request.identity.email.as_str().into(),
            time: now,
        };
        let commit = gix::objs::Commit {
            tree,
            parents: std::iter::once(tip).collect(),
            author: who.clone(),
            committer: who,
            encoding: None,
            message: request.message.as_str().into(),
            extra_headers: Vec::new(),
        };
        let id = repo.write_object(&commit).map_err(|e| werr(&e))?.detach();
        Ok(Built::Commit { parent: tip, id })
    }
}

/// Subject, body, blank line, one `Key: value` trailer per line.
pub(super) fn compose(message: &str, trailers: &[(String, String)]) -> Result<String, String> {
    let message = message.trim();
    if message.is_empty() {
        return Err("the commit message is empty".into());
    }
    let mut out = format!("{message}\n");
    if !trailers.is_empty() {
        out.push('\n');
    }
    for (key, value) in trailers {
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!(
                "trailer key {key:?} must be letters, digits and '-'"
            ));
        }
        if value.contains('\n') || value.trim().is_empty() {
            return Err(format!("trailer {key} needs a one-line, non-empty value"));
        }
        let _ = writeln!(out, "{key}: {}", value.trim());
    }
    Ok(out)
}

/// Exponential backoff with equal jitter: half fixed, half random, capped at 2 s, so racing
/// writers spread out instead of colliding again in lock-step.
fn backoff(attempt: u32) -> Duration {
    let cap_ms = (25u64 << attempt.min(10)).min(2_000);
    Duration::from_millis(cap_ms / 2 + fastrand::u64(0..=cap_ms / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_end_with_a_trailer_block() {
        let t = vec![
            ("Gantry-Action".to_string(), "deploy".to_string()),
            ("Gantry-App".to_string(), "web".to_string()),
        ];
        assert_eq!(
            compose("deploy web\n\nbody\n", &t).expect("valid"),
            "deploy web\n\nbody\n\nGantry-Action: deploy\nGantry-App: web\n"
        );
        assert_eq!(compose("x", &[]).expect("valid"), "x\n");
        assert!(compose(" ", &[]).is_err());
        assert!(compose("x", &[("Bad Key".into(), "v".into())]).is_err());
        assert!(compose("x", &[("K".into(), "a\nb".into())]).is_err());
    }

    #[test]
    fn backoff_grows_and_stays_capped() {
        assert!(backoff(1) >= Duration::from_millis(25) && backoff(1) <= Duration::from_millis(50));
        assert!(backoff(9) <= Duration::from_secs(2) && backoff(9) >= Duration::from_secs(1));
    }
}

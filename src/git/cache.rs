//! Bare mirrors of remotes under the data dir, and cheap change detection.
//!
//! Input: a remote URL and its credentials. Output: a [`Mirror`] whose `refs/heads/*` follow the
//! remote's, fetched only when the ref advertisement shows a watched branch moved.
//! gix is blocking: the async entry points run it in `spawn_blocking`, bounded by a timeout and a
//! cancellation token, both of which raise gix's interrupt flag.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gix::ObjectId;
use gix::remote::Direction;
use sha2::Digest as _;
use tokio_util::sync::CancellationToken;

use super::{Credentials, GitError, redact_url};

/// Mirrors gantry keeps fresh, one per remote URL.
#[derive(Debug)]
pub struct RepoCache {
    dir: PathBuf,
    timeout: Duration,
    mirrors: Mutex<HashMap<String, Arc<Mirror>>>,
}

impl RepoCache {
    /// Mirrors live in `<data_dir>/git`. `timeout` bounds each network operation.
    #[must_use]
    pub fn new(data_dir: &Path, timeout: Duration) -> Self {
        Self {
            dir: data_dir.join("git"),
            timeout,
            mirrors: Mutex::default(),
        }
    }

    /// The mirror of `url`, created (empty) on first use; fetch it before reading.
    pub fn mirror(&self, url: &str, credentials: Credentials) -> Result<Arc<Mirror>, GitError> {
        let mut mirrors = self.mirrors.lock().map_err(|_| GitError::Task {
            url: redact_url(url),
            message: "the mirror table lock is poisoned".into(),
        })?;
        if let Some(m) = mirrors.get(url) {
            return Ok(Arc::clone(m));
        }
        let path = self.dir.join(dir_name(url));
        let mirror = Arc::new(Mirror::open(url, &path, credentials, self.timeout)?);
        mirrors.insert(url.to_string(), Arc::clone(&mirror));
        Ok(mirror)
    }
}

/// `<host>-<path>-<hash>.git`: readable on disk, unique per URL, free of user-info.
fn dir_name(url: &str) -> String {
    let shown = redact_url(url);
    let tail = shown.split_once("://").map_or(shown.as_str(), |(_, t)| t);
    let tail = tail.rsplit_once('@').map_or(tail, |(_, t)| t);
    let readable: String = tail
        .trim_end_matches(".git")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let readable: String = readable.trim_matches('-').chars().take(60).collect();
    let hash = hex::encode(&sha2::Sha256::digest(url.as_bytes())[..6]);
    format!("{readable}-{hash}.git")
}

/// A branch whose tip moved on the remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefChange {
    pub branch: String,
    /// The tip the mirror had; `None` for a branch it had not seen.
    pub old: Option<ObjectId>,
    /// The remote's tip; `None` when the branch was deleted there.
    pub new: Option<ObjectId>,
}

/// One bare mirror. Fetches and local ref updates are serialised by `fetch_lock`; writes to a
/// branch are serialised by the write path's per-branch locks.
#[derive(Debug)]
pub struct Mirror {
    pub(super) raw: String,
    /// The URL with any password or token redacted: what messages show.
    pub(super) shown: String,
    path: PathBuf,
    pub(super) credentials: Credentials,
    pub(super) timeout: Duration,
    repo: gix::ThreadSafeRepository,
    fetch_lock: Mutex<()>,
    pub(super) branch_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    pub(super) push_observer: std::sync::OnceLock<super::write::PushObserver>,
    /// Milliseconds of contention (see [`super::write::CONTENTION_WINDOW`]) before a commit
    /// is given up on.
    pub(super) contention_ms: std::sync::atomic::AtomicU64,
}

impl Mirror {
    fn open(
        url: &str,
        path: &Path,
        credentials: Credentials,
        timeout: Duration,
    ) -> Result<Self, GitError> {
        let fail = |message: String| GitError::Mirror {
            url: redact_url(url),
            path: path.to_path_buf(),
            message,
        };
        if !path.join("HEAD").is_file() {
            // Initialise beside the final place and rename, so a crash never leaves a
            // half-made repository where the next start would look.
            let parent = path.parent().unwrap_or(path);
            std::fs::create_dir_all(parent).map_err(|e| fail(e.to_string()))?;
            let tmp = parent.join(format!(
                ".init-{}-{:08x}",
                std::process::id(),
                fastrand::u32(..)
            ));
            gix::init_bare(&tmp).map_err(|e| fail(e.to_string()))?;
            if let Err(e) = std::fs::rename(&tmp, path) {
                let _ = std::fs::remove_dir_all(&tmp);
                // Another process may have won the race; its mirror is as good as ours.
                if !path.join("HEAD").is_file() {
                    return Err(fail(e.to_string()));
                }
            }
        }
        let repo = gix::open(path).map_err(|e| fail(e.to_string()))?;
        Ok(Self {
            raw: url.to_string(),
            shown: redact_url(url),
            path: path.to_path_buf(),
            credentials,
            timeout,
            repo: repo.into_sync(),
            fetch_lock: Mutex::default(),
            branch_locks: Mutex::default(),
            push_observer: std::sync::OnceLock::new(),
            contention_ms: std::sync::atomic::AtomicU64::new(
                u64::try_from(super::write::CONTENTION_WINDOW.as_millis()).unwrap_or(u64::MAX),
            ),
        })
    }

    /// The URL as it may be printed.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.shown
    }

    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn raw_url(&self) -> &str {
        &self.raw
    }

    pub(super) fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// A thread-local handle with the credentials applied in memory (never written to disk).
    pub(super) fn repo(&self) -> Result<gix::Repository, GitError> {
        let mut repo = self.repo.to_thread_local();
        let overrides = self.credentials.config_overrides();
        if !overrides.is_empty() {
            let mut config = repo.config_snapshot_mut();
            for (key, value) in overrides {
                let key: &'static dyn gix::config::tree::Key = match key {
                    "http.extraHeader" => &gix::config::tree::Http::EXTRA_HEADER,
                    _ => &gix::config::tree::Core::SSH_COMMAND,
                };
                config
                    .set_value(key, value.expose())
                    .map_err(|_| GitError::Credentials {
                        url: self.shown.clone(),
                        message: format!("cannot apply {} to the connection", key.name()),
                    })?;
            }
        }
        Ok(repo)
    }

    /// The mirror as a gix repository, for read-only queries such as history.
    #[must_use]
    pub fn repository(&self) -> gix::Repository {
        self.repo.to_thread_local()
    }

    /// The tree of commit `id`, read from the mirror's object database (no checkout).
    pub fn tree(&self, id: ObjectId) -> Result<super::TreeFs, GitError> {
        super::TreeFs::of_commit(&self.repo.to_thread_local(), id)
    }

    /// The mirror's tip of `branch`, if it has one.
    pub fn tip(&self, branch: &str) -> Result<Option<ObjectId>, GitError> {
        let repo = self.repo.to_thread_local();
        let name = format!("refs/heads/{branch}");
        match repo.try_find_reference(name.as_str()) {
            Ok(Some(mut r)) => r
                .peel_to_id()
                .map(|id| Some(id.detach()))
                .map_err(|e| self.read_error(&name, &e)),
            Ok(None) => Ok(None),
            Err(e) => Err(self.read_error(&name, &e)),
        }
    }

    fn read_error(&self, what: &str, e: &dyn std::fmt::Display) -> GitError {
        GitError::Read {
            repo: self.shown.clone(),
            what: what.to_string(),
            message: e.to_string(),
        }
    }

    /// Fetches every branch (forced, like a mirror). Stops when `interrupt` is raised.
    pub fn fetch_blocking(&self, interrupt: &AtomicBool) -> Result<(), GitError> {
        let _serial = self.fetch_lock.lock().map_err(|_| GitError::Task {
            url: self.shown.clone(),
            message: "the fetch lock is poisoned".into(),
        })?;
        let repo = self.repo()?;
        let remote = self.remote(&repo)?;
        let started = std::time::Instant::now();
        let outcome = remote
            .connect(Direction::Fetch)
            .and_then(|c| {
                c.prepare_fetch(
                    gix::progress::Discard,
                    gix::remote::ref_map::Options::default(),
                )
            })
            .and_then(|p| p.receive(gix::progress::Discard, interrupt));
        if interrupt.load(Ordering::Relaxed) {
            return Err(GitError::Cancelled {
                url: self.shown.clone(),
            });
        }
        outcome.map_err(|e| self.remote_error_chain(&e))?;
        tracing::debug!(url = %self.shown, ms = started.elapsed().as_millis(), "fetched");
        Ok(())
    }

    /// Asks the remote for its refs and fetches only when one of `branches` (all when empty)
    /// moved. Returns the moves, in branch order.
    pub fn changes_blocking(
        &self,
        branches: &[String],
        interrupt: &AtomicBool,
    ) -> Result<Vec<RefChange>, GitError> {
        let remote = self.remote_heads()?;
        let watched: Vec<&String> = if branches.is_empty() {
            remote.keys().collect()
        } else {
            branches.iter().collect()
        };
        let mut changes = Vec::new();
        for branch in watched {
            let old = self.tip(branch)?;
            let new = remote.get(branch).copied();
            if old != new {
                changes.push(RefChange {
                    branch: branch.clone(),
                    old,
                    new,
                });
            }
        }
        if changes.iter().any(|c| c.new.is_some()) {
            self.fetch_blocking(interrupt)?;
        }
        Ok(changes)
    }

    /// Runs `op` on a blocking thread, raising its interrupt flag when the timeout passes or
    /// `cancel` fires; the caller gets `Timeout`/`Cancelled` at once either way.
    pub async fn run<T, F>(
        self: &Arc<Self>,
        cancel: &CancellationToken,
        op: F,
    ) -> Result<T, GitError>
    where
        T: Send + 'static,
        F: FnOnce(&Mirror, &AtomicBool) -> Result<T, GitError> + Send + 'static,
    {
        let interrupt = Arc::new(AtomicBool::new(false));
        let (me, flag) = (Arc::clone(self), Arc::clone(&interrupt));
        let task = tokio::task::spawn_blocking(move || op(&me, &flag));
        tokio::select! {
            joined = task => joined.map_err(|e| GitError::Task {
                url: self.shown.clone(),
                message: e.to_string(),
            })?,
            () = tokio::time::sleep(self.timeout) => {
                interrupt.store(true, Ordering::Relaxed);
                Err(GitError::Timeout { url: self.shown.clone(), secs: self.timeout.as_secs() })
            }
            () = cancel.cancelled() => {
                interrupt.store(true, Ordering::Relaxed);
                Err(GitError::Cancelled { url: self.shown.clone() })
            }
        }
    }

    /// [`Self::fetch_blocking`] with timeout and cancellation.
    pub async fn fetch(self: &Arc<Self>, cancel: &CancellationToken) -> Result<(), GitError> {
        self.run(cancel, Mirror::fetch_blocking).await
    }

    /// [`Self::changes_blocking`] with timeout and cancellation.
    pub async fn changes(
        self: &Arc<Self>,
        branches: Vec<String>,
        cancel: &CancellationToken,
    ) -> Result<Vec<RefChange>, GitError> {
        self.run(cancel, move |m, i| m.changes_blocking(&branches, i))
            .await
    }

    /// Moves the mirror's branch after a push, unless a fetch already moved it elsewhere.
    pub(super) fn advance(
        &self,
        branch: &str,
        from: ObjectId,
        to: ObjectId,
    ) -> Result<(), GitError> {
        let _serial = self.fetch_lock.lock().map_err(|_| GitError::Task {
            url: self.shown.clone(),
            message: "the fetch lock is poisoned".into(),
        })?;
        let repo = self.repo.to_thread_local();
        let name = format!("refs/heads/{branch}");
        repo.reference(
            name.as_str(),
            to,
            gix::refs::transaction::PreviousValue::MustExistAndMatch(from.into()),
            "gantry: pushed",
        )
        .map(|_| ())
        .map_err(|e| self.read_error(&name, &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_dirs_are_readable_unique_and_free_of_secrets() {
        let a = dir_name("https://bot:s3cret@git.example.com/team/config.git");
        let b = dir_name("https://git.example.com/team/config.git");
        assert!(a.starts_with("git-example-com-team-config-"), "{a}");
        assert!(!a.contains("s3cret") && !a.contains("bot"), "{a}");
        assert_ne!(a, b);
    }
}

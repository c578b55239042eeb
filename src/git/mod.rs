//! The repo cache (stages ① trigger, ④ commit, ⑨ audit).
//!
//! Input: remote URLs with their credentials, and edit functions over a tree. Output: bare
//! mirrors under the data dir, ref changes, read-only trees at a commit (the renderer's [`Fs`]),
//! and commits pushed with rebase-and-retry. gix does the reading, fetching and object writing;
//! the `git` CLI does the push, because gix cannot push yet.
//!
//! Secrets never reach a URL, an argument vector, a log line or an error message: they travel in
//! headers set through in-memory config (gix) or the child's environment (git CLI).
//!
//! [`Fs`]: crate::core::fs::Fs

mod auth;
mod branch;
mod cache;
pub mod log;
mod push;
mod remote;
mod tree;
pub mod write;

pub use auth::{Credentials, Secret, is_loopback_host, redact_url};
pub use branch::Proposed;
pub use cache::{Mirror, RefChange, RepoCache};
pub use tree::TreeFs;
pub use write::{CommitOutcome, CommitRequest, Identity, PushEvent, PushObserver, TreeEdit};

use std::path::PathBuf;

/// What failed in the git layer; every message names the (redacted) remote or path.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot prepare the mirror of {url} in {path}: {message}")]
    Mirror {
        url: String,
        path: PathBuf,
        message: String,
    },
    #[error("cannot reach {url}: {message}")]
    Remote { url: String, message: String },
    #[error("fetching {url} took longer than {secs} s and was stopped")]
    Timeout { url: String, secs: u64 },
    #[error("fetching {url} was cancelled")]
    Cancelled { url: String },
    #[error("{url} has no branch {branch}")]
    NoBranch { url: String, branch: String },
    #[error("cannot resolve revision {rev} in {repo}: {message}")]
    Revision {
        repo: String,
        rev: String,
        message: String,
    },
    #[error("cannot read {what} in {repo}: {message}")]
    Read {
        repo: String,
        what: String,
        message: String,
    },
    #[error("cannot write the commit for {url} {branch}: {message}")]
    Write {
        url: String,
        branch: String,
        message: String,
    },
    #[error("the edit for {url} {branch} failed: {source}")]
    Edit {
        url: String,
        branch: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{url} refused the push to {branch}: {reason}{}", remote_lines(.remote))]
    PushRejected {
        url: String,
        branch: String,
        reason: String,
        /// The remote's own words (`remote: …` lines), e.g. a pre-receive hook's message.
        remote: Vec<String>,
    },
    #[error("push to {url} {branch} failed: {message}")]
    Push {
        url: String,
        branch: String,
        message: String,
    },
    #[error(
        "gave up pushing to {url} {branch} after {attempts} attempts in {seconds} s: others kept moving the branch"
    )]
    Contended {
        url: String,
        branch: String,
        attempts: u32,
        seconds: u64,
    },
    #[error("credentials for {url}: {message}")]
    Credentials { url: String, message: String },
    #[error("the git task for {url} stopped unexpectedly: {message}")]
    Task { url: String, message: String },
}

fn remote_lines(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!("\n  remote: {}", lines.join("\n  remote: "))
    }
}

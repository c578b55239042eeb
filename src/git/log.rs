//! Commit subjects between two commits (stage ⑧'s evidence: what a promotion brings).
//!
//! Input: a repository, the new tip and the old one (excluded). Output: short ids and subjects,
//! newest first, at most `limit`.

use super::GitError;

/// The commits reachable from `to` but not from `from`, newest first, at most `limit`.
///
/// # Errors
///
/// A revision does not name a commit of `repo`, or the walk fails.
pub fn subjects(
    repo: &gix::Repository,
    (from, to): (Option<&str>, &str),
    limit: usize,
) -> Result<Vec<(String, String)>, GitError> {
    let fail = |message: String| GitError::Task {
        url: repo.path().display().to_string(),
        message,
    };
    let id = |rev: &str| {
        repo.rev_parse_single(rev)
            .map(gix::Id::detach)
            .map_err(|e| fail(format!("{rev}: {e}")))
    };
    let mut walk = repo
        .rev_walk([id(to)?])
        .sorting(gix::revision::walk::Sorting::ByCommitTime(
            gix::traverse::commit::simple::CommitTimeOrder::NewestFirst,
        ));
    if let Some(from) = from {
        walk = walk.with_hidden([id(from)?]);
    }
    let mut out = Vec::new();
    for info in walk.all().map_err(|e| fail(e.to_string()))?.take(limit) {
        let info = info.map_err(|e| fail(e.to_string()))?;
        let commit = info.object().map_err(|e| fail(e.to_string()))?;
        let subject = commit
            .message()
            .map(|m| m.summary().to_string())
            .unwrap_or_default();
        out.push((commit.id.to_hex_with_len(7).to_string(), subject));
    }
    Ok(out)
}

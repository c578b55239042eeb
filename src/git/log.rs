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
    let fail = |message: String| task_error(repo, message);
    let id = |rev: &str| resolve(repo, rev);
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

/// First-parent commits examined at most when looking for where a commit landed.
const MAX_CHAIN: usize = 10_000;

/// When `commit` landed on the branch whose tip is `tip` (Unix seconds): its own committer time
/// when it is on the tip's first-parent chain (committed to the branch directly), else the time
/// of the merge on that chain that brought it in (a pull request merged later). `None` when it
/// is not reachable from `tip`.
///
/// # Errors
///
/// A revision does not name a commit of `repo`, or the history cannot be read.
pub fn landed(repo: &gix::Repository, tip: &str, commit: &str) -> Result<Option<i64>, GitError> {
    let fail = |message: String| task_error(repo, message);
    let id = |rev: &str| resolve(repo, rev);
    let (target, mut cur) = (id(commit)?, Some(id(tip)?));
    let target_time = time_of(repo, target).map_err(fail)?;
    // The first-parent chain back to the commit, or to where it is older than the commit (a
    // merge never predates what it merges).
    let mut merges = Vec::new();
    let mut steps = 0;
    while let Some(at) = cur.take() {
        steps += 1;
        let c = repo.find_commit(at).map_err(|e| fail(e.to_string()))?;
        let seconds = c.time().map_err(|e| fail(e.to_string()))?.seconds;
        if at == target {
            return Ok(Some(seconds));
        }
        let parents: Vec<gix::ObjectId> = c.parent_ids().map(gix::Id::detach).collect();
        let first = parents.first().copied();
        if parents.len() > 1 {
            merges.push((seconds, parents));
        }
        if seconds < target_time || steps >= MAX_CHAIN {
            break;
        }
        cur = first;
    }
    // Oldest merge first: the first whose merged side reaches the commit brought it in.
    for (seconds, parents) in merges.into_iter().rev() {
        let walk = repo
            .rev_walk(parents[1..].iter().copied())
            .with_hidden([parents[0]])
            .all()
            .map_err(|e| fail(e.to_string()))?;
        for info in walk {
            if info.map_err(|e| fail(e.to_string()))?.id == target {
                return Ok(Some(seconds));
            }
        }
    }
    Ok(None)
}

fn time_of(repo: &gix::Repository, id: gix::ObjectId) -> Result<i64, String> {
    let c = repo.find_commit(id).map_err(|e| e.to_string())?;
    Ok(c.time().map_err(|e| e.to_string())?.seconds)
}

fn task_error(repo: &gix::Repository, message: String) -> GitError {
    GitError::Task {
        url: repo.path().display().to_string(),
        message,
    }
}

/// The commit id `rev` names in `repo`.
fn resolve(repo: &gix::Repository, rev: &str) -> Result<gix::ObjectId, GitError> {
    repo.rev_parse_single(rev)
        .map(gix::Id::detach)
        .map_err(|e| task_error(repo, format!("{rev}: {e}")))
}

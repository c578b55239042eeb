//! History queries: the config repo's log, read with gix, filtered on the trailers.
//!
//! Input: a repository, a revision and a [`Filter`]. Output: [`Entry`] rows, newest first.

use serde::Serialize;

use super::{Action, AuditError, Trailers};

/// Which entries to keep; `None` keeps all.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub app: Option<String>,
    pub env: Option<String>,
    pub action: Option<Action>,
    /// Unix seconds; older commits are dropped.
    pub since: Option<i64>,
}

impl Filter {
    fn keeps(&self, e: &Entry) -> bool {
        self.app.as_ref().is_none_or(|a| *a == e.trailers.app)
            && self.env.as_ref().is_none_or(|v| *v == e.trailers.env)
            && self.action.is_none_or(|a| a == e.trailers.action)
            && self.since.is_none_or(|s| e.seconds >= s)
    }
}

/// One gantry commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub commit: String,
    /// Committer time, RFC 3339 in UTC.
    pub time: String,
    #[serde(skip)]
    pub seconds: i64,
    /// `Name <email>` of the author.
    pub author: String,
    pub subject: String,
    #[serde(flatten)]
    pub trailers: Trailers,
}

/// The rollback that rejected `image` (`registry/repo@sha256:…`) for `app` in `env`, unless a
/// newer gantry commit of the pair deployed that image again (a forced deploy, a retry). The
/// newest commit naming the image decides.
///
/// # Errors
///
/// When the history cannot be read.
pub fn rejection(
    repo: &gix::Repository,
    rev: &str,
    (app, env): (&str, &str),
    image: &str,
) -> Result<Option<Entry>, AuditError> {
    let filter = Filter {
        app: Some(app.to_owned()),
        env: Some(env.to_owned()),
        ..Filter::default()
    };
    Ok(rejection_in(history(repo, rev, &filter)?, image))
}

/// [`rejection`] over entries already read, newest first, of one app × environment.
#[must_use]
pub fn rejection_in(entries: impl IntoIterator<Item = Entry>, image: &str) -> Option<Entry> {
    // The wanted image is parsed once; a trailer only when its digest is the same.
    let want = image_key(image);
    let same = |trailer: Option<&str>| {
        trailer.is_some_and(|t| match &want {
            Some((name, digest)) => {
                t == image
                    || (t.ends_with(digest.as_str()) && image_key(t).is_some_and(|k| k.0 == *name))
            }
            None => t == image,
        })
    };
    for entry in entries {
        if same(entry.trailers.rejected.as_deref()) {
            return Some(entry);
        }
        if same(entry.trailers.image.as_deref()) {
            return None;
        }
    }
    None
}

/// `(registry/repository, digest)` of a reference pinned to a digest: what names an image
/// whatever tag stands beside the digest (`repo:v2@sha256:…` is `repo@sha256:…`).
fn image_key(reference: &str) -> Option<(String, String)> {
    crate::core::ImageRef::parse(reference)
        .ok()
        .and_then(|r| r.digest().map(|d| (r.name(), d.to_string())))
}

/// Gantry's commits reachable from `rev`, newest first (by committer time).
pub fn history(
    repo: &gix::Repository,
    rev: &str,
    filter: &Filter,
) -> Result<Vec<Entry>, AuditError> {
    let fail = |e: &dyn std::fmt::Display| AuditError::Log {
        path: repo.path().display().to_string(),
        rev: rev.to_string(),
        message: e.to_string(),
    };
    let tip = repo
        .rev_parse_single(rev)
        .map_err(|e| fail(&e))?
        .object()
        .map_err(|e| fail(&e))?
        .peel_to_commit()
        .map_err(|e| fail(&e))?
        .id;
    let sorting = match filter.since {
        // Newest first lets the walk stop at the cut-off instead of reading all history.
        Some(seconds) => gix::revision::walk::Sorting::ByCommitTimeCutoff {
            order: gix::traverse::commit::simple::CommitTimeOrder::NewestFirst,
            seconds,
        },
        None => gix::revision::walk::Sorting::ByCommitTime(
            gix::traverse::commit::simple::CommitTimeOrder::NewestFirst,
        ),
    };
    let walk = repo
        .rev_walk([tip])
        .sorting(sorting)
        .all()
        .map_err(|e| fail(&e))?;
    let mut out = Vec::new();
    for info in walk {
        let info = info.map_err(|e| fail(&e))?;
        let commit = info.object().map_err(|e| fail(&e))?;
        let raw = commit.message_raw().map_err(|e| fail(&e))?;
        let Some(trailers) = Trailers::parse(raw) else {
            continue;
        };
        let author = commit.author().map_err(|e| fail(&e))?;
        let seconds = commit.time().map_err(|e| fail(&e))?.seconds;
        let entry = Entry {
            commit: commit.id.to_string(),
            time: chrono::DateTime::from_timestamp(seconds, 0)
                .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_default(),
            seconds,
            author: format!("{} <{}>", author.name, author.email),
            subject: commit
                .message()
                .map(|m| m.summary().to_string())
                .unwrap_or_default(),
            trailers,
        };
        if filter.keeps(&entry) {
            out.push(entry);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: Action, image: &str, rejected: Option<&str>) -> Entry {
        Entry {
            commit: "c".into(),
            time: String::new(),
            seconds: 0,
            author: String::new(),
            subject: String::new(),
            trailers: Trailers {
                action,
                app: "web".into(),
                env: "dev".into(),
                image: Some(image.into()),
                source: None,
                run: None,
                evidence: None,
                rejected: rejected.map(Into::into),
                forced: None,
            },
        }
    }

    const GOOD: &str = "harbor.example.com/shop/web@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const BAD: &str = "harbor.example.com/shop/web@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn a_rejection_holds_whatever_tag_names_the_digest_until_it_is_deployed_again() {
        let rollback = entry(Action::Rollback, GOOD, Some(BAD));
        let tagged = BAD.replace("web@", "web:v2@");
        assert!(rejection_in([rollback.clone()], BAD).is_some());
        assert!(
            rejection_in([rollback.clone()], &tagged).is_some(),
            "a tag beside the digest changes nothing"
        );
        assert!(rejection_in([rollback.clone()], GOOD).is_none());
        let other_repo = BAD.replace("shop/web", "shop/api");
        assert!(rejection_in([rollback.clone()], &other_repo).is_none());
        // Newest first: a deploy of the digest after the rollback (a retry) ends it.
        let retried = entry(Action::Deploy, &tagged, None);
        assert!(rejection_in([retried, rollback], BAD).is_none());
    }
}

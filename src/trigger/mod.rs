//! Triggers (stage ①): what tells gantry that something changed. It only emits events; the
//! daemon decides what work they start.
//!
//! Input: forge and registry webhooks (HTTP), and pollers over the repo cache. Output:
//! [`TriggerEvent`]s on a bounded channel.

mod payload;
pub mod poll;
mod webhook;

pub use webhook::{DEFAULT_BODY_LIMIT, WebhookConfig, router};

/// Who sent a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Forge {
    Github,
    Gitlab,
    Gitea,
    Harbor,
    /// A CNCF distribution registry's notifications.
    Registry,
    /// The poller, not a webhook.
    Poll,
}

impl std::fmt::Display for Forge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Github => "github",
            Self::Gitlab => "gitlab",
            Self::Gitea => "gitea",
            Self::Harbor => "harbor",
            Self::Registry => "registry",
            Self::Poll => "poll",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerEvent {
    /// A ref of a repository moved.
    RepoChanged {
        from: Forge,
        /// The clone URL the forge reports (https).
        url: String,
        /// Other URLs of the same repository (ssh, web page), for matching against config.
        alt_urls: Vec<String>,
        /// Full ref name, e.g. `refs/heads/main`.
        git_ref: String,
        /// The new tip; all zeros when the ref was deleted.
        after: String,
    },
    /// An image was pushed to the registry (Harbor `PUSH_ARTIFACT`, a distribution
    /// registry's manifest push).
    ImagePushed {
        from: Forge,
        /// `project/name`
        repository: String,
        /// `registry/project/name@sha256:…` or `…:tag`, as the registry reports it.
        resource_url: String,
        digest: String,
        tag: Option<String>,
    },
    /// Someone asked for a sync now (`gantry sync`): a manual sync, which sync windows may
    /// refuse, optionally approving a prune larger than the guard allows.
    SyncRequested {
        app: String,
        env: String,
        allow_large_prune: bool,
    },
}

impl TriggerEvent {
    /// A pushed image as one reference, `registry/repository[:tag]@digest`; `None` for other
    /// events and for a push whose reference or digest does not parse.
    #[must_use]
    pub fn pushed_image(&self) -> Option<crate::core::ImageRef> {
        let Self::ImagePushed {
            resource_url,
            digest,
            tag,
            ..
        } = self
        else {
            return None;
        };
        let at = crate::core::ImageRef::parse(resource_url).ok()?;
        let text = match tag {
            Some(tag) => format!("{}:{tag}@{digest}", at.name()),
            None => format!("{}@{digest}", at.name()),
        };
        crate::core::ImageRef::parse(&text).ok()
    }

    /// Whether this event concerns the repository at `url` (any spelling of it).
    #[must_use]
    pub fn is_about(&self, url: &str) -> bool {
        match self {
            Self::RepoChanged {
                url: u, alt_urls, ..
            } => {
                let want = repo_key(url);
                std::iter::once(u)
                    .chain(alt_urls)
                    .any(|u| repo_key(u) == want)
            }
            Self::ImagePushed { .. } | Self::SyncRequested { .. } => false,
        }
    }
}

/// `host/path` in lower case, without scheme, user-info, port, `.git` or trailing slash, so
/// `git@github.com:Org/Repo.git` and `https://github.com/org/repo` compare equal.
#[must_use]
pub fn repo_key(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    let rest = match url.split_once("://") {
        Some((_, rest)) => rest.to_string(),
        // scp-like `user@host:path`
        None => url.replacen(':', "/", 1),
    };
    let rest = rest.rsplit_once('@').map_or(rest.as_str(), |(_, r)| r);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = host.split(':').next().unwrap_or(host);
    format!("{host}/{}", path.trim_end_matches(".git")).to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_repository_has_many_spellings() {
        let keys: Vec<String> = [
            "https://github.com/Shop/Config.git",
            "git@github.com:shop/config.git",
            "ssh://git@github.com:22/shop/config",
            "https://bot:tok@github.com/shop/config/",
        ]
        .iter()
        .map(|u| repo_key(u))
        .collect();
        assert!(
            keys.iter().all(|k| k == "github.com/shop/config"),
            "{keys:?}"
        );
        assert_ne!(repo_key("https://github.com/shop/config-2"), keys[0]);
    }
}

//! Forge clients (stage ⑧, I/O edge): open, find, update and comment on the pull request (merge
//! request on GitLab) that proposes a promotion.
//!
//! Input: gantry.yaml's `forge:` (kind, web URL, repository, labels) and the token read from its
//! `SecretRef`. Output: [`PullRequest`]s, or a [`ForgeError`] carrying the forge's own message
//! (`Bad credentials`, `Validation Failed: A pull request already exists …`). The token goes
//! in a request header only: it is in no error, log line or URL.

mod gitea;
mod github;
mod gitlab;
mod http;
mod shared;

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::config::{Forge as ForgeConfig, ForgeKind};
use crate::core::secret::Secret;

/// An open pull request (GitHub, Gitea) or merge request (GitLab).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    /// GitHub's and Gitea's number, GitLab's `iid`.
    pub number: u64,
    pub url: String,
    pub title: String,
    pub body: String,
}

/// A pull request to open.
#[derive(Debug, Clone)]
pub struct NewPull<'a> {
    pub title: &'a str,
    pub body: &'a str,
    pub head: &'a str,
    pub base: &'a str,
    pub labels: &'a [String],
}

#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// The forge answered with an error status; `message` is its own words.
    #[error("{forge} answered {method} {path} with {status}: {message}")]
    Api {
        forge: &'static str,
        method: &'static str,
        path: String,
        status: u16,
        message: String,
    },
    #[error("{forge} {method} {path}: {message}")]
    Transport {
        forge: &'static str,
        method: &'static str,
        path: String,
        message: String,
    },
}

impl ForgeError {
    /// A short label for metrics.
    #[must_use]
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Api {
                status: 401 | 403, ..
            } => "unauthorized",
            Self::Api { .. } => "refused",
            Self::Transport { .. } => "unreachable",
        }
    }
}

/// What gantry asks of a forge.
pub trait Forge: Send + Sync {
    fn kind(&self) -> ForgeKind;

    /// The open pull request from `head` into `base`, if there is one.
    fn find_open<'a>(
        &'a self,
        head: &'a str,
        base: &'a str,
    ) -> BoxFuture<'a, Result<Option<PullRequest>, ForgeError>>;

    /// Opens a pull request and labels it.
    fn create<'a>(&'a self, new: &'a NewPull<'a>)
    -> BoxFuture<'a, Result<PullRequest, ForgeError>>;

    /// Replaces the title and body of an open pull request.
    fn update<'a>(
        &'a self,
        number: u64,
        title: &'a str,
        body: &'a str,
    ) -> BoxFuture<'a, Result<(), ForgeError>>;

    /// Adds a comment.
    fn comment<'a>(&'a self, number: u64, body: &'a str) -> BoxFuture<'a, Result<(), ForgeError>>;
}

/// The client for `config`'s forge, authenticating with `token`.
///
/// # Errors
///
/// When the HTTP client cannot be built (no TLS roots).
pub fn client(config: &ForgeConfig, token: Secret) -> Result<Arc<dyn Forge>, ForgeError> {
    let base = config.url.trim_end_matches('/');
    Ok(match config.kind {
        ForgeKind::Github => {
            // github.com's API lives on its own host; GitHub Enterprise serves it under /api/v3.
            let api = if base == "https://github.com" {
                "https://api.github.com".to_owned()
            } else {
                format!("{base}/api/v3")
            };
            Arc::new(github::GitHub::new(
                http::Http::new("github", &api, token)?,
                &config.repository,
            ))
        }
        ForgeKind::Gitlab => Arc::new(gitlab::GitLab::new(
            http::Http::new("gitlab", &format!("{base}/api/v4"), token)?,
            &config.repository,
        )),
        ForgeKind::Gitea => Arc::new(gitea::Gitea::new(
            http::Http::new("gitea", &format!("{base}/api/v1"), token)?,
            &config.repository,
        )),
    })
}

/// The forge token `source` names: a file, an environment variable, or the `token` entry of
/// a Kubernetes Secret in `namespace`. `Err` says where it looked, never the token.
///
/// # Errors
///
/// The source cannot be read, or the token is empty.
pub async fn token(
    source: &crate::core::secret::SecretRef,
    kube: Option<&kube::Client>,
    namespace: &str,
) -> Result<Secret, String> {
    use crate::core::secret::SecretRef;
    let text = match source {
        SecretRef::Secret(name) => {
            let client = kube.ok_or_else(|| {
                format!("forge.token: Secret {name} needs a cluster connection; use file: or env:")
            })?;
            let api: kube::Api<k8s_openapi::api::core::v1::Secret> =
                kube::Api::namespaced(client.clone(), namespace);
            let secret = api
                .get(name)
                .await
                .map_err(|e| format!("forge.token: Secret {namespace}/{name}: {e}"))?;
            let value = secret
                .data
                .and_then(|mut d| d.remove("token"))
                .ok_or_else(|| {
                    format!("forge.token: Secret {namespace}/{name} has no `token` entry")
                })?;
            String::from_utf8(value.0).map_err(|_| {
                format!("forge.token: Secret {namespace}/{name}: `token` is not UTF-8")
            })?
        }
        other => other
            .read_local()
            .map_err(|e| format!("forge.token: {e}"))?,
    };
    let token = text.trim();
    if token.is_empty() {
        return Err("forge.token: the token is empty".into());
    }
    Ok(Secret::new(token))
}

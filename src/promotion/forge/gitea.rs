//! Gitea's pull request API: `GET|POST /repos/{owner}/{repo}/pulls`, `PATCH …/pulls/{index}`,
//! and the issue endpoints for labels (by id, looked up by name) and comments.

use futures::future::BoxFuture;
use reqwest::Method;
use serde_json::json;

use super::http::Http;
use super::shared::{self, pull};
use super::{Forge, ForgeError, NewPull, PullRequest};
use crate::config::ForgeKind;

/// Pages of open pull requests read looking for gantry's branch (50 each).
const MAX_PAGES: u32 = 20;

pub(super) struct Gitea {
    http: Http,
    repo: String,
}

impl Gitea {
    pub(super) fn new(http: Http, repository: &str) -> Self {
        Self {
            http,
            repo: repository.to_owned(),
        }
    }

    /// Label ids of `names` (Gitea labels a pull request by id); names the repository lacks
    /// are left out with a warning.
    async fn label_ids(&self, names: &[String]) -> Result<Vec<u64>, ForgeError> {
        let path = format!("/repos/{}/labels", self.repo);
        let all = self
            .http
            .send(Method::GET, &path, &[("limit", "50".to_owned())], None)
            .await?;
        let mut ids = Vec::new();
        for name in names {
            let found = all
                .as_array()
                .into_iter()
                .flatten()
                .find(|l| l["name"].as_str() == Some(name.as_str()))
                .and_then(|l| l["id"].as_u64());
            match found {
                Some(id) => ids.push(id),
                None => {
                    tracing::warn!(label = %name, repo = %self.repo, "Gitea has no such label; not set");
                }
            }
        }
        Ok(ids)
    }
}

impl Forge for Gitea {
    fn kind(&self) -> ForgeKind {
        ForgeKind::Gitea
    }

    fn find_open<'a>(
        &'a self,
        head: &'a str,
        base: &'a str,
    ) -> BoxFuture<'a, Result<Option<PullRequest>, ForgeError>> {
        Box::pin(async move {
            let path = format!("/repos/{}/pulls", self.repo);
            for page in 1..=MAX_PAGES {
                let query = [
                    ("state", "open".to_owned()),
                    ("limit", "50".to_owned()),
                    ("page", page.to_string()),
                ];
                let found = self.http.send(Method::GET, &path, &query, None).await?;
                let items = found.as_array().cloned().unwrap_or_default();
                if let Some(p) = items.iter().find(|p| {
                    p["head"]["ref"].as_str() == Some(head)
                        && p["base"]["ref"].as_str() == Some(base)
                }) {
                    return Ok(Some(pull(p)));
                }
                if items.len() < 50 {
                    break;
                }
            }
            Ok(None)
        })
    }

    fn create<'a>(
        &'a self,
        new: &'a NewPull<'a>,
    ) -> BoxFuture<'a, Result<PullRequest, ForgeError>> {
        Box::pin(async move {
            let created = shared::open(&self.http, &self.repo, new).await?;
            if !new.labels.is_empty() {
                let ids = self.label_ids(new.labels).await?;
                if !ids.is_empty() {
                    let path = format!("/repos/{}/issues/{}/labels", self.repo, created.number);
                    self.http
                        .send(Method::POST, &path, &[], Some(&json!({"labels": ids})))
                        .await?;
                }
            }
            Ok(created)
        })
    }

    fn update<'a>(
        &'a self,
        number: u64,
        title: &'a str,
        body: &'a str,
    ) -> BoxFuture<'a, Result<(), ForgeError>> {
        Box::pin(shared::edit(&self.http, &self.repo, number, (title, body)))
    }

    fn comment<'a>(&'a self, number: u64, body: &'a str) -> BoxFuture<'a, Result<(), ForgeError>> {
        Box::pin(shared::comment(&self.http, &self.repo, number, body))
    }
}

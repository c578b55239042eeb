//! GitHub's (and GitHub Enterprise's) pull request API: `GET|POST /repos/{owner}/{repo}/pulls`,
//! `PATCH …/pulls/{number}`, and the issue endpoints for labels and comments.

use futures::future::BoxFuture;
use reqwest::Method;
use serde_json::json;

use super::http::Http;
use super::shared::{self, pull};
use super::{Forge, ForgeError, NewPull, PullRequest};
use crate::config::ForgeKind;

pub(super) struct GitHub {
    http: Http,
    /// `owner/name`.
    repo: String,
    owner: String,
}

impl GitHub {
    pub(super) fn new(http: Http, repository: &str) -> Self {
        Self {
            http,
            repo: repository.to_owned(),
            owner: repository.split('/').next().unwrap_or_default().to_owned(),
        }
    }
}

impl Forge for GitHub {
    fn kind(&self) -> ForgeKind {
        ForgeKind::Github
    }

    fn find_open<'a>(
        &'a self,
        head: &'a str,
        base: &'a str,
    ) -> BoxFuture<'a, Result<Option<PullRequest>, ForgeError>> {
        Box::pin(async move {
            let query = [
                ("state", "open".to_owned()),
                ("head", format!("{}:{head}", self.owner)),
                ("base", base.to_owned()),
            ];
            let path = format!("/repos/{}/pulls", self.repo);
            let found = self.http.send(Method::GET, &path, &query, None).await?;
            Ok(found.as_array().and_then(|a| a.first()).map(pull))
        })
    }

    fn create<'a>(
        &'a self,
        new: &'a NewPull<'a>,
    ) -> BoxFuture<'a, Result<PullRequest, ForgeError>> {
        Box::pin(async move {
            let created = shared::open(&self.http, &self.repo, new).await?;
            if !new.labels.is_empty() {
                let path = format!("/repos/{}/issues/{}/labels", self.repo, created.number);
                let labels = json!({"labels": new.labels});
                self.http
                    .send(Method::POST, &path, &[], Some(&labels))
                    .await?;
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

//! GitHub's (and GitHub Enterprise's) pull request API: `GET|POST /repos/{owner}/{repo}/pulls`,
//! `PATCH …/pulls/{number}`, and the issue endpoints for labels and comments.

use futures::future::BoxFuture;
use reqwest::Method;
use serde_json::{Value, json};

use super::http::Http;
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

fn pull(v: &Value) -> PullRequest {
    PullRequest {
        number: v["number"].as_u64().unwrap_or_default(),
        url: v["html_url"].as_str().unwrap_or_default().to_owned(),
        title: v["title"].as_str().unwrap_or_default().to_owned(),
        body: v["body"].as_str().unwrap_or_default().to_owned(),
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
            let body =
                json!({"title": new.title, "head": new.head, "base": new.base, "body": new.body});
            let path = format!("/repos/{}/pulls", self.repo);
            let created = pull(
                &self
                    .http
                    .send(Method::POST, &path, &[], Some(&body))
                    .await?,
            );
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
        Box::pin(async move {
            let path = format!("/repos/{}/pulls/{number}", self.repo);
            let edit = json!({"title": title, "body": body});
            self.http
                .send(Method::PATCH, &path, &[], Some(&edit))
                .await?;
            Ok(())
        })
    }

    fn comment<'a>(&'a self, number: u64, body: &'a str) -> BoxFuture<'a, Result<(), ForgeError>> {
        Box::pin(async move {
            let path = format!("/repos/{}/issues/{number}/comments", self.repo);
            self.http
                .send(Method::POST, &path, &[], Some(&json!({"body": body})))
                .await?;
            Ok(())
        })
    }
}

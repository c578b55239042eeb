//! GitLab's merge request API: `GET|POST /projects/{id}/merge_requests`, `PUT
//! …/merge_requests/{iid}`, `POST …/merge_requests/{iid}/notes`; the project id is its
//! URL-encoded path.

use futures::future::BoxFuture;
use reqwest::Method;
use serde_json::{Value, json};

use super::http::{Http, segment};
use super::{Forge, ForgeError, NewPull, PullRequest};
use crate::config::ForgeKind;

pub(super) struct GitLab {
    http: Http,
    /// `/projects/<encoded path>`.
    project: String,
}

impl GitLab {
    pub(super) fn new(http: Http, repository: &str) -> Self {
        Self {
            http,
            project: format!("/projects/{}", segment(repository)),
        }
    }
}

fn merge_request(v: &Value) -> PullRequest {
    PullRequest {
        number: v["iid"].as_u64().unwrap_or_default(),
        url: v["web_url"].as_str().unwrap_or_default().to_owned(),
        title: v["title"].as_str().unwrap_or_default().to_owned(),
        body: v["description"].as_str().unwrap_or_default().to_owned(),
    }
}

impl Forge for GitLab {
    fn kind(&self) -> ForgeKind {
        ForgeKind::Gitlab
    }

    fn find_open<'a>(
        &'a self,
        head: &'a str,
        base: &'a str,
    ) -> BoxFuture<'a, Result<Option<PullRequest>, ForgeError>> {
        Box::pin(async move {
            let query = [
                ("state", "opened".to_owned()),
                ("source_branch", head.to_owned()),
                ("target_branch", base.to_owned()),
            ];
            let path = format!("{}/merge_requests", self.project);
            let found = self.http.send(Method::GET, &path, &query, None).await?;
            Ok(found.as_array().and_then(|a| a.first()).map(merge_request))
        })
    }

    fn create<'a>(
        &'a self,
        new: &'a NewPull<'a>,
    ) -> BoxFuture<'a, Result<PullRequest, ForgeError>> {
        Box::pin(async move {
            let mut body = json!({
                "source_branch": new.head,
                "target_branch": new.base,
                "title": new.title,
                "description": new.body,
                // The branch is gantry's: gone once merged.
                "remove_source_branch": true,
            });
            if !new.labels.is_empty() {
                body["labels"] = Value::from(new.labels.join(","));
            }
            let path = format!("{}/merge_requests", self.project);
            Ok(merge_request(
                &self
                    .http
                    .send(Method::POST, &path, &[], Some(&body))
                    .await?,
            ))
        })
    }

    fn update<'a>(
        &'a self,
        number: u64,
        title: &'a str,
        body: &'a str,
    ) -> BoxFuture<'a, Result<(), ForgeError>> {
        Box::pin(async move {
            let path = format!("{}/merge_requests/{number}", self.project);
            let put = json!({"title": title, "description": body});
            self.http.send(Method::PUT, &path, &[], Some(&put)).await?;
            Ok(())
        })
    }

    fn comment<'a>(&'a self, number: u64, body: &'a str) -> BoxFuture<'a, Result<(), ForgeError>> {
        Box::pin(async move {
            let path = format!("{}/merge_requests/{number}/notes", self.project);
            self.http
                .send(Method::POST, &path, &[], Some(&json!({"body": body})))
                .await?;
            Ok(())
        })
    }
}

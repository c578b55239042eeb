//! What Gitea's API copies from GitHub's: a pull request's JSON, opening one, editing its title
//! and body, and commenting on it through its issue.

use reqwest::Method;
use serde_json::{Value, json};

use super::http::Http;
use super::{ForgeError, NewPull, PullRequest};

pub(super) fn pull(v: &Value) -> PullRequest {
    PullRequest {
        number: v["number"].as_u64().unwrap_or_default(),
        url: v["html_url"].as_str().unwrap_or_default().to_owned(),
        title: v["title"].as_str().unwrap_or_default().to_owned(),
        body: v["body"].as_str().unwrap_or_default().to_owned(),
    }
}

/// `POST /repos/{repo}/pulls`.
pub(super) async fn open(
    http: &Http,
    repo: &str,
    new: &NewPull<'_>,
) -> Result<PullRequest, ForgeError> {
    let body = json!({"title": new.title, "head": new.head, "base": new.base, "body": new.body});
    let path = format!("/repos/{repo}/pulls");
    Ok(pull(
        &http.send(Method::POST, &path, &[], Some(&body)).await?,
    ))
}

/// `PATCH /repos/{repo}/pulls/{number}`.
pub(super) async fn edit(
    http: &Http,
    repo: &str,
    number: u64,
    (title, body): (&str, &str),
) -> Result<(), ForgeError> {
    let path = format!("/repos/{repo}/pulls/{number}");
    let edit = json!({"title": title, "body": body});
    http.send(Method::PATCH, &path, &[], Some(&edit)).await?;
    Ok(())
}

/// `POST /repos/{repo}/issues/{number}/comments`.
pub(super) async fn comment(
    http: &Http,
    repo: &str,
    number: u64,
    body: &str,
) -> Result<(), ForgeError> {
    let path = format!("/repos/{repo}/issues/{number}/comments");
    http.send(Method::POST, &path, &[], Some(&json!({"body": body})))
        .await?;
    Ok(())
}

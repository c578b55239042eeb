//! Webhook payloads, reduced to the fields gantry reads; everything else is ignored.
//!
//! Input: a verified JSON body. Output: a [`TriggerEvent`]. Field names follow each
//! forge's documentation: GitHub `push`, GitLab `Push Hook`, Gitea `push`, Harbor
//! `PUSH_ARTIFACT` (default payload format).

use serde::Deserialize;

use super::{Forge, TriggerEvent};

/// GitHub and Gitea share the push payload's shape (Gitea copied GitHub's).
#[derive(Debug, Deserialize)]
pub(super) struct HubPush {
    #[serde(rename = "ref")]
    git_ref: String,
    after: String,
    repository: HubRepository,
}

// Field names are the forge's.
#[allow(clippy::struct_field_names)]
#[derive(Debug, Deserialize)]
struct HubRepository {
    clone_url: String,
    #[serde(default)]
    ssh_url: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
}

impl HubPush {
    pub(super) fn into_event(self, from: Forge) -> TriggerEvent {
        let r = self.repository;
        TriggerEvent::RepoChanged {
            from,
            url: r.clone_url,
            alt_urls: r.ssh_url.into_iter().chain(r.html_url).collect(),
            git_ref: self.git_ref,
            after: self.after,
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct GitlabPush {
    object_kind: String,
    #[serde(rename = "ref")]
    git_ref: String,
    after: String,
    project: GitlabProject,
}

#[allow(clippy::struct_field_names)]
#[derive(Debug, Deserialize)]
struct GitlabProject {
    git_http_url: String,
    #[serde(default)]
    git_ssh_url: Option<String>,
    #[serde(default)]
    web_url: Option<String>,
}

impl GitlabPush {
    /// `None` for other object kinds (tag pushes arrive as `tag_push`).
    pub(super) fn into_event(self) -> Option<TriggerEvent> {
        (self.object_kind == "push").then(|| TriggerEvent::RepoChanged {
            from: Forge::Gitlab,
            url: self.project.git_http_url,
            alt_urls: self
                .project
                .git_ssh_url
                .into_iter()
                .chain(self.project.web_url)
                .collect(),
            git_ref: self.git_ref,
            after: self.after,
        })
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct HarborEvent {
    #[serde(rename = "type")]
    kind: String,
    event_data: HarborData,
}

#[derive(Debug, Deserialize)]
struct HarborData {
    #[serde(default)]
    resources: Vec<HarborResource>,
    repository: HarborRepository,
}

#[derive(Debug, Deserialize)]
struct HarborResource {
    digest: String,
    #[serde(default)]
    tag: Option<String>,
    resource_url: String,
}

#[derive(Debug, Deserialize)]
struct HarborRepository {
    repo_full_name: String,
}

impl HarborEvent {
    /// One event per pushed artifact; none for other event types.
    pub(super) fn into_events(self) -> Vec<TriggerEvent> {
        if self.kind != "PUSH_ARTIFACT" {
            return Vec::new();
        }
        let repository = self.event_data.repository.repo_full_name;
        self.event_data
            .resources
            .into_iter()
            .map(|r| TriggerEvent::ImagePushed {
                repository: repository.clone(),
                resource_url: r.resource_url,
                // Harbor reports an untagged push with the digest in the tag field.
                tag: r.tag.filter(|t| !t.is_empty() && !t.starts_with("sha256:")),
                digest: r.digest,
            })
            .collect()
    }
}

//! Webhook payloads, reduced to the fields gantry reads; everything else is ignored.
//!
//! Input: a verified JSON body. Output: a [`TriggerEvent`]. Field names follow each
//! forge's documentation: GitHub `push`, GitLab `Push Hook`, Gitea `push`, Harbor
//! `PUSH_ARTIFACT` (default payload format), and the CNCF distribution registry's
//! notification envelope (`application/vnd.docker.distribution.events.v1+json`).

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
                from: Forge::Harbor,
                repository: repository.clone(),
                resource_url: r.resource_url,
                // Harbor reports an untagged push with the digest in the tag field.
                tag: r.tag.filter(|t| !t.is_empty() && !t.starts_with("sha256:")),
                digest: r.digest,
            })
            .collect()
    }
}

/// The distribution registry's notification envelope: several events per delivery.
#[derive(Debug, Deserialize)]
pub(super) struct RegistryEnvelope {
    #[serde(default)]
    events: Vec<RegistryEvent>,
}

#[derive(Debug, Deserialize)]
struct RegistryEvent {
    action: String,
    target: RegistryTarget,
    #[serde(default)]
    request: Option<RegistryRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegistryTarget {
    #[serde(default)]
    media_type: String,
    #[serde(default)]
    digest: String,
    repository: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    tag: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RegistryRequest {
    #[serde(default)]
    host: Option<String>,
}

impl RegistryEnvelope {
    /// One event per pushed manifest (an image or an index); blob uploads, pulls and deletes
    /// are none.
    pub(super) fn into_events(self) -> Vec<TriggerEvent> {
        self.events
            .into_iter()
            .filter(|e| e.action == "push" && is_manifest(&e.target.media_type))
            .filter_map(|e| {
                // The host the client pushed to is the one image references name.
                let host = e
                    .request
                    .and_then(|r| r.host)
                    .filter(|h| !h.is_empty())
                    .or_else(|| e.target.url.as_deref().and_then(url_host))?;
                let t = e.target;
                let tag = t.tag.filter(|t| !t.is_empty());
                Some(TriggerEvent::ImagePushed {
                    from: Forge::Registry,
                    resource_url: match &tag {
                        Some(tag) => format!("{host}/{}:{tag}", t.repository),
                        None => format!("{host}/{}@{}", t.repository, t.digest),
                    },
                    repository: t.repository,
                    digest: t.digest,
                    tag,
                })
            })
            .collect()
    }
}

fn is_manifest(media_type: &str) -> bool {
    media_type.contains("manifest") || media_type.contains("image.index")
}

/// `host[:port]` of `scheme://host[:port]/…`.
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let host = rest.split('/').next()?;
    (!host.is_empty()).then(|| host.to_owned())
}

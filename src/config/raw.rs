//! Raw serde types for `gantry.yaml` (stage: config).
//!
//! Input: YAML text via [`super::diag::parse`]. Output: these types, every node wrapped in
//! `Spanned` so that validation can point at it. They mirror the file one to one and reject
//! unknown keys; meaning (defaults, references, parsing of durations and crons) is given to them
//! in `validate`.

use serde::Deserialize;
use serde_saphyr::Spanned;

pub type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawConfig {
    pub api_version: S<String>,
    pub kind: S<String>,
    #[serde(default)]
    pub registry: Option<S<RawRegistry>>,
    pub environments: Vec<S<RawEnvironment>>,
    #[serde(default)]
    pub apps: Vec<S<RawApp>>,
    #[serde(default)]
    pub rollouts: Vec<S<RawRollout>>,
    #[serde(default)]
    pub analysis_templates: Vec<S<RawTemplate>>,
    /// Where analysis templates without an address query.
    #[serde(default)]
    pub prometheus: Option<S<RawPrometheusDefault>>,
    #[serde(default)]
    pub policies: Vec<S<String>>,
    #[serde(default)]
    pub commit_author: Option<S<RawCommitAuthor>>,
    /// Where promotion pull requests are opened.
    #[serde(default)]
    pub forge: Option<S<RawForge>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawForge {
    pub kind: S<RawForgeKind>,
    #[serde(default)]
    pub url: Option<S<String>>,
    pub repository: S<String>,
    pub token: S<RawSecretRef>,
    #[serde(default)]
    pub labels: Vec<S<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawForgeKind {
    Github,
    Gitlab,
    Gitea,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCommitAuthor {
    pub name: S<String>,
    pub email: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawRegistry {
    pub url: S<String>,
    #[serde(default)]
    pub project: Option<S<String>>,
    #[serde(default)]
    pub credentials: Option<S<RawSecretRef>>,
}

/// Where a secret lives. The secret itself never appears in a config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSecretRef {
    #[serde(default)]
    pub secret: Option<S<String>>,
    #[serde(default)]
    pub file: Option<S<String>>,
    #[serde(default)]
    pub env: Option<S<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawPromotionMode {
    Auto,
    Pr,
    Manual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawWindowKind {
    Allow,
    Deny,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawEnvironment {
    pub name: S<String>,
    #[serde(default)]
    pub cluster: Option<S<String>>,
    #[serde(default)]
    pub namespace: Option<S<String>>,
    #[serde(default)]
    pub promote_from: Option<S<String>>,
    #[serde(default)]
    pub promotion: Option<S<RawPromotionMode>>,
    #[serde(default)]
    pub sync_windows: Vec<S<RawSyncWindow>>,
    #[serde(default)]
    pub soak_time: Option<S<String>>,
}

/// Argo CD's sync window shape: a cron start, a length, allow or deny.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSyncWindow {
    pub kind: S<RawWindowKind>,
    pub schedule: S<String>,
    pub duration: S<String>,
    #[serde(default)]
    pub manual_sync: Option<S<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawApp {
    pub name: S<String>,
    #[serde(default)]
    pub source: Option<S<RawSource>>,
    #[serde(default)]
    pub pipeline: Option<S<String>>,
    pub image: S<String>,
    #[serde(default)]
    pub overlay: Option<S<String>>,
    #[serde(default)]
    pub rollout: Option<S<String>>,
    pub environments: S<Vec<S<String>>>,
    #[serde(default)]
    pub allow_large_prune: Option<S<bool>>,
    /// Deploy pushed images of `image` to an environment (opt-in).
    #[serde(default)]
    pub image_update: Option<S<RawImageUpdate>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawImageUpdate {
    #[serde(default)]
    pub environment: Option<S<String>>,
    #[serde(default)]
    pub tags: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawSource {
    pub repo: S<String>,
    #[serde(default)]
    pub branch: Option<S<String>>,
}

pub use super::raw_rollout::*;

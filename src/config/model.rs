//! Validated settings (stage: config).
//!
//! Input: nothing but what `validate` builds. Output: the settings every later stage reads.
//! Unlike the raw types these hold meaning: references are known to resolve, durations and
//! crons are parsed, defaults are filled in, environments are in promotion order.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::policy::Policy;
pub use crate::core::secret::{SecretRef, secret_path};

/// Where the config repo keeps an app's overlay unless the app says otherwise.
pub const DEFAULT_OVERLAY_PATTERN: &str = "apps/{app}/overlays/{env}";
/// Branch a source repo is watched on unless the app says otherwise.
pub const DEFAULT_BRANCH: &str = "main";

#[derive(Debug, Clone)]
pub struct Config {
    /// The config repo checkout (or tree) the settings were read from.
    pub root: PathBuf,
    pub registry: Option<Registry>,
    /// Roots of the promotion chain first, then each environment after the one it promotes from.
    pub environments: Vec<Environment>,
    pub apps: Vec<App>,
    pub rollouts: Vec<RolloutStrategy>,
    /// The user's analysis templates, then the built-in ones.
    pub analysis_templates: Vec<AnalysisTemplate>,
    pub policies: Vec<Policy>,
    /// Author and committer of gantry's commits.
    pub commit_author: CommitAuthor,
    /// Where promotion pull requests are opened; without it a `pr` promotion pushes its
    /// branch and says how to open the pull request.
    pub forge: Option<Forge>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForgeKind {
    Github,
    Gitlab,
    Gitea,
}

impl ForgeKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Gitlab => "gitlab",
            Self::Gitea => "gitea",
        }
    }
}

/// The forge hosting the config repo, for promotion pull requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forge {
    pub kind: ForgeKind,
    /// The forge's web address (`https://github.com`, `https://gitlab.example.com`); the API
    /// address follows from it.
    pub url: String,
    /// `owner/name` (GitHub, Gitea) or the project's full path (GitLab).
    pub repository: String,
    pub token: SecretRef,
    pub labels: Vec<String>,
}

/// Who gantry's commits are by; `gantry <gantry@localhost>` unless gantry.yaml says otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitAuthor {
    pub name: String,
    pub email: String,
}

impl Default for CommitAuthor {
    fn default() -> Self {
        Self {
            name: "gantry".into(),
            email: "gantry@localhost".into(),
        }
    }
}

impl Config {
    #[must_use]
    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.name == name)
    }

    #[must_use]
    pub fn app(&self, name: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    pub url: String,
    pub project: Option<String>,
    pub credentials: Option<SecretRef>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cluster {
    /// The service account gantry runs under.
    InCluster,
    /// A kubeconfig context.
    Context(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromotionMode {
    /// gantry commits the promotion itself once gates pass.
    Auto,
    /// gantry opens a pull request; a human merges it.
    Pr,
    /// gantry only reports that a promotion is possible.
    Manual,
}

impl PromotionMode {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Pr => "pr",
            Self::Manual => "manual",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Environment {
    pub name: String,
    pub cluster: Cluster,
    pub namespace: String,
    pub promote_from: Option<String>,
    pub promotion: PromotionMode,
    pub sync_windows: Vec<SyncWindow>,
    pub soak_time: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    Allow,
    Deny,
}

/// Argo CD's sync window: from each `schedule` start (UTC) for `duration`, automatic syncs are
/// allowed (`allow`) or refused (`deny`); `manual_sync` lets a manual `gantry sync` through.
#[derive(Debug, Clone)]
pub struct SyncWindow {
    pub kind: WindowKind,
    pub schedule: croner::Cron,
    pub duration: Duration,
    pub manual_sync: bool,
}

#[derive(Debug, Clone)]
pub struct App {
    pub name: String,
    pub source: Option<Source>,
    pub pipeline: Option<PathBuf>,
    /// Repository part of the image reference, without tag or digest: gantry sets the digest.
    pub image: String,
    pub overlay_pattern: String,
    pub rollout: Option<String>,
    pub environments: Vec<String>,
    /// Lets every sync of this app prune more than the prune guard's share (default off: a
    /// larger prune is held until approved).
    pub allow_large_prune: bool,
    /// Pushed images of `image` that gantry deploys by itself; `None`: only other stages and
    /// people deploy this app.
    pub image_update: Option<ImageUpdate>,
}

/// Which pushes of an app's image become deploys, and where.
#[derive(Debug, Clone)]
pub struct ImageUpdate {
    /// The environment a pushed image goes to: the one named, else the app's first in
    /// promotion order. Promotions carry it on from there.
    pub environment: String,
    /// The tag globs as written (empty: any tag).
    pub tags: Vec<String>,
    /// `tags`, compiled.
    pub matcher: globset::GlobSet,
}

/// Whether `tag` is one cosign and other tools push beside an image (`sha256-<hex>.sig`,
/// `.att`, `.sbom`): never an image to run.
#[must_use]
pub fn is_accessory_tag(tag: &str) -> bool {
    tag.starts_with("sha256-")
}

impl ImageUpdate {
    /// Whether a push tagged `tag` is an update: a tag the globs accept, never an accessory's.
    #[must_use]
    pub fn accepts(&self, tag: &str) -> bool {
        !is_accessory_tag(tag) && (self.tags.is_empty() || self.matcher.is_match(tag))
    }
}

impl App {
    /// The overlay directory of this app in `env`, relative to the config repo root.
    #[must_use]
    pub fn overlay_dir(&self, env: &str) -> PathBuf {
        overlay_dir(&self.overlay_pattern, &self.name, env)
    }
}

pub(crate) fn overlay_dir(pattern: &str, app: &str, env: &str) -> PathBuf {
    Path::new(&pattern.replace("{app}", app).replace("{env}", env)).to_path_buf()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub repo: String,
    pub branch: String,
}

pub use super::rollout_model::*;

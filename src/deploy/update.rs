//! Image updates (stage ③ → ④): which apps deploy a pushed image, and where. Pure.
//!
//! Input: the validated config and one push a registry reported (its repository, tag and
//! digest). Output: one [`Update`] per app whose `image` is that repository and whose
//! `imageUpdate` accepts the tag, each turned into a [`DeployRequest`] for its environment;
//! or why the push updates nothing. The deploy itself refuses a digest a rollback rejected
//! there, so a bad image pushed again stays out.

use crate::audit::Action;
use crate::config::Config;
use crate::core::ImageRef;

use super::{DeployRequest, Target};

/// An image a registry reported pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// `registry/repository:tag@digest` as far as the registry said.
    pub image: ImageRef,
    /// Who reported it (`harbor`, `registry`), for the commit's evidence.
    pub via: String,
}

/// One app × environment that deploys a pushed image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub app: String,
    pub env: String,
    /// The app's image at the pushed digest (no tag: `Gantry-Image` and rejections name
    /// images by digest).
    pub image: ImageRef,
    pub tag: String,
    pub via: String,
}

/// Why a push of an app's image deploys nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skipped {
    /// The app does not take image updates.
    NotEnabled { app: String },
    /// Pushed without a tag (by digest), which names no release.
    Untagged { app: String },
    /// The tag is one cosign and other tools push beside an image (`sha256-….sig`).
    Accessory { app: String, tag: String },
    /// The tag is outside the app's `imageUpdate.tags`.
    Tag { app: String, tag: String },
    /// The registry reported no digest.
    NoDigest { app: String },
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotEnabled { app } => write!(f, "{app}: imageUpdate is not set"),
            Self::Untagged { app } => write!(f, "{app}: pushed without a tag"),
            Self::Accessory { app, tag } => {
                write!(
                    f,
                    "{app}: tag {tag:?} is a signature or attestation, not an image"
                )
            }
            Self::Tag { app, tag } => {
                write!(f, "{app}: tag {tag:?} is not one imageUpdate.tags accepts")
            }
            Self::NoDigest { app } => write!(f, "{app}: the registry reported no digest"),
        }
    }
}

/// Same registry (host case-insensitive) and repository.
fn same_repository(a: &ImageRef, b: &ImageRef) -> bool {
    a.registry().eq_ignore_ascii_case(b.registry()) && a.repository() == b.repository()
}

/// The updates `pushed` makes under `config`, and the apps of its repository it skips.
#[must_use]
pub fn plan(config: &Config, pushed: &Pushed) -> (Vec<Update>, Vec<Skipped>) {
    let (mut updates, mut skipped) = (Vec::new(), Vec::new());
    for app in &config.apps {
        let Ok(image) = ImageRef::parse(&app.image) else {
            continue;
        };
        if !same_repository(&image, &pushed.image) {
            continue;
        }
        let name = app.name.clone();
        let Some(rule) = &app.image_update else {
            skipped.push(Skipped::NotEnabled { app: name });
            continue;
        };
        let Some(tag) = pushed.image.tag() else {
            skipped.push(Skipped::Untagged { app: name });
            continue;
        };
        if !rule.accepts(tag) {
            let tag = tag.to_owned();
            skipped.push(if crate::config::model::is_accessory_tag(&tag) {
                Skipped::Accessory { app: name, tag }
            } else {
                Skipped::Tag { app: name, tag }
            });
            continue;
        }
        let Some(digest) = pushed.image.digest() else {
            skipped.push(Skipped::NoDigest { app: name });
            continue;
        };
        updates.push(Update {
            app: name,
            env: rule.environment.clone(),
            image: image.with_digest(digest.clone()),
            tag: tag.to_owned(),
            via: pushed.via.clone(),
        });
    }
    (updates, skipped)
}

impl Update {
    /// The deploy this update makes: `Gantry-Run: image-update`, the tag and the reporter as
    /// evidence. Never forced: a digest a rollback rejected stays refused.
    #[must_use]
    pub fn request(&self) -> DeployRequest {
        DeployRequest {
            app: self.app.clone(),
            env: self.env.clone(),
            image: self.image.clone(),
            action: Action::Deploy,
            source: None,
            run: Some("image-update".into()),
            evidence: vec![
                ("tag".into(), self.tag.clone()),
                ("pushed".into(), self.via.clone()),
            ],
            rejects: None,
            force: false,
            skipped: None,
            body: Some(format!(
                "Image update: {}:{} was pushed (reported by {}).",
                self.image.name(),
                self.tag,
                self.via
            )),
        }
    }
}

impl Target {
    /// Where commits for `app` in `env` go under `config`: its overlay there, on `branch`.
    #[must_use]
    pub fn of(config: &Config, app: &crate::config::model::App, env: &str, branch: &str) -> Self {
        Self {
            branch: branch.to_owned(),
            overlay: app.overlay_dir(env),
            image_name: app.image.clone(),
            identity: crate::git::Identity::from(&config.commit_author),
        }
    }
}

//! Deploy (stage ④): put an image digest into an app's environment overlay, as one commit.
//!
//! Input: a [`DeployRequest`] (app, environment, image with digest, action and evidence) and
//! the config repo's mirror. Output: one commit with gantry's trailers on the config branch,
//! made in the object database (no checkout) and pushed with rebase-and-retry; or
//! [`Outcome::Unchanged`] when the overlay already says so. The edit runs again on every newer
//! tip, so the same request twice — or a retry after a crash between commit and push — makes
//! one commit. Before committing, the edited overlay is rendered: an edit that breaks it is
//! refused and nothing is pushed. Image updates, pipelines, rollbacks, promotions and the CLI
//! all deploy through here.

mod plan;
mod propose;
pub mod update;

pub use plan::{diff, edit, image_spec};
pub use propose::{Proposal, propose};

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::audit::{Action, Trailers};
use crate::core::ImageRef;
use crate::core::fs::{Fs, KUSTOMIZATION_FILES};
use crate::git::{CommitOutcome, CommitRequest, GitError, Identity, Mirror, TreeEdit};

/// What to deploy where, and why.
#[derive(Debug, Clone)]
pub struct DeployRequest {
    pub app: String,
    pub env: String,
    /// Must carry a digest: the digest tested is the digest deployed.
    pub image: ImageRef,
    pub action: Action,
    /// `<repo>@<sha>` the image was built from.
    pub source: Option<String>,
    /// The pipeline run, rollout or promotion asking.
    pub run: Option<String>,
    /// `key=value` pairs, written space-separated in `Gantry-Evidence`.
    pub evidence: Vec<(String, String)>,
    /// A rollback's failed image, written as `Gantry-Rejected`: refused here from now on.
    pub rejects: Option<ImageRef>,
    /// Deploy even an image a rollback rejected in this environment (said in `Gantry-Forced`).
    pub force: bool,
    /// What else the caller skipped to make this request (a forced promotion's closed gates),
    /// written in `Gantry-Forced`.
    pub skipped: Option<String>,
    /// Paragraphs after the subject (a rollback's measurements).
    pub body: Option<String>,
}

/// Where the request lands: read from gantry.yaml by the caller.
#[derive(Debug, Clone)]
pub struct Target {
    /// The config branch.
    pub branch: String,
    /// The app's overlay directory in `env`, repo-relative.
    pub overlay: PathBuf,
    /// The `images:` name gantry manages for the app (gantry.yaml's `image`).
    pub image_name: String,
    pub identity: Identity,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Committed and pushed.
    Committed { commit: String, diff: String },
    /// The overlay already holds this image; nothing was committed.
    Unchanged,
    /// `dry_run`: what would be committed; nothing was.
    Planned { diff: String },
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("{image}: a deploy needs a digest (resolve the tag first)")]
    NoDigest { image: String },
    #[error("{0}")]
    Overlay(String),
    #[error("the edited overlay does not render, nothing was pushed: {0}")]
    Render(String),
    #[error(
        "{image} was rejected in {env} by rollback {commit} ({subject}){evidence}; deploy it anyway with --force"
    )]
    Rejected {
        image: String,
        env: String,
        commit: String,
        subject: String,
        evidence: String,
    },
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    History(#[from] crate::audit::AuditError),
}

impl DeployError {
    /// A short label for metrics (`gantry_deploys_total{result="failed",reason=…}`).
    #[must_use]
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::NoDigest { .. } => "no_digest",
            Self::Overlay(_) => "overlay",
            Self::Render(_) => "render",
            Self::Rejected { .. } => "rejected",
            Self::Git(_) => "git",
            Self::History(_) => "history",
        }
    }
}

impl DeployRequest {
    /// The trailers of the commit; `Gantry-Image` is the full reference with its digest.
    #[must_use]
    pub fn trailers(&self) -> Trailers {
        let evidence = self
            .evidence
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        Trailers {
            action: self.action,
            app: self.app.clone(),
            env: self.env.clone(),
            image: Some(self.image.to_string()),
            source: self.source.clone(),
            run: self.run.clone(),
            evidence: (!evidence.is_empty()).then_some(evidence),
            rejected: self.rejects.as_ref().map(ToString::to_string),
            forced: None,
        }
    }

    fn subject(&self) -> String {
        let digest = self
            .image
            .digest()
            .map(ToString::to_string)
            .unwrap_or_default();
        let short = digest.get(..19).unwrap_or(&digest);
        let subject = format!("{}: {} {short} to {}", self.app, self.action, self.env);
        match &self.body {
            Some(body) => format!("{subject}\n\n{}", body.trim_end()),
            None => subject,
        }
    }
}

/// Why the last run of the edit failed (the error itself cannot leave the edit function).
#[derive(Debug, Clone)]
enum Failed {
    Render(String),
    Overlay(String),
}

/// The edit of one attempt: the overlay's kustomization with the image set, rendered.
fn apply_edit(
    tree: &mut TreeEdit<'_>,
    target: &Target,
    spec: &crate::manifest::edit::ImageSpec,
) -> Result<Option<(String, String)>, DeployError> {
    let file = KUSTOMIZATION_FILES
        .iter()
        .map(|f| target.overlay.join(f))
        .find(|p| tree.is_file(p))
        .ok_or_else(|| {
            DeployError::Overlay(format!(
                "{}: no kustomization file in the overlay",
                target.overlay.display()
            ))
        })?;
    let shown = file.display().to_string();
    let before = String::from_utf8(tree.read(&file).unwrap_or_default())
        .map_err(|_| DeployError::Overlay(format!("{shown}: not UTF-8 text")))?;
    let Some(after) = edit(&shown, &before, spec).map_err(DeployError::Overlay)? else {
        return Ok(None);
    };
    tree.write(file.clone(), after.clone());
    crate::manifest::render(&*tree, &target.overlay, crate::manifest::Reorder::Legacy)
        .map_err(|e| DeployError::Render(e.to_string()))?;
    Ok(Some((shown.clone(), diff(&shown, &before, &after))))
}

/// Refuses an image a rollback rejected for the app in this environment, unless the request
/// forces it; then says what was overridden (`Gantry-Forced`).
fn check_rejection(
    mirror: &Mirror,
    target: &Target,
    request: &DeployRequest,
) -> Result<Option<String>, DeployError> {
    let Some(tip) = mirror.tip(&target.branch)? else {
        return Ok(None);
    };
    let image = request.image.to_string();
    let repo = mirror.repository();
    let found = crate::audit::rejection(
        &repo,
        &tip.to_string(),
        (&request.app, &request.env),
        &image,
    )?;
    let Some(rollback) = found else {
        return Ok(None);
    };
    let short = rollback
        .commit
        .get(..12)
        .unwrap_or(&rollback.commit)
        .to_owned();
    if request.force {
        return Ok(Some(format!("rejected by rollback {short}")));
    }
    Err(DeployError::Rejected {
        image,
        env: request.env.clone(),
        commit: short,
        subject: rollback.subject,
        evidence: rollback
            .trailers
            .evidence
            .map(|e| format!(": {e}"))
            .unwrap_or_default(),
    })
}

/// Deploys `request` to `target` through `mirror` (`dry_run`: plan on the current tip only).
///
/// # Panics
///
/// Only if the edit function panicked while holding its result (a bug).
pub async fn deploy(
    mirror: &Arc<Mirror>,
    target: &Target,
    request: &DeployRequest,
    dry_run: bool,
    cancel: &CancellationToken,
) -> Result<Outcome, DeployError> {
    let (spec, forced) = prepare(mirror, target, request, cancel).await?;
    if dry_run {
        let tip = mirror.tip(&target.branch)?.ok_or_else(|| {
            DeployError::Overlay(format!("branch {} does not exist", target.branch))
        })?;
        let tree = mirror.tree(tip)?;
        let mut edit = TreeEdit::new(&tree);
        return Ok(match apply_edit(&mut edit, target, &spec)? {
            Some((_, diff)) => Outcome::Planned { diff },
            None => Outcome::Unchanged,
        });
    }
    let (edit_fn, seen) = edit_fn(target, &spec);
    let commit = commit_request(target, request, forced);
    let result = mirror.commit(commit, edit_fn, cancel).await;
    let last = seen.lock().expect("deploy edit slot").clone();
    match (result, last) {
        // Committed means the last run of the edit succeeded.
        (Ok(CommitOutcome::Committed { id, .. }), last) => Ok(Outcome::Committed {
            commit: id.to_string(),
            diff: last.ok().flatten().unwrap_or_default(),
        }),
        (Ok(CommitOutcome::Unchanged { .. }), _) => Ok(Outcome::Unchanged),
        (Err(_), Err(Failed::Render(m))) => Err(DeployError::Render(m)),
        (Err(_), Err(Failed::Overlay(m))) => Err(DeployError::Overlay(m)),
        (Err(e), Ok(_)) => Err(e.into()),
    }
}

/// The diff or the failure of the last run of an edit.
type Seen = Arc<Mutex<Result<Option<String>, Failed>>>;

/// The edit function of a deploy and where it leaves what its last run did. The edit may run
/// several times (once per attempt on a newer tip); the last run's diff and error count.
fn edit_fn(
    target: &Target,
    spec: &crate::manifest::edit::ImageSpec,
) -> (Arc<crate::git::write::EditFn>, Seen) {
    let seen: Seen = Arc::new(Mutex::new(Ok(None)));
    let (t, sp, out) = (target.clone(), spec.clone(), Arc::clone(&seen));
    let edit_fn: Arc<crate::git::write::EditFn> = Arc::new(move |tree: &mut TreeEdit<'_>| {
        let result = apply_edit(tree, &t, &sp);
        let mut slot = out.lock().expect("deploy edit slot");
        match result {
            Ok(d) => {
                *slot = Ok(d.map(|(_, diff)| diff));
                Ok(())
            }
            Err(e) => {
                *slot = Err(match &e {
                    DeployError::Render(m) => Failed::Render(m.clone()),
                    other => Failed::Overlay(other.to_string()),
                });
                Err(Box::new(e) as crate::git::write::EditError)
            }
        }
    });
    (edit_fn, seen)
}

/// The commit of `request` on the target's branch: subject, body and trailers.
fn commit_request(
    target: &Target,
    request: &DeployRequest,
    forced: Option<String>,
) -> CommitRequest {
    CommitRequest {
        branch: target.branch.clone(),
        message: request.subject(),
        trailers: {
            let mut trailers = request.trailers();
            let said: Vec<String> = [request.skipped.clone(), forced]
                .into_iter()
                .flatten()
                .collect();
            trailers.forced = (!said.is_empty()).then(|| said.join("; "));
            trailers.to_pairs()
        },
        identity: target.identity.clone(),
    }
}

/// What every deploy checks first: a digest, the newest tip, and whether a rollback rejected
/// the image here (and what a forced request overrides). The `images:` edit to make.
async fn prepare(
    mirror: &Arc<Mirror>,
    target: &Target,
    request: &DeployRequest,
    cancel: &CancellationToken,
) -> Result<(crate::manifest::edit::ImageSpec, Option<String>), DeployError> {
    if request.image.digest().is_none() {
        return Err(DeployError::NoDigest {
            image: request.image.to_string(),
        });
    }
    mirror.fetch(cancel).await?;
    let forced = check_rejection(mirror, target, request)?;
    Ok((image_spec(&target.image_name, &request.image), forced))
}

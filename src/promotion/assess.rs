//! Assessing one promotion (stage ⑧): which digest would go from the source environment to the
//! target, every gate with its reason, the decision for the target's mode, and the
//! [`Promotion`] that performs it.
//!
//! Input: the config tree at the tip of the config branch, the target environment of an app,
//! the caller's view of the source ([`SourceView`]: applied revision, health, canary record),
//! the registry checks' context, the time and how it was asked. Output: an [`Assessment`].
//! The daemon assesses every target on each pass; `gantry promote` assesses one on request.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::evidence::Evidence;
use super::facts;
use super::gates::{self, Ask, Decision, Facts, Gate};
use super::perform::Promotion;
use crate::artifact::admission::{ImageAccess, Verifier};
use crate::config::{App, Config, Environment};
use crate::core::ImageRef;
use crate::deploy::{DeployRequest, Target};
use crate::git::{Identity, Mirror};
use crate::rollout::drive::Canary;

/// What the caller knows about the app in the source environment.
#[derive(Debug, Clone, Default)]
pub struct SourceView {
    /// The config commit last applied there.
    pub applied: Option<String>,
    pub health: String,
    pub phase: String,
    pub error: Option<String>,
    /// The newest canary record of the app there.
    pub canary: Option<Canary>,
}

/// How registries are reached for the scan and signature gates, and source repositories for
/// the commits a promotion brings.
pub struct Registry<'a> {
    pub verifier: &'a Verifier,
    pub access: &'a ImageAccess,
    /// Mirrors of source repositories; `None` leaves the evidence without commit subjects.
    pub sources: Option<(&'a crate::git::RepoCache, crate::git::Credentials)>,
    /// Recent scan verdicts.
    pub scans: &'a super::checks::ScanMemo,
}

/// Source commits listed in a pull request at most.
const MAX_SOURCE_COMMITS: usize = 30;

/// One app × target environment, assessed.
#[derive(Debug, Clone)]
pub struct Assessment {
    pub app: String,
    pub from: String,
    pub to: String,
    /// The digest pinned in the source, when there is one.
    pub image: Option<ImageRef>,
    /// The digest pinned in the target.
    pub current: Option<ImageRef>,
    /// How long the target's digest has run there.
    pub age: Option<std::time::Duration>,
    pub gates: Vec<Gate>,
    /// How long the candidate still has to soak in the source.
    pub soak_left: Option<std::time::Duration>,
    /// Why there is nothing to promote (no digest in the source, already in the target).
    pub idle: Option<String>,
    /// `None` when idle.
    pub promotion: Option<Promotion>,
}

#[derive(Debug, thiserror::Error)]
pub enum AssessError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Git(#[from] crate::git::GitError),
    #[error(transparent)]
    History(#[from] crate::audit::AuditError),
}

/// Assesses promoting `app` into `to` from its `promoteFrom`.
///
/// # Errors
///
/// The target has no source environment, the overlays cannot be read, the history cannot.
pub async fn assess(
    mirror: &Arc<Mirror>,
    (branch, config): (&str, &Config),
    (app, to): (&App, &Environment),
    source: &SourceView,
    registry: &Registry<'_>,
    (ask, now): (Ask, DateTime<Utc>),
) -> Result<Assessment, AssessError> {
    let from = to.promote_from.clone().ok_or_else(|| {
        AssessError::Config(format!(
            "{} has no promoteFrom: nothing promotes into it",
            to.name
        ))
    })?;
    let tip = mirror
        .tip(branch)?
        .ok_or_else(|| AssessError::Config(format!("branch {branch} does not exist")))?;
    let tree = mirror.tree(tip)?;
    let image = facts::image_in(&tree, app, &from).map_err(AssessError::Config)?;
    let current = facts::image_in(&tree, app, &to.name).map_err(AssessError::Config)?;
    // gix's repository is not `Sync`: the history is read here, once, before any await.
    let history = read_history(
        mirror,
        &tip.to_string(),
        (app, &from, &to.name),
        (image.as_ref(), current.as_ref()),
        now,
    )?;
    let age = history.age;
    let mut out = Assessment {
        app: app.name.clone(),
        from: from.clone(),
        to: to.name.clone(),
        image: image.clone(),
        current: current.clone(),
        age,
        gates: Vec::new(),
        soak_left: None,
        idle: None,
        promotion: None,
    };
    let Some(image) = image else {
        out.idle = Some(format!("{from} pins no digest for {}", app.image));
        return Ok(out);
    };
    if current.as_ref().and_then(ImageRef::digest) == image.digest() {
        out.idle = Some(format!("{} already runs it", to.name));
        return Ok(out);
    }
    let at = At {
        tree,
        now,
        soaked: history.soaked,
        rejected: history.rejected,
    };
    let (new_source, old_source) = (history.new_source, history.old_source);
    let (facts, lines) = gather(mirror, at, (config, app, to), &image, source, registry).await?;
    let all = gates::gates(&facts);
    out.soak_left = facts
        .soaked
        .map(|ran| facts.soak_time.unwrap_or_default().saturating_sub(ran));
    let decision = gates::decide(to.promotion, &all, ask);
    // Only a promotion that will be committed or proposed shows its source commits: listing
    // them fetches the source repository, which a blocked assessment (after every sync of the
    // source) need not do.
    let acts = matches!(decision, Decision::Commit | Decision::PullRequest { .. });
    let commits = if acts {
        source_commits(registry, new_source.as_deref(), old_source.as_deref()).await
    } else {
        Vec::new()
    };
    let evidence = Evidence {
        app: app.name.clone(),
        from,
        to: to.name.clone(),
        image,
        gates: all.clone(),
        source_range: source_range(new_source.as_deref(), old_source.as_deref()),
        source_commits: commits,
        analysis: lines,
        windows: facts::windows(to),
        forced: ask.force.then(|| gates::skipped(&all)).flatten(),
    };
    out.gates = all;
    let mut promotion = promotion(config, app, to, evidence, decision, ask);
    branch.clone_into(&mut promotion.target.branch);
    promotion.request.source = new_source;
    out.promotion = Some(promotion);
    Ok(out)
}

/// What the app's history at the tip says about the candidate and the target's digest.
struct History {
    /// How long the target's digest has run there.
    age: Option<std::time::Duration>,
    /// How long the candidate has run in the source.
    soaked: Option<std::time::Duration>,
    rejected: Option<String>,
    /// `Gantry-Source` of the candidate in the source, and of the target's digest there.
    new_source: Option<String>,
    old_source: Option<String>,
}

/// One walk of the app's history, and where each of its commits landed.
fn read_history(
    mirror: &Mirror,
    tip: &str,
    (app, from, to): (&App, &str, &str),
    (image, current): (Option<&ImageRef>, Option<&ImageRef>),
    now: DateTime<Utc>,
) -> Result<History, AssessError> {
    let repo = mirror.repository();
    let entries = facts::history_of(&repo, tip, &app.name)?;
    let landed = |e: &crate::audit::Entry| facts::landed(&repo, tip, e);
    Ok(History {
        age: current.and_then(|c| facts::soaked(&entries, (to, c), now, landed)),
        soaked: image.and_then(|i| facts::soaked(&entries, (from, i), now, landed)),
        rejected: image.and_then(|i| facts::rejected(&entries, to, i)),
        new_source: image.and_then(|i| facts::source_of(&entries, from, i)),
        old_source: current.and_then(|c| facts::source_of(&entries, to, c)),
    })
}

/// The config repo at the tip an assessment reads, and what its history says.
struct At {
    tree: crate::git::TreeFs,
    now: DateTime<Utc>,
    /// How long the candidate has run in the source.
    soaked: Option<std::time::Duration>,
    /// The rollback that rejected the candidate in the target.
    rejected: Option<String>,
}

/// The facts the gates read about `image` in the source, and the analysis lines.
async fn gather(
    mirror: &Arc<Mirror>,
    at: At,
    (config, app, to): (&Config, &App, &Environment),
    image: &ImageRef,
    source: &SourceView,
    registry: &Registry<'_>,
) -> Result<(Facts, Vec<String>), AssessError> {
    let from = to.promote_from.clone().unwrap_or_default();
    let applied = source
        .applied
        .as_ref()
        .and_then(|rev| gix::ObjectId::from_hex(rev.as_bytes()).ok())
        .and_then(|id| mirror.tree(id).ok())
        .and_then(|t| facts::image_in(&t, app, &from).ok().flatten());
    let has_rollout = canary_in(config, app, &from);
    let (analysis, lines) = facts::analysis(source.canary.as_ref(), has_rollout, image);
    let rule = promotion_rule(config, &to.name);
    let namespace = config
        .environment(&from)
        .map_or_else(String::new, |e| e.namespace.clone());
    let facts = Facts {
        from: from.clone(),
        to: to.name.clone(),
        health: facts::health(
            image,
            applied.as_ref(),
            (&source.health, &source.phase, source.error.as_deref()),
        ),
        analysis: match (has_rollout, rule.is_some_and(|r| r.require_analysis)) {
            (true, _) => analysis,
            (false, true) => gates::Check::Failed(format!(
                "requireAnalysis for {}, but {} runs no canary in {from}",
                to.name, app.name
            )),
            (false, false) => gates::Check::NotRequired,
        },
        soaked: at.soaked,
        soak_time: to.soak_time,
        scan: registry.scans.scan(config, image, registry.access).await,
        signature: super::checks::signature(
            config,
            image,
            (registry.verifier, &at.tree, &namespace),
            rule.is_some_and(|r| r.require_signature),
        )
        .await,
        rejected: at.rejected,
        window_closed: facts::window_closed(to, at.now),
    };
    Ok((facts, lines))
}

/// The subjects of the source commits between the two `Gantry-Source` ends, read from a
/// mirror of the source repository; empty when it cannot be read (the range still shows).
async fn source_commits(
    registry: &Registry<'_>,
    new: Option<&str>,
    old: Option<&str>,
) -> Vec<super::SourceCommit> {
    let (Some((cache, credentials)), Some((url, to))) =
        (&registry.sources, new.and_then(|n| n.rsplit_once('@')))
    else {
        return Vec::new();
    };
    let from = old
        .and_then(|o| o.rsplit_once('@'))
        .filter(|(u, _)| *u == url)
        .map(|(_, sha)| sha);
    let listed = async {
        let mirror = cache.mirror(url, credentials.clone())?;
        mirror
            .fetch(&tokio_util::sync::CancellationToken::new())
            .await?;
        let repo = mirror.repository();
        crate::git::log::subjects(&repo, (from, to), MAX_SOURCE_COMMITS)
    };
    match listed.await {
        Ok(commits) => commits
            .into_iter()
            .map(|(id, subject)| super::SourceCommit { id, subject })
            .collect(),
        Err(e) => {
            tracing::debug!(url = %crate::git::redact_url(url), error = %e, "source commits not listed");
            Vec::new()
        }
    }
}

/// Whether `app` runs canaries in `env`.
fn canary_in(config: &Config, app: &App, env: &str) -> bool {
    let Some(name) = &app.rollout else {
        return false;
    };
    config.rollouts.iter().any(|r| {
        r.name == *name
            && r.environments
                .as_ref()
                .is_none_or(|envs| envs.iter().any(|e| e == env))
    })
}

fn promotion_rule<'c>(
    config: &'c Config,
    env: &str,
) -> Option<&'c crate::config::policy::PromotionRule> {
    config.policies.iter().find_map(|p| match &p.spec {
        crate::config::policy::PolicySpec::Promotion(rules) => {
            rules.rules.iter().find(|r| r.environment == env)
        }
        _ => None,
    })
}

/// `<repo>@<old>..<new>`: the source commits between what the target runs and what it gets,
/// from the `Gantry-Source` trailers of the commits that put each digest in place; just
/// `<repo>@<new>` when the old end is unknown.
fn source_range(new: Option<&str>, old: Option<&str>) -> Option<String> {
    let new = new?;
    let ends = new
        .rsplit_once('@')
        .zip(old.and_then(|o| o.rsplit_once('@')));
    Some(match ends {
        Some(((repo, to), (old_repo, from))) if repo == old_repo && from != to => {
            format!("{repo}@{from}..{to}")
        }
        _ => new.to_owned(),
    })
}

fn promotion(
    config: &Config,
    app: &App,
    to: &Environment,
    evidence: Evidence,
    decision: Decision,
    ask: Ask,
) -> Promotion {
    let request = DeployRequest {
        app: app.name.clone(),
        env: to.name.clone(),
        image: evidence.image.clone(),
        action: crate::audit::Action::Promote,
        source: None,
        run: Some(format!("promotion {}->{}", evidence.from, to.name)),
        evidence: evidence.trailer(),
        rejects: None,
        force: ask.force,
        skipped: evidence.forced.clone(),
        body: None,
    };
    Promotion {
        request,
        target: Target {
            branch: String::new(),
            overlay: app.overlay_dir(&to.name),
            image_name: app.image.clone(),
            identity: Identity::from(&config.commit_author),
        },
        evidence,
        decision,
        labels: config
            .forge
            .as_ref()
            .map(|f| f.labels.clone())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_source_range_joins_two_commits_of_one_repo() {
        let r = super::source_range;
        assert_eq!(
            r(
                Some("https://git.example.com/shop/web.git@bbb"),
                Some("https://git.example.com/shop/web.git@aaa")
            )
            .as_deref(),
            Some("https://git.example.com/shop/web.git@aaa..bbb")
        );
        assert_eq!(r(Some("web@bbb"), None).as_deref(), Some("web@bbb"));
        assert_eq!(
            r(Some("web@bbb"), Some("api@aaa")).as_deref(),
            Some("web@bbb")
        );
        assert_eq!(r(None, Some("web@aaa")), None);
    }
}

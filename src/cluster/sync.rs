//! One sync of an app × environment to a cluster (stage ⑥): plan → apply → prune → health.
//!
//! Input: an [`Applier`] (client and discovery), the rendered objects, the live inventory of
//! the app × environment (from the daemon's watch cache or a LIST), and the [`SyncContext`].
//! Output: a [`SyncReport`]: what each object became, the aggregate health, the intents a
//! later self-heal holds the objects to, and — when the prune guard held the prune — why,
//! with how to approve it. `gantry apply` and the daemon both sync through [`perform`];
//! `gantry diff` previews one through [`diff`].

use std::collections::HashMap;

use serde_json::Value;

use super::apply::{Applier, Row};
use super::heal::Intent;
use super::{ClusterError, HealthStatus, LiveObject, ObjectId, SyncContext};

/// The live objects of one app × environment, by id.
pub type Live = HashMap<ObjectId, (LiveObject, Value)>;

/// What one sync did.
#[derive(Debug)]
pub struct SyncReport {
    pub rows: Vec<Row>,
    pub health: HealthStatus,
    /// What was applied, by object: self-heal takes drift of these fields back.
    pub intents: HashMap<ObjectId, Intent>,
    /// The prune guard held the prune (everything else applied): why, and how to approve.
    pub prune_held: Option<String>,
}

/// Plans and applies `rendered` against `live`. A prune larger than the guard allows is held,
/// not the sync: everything else applies and the report says so.
pub async fn perform(
    applier: &mut Applier,
    rendered: Vec<(Value, String)>,
    live: &Live,
    ctx: &SyncContext,
) -> Result<SyncReport, ClusterError> {
    let inventory: Vec<_> = live.values().map(|(l, _)| l.clone()).collect();
    let scopes = applier.table.scopes();
    let (plan, prune_held) = match super::plan(rendered.clone(), &inventory, &scopes, ctx) {
        Ok(plan) => (plan, None),
        Err(e @ ClusterError::PruneTooLarge { .. }) => {
            let mut keep = ctx.clone();
            keep.prune = false;
            let plan = super::plan(rendered, &inventory, &scopes, &keep)?;
            (plan, Some(held_note(&e, ctx)))
        }
        Err(e) => return Err(e),
    };
    let rows = applier.sync(&plan, live).await?;
    let intents = super::heal::intents(&plan, &rows)
        .into_iter()
        .map(|i| (i.id.clone(), i))
        .collect();
    let healths: Vec<_> = rows
        .iter()
        .filter_map(|r| r.live.as_ref())
        .map(|l| super::health(Some(l)))
        .collect();
    Ok(SyncReport {
        rows,
        health: super::aggregate(&healths),
        intents,
        prune_held,
    })
}

/// What a sync of `rendered` against `live` would change, object by object, as the API
/// server's dry-run apply says (`gantry diff`). A preview never refuses: the prune guard is
/// the real sync's.
///
/// # Errors
///
/// A [`ClusterError`] when the plan or a dry-run request fails.
pub async fn diff(
    applier: &Applier,
    rendered: Vec<(Value, String)>,
    live: &Live,
    ctx: &SyncContext,
) -> Result<Vec<super::diff::ObjectDiff>, ClusterError> {
    let inventory: Vec<_> = live.values().map(|(l, _)| l.clone()).collect();
    let mut preview = ctx.clone();
    preview.allow_large_prune = true;
    let plan = super::plan(rendered, &inventory, &applier.table.scopes(), &preview)?;
    applier.diff(&plan, live).await
}

fn held_note(e: &ClusterError, ctx: &SyncContext) -> String {
    let ClusterError::PruneTooLarge {
        count,
        live,
        percent,
        max,
        ..
    } = e
    else {
        return e.to_string();
    };
    format!(
        "prune held: {count} of {live} objects ({percent}%) are no longer rendered, more than maxPrunePercent {max}%; everything else was applied. Approve with `gantry sync {} --env {} --allow-large-prune`, or `allowLargePrune: true` on the app in gantry.yaml",
        ctx.app, ctx.env
    )
}

impl ClusterError {
    /// A short label for metrics (`gantry_syncs_total{result="failed",reason=…}`), one per
    /// variant, as kube-rs controllers label their errors.
    #[must_use]
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Incomplete { .. } => "incomplete_object",
            Self::BadWave { .. } => "bad_wave",
            Self::Duplicate { .. } => "duplicate_object",
            Self::UnknownKind { .. } => "unknown_kind",
            Self::Connect { .. } => "connect",
            Self::Api { .. } => "api",
            Self::Timeout { .. } => "timeout",
            Self::EmptyRender { .. } => "empty_render",
            Self::PruneTooLarge { .. } => "prune_too_large",
        }
    }
}

//! Promotion gates (stage ⑧, pure): may this digest go from one environment to the next now?
//!
//! Input: [`Facts`] a caller gathered about the digest in the source environment (health,
//! analysis, soak, scan, signature, rejection, the target's sync window). Output: every
//! [`Gate`], open or closed with its reason, and the [`Decision`] for the target's promotion
//! mode. Nothing here reads a clock, a cluster or a registry: tests feed plain data.

use std::fmt;
use std::time::Duration;

use crate::config::PromotionMode;

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// It holds; the text is the evidence (`0 critical, 0 high`, `key 3f9a…`).
    Passed(String),
    /// It does not; the text says why.
    Failed(String),
    /// Nothing asks for it (no rollout in the source, no scan policy).
    NotRequired,
}

/// The source environment's view of the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceHealth {
    /// Synced to the config tip that holds the digest, with this health (`Healthy`, …).
    Synced { health: String },
    /// Not (yet) synced to it: the phase or the error the daemon last saw.
    NotSynced(String),
    /// No sync recorded for the app in the source.
    Unknown,
}

/// Everything the gates look at.
#[derive(Debug, Clone)]
pub struct Facts {
    pub from: String,
    pub to: String,
    pub health: SourceHealth,
    /// The canary analysis of the digest in the source.
    pub analysis: Check,
    /// How long the digest has run in the source without a rollback or redeploy; `None` when
    /// no gantry commit put it there.
    pub soaked: Option<Duration>,
    /// The target's `soakTime`.
    pub soak_time: Option<Duration>,
    pub scan: Check,
    pub signature: Check,
    /// The rollback that rejected the digest in the target, when one did.
    pub rejected: Option<String>,
    /// The target's sync window: `None` open, else why it is closed.
    pub window_closed: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GateName {
    Health,
    Analysis,
    Soak,
    Scan,
    Signature,
    NotRejected,
    SyncWindow,
}

impl GateName {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Health => "health",
            Self::Analysis => "analysis",
            Self::Soak => "soak",
            Self::Scan => "scan",
            Self::Signature => "signature",
            Self::NotRejected => "not-rejected",
            Self::SyncWindow => "sync-window",
        }
    }
}

impl fmt::Display for GateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One gate: open or not, and the reason either way.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Gate {
    pub name: GateName,
    pub open: bool,
    pub reason: String,
}

impl Gate {
    fn new(name: GateName, open: bool, reason: impl Into<String>) -> Self {
        Self {
            name,
            open,
            reason: reason.into(),
        }
    }
}

/// What to do about a promotion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Commit it to the target (`auto`, or asked for explicitly).
    Commit,
    /// Open (or update) the pull request; `waits` says the deploy waits for the sync window
    /// after the merge.
    PullRequest { waits: Option<String> },
    /// A gate is closed.
    Blocked(Vec<Gate>),
    /// `manual`: gantry reports that the promotion may happen; a person runs it.
    Possible,
}

/// Every gate for `facts`, in the order a reviewer reads them.
#[must_use]
pub fn gates(facts: &Facts) -> Vec<Gate> {
    vec![
        health(facts),
        check(
            GateName::Analysis,
            &facts.analysis,
            "canary analysis",
            &facts.from,
        ),
        soak(facts),
        check(
            GateName::Scan,
            &facts.scan,
            "vulnerability scan",
            &facts.from,
        ),
        check(
            GateName::Signature,
            &facts.signature,
            "signature",
            &facts.from,
        ),
        match &facts.rejected {
            Some(by) => Gate::new(
                GateName::NotRejected,
                false,
                format!("rejected in {} by {by}", facts.to),
            ),
            None => Gate::new(
                GateName::NotRejected,
                true,
                format!("not rejected in {}", facts.to),
            ),
        },
        match &facts.window_closed {
            Some(why) => Gate::new(GateName::SyncWindow, false, format!("{}: {why}", facts.to)),
            None => Gate::new(GateName::SyncWindow, true, format!("{}: open", facts.to)),
        },
    ]
}

fn health(facts: &Facts) -> Gate {
    match &facts.health {
        SourceHealth::Synced { health } if health == "Healthy" => {
            Gate::new(GateName::Health, true, format!("Healthy in {}", facts.from))
        }
        SourceHealth::Synced { health } => Gate::new(
            GateName::Health,
            false,
            format!("{health} in {}, not Healthy", facts.from),
        ),
        SourceHealth::NotSynced(why) => Gate::new(
            GateName::Health,
            false,
            format!("not yet synced in {}: {why}", facts.from),
        ),
        SourceHealth::Unknown => Gate::new(
            GateName::Health,
            false,
            format!("no sync of it recorded in {}", facts.from),
        ),
    }
}

fn check(name: GateName, c: &Check, what: &str, from: &str) -> Gate {
    match c {
        Check::Passed(evidence) => Gate::new(name, true, evidence.clone()),
        Check::Failed(why) => Gate::new(name, false, format!("{what} in {from}: {why}")),
        Check::NotRequired => Gate::new(name, true, format!("no {what} required")),
    }
}

fn soak(facts: &Facts) -> Gate {
    let need = facts.soak_time.unwrap_or_default();
    match facts.soaked {
        None => Gate::new(
            GateName::Soak,
            false,
            format!("no gantry commit put it into {}", facts.from),
        ),
        Some(ran) if ran >= need => Gate::new(
            GateName::Soak,
            true,
            format!(
                "{} in {} (soakTime {})",
                human(ran),
                facts.from,
                human(need)
            ),
        ),
        Some(ran) => Gate::new(
            GateName::Soak,
            false,
            format!(
                "{} of {} in {}; {} to go",
                human(ran),
                human(need),
                facts.from,
                human(need.saturating_sub(ran))
            ),
        ),
    }
}

/// `2h 5m`, `30m`, `45s`.
#[must_use]
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{sec}s"),
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h {m}m"),
    }
}

/// How a promotion was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ask {
    /// A person ran `gantry promote` (a `manual` environment then commits).
    pub explicit: bool,
    /// Skip every gate; the commit says which were closed (`Gantry-Forced`).
    pub force: bool,
}

/// The decision for `mode` given `gates`. A closed sync window does not hold a pull request:
/// it is opened anyway, and the deploy waits for the window after the merge.
#[must_use]
pub fn decide(mode: PromotionMode, gates: &[Gate], ask: Ask) -> Decision {
    let pr = mode == PromotionMode::Pr;
    let blocking: Vec<Gate> = gates
        .iter()
        .filter(|g| !(g.open || pr && g.name == GateName::SyncWindow))
        .cloned()
        .collect();
    if !blocking.is_empty() && !ask.force {
        return Decision::Blocked(blocking);
    }
    match mode {
        PromotionMode::Pr => Decision::PullRequest {
            waits: gates
                .iter()
                .find(|g| g.name == GateName::SyncWindow && !g.open)
                .map(|g| g.reason.clone()),
        },
        PromotionMode::Auto => Decision::Commit,
        PromotionMode::Manual if ask.explicit => Decision::Commit,
        PromotionMode::Manual => Decision::Possible,
    }
}

/// The gates a forced promotion skipped, for `Gantry-Forced` (`gates soak,analysis`).
#[must_use]
pub fn skipped(gates: &[Gate]) -> Option<String> {
    let names: Vec<&str> = gates
        .iter()
        .filter(|g| !g.open)
        .map(|g| g.name.as_str())
        .collect();
    (!names.is_empty()).then(|| format!("gates {}", names.join(",")))
}

#[cfg(test)]
#[path = "gates_tests.rs"]
mod tests;

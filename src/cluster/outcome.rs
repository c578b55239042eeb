//! What one sync of an app × environment came to (stage ⑥), as the daemon records and shows
//! it: the [`Phase`], each object's [`ObjectStatus`], and the counts and digest in [`Done`].
//!
//! Input: the rows of an applied sync or of a plan-only preview. Output: plain values the
//! daemon's status table, `/api`, `gantry status` and the state store hold.

use std::collections::HashMap;

use serde::Serialize;

use super::HealthStatus;

/// One object's outcome in the last sync.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ObjectStatus {
    pub object: String,
    /// `created`, `configured`, `unchanged`, `pruned`, or `would apply` / `would prune` in plan mode.
    pub action: String,
    pub health: RowHealth,
    /// Without a cluster, for `would configure`: the changed lines against the previous plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// Where an app × environment's last sync attempt ended. Serialised in lowercase (the API,
/// `gantry status`, the `AppSync` status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// No attempt yet (the daemon just started and has no stored record).
    #[default]
    Pending,
    /// Applied to the cluster.
    Synced,
    /// No cluster: the plan was computed, nothing applied.
    Planned,
    Failed,
    /// Held by a sync window; runs when it opens.
    Waiting,
}

impl Phase {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Synced => "synced",
            Self::Planned => "planned",
            Self::Failed => "failed",
            Self::Waiting => "waiting",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Phase {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "" | "pending" => Self::Pending,
            "synced" => Self::Synced,
            "planned" => Self::Planned,
            "failed" => Self::Failed,
            "waiting" => Self::Waiting,
            other => return Err(format!("unknown phase {other:?}")),
        })
    }
}

/// What a sync that ran did (applied, or planned without a cluster).
pub struct Done {
    /// Objects a drift pass changed although the render had not: drift that was corrected.
    pub corrected: u64,
    /// Objects this sync created or changed on the cluster.
    pub changed: Vec<k8s_openapi::api::core::v1::ObjectReference>,
    /// Without a cluster: each planned object as pretty JSON (the next preview's baseline).
    pub planned: HashMap<String, String>,
    pub phase: Phase,
    pub health: HealthStatus,
    pub objects: Vec<ObjectStatus>,
    /// Digest of the sync's inputs: an attempt with the same digest is unchanged.
    pub digest: String,
    pub applied: u64,
    pub pruned: u64,
    /// The prune guard held a prune back: the next sync must run even with the same render
    /// (an approval in gantry.yaml does not change it).
    pub prune_held: bool,
    pub warning: Option<String>,
}

/// An app's or object's health as a status row shows it: what its objects report, or why
/// nothing is known. Serialised as the word (`Healthy`, …, `Unknown`, `-`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RowHealth {
    /// Not synced yet (the daemon just started and has no stored record).
    #[default]
    Unknown,
    /// Planned without a cluster, or pruned: there is nothing live to judge.
    NotApplied,
    Is(HealthStatus),
}

impl RowHealth {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "Unknown",
            Self::NotApplied => "-",
            Self::Is(HealthStatus::Healthy) => "Healthy",
            Self::Is(HealthStatus::Progressing) => "Progressing",
            Self::Is(HealthStatus::Missing) => "Missing",
            Self::Is(HealthStatus::Degraded) => "Degraded",
        }
    }
}

impl std::fmt::Display for RowHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RowHealth {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "" | "Unknown" => Self::Unknown,
            "-" => Self::NotApplied,
            "Healthy" => Self::Is(HealthStatus::Healthy),
            "Progressing" => Self::Is(HealthStatus::Progressing),
            "Missing" => Self::Is(HealthStatus::Missing),
            "Degraded" => Self::Is(HealthStatus::Degraded),
            other => return Err(format!("unknown health {other:?}")),
        })
    }
}

impl Serialize for RowHealth {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl From<HealthStatus> for RowHealth {
    fn from(h: HealthStatus) -> Self {
        Self::Is(h)
    }
}

//! Reconciling a cluster to Git (stage ⑥).
//!
//! Input: the rendered objects of one app × environment, the live objects gantry manages there,
//! and the cluster's API scopes. Output: a [`Plan`] (apply batches in dependency and wave order,
//! the prune set, both prune guards checked) and per-object and per-app [`Health`]. This part is
//! pure; the part that talks to the API server performs a plan and reads health back.

pub mod apply;
pub mod cache;
mod client;
pub mod diff;
mod discovery;
pub mod drift;
pub mod heal;
mod health;
mod object;
pub mod outcome;
mod plan;
pub mod preview;
pub mod reconcile;
pub mod sync;
pub mod target;
pub mod watch;
pub mod window;
mod written;

pub use client::connect;
pub use health::{Health, HealthStatus, aggregate, health};
pub use object::{ObjectId, Scopes};
pub use plan::{Batch, LiveObject, Plan, SyncContext, plan, tracking_id};

/// Labels and annotations gantry puts on every object it applies.
pub mod labels {
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
    pub const MANAGED_BY_VALUE: &str = "gantry";
    pub const APP: &str = "gantry.dev/app";
    pub const ENV: &str = "gantry.dev/env";
    /// Which app × environment applied the object, and the object's own identity
    /// (`app:env:group/Kind:namespace/name`): what the inventory trusts, because controllers
    /// copy labels onto the objects they make but this value then names another object.
    pub const TRACKING_ID: &str = "gantry.dev/tracking-id";
    /// Kinds controllers make from gantry's objects and label like them; never inventoried.
    pub const NEVER_INVENTORIED: &[(&str, &str)] =
        &[("", "Endpoints"), ("discovery.k8s.io", "EndpointSlice")];
    /// Integer apply wave; lower first (Argo CD's `sync-wave`).
    pub const SYNC_WAVE: &str = "gantry.dev/sync-wave";
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    #[error("{origin}: object has no {field}")]
    Incomplete { origin: String, field: &'static str },
    #[error("{object}: annotation {annotation} must be an integer, got {value:?}")]
    BadWave {
        object: String,
        annotation: &'static str,
        value: String,
    },
    #[error("{object} is rendered twice (from {first} and {second})")]
    Duplicate {
        object: String,
        first: String,
        second: String,
    },
    #[error(
        "{object}: the cluster does not serve kind {kind} of group {group:?}; install its CRD or check the apiVersion"
    )]
    UnknownKind {
        object: String,
        group: String,
        kind: String,
    },
    #[error("cannot connect to {what}: {message}")]
    Connect { what: String, message: String },
    #[error("cannot {verb} {object}: {message}")]
    Api {
        object: String,
        verb: &'static str,
        message: String,
    },
    #[error("{object} did not become ready within {secs} s (waiting {what})")]
    Timeout {
        object: String,
        what: &'static str,
        secs: u64,
    },
    #[error(
        "refusing to prune: the render of {app}/{env} is empty but {live} object(s) are live; an empty render never deletes everything"
    )]
    EmptyRender {
        app: String,
        env: String,
        live: usize,
    },
    #[error(
        "refusing to prune {count} of {live} objects ({percent}%) of {app}/{env}: more than maxPrunePercent {max}%; re-run with the prune override if this is intended"
    )]
    PruneTooLarge {
        app: String,
        env: String,
        count: usize,
        live: usize,
        percent: usize,
        max: u32,
    },
}

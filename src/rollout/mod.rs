//! Canary rollouts (stage ⑦): analysis of Prometheus measurements with Argo Rollouts'
//! semantics, and the canary state machine that turns steps, measurements and time into the
//! next action.
//!
//! Input: a rollout strategy and analysis templates from gantry.yaml, Prometheus query results.
//! Output: measurements taken ([`prometheus`]) and assessed, metric phases ([`analysis`]), run
//! phases ([`run`]), and the next action of a canary ([`machine`]). Conditions are
//! `core::expr`'s. Everything here is pure except the Prometheus client.

pub mod analysis;
pub mod drive;
pub mod machine;
pub mod owner;
pub mod prometheus;
pub mod rollback;
pub mod run;
pub mod spec;
pub mod traffic;

pub use crate::core::expr;

//! Canary rollouts (stage ⑦): analysis of Prometheus measurements with Argo Rollouts'
//! semantics, and the canary state machine that turns steps, measurements and time into the
//! next action.
//!
//! Input: a rollout strategy and analysis templates from gantry.yaml, Prometheus query results.
//! Output: conditions evaluated ([`expr`]), measurements assessed and metric and run phases
//! ([`analysis`]). Everything here is pure except the Prometheus client.

pub mod analysis;
pub mod expr;
pub mod machine;
pub mod prometheus;
pub mod run;

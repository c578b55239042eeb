//! Promotion (stage ⑧): the same digest from one environment to the next — committed directly
//! (`auto`), proposed by pull request (`pr`), or reported as possible (`manual`).
//!
//! Input: the digest running in the source environment, the facts the gates read, the target
//! environment's overlay and mode, and a forge client when one is configured. Output: a
//! commit with `Gantry-Action: promote` on the config branch, or a branch
//! `gantry/promote/<app>/<env>` with that commit and an open pull request whose body is the
//! evidence; or the gates that block it. The merge lands through the forge; the normal
//! reconcile deploys it. The digest is never resolved from a tag here: the digest tested is
//! the digest promoted.

pub mod assess;
pub mod checks;
pub mod evidence;
pub mod facts;
pub mod forge;
pub mod gates;
mod perform;

pub use evidence::{Evidence, SourceCommit};
pub use gates::{Ask, Check, Decision, Facts, Gate, GateName, SourceHealth};
pub use perform::{Outcome, Promotion, branch, promote};

use crate::deploy::DeployError;

#[derive(Debug, thiserror::Error)]
pub enum PromotionError {
    #[error(transparent)]
    Deploy(#[from] DeployError),
    /// The forge refused; `cleanup` says what happened to the pushed branch.
    #[error("{source}{cleanup}")]
    Forge {
        source: forge::ForgeError,
        cleanup: String,
    },
}

impl PromotionError {
    /// A short label for metrics (`gantry_promotions_total{result="failed",reason=…}`).
    #[must_use]
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Deploy(e) => e.metric_label(),
            Self::Forge { source, .. } => source.metric_label(),
        }
    }
}

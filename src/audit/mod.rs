//! The audit trail (stage ⑨): the trailer schema gantry writes, and history queries over it.
//!
//! Input: commit messages of the config repo, read with gix. Output: [`Trailers`] to append to
//! a commit, and [`Entry`] rows for `gantry history` — who deployed what, where, when and why.
//! Commits without a `Gantry-Action` trailer (people's own edits) are not part of the trail.

mod history;

pub use history::{Entry, Filter, history, rejection, rejection_in};

use std::fmt;
use std::str::FromStr;

/// What a gantry commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Deploy,
    Promote,
    Rollback,
}

impl Action {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deploy => "deploy",
            Self::Promote => "promote",
            Self::Rollback => "rollback",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = AuditError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "deploy" => Ok(Self::Deploy),
            "promote" => Ok(Self::Promote),
            "rollback" => Ok(Self::Rollback),
            other => Err(AuditError::UnknownAction(other.to_string())),
        }
    }
}

/// The trailers of one gantry commit (docs/design.md, "The config repo").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Trailers {
    pub action: Action,
    pub app: String,
    pub env: String,
    /// `registry/repo@sha256:…`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// `<repo>@<sha>` the image was built from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The pipeline run, rollout or promotion that made the commit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// Why it was safe (or not): `success-rate=0.997 p99=212ms scan=0C/0H signed=yes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// A rollback's failed image (`registry/repo@sha256:…`): refused in this environment from
    /// now on, unless a deploy is forced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<String>,
    /// What a forced deploy overrode (`rejected`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forced: Option<String>,
}

pub const ACTION: &str = "Gantry-Action";
pub const APP: &str = "Gantry-App";
pub const ENV: &str = "Gantry-Env";
pub const IMAGE: &str = "Gantry-Image";
pub const SOURCE: &str = "Gantry-Source";
pub const RUN: &str = "Gantry-Run";
pub const EVIDENCE: &str = "Gantry-Evidence";
pub const REJECTED: &str = "Gantry-Rejected";
pub const FORCED: &str = "Gantry-Forced";

impl Trailers {
    /// `(key, value)` pairs in the documented order, ready for `git::CommitRequest`.
    #[must_use]
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let mut out = vec![
            (ACTION.to_string(), self.action.to_string()),
            (APP.to_string(), self.app.clone()),
            (ENV.to_string(), self.env.clone()),
        ];
        for (key, value) in [
            (IMAGE, &self.image),
            (SOURCE, &self.source),
            (RUN, &self.run),
            (EVIDENCE, &self.evidence),
            (REJECTED, &self.rejected),
            (FORCED, &self.forced),
        ] {
            if let Some(v) = value {
                out.push((key.to_string(), v.clone()));
            }
        }
        out
    }

    /// The trailers of `message`, parsed as `git interpret-trailers` does; `None` when the
    /// commit is not gantry's (no action, app and env).
    #[must_use]
    pub fn parse(message: &[u8]) -> Option<Self> {
        let message = gix::objs::commit::MessageRef::from_bytes(message);
        let body = message.body()?;
        let (mut action, mut app, mut env) = (None, None, None);
        let mut out = (None, None, None, None);
        let (mut rejected, mut forced) = (None, None);
        for t in body.trailers() {
            let value = Some(t.value.to_string());
            match t.token.to_string().as_str() {
                ACTION => action = t.value.to_string().parse().ok(),
                APP => app = value,
                ENV => env = value,
                IMAGE => out.0 = value,
                SOURCE => out.1 = value,
                RUN => out.2 = value,
                EVIDENCE => out.3 = value,
                REJECTED => rejected = value,
                FORCED => forced = value,
                _ => {}
            }
        }
        Some(Self {
            action: action?,
            app: app?,
            env: env?,
            image: out.0,
            source: out.1,
            run: out.2,
            evidence: out.3,
            rejected,
            forced,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("unknown action {0:?}: expected deploy, promote or rollback")]
    UnknownAction(String),
    #[error("cannot open the config repo at {path}: {message}")]
    Open { path: String, message: String },
    #[error("cannot read the history of {rev} in {path}: {message}")]
    Log {
        path: String,
        rev: String,
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers_round_trip_through_a_commit_message() {
        let t = Trailers {
            action: Action::Promote,
            app: "web".into(),
            env: "prod".into(),
            image: Some("registry.example.com/shop/web@sha256:abc".into()),
            source: Some("https://git.example.com/shop/web@1234".into()),
            run: None,
            evidence: Some("success-rate=0.997 p99=212ms".into()),
            rejected: Some("registry.example.com/shop/web@sha256:def".into()),
            forced: None,
        };
        let mut message = "promote web to prod\n\nsoaked 2h in staging\n\n".to_string();
        for (k, v) in t.to_pairs() {
            message.push_str(&k);
            message.push_str(": ");
            message.push_str(&v);
            message.push('\n');
        }
        assert_eq!(Trailers::parse(message.as_bytes()), Some(t));
        assert_eq!(
            Trailers::parse(b"fix typo\n\nSigned-off-by: a <a@b>\n"),
            None
        );
        assert_eq!(Trailers::parse(b"no body"), None);
    }
}

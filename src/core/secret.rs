//! Secrets (shared by every stage): where one is found, and a value that does not print.
//!
//! Input: a reference from gantry.yaml or a flag (`secret:`, `file:`, `env:`). Output: the
//! secret's text, held in a [`Secret`] whose `Debug` is `***` and which has no `Display`, and
//! messages about a secret's file that never echo a secret typed where a path belonged.

use std::fmt;
use std::path::PathBuf;

/// A secret value. `Debug` prints `***`; there is no `Display`, so it cannot slip into a
/// formatted message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where to find a secret at run time; never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// A Kubernetes Secret in gantry's namespace.
    Secret(String),
    /// A file path, e.g. a mounted secret volume.
    File(PathBuf),
    /// An environment variable of the daemon.
    Env(String),
}

impl SecretRef {
    /// The secret's text from a file or an environment variable. A Kubernetes Secret needs a
    /// cluster connection, so here it is an error naming the alternatives. `Err` is a message
    /// for the caller's error, which names what the secret was for.
    pub fn read_local(&self) -> Result<String, String> {
        match self {
            Self::File(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", secret_path(path))),
            Self::Env(var) => {
                std::env::var(var).map_err(|_| format!("environment variable {var} is not set"))
            }
            Self::Secret(name) => Err(format!(
                "Kubernetes Secret {name} cannot be read without a cluster connection; use \
                 `file:` or `env:` when running outside a cluster"
            )),
        }
    }
}

/// A path given where a secret's file was expected, fit for a message. Someone who typed the
/// secret itself (`--git-token ghp_…`) must not see it echoed into a log or CI output, so a
/// path is shown only when it is plainly one: it exists, or its directory does. Otherwise the
/// message says how long it is and how to pass a secret.
#[must_use]
pub fn secret_path(path: &std::path::Path) -> String {
    let text = path.to_string_lossy();
    let plainly_a_path = path.exists()
        || (text.contains('/')
            && path
                .parent()
                .is_some_and(|p| !p.as_os_str().is_empty() && p.is_dir()));
    if plainly_a_path {
        text.into_owned()
    } else {
        format!(
            "<a {}-character value, not shown: if it was the secret itself, put it in a file or pass env://VAR>",
            text.chars().count()
        )
    }
}
